"""What a client may ask of the server, checked before anything is queued.

A job is a bundled preset (by name: never a path), overrides validated exactly as a
preset's keys are (the same one-line errors), an output format, and optionally a picture
to start from. Nothing a client sends can name a file on the server: keys that take paths
are refused, and so are guide pictures; the uploaded picture is decoded (the type is
what the bytes are, not what the name says), limited in bytes and in pixels (a small
file can claim billions of pixels), and stored by the server under a name of its own.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from zoomdream.errors import ConfigError
from zoomdream.schedule import config as config_lib
from zoomdream.schedule import settings
from zoomdream.schedule.plan import build_plan

FORMATS = ("png", "mp4", "gif")
# Keys whose values are files on the server: a client may not choose them.
PATH_KEYS = ("start.image", "start.video", "video.audio")
# Decoders for uploads: the common picture formats only, none of Pillow's rarer ones.
PICTURE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")


class RequestError(ValueError):
    """A request the server refuses, with its HTTP status and one line saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one job may ask of this server."""

    upload_bytes: int = 20 * 2**20
    upload_pixels: int = 40_000_000
    side: int = 1024  # canvas pixels per side
    frames: int = 1500
    waiting: int = 100  # jobs queued at once


@dataclasses.dataclass(frozen=True)
class Submission:
    preset: str
    overrides: dict[str, Any]
    format: str
    frames: int
    size: str  # WIDTHxHEIGHT


def parse_overrides(text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"overrides: not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise RequestError(400, "overrides: expected a JSON object of {\"dotted.key\": value}")
    return value


def check(preset: str, overrides: dict[str, Any], output_format: str, has_image: bool, limits: Limits) -> Submission:
    """The job as the server will render it, or a :class:`RequestError`."""
    if preset not in config_lib.available_presets():
        raise RequestError(400, f"unknown preset {preset!r}; the presets are {', '.join(config_lib.available_presets())}")
    for key in overrides:
        if key in PATH_KEYS or key.startswith(tuple(k + "." for k in PATH_KEYS)):
            raise RequestError(400, f"{key}: files on the server cannot be chosen from the web page")
    if _names_a_guide(overrides):  # refused before parsing: its error would say whether a file exists
        raise RequestError(400, "guide pictures cannot be used from the web page")
    if output_format not in FORMATS:
        raise RequestError(400, f"format: {output_format!r} is not one of {', '.join(FORMATS)}")
    with_picture = dict(overrides)
    if has_image:  # the server's own copy of the upload stands in for the path
        with_picture.update({"start.kind": "image", "start.image": "input.png"})
    try:
        config = settings.resolve_config(preset, overrides=with_picture)
        if config.start.kind not in ("noise", "color", "image") or (config.start.kind == "image" and not has_image):
            raise ConfigError(f"start.kind: {config.start.kind!r} needs a file; upload a picture instead")
        if any(objective.kind == "guide" for step in config.layers.schedule for objective, _ in step.layer):
            raise ConfigError("guide pictures cannot be used from the web page")
        width, height = config.video.size
        if max(width, height) > limits.side:
            raise ConfigError(f"video.size: {width}x{height} is larger than this server's {limits.side} pixels per side")
        still = output_format == "png"
        sound = settings.soundtrack(config, settings.soundtrack_file(config))
        plan = build_plan(config, frames=1 if still else None, still=still, sound=sound)
    except ConfigError as exc:
        raise RequestError(400, str(exc)) from None
    if plan.frames > limits.frames:
        raise RequestError(400, f"video: {plan.frames} frames is more than this server renders in one job "
                                f"({limits.frames})")
    return Submission(preset, overrides, output_format, plan.frames, f"{width}x{height}")


def _names_a_guide(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower().startswith("guide")
    if isinstance(value, dict):
        return any(_names_a_guide(k) or _names_a_guide(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_names_a_guide(v) for v in value)
    return False


def decode_picture(data: bytes, limits: Limits) -> np.ndarray:
    """An uploaded picture as uint8 RGB, or a :class:`RequestError` (413 for too many
    bytes or pixels, 415 for what is not a picture)."""
    from PIL import Image

    if len(data) > limits.upload_bytes:
        raise RequestError(413, f"image: larger than {limits.upload_bytes // 2**20} MB")
    if not data:
        raise RequestError(415, "image: the file is empty")
    try:
        with Image.open(io.BytesIO(data), formats=PICTURE_FORMATS) as picture:
            width, height = picture.size  # read from the header, before any decoding
            if width * height > limits.upload_pixels:
                raise RequestError(413, f"image: {width}x{height} pixels is more than this server decodes "
                                        f"({limits.upload_pixels:,} pixels)")
            rgb = np.asarray(picture.convert("RGB"))
    except RequestError:
        raise
    except Exception:  # Pillow's many ways of saying "not a picture", its bomb check included
        raise RequestError(415, "image: not a picture this server reads (PNG, JPEG, WebP, BMP or GIF)") from None
    if min(rgb.shape[:2]) < 1:
        raise RequestError(415, "image: the picture has no pixels")
    return rgb


def save_picture(rgb: np.ndarray, folder: Path) -> Path:
    import imageio.v3 as iio

    path = folder / "input.png"
    iio.imwrite(path, rgb)
    return path
