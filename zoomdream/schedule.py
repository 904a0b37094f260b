"""Schedules: a config turned into per-frame parameter arrays, up front.

Pure host functions of the frame index; nothing here touches a device, so every value of a
render can be inspected (``--plan``) and tested before the first frame is dreamed.

Frame k is shown at t = k / fps. The camera move that follows frame k covers the interval
[t, t + 1/fps], and its zoom, rotation and pan are the *integrals* of the per-second rates
over that interval (computed on a fine grid), so a render at 12 fps and one at 30 fps reach
the same zoom, angle and position at the same second.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from zoomdream import keyframes, objectives
from zoomdream.config import ConfigError, LayerStep, RenderConfig

DEFAULT_LAYER_FRAMES = 100
# Sub-steps per frame for integrating per-second camera rates.
INTEGRATION_STEPS = 16


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every per-frame value of a render. Arrays have a leading frame axis."""

    fps: float
    objectives: tuple[objectives.Objective, ...]  # shallowest layer first
    weights: np.ndarray  # float32 (frames, objectives)
    dreamed: np.ndarray  # bool (frames,): False for frames that only move (dream.cadence)
    step_size: np.ndarray  # float32 (frames,)
    octave_scale: np.ndarray  # float32 (frames,)
    iterations: np.ndarray  # int32 (frames,)
    jitter: np.ndarray  # int32 (frames,)
    zoom: np.ndarray  # float32 (frames,): zoom factor of the move after each frame
    angle: np.ndarray  # float32 (frames,): rotation of that move, radians, counter-clockwise
    pan: np.ndarray  # float32 (frames, 2): camera motion of that move, pixels (x right, y down)
    center: np.ndarray  # float32 (frames, 2): zoom/rotation centre, fractions of (width, height)

    @property
    def frames(self) -> int:
        return len(self.zoom)

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.frames) / self.fps

    def zoom_total(self) -> np.ndarray:
        """The zoom reached at each frame since the first (float64)."""
        return np.exp(np.concatenate([[0.0], np.cumsum(np.log(self.zoom.astype(np.float64)))[:-1]]))

    def angle_total(self) -> np.ndarray:
        """Degrees turned at each frame since the first."""
        return np.degrees(np.concatenate([[0.0], np.cumsum(self.angle.astype(np.float64))[:-1]]))

    def pan_total(self) -> np.ndarray:
        """Pixels travelled at each frame since the first, (frames, 2)."""
        return np.concatenate([np.zeros((1, 2)), np.cumsum(self.pan.astype(np.float64), axis=0)[:-1]])

    def layer_label(self, frame: int) -> str:
        """A short name of what frame ``frame`` dreams of, for progress bars and plans."""
        active = [(w, o.label) for w, o in zip(self.weights[frame], self.objectives) if w != 0]
        if not active:
            return "-"
        active.sort(key=lambda pair: -pair[0])
        short = [label for _, label in active]
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


def candidate_objectives(config: RenderConfig) -> tuple[objectives.Objective, ...]:
    found = {objective for step in config.layers.schedule for objective, _ in step.layer}
    return tuple(sorted(found, key=lambda o: (o.depth, o)))


def _check_range(section, name: str, values: np.ndarray, key: str) -> None:
    meta = next(f.metadata for f in dataclasses.fields(section) if f.name == name)
    for bound, fails, words in (("min", np.less, "at least"), ("max", np.greater, "at most"), ("above", np.less_equal, "greater than")):
        if bound in meta and fails(values, meta[bound]).any():
            bad = values[fails(values, meta[bound])][0]
            raise ConfigError(f"{key}: must be {words} {meta[bound]}, but reaches {bad:g}")


def _curve(config: RenderConfig, section: str, name: str, frames: int, integer: bool = False) -> np.ndarray:
    """A scheduled field evaluated at every frame, range-checked against its bounds."""
    fps = config.video.fps
    curve: keyframes.Curve = getattr(getattr(config, section), name)
    key = f"{section}.{name}"
    keyframes.check_order(curve, key, fps)
    values = curve.per_frame(frames, fps)
    if integer:
        values = np.round(values)
    _check_range(getattr(config, section), name, values, key)
    return values


