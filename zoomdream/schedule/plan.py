"""A render planned: how many frames, what each dreams of, and every per-frame value.

Pure host functions of the frame index; nothing here touches a device, so every value of a
render can be inspected (``--plan``) and tested before the first frame is dreamed. The
scheduled keys become :class:`~zoomdream.schedule.values.FrameValues` (see that module);
this module adds what the layer schedule decides: the objectives and their weights, and
the render's length.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from zoomdream.dream import objectives
from zoomdream.errors import ConfigError
from zoomdream.schedule import keyframes, values
from zoomdream.schedule.config import MAX_FRAMES, LayerStep, RenderConfig
from zoomdream.schedule.values import FrameValues

DEFAULT_LAYER_FRAMES = 100


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every per-frame value of a render."""

    fps: float
    objectives: tuple[objectives.Objective, ...]  # shallowest layer first
    # Leading frame axis: the scheduled values, "weights" (frames, objectives) and
    # "frame_index". Frame k's are values.at(k).
    values: FrameValues
    dreamed: np.ndarray  # bool (frames,): False for frames that only move (dream.cadence)
    film: bool = False  # a film is dreamed: the camera values are the view's (see _film_values)
    # What the values that follow the soundtrack follow: {value: {feature label: (frames,)}},
    # each feature shaped as it drives the value and read at the frames' times.
    sound: dict[str, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)

    @property
    def frames(self) -> int:
        return len(self.values.frame_index)

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.frames) / self.fps

    def total(self, frame_name: str) -> np.ndarray:
        """How far a camera rate has carried the picture by each frame, since the first,
        in the preset's units (float64): the zoom factor reached, degrees turned, pixels
        travelled."""
        field = values.field_named(frame_name)
        if field is None or field.per_frame == "sample":
            raise ValueError(f"{frame_name} is not a camera rate")
        reached = self.values[frame_name].astype(np.float64)
        if not self.film:  # (a film's camera values are already the view's totals)
            reached = _accumulated(reached, field.per_frame == "log_rate")
        return reached if field.per_frame == "log_rate" else reached / field.scale

    def layer_label(self, frame: int) -> str:
        """A short name of what frame ``frame`` dreams of, for progress bars and plans."""
        active = [(w, o.label) for w, o in zip(self.values.weights[frame], self.objectives) if w != 0]
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
        frames, key = video.frames, "video.frames"
    elif video.seconds is not None:
        frames, key = max(1, round(video.seconds * video.fps)), "video.seconds"
    else:
        frames, key = schedule_frames(config), "layers.schedule"
    if frames > MAX_FRAMES:
        raise ConfigError(f"{key}: {frames:,} frames is more than one render makes (at most {MAX_FRAMES:,})")
    return frames


def candidate_objectives(config: RenderConfig) -> tuple[objectives.Objective, ...]:
    found = {objective for step in config.layers.schedule for objective, _ in step.layer}
    return tuple(sorted(found, key=lambda o: (o.depth, o)))


def objective_weights(config: RenderConfig, frames: int, candidates: tuple[objectives.Objective, ...],
                      sound=None) -> np.ndarray:
    """(frames, objectives) weights: each schedule entry's (possibly scheduled) weights,
    held for its length (the last one until the end), with linear crossfades centred on
    each change."""
    fps = config.video.fps
    column = {objective: i for i, objective in enumerate(candidates)}
    per_entry = []
    for i, step in enumerate(config.layers.schedule):
        w = np.zeros((frames, len(candidates)))
        for objective, curve in step.layer:
            key = f"layers.schedule[{i}].layer.{objective.spec}"
            keyframes.check_order(curve, key, fps)
            w[:, column[objective]] += curve.per_frame(frames, fps, key, sound)
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


def build_plan(config: RenderConfig, frames: int | None = None, still: bool = False, sound=None) -> Plan:
    """Evaluate every per-frame value of ``config``.

    Args:
      config: a validated render config.
      frames: number of frames (default: :func:`render_frames`).
      still: one picture: no camera motion.
      sound: the soundtrack (:class:`~zoomdream.audio.soundtrack.Soundtrack`), for values
        that follow it.
    """
    n = render_frames(config) if frames is None else frames
    candidates = candidate_objectives(config)
    scheduled = values.evaluate(config, n, still=still, sound=sound)
    if config.start.kind == "video":
        scheduled = _film_values(scheduled)
    return Plan(
        fps=config.video.fps,
        objectives=candidates,
        values=FrameValues({
            **scheduled,
            "weights": objective_weights(config, n, candidates, sound),
            "frame_index": np.arange(n, dtype=np.int32),
        }),
        dreamed=np.arange(n) % config.dream.cadence == 0,
        film=config.start.kind == "video",
        sound=_sound_curves(config, n, sound) if sound is not None else {},
    )


def sound_curves(config: RenderConfig) -> dict[str, keyframes.Curve]:
    """The curves of ``config`` that follow the soundtrack, by the value they set (a
    frame value's name, or ``weight <objective>``)."""
    curves = {field.frame_name: field.curve(config) for field in values.scheduled_fields()}
    for step in config.layers.schedule:
        for objective, curve in step.layer:
            curves.setdefault(f"weight {objective.spec}", curve)
    return {name: curve for name, curve in curves.items() if curve.sound()}


def _sound_curves(config: RenderConfig, frames: int, sound) -> dict[str, dict[str, np.ndarray]]:
    times = np.arange(frames) / config.video.fps
    return {name: {label: sound.sample(source, times, 1 / config.video.fps, shaping)
                   for label, source, shaping in curve.sound()}
            for name, curve in sound_curves(config).items()}


def _film_values(scheduled: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A dreamed film's values: every frame after the first dreams ``video_iterations``
    steps on top of the dream carried from the frame before, and more the less it carries:
    with ``coherence`` c, ``video_iterations + trunc((1 - c) * (iterations -
    video_iterations))``, so a frame that carries nothing (c = 0) is dreamed as fully as
    the first, with no step in strength after it; and the camera, whose keys
    give a move per frame, becomes a view of the film moved by all the frames' moves
    before it (frame 0 sees the film as it is)."""
    out = dict(scheduled)
    fresh, carried = scheduled["iterations"], scheduled["video_iterations"]
    more = np.trunc((1.0 - scheduled["coherence"]) * (fresh - carried).astype(np.float64))
    out["iterations"] = np.concatenate([fresh[:1], carried[1:] + more[1:].astype(carried.dtype)])
    out["zoom"] = _accumulated(scheduled["zoom"], compound=True).astype(np.float32)
    for name in ("angle", "pan_x", "pan_y"):
        out[name] = _accumulated(scheduled[name], compound=False).astype(np.float32)
    return out


def _accumulated(moves: np.ndarray, compound: bool) -> np.ndarray:
    """Where per-frame camera moves have carried the picture by each frame (frame 0: not
    at all): factors multiplied (``compound``) or amounts added, in float64."""
    moves = np.asarray(moves, np.float64)
    if compound:
        return np.exp(np.concatenate([[0.0], np.cumsum(np.log(moves))[:-1]]))
    return np.concatenate([[0.0], np.cumsum(moves)[:-1]])
