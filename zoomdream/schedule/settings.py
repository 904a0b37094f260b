"""A render's settings resolved: the command line's shortcuts applied to a preset, the
size of a still, the fast draft of ``--preview``, and the static shape of the frame step
(:class:`~zoomdream.dream.step.DreamSpec`) that a config and its plan call for.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from zoomdream.audio import demo
from zoomdream.audio import soundtrack as soundtrack_lib
from zoomdream.dream import color, objectives
from zoomdream.dream import devices as device_lib
from zoomdream.dream.step import DreamSpec
from zoomdream.errors import ConfigError
from zoomdream.io import clip, images, video
from zoomdream.schedule import config as config_lib
from zoomdream.schedule.config import RenderConfig
from zoomdream.schedule.plan import Plan, render_frames, sound_curves


@dataclasses.dataclass(frozen=True)
class Shortcuts:
    """The command line's shortcuts for common preset keys (``--frames``, ``--size``...),
    which ``zoomdream.render`` takes as keywords."""

    frames: int | None = None
    seconds: float | None = None
    size: str | tuple[int, int] | None = None
    fps: float | None = None
    seed: int | None = None
    layer: str | None = None  # one objective for the whole render
    input_image: str | Path | None = None  # start from this picture, or dream this film
    audio: str | Path | None = None  # the soundtrack (video.audio)
    devices: str | int | None = None  # dream.devices

    def overrides(self) -> dict[str, Any]:
        """The shortcuts as ``{dotted.key: value}`` overrides."""
        if self.frames is not None and self.seconds is not None:
            raise ConfigError("give --frames or --seconds, not both")
        out: dict[str, Any] = {}
        for name, key in (("frames", "video.frames"), ("seconds", "video.seconds"), ("size", "video.size"),
                          ("fps", "video.fps"), ("seed", "seed"), ("audio", "video.audio"), ("devices", "dream.devices")):
            if getattr(self, name) is not None:
                out[key] = str(getattr(self, name)) if name == "audio" else getattr(self, name)
        if self.layer is not None:
            objectives.parse(self.layer, "--layer")
            out["layers.schedule"] = [self.layer]
        if self.input_image is not None and Path(self.input_image).suffix.lower() in clip.VIDEO_SUFFIXES:
            out.update({"start.kind": "video", "start.video": str(self.input_image)})
        elif self.input_image is not None:
            out.update({"start.kind": "image", "start.image": str(self.input_image)})
        return out


def resolve_config(preset: str | RenderConfig, shortcuts: Shortcuts = Shortcuts(),
                   overrides: dict[str, Any] | None = None) -> RenderConfig:
    """A preset (a name, a YAML path or a config) with the shortcuts and then the
    overrides applied on top, validated."""
    changes = {**shortcuts.overrides(), **(overrides or {})}
    if isinstance(preset, RenderConfig):
        raw = config_lib.to_dict(preset)
        for key, value in changes.items():
            config_lib.set_value(raw, key, value)
        return config_lib.from_dict(raw)
    return config_lib.load(preset, changes)


def resolve_render(preset: str | RenderConfig, shortcuts: Shortcuts = Shortcuts(),
                   overrides: dict[str, Any] | None = None, audio_length: bool = False, picture: Path | None = None):
    """(config, the film it dreams or None, the soundtrack file or None) of a render:
    :func:`resolve_config`, then as long as the soundtrack (``audio_length``), then the
    film's settings (:func:`with_film`). A film with sound and no other soundtrack keeps
    its own. ``picture``: the render's output is this still, which a film cannot make
    (refused before the film is read)."""
    config = resolve_config(preset, shortcuts, overrides)
    if picture is not None and config.start.kind == "video":
        raise ConfigError(f"a video input makes a video: {picture.name} is a picture (use .mp4 or .gif)")
    audio = soundtrack_file(config)
    if audio_length:
        if audio is None:
            raise ConfigError("--audio-length needs --audio (or video.audio)")
        shortcuts = dataclasses.replace(shortcuts, seconds=video.media_seconds(audio, "a"), frames=None)
        config = resolve_config(preset, shortcuts, overrides)
    config, film = with_film(config, shortcuts, overrides)
    if audio is None and film is not None and film.has_audio:
        audio = film.path
    return config, film, audio


def soundtrack_file(config: RenderConfig) -> Path | None:
    """The file ``video.audio`` names (``demo``: the synthesised demo track), checked."""
    if config.video.audio is None:
        return None
    if config.video.audio == "demo":
        return demo.track_path()
    return check_audio(config.video.audio)


def soundtrack(config: RenderConfig, path: Path | None) -> soundtrack_lib.Soundtrack | None:
    """The analysed soundtrack, when a value of ``config`` follows it (else None: nothing
    is decoded)."""
    curves = sound_curves(config)
    if not curves or path is None:
        return None
    bands = {source.band for curve in curves.values() for _, source, _ in curve.sound() if source.kind == "band"}
    return soundtrack_lib.load(path, tuple(sorted(bands)), key="video.audio")


def canvas_size(config: RenderConfig, still: bool, size_given: bool) -> tuple[int, int]:
    """(width, height) of the render. A still from a photo keeps the photo's size unless
    a size was asked for."""
    if still and config.start.kind == "image" and not size_given:
        rgb = images.load_image(config.start.image)
        return rgb.shape[1], rgb.shape[0]
    return config.video.size


def with_film(config: RenderConfig, shortcuts: Shortcuts, overrides: dict[str, Any] | None):
    """(config, the film it dreams or None): for a video input, the config as
    :func:`film_config` makes it, sizes and lengths asked for by ``shortcuts`` or
    ``overrides`` kept."""
    if config.start.kind != "video":
        return config, None
    film = clip.probe(config.start.video)
    length_given = (shortcuts.frames is not None or shortcuts.seconds is not None
                    or any(k in (overrides or {}) for k in ("video.frames", "video.seconds")))
    return film_config(config, film, shortcuts.size is not None, length_given), film


def film_config(config: RenderConfig, film: clip.Clip, size_given: bool, length_given: bool) -> RenderConfig:
    """A config for dreaming ``film``: the film's frame rate, its length (or the length
    asked for, if no longer) and its size (or the size asked for; H.264 needs even sides,
    so an odd side loses a pixel)."""
    raw = config_lib.to_dict(config)
    raw["video"]["fps"] = film.fps
    if not size_given:
        raw["video"]["size"] = f"{max(16, film.width - film.width % 2)}x{max(16, film.height - film.height % 2)}"
    if not length_given:
        raw["video"]["frames"], raw["video"]["seconds"] = film.frames, None
    config = config_lib.from_dict(raw)
    frames = render_frames(config)
    if frames > film.frames:
        raise ConfigError(f"video.frames: {film.path.name} has {film.frames} frames, fewer than the {frames} asked for")
    if config.dream.cadence > 1:
        raise ConfigError("dream.cadence: every frame of a film is dreamed; a video input needs cadence 1")
    if config.camera.supersample > 1:
        raise ConfigError("camera.supersample: a video input is viewed at the video's size; it needs supersample 1")
    if not (config.color.coherence.is_constant and config.color.coherence.constant == 0):
        raise ConfigError("color.coherence: a film keeps its own colours; a video input needs color.coherence 0")
    return config


def _even(n: float) -> int:
    return max(16, int(round(n / 2)) * 2)


def preview(config: RenderConfig, plan: Plan, width: int, height: int) -> tuple[RenderConfig, Plan, int, int]:
    """A fast draft of the same schedule: half the size, one octave less, half the
    iterations. Pan speeds are in pixels, so they halve with the size."""
    w, h = _even(width / 2), _even(height / 2)
    raw = config_lib.to_dict(config)
    raw["dream"]["octaves"] = max(1, config.dream.octaves - 1)
    v, ratio = plan.values, w / width
    shrunk = v.replace(iterations=np.maximum(1, (v.iterations + 1) // 2), pan_x=v.pan_x * ratio, pan_y=v.pan_y * ratio)
    return config_lib.from_dict(raw), dataclasses.replace(plan, values=shrunk), w, h


def dream_spec(config: RenderConfig, plan: Plan, width: int, height: int, devices: int = 1) -> DreamSpec:
    """The static shape of this render's frame step, on ``devices`` devices (see
    :func:`device_count`)."""
    return DreamSpec.create(
        height, width, config.dream.octaves, float(plan.values.octave_scale.min()), plan.objectives,
        max_iterations=int(plan.values.iterations.max()),
        scheduled_octave_scale=not config.dream.octave_scale.is_constant,
        gradient_norm=config.dream.gradient_norm,
        laplacian_levels=config.dream.laplacian_levels,
        parameterization=config.dream.parameterization,
        optimizer=config.dream.optimizer,
        transforms=config.dream.transforms.pad > 0 or any(
            np.any(getattr(plan.values, name) != 0) for name in ("transform_jitter", "transform_scale", "transform_rotate")),
        transform_pad=config.dream.transforms.pad,
        tile_size=config.dream.tile_size,
        precision=config.dream.precision,
        supersample=config.camera.supersample,
        border=config.camera.border,
        noise_amplitude=config.start.noise_amplitude,
        video=config.start.kind == "video",
        devices=devices,
    )


def color_tone(config: RenderConfig, plan: Plan) -> np.ndarray | None:
    """The colour tone the first frame is held to, if any frame of the render holds its
    colours (see :mod:`zoomdream.dream.color`), else None."""
    if not np.any(plan.values.color_coherence > 0):
        return None
    reference = config.color.reference
    if reference == "window":
        return color.unset_tone(color.window_rate(config.video.fps, config.color.window_seconds))
    if reference == "first":
        return color.unset_tone()
    try:
        return color.picture_tone(images.load_image(reference))
    except images.ImageError as exc:
        raise ConfigError(f"color.reference: {exc}") from None


def device_count(config: RenderConfig, width: int, height: int) -> tuple[int, str | None]:
    """(devices to dream on, a one-line note when fewer than ``dream.devices`` asked)."""
    return device_lib.choose(config.dream.devices, height, width, config.dream.tile_size)


def check_audio(audio: str | Path | None) -> Path | None:
    """A soundtrack file that ffmpeg can read, or None."""
    if audio is None:
        return None
    path = Path(audio).expanduser()
    if not path.is_file():
        raise ConfigError(f"video.audio (--audio): {str(audio)!r} does not exist or is not a file")
    try:
        video.media_seconds(path, "a")
    except OSError:
        raise ConfigError(f"video.audio (--audio): {str(audio)!r} has no sound ffmpeg can read") from None
    return path.resolve()