def _integrated(config: RenderConfig, name: str, frames: int, log: bool = False) -> np.ndarray:
    """Integral of a per-second camera rate over each frame's interval (of its log for a
    zoom factor, which compounds)."""
    fps = config.video.fps
    curve: keyframes.Curve = getattr(config.camera, name)
    key = f"camera.{name}"
    keyframes.check_order(curve, key, fps)
    # Midpoints of INTEGRATION_STEPS sub-intervals of every frame interval.
    sub = (np.arange(frames)[:, None] + (np.arange(INTEGRATION_STEPS)[None, :] + 0.5) / INTEGRATION_STEPS) / fps
    rate = curve.at(sub.ravel(), fps).reshape(sub.shape)
    _check_range(config.camera, name, rate.ravel(), key)
    if log:
        rate = np.log(rate)
    return rate.mean(axis=1) / fps


def objective_weights(config: RenderConfig, frames: int, candidates: tuple[objectives.Objective, ...]) -> np.ndarray:
    """(frames, objectives) weights: each schedule entry's (possibly scheduled) weights,
    held for its length (the last one until the end), with linear crossfades centred on
    each change."""
    fps = config.video.fps
    column = {objective: i for i, objective in enumerate(candidates)}
    per_entry = []
    for i, step in enumerate(config.layers.schedule):
        w = np.zeros((frames, len(candidates)))
        for objective, curve in step.layer:
            keyframes.check_order(curve, f"layers.schedule[{i}].layer", fps)
            w[:, column[objective]] += curve.per_frame(frames, fps)
        per_entry.append(w)
    lengths = [step_frames(s, fps) for s in config.layers.schedule]
    starts = np.cumsum([0] + lengths[:-1])
    entry = np.searchsorted(starts, np.arange(frames), side="right") - 1
    weights = np.stack(per_entry)[entry, np.arange(frames)]

    layers_cfg = config.layers
    fade = layers_cfg.crossfade_frames
    if fade is None and layers_cfg.crossfade_seconds is not None:
        fade = round(layers_cfg.crossfade_seconds * fps)
    if fade:
        for i in range(1, len(per_entry)):
            # No fade longer than the entries on either side of it.
            width = min(fade, lengths[i - 1], lengths[i])
            first = starts[i] - width // 2
            for f in range(max(first, 0), min(first + width, frames)):
                alpha = (f - first + 1) / (width + 1)
                weights[f] = (1 - alpha) * per_entry[i - 1][f] + alpha * per_entry[i][f]
    return weights.astype(np.float32)


def build_plan(config: RenderConfig, frames: int | None = None, still: bool = False) -> Plan:
    """Evaluate every per-frame value of ``config``.

    Args:
      config: a validated render config.
      frames: number of frames (default: :func:`render_frames`).
      still: one picture: no camera motion.
    """
    n = render_frames(config) if frames is None else frames
    candidates = candidate_objectives(config)
    if still:
        zoom, angle, pan = np.ones(n), np.zeros(n), np.zeros((n, 2))
    else:
        zoom = np.exp(_integrated(config, "zoom_per_second", n, log=True))
        angle = np.radians(_integrated(config, "rotation", n))
        pan = np.stack([_integrated(config, "pan_x", n), _integrated(config, "pan_y", n)], axis=1)
    center = np.stack([_curve(config, "camera", "center_x", n), _curve(config, "camera", "center_y", n)], axis=1)
    return Plan(
        fps=config.video.fps,
        objectives=candidates,
        weights=objective_weights(config, n, candidates),
        dreamed=np.arange(n) % config.dream.cadence == 0,
        step_size=_curve(config, "dream", "step_size", n).astype(np.float32),
        octave_scale=_curve(config, "dream", "octave_scale", n).astype(np.float32),
        iterations=_curve(config, "dream", "iterations", n, integer=True).astype(np.int32),
        jitter=_curve(config, "dream", "jitter", n, integer=True).astype(np.int32),
        zoom=zoom.astype(np.float32),
        angle=angle.astype(np.float32),
        pan=pan.astype(np.float32),
        center=center.astype(np.float32),
    )
