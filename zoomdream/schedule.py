"""Schedules: a config turned into per-frame parameter arrays, up front.

Pure host functions of the frame index; nothing here touches a device, so every value of a
render can be inspected (and tested) before the first frame is dreamed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from zoomdream import googlenet
from zoomdream.config import LayerStep, RenderConfig

DEFAULT_LAYER_FRAMES = 100


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every per-frame value of a render. Arrays have a leading frame axis."""

    fps: float
    layers: tuple[str, ...]  # candidate layers, shallowest first
    layer_weights: np.ndarray  # float32 (frames, layers)
    step_size: np.ndarray  # float32 (frames,)
    iterations: np.ndarray  # int32 (frames,)
    jitter: np.ndarray  # int32 (frames,)
    zoom: np.ndarray  # float32 (frames,): factor applied after each frame

    @property
    def frames(self) -> int:
        return len(self.zoom)

    def layer_label(self, frame: int) -> str:
        """A short name of what frame ``frame`` dreams of, for progress bars."""
        weights = self.layer_weights[frame]
        active = [(w, name) for w, name in zip(weights, self.layers) if w != 0]
        if not active:
            return "-"
        active.sort(reverse=True)
        short = [name.replace("/output", "") for _, name in active]
        return " + ".join(short[:2]) + (" + ..." if len(short) > 2 else "")


def step_frames(step: LayerStep, fps: float) -> int:
    if step.frames is not None:
        return step.frames
    if step.seconds is not None:
        return max(1, round(step.seconds * fps))
    return DEFAULT_LAYER_FRAMES


def schedule_frames(config: RenderConfig) -> int:
    """Length of the layer schedule in frames."""
    return sum(step_frames(step, config.video.fps) for step in config.layers.schedule)


def render_frames(config: RenderConfig) -> int:
    """Frames to render: the video's length if given, else the layer schedule's."""
    video = config.video
    if video.frames is not None:
        return video.frames
    if video.seconds is not None:
        return max(1, round(video.seconds * video.fps))
    return schedule_frames(config)


def candidate_layers(config: RenderConfig) -> tuple[str, ...]:
    names = {name for step in config.layers.schedule for name, _ in step.layer}
    return tuple(sorted(names, key=lambda n: (googlenet.depth(n), n)))


def layer_weights(config: RenderConfig, frames: int, layers: tuple[str, ...]) -> np.ndarray:
    """(frames, layers) weights: each schedule entry held for its length (the last one
    until the end), with linear crossfades centred on each change."""
    fps = config.video.fps
    column = {name: i for i, name in enumerate(layers)}
    vectors = []
    for step in config.layers.schedule:
        v = np.zeros(len(layers), np.float32)
        for name, weight in step.layer:
            v[column[name]] += weight
        vectors.append(v)
    lengths = [step_frames(s, fps) for s in config.layers.schedule]
    starts = np.cumsum([0] + lengths[:-1])
    index = np.searchsorted(starts, np.arange(frames), side="right") - 1
    weights = np.stack(vectors)[index]

    layers_cfg = config.layers
    fade = layers_cfg.crossfade_frames
    if fade is None and layers_cfg.crossfade_seconds is not None:
        fade = round(layers_cfg.crossfade_seconds * fps)
    if fade:
        for i in range(1, len(vectors)):
            # No fade longer than the entries on either side of it.
            width = min(fade, lengths[i - 1], lengths[i])
            first = starts[i] - width // 2
            for f in range(max(first, 0), min(first + width, frames)):
                alpha = (f - first + 1) / (width + 1)
                weights[f] = (1 - alpha) * vectors[i - 1] + alpha * vectors[i]
    return weights.astype(np.float32)


def build_plan(config: RenderConfig, frames: int | None = None, still: bool = False) -> Plan:
    """Evaluate every per-frame value of ``config``.

    Args:
      config: a validated render config.
      frames: number of frames (default: :func:`render_frames`).
      still: one picture: no camera motion.
    """
    n = render_frames(config) if frames is None else frames
    fps = config.video.fps
    layers = candidate_layers(config)
    dream = config.dream
    # The zoom is given per second; per frame it is the fps-th root, so the motion per
    # second stays the same at any frame rate.
    zoom = 1.0 if still else config.camera.zoom_per_second ** (1.0 / fps)
    full = lambda value, dtype: np.full(n, value, dtype)
    return Plan(
        fps=fps,
        layers=layers,
        layer_weights=layer_weights(config, n, layers),
        step_size=full(dream.step_size, np.float32),
        iterations=full(dream.iterations, np.int32),
        jitter=full(dream.jitter, np.int32),
        zoom=full(zoom, np.float32),
    )
