"""A film to dream: what it is (size, frame rate, frames, sound) and its frames, streamed.

Frames are decoded by ffmpeg one at a time, already scaled and cropped to the render's
size, so a film is never held whole in memory whatever its length or resolution.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from zoomdream.errors import ConfigError
from zoomdream.io import video

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")


@dataclasses.dataclass(frozen=True)
class Clip:
    path: Path
    width: int
    height: int
    fps: float
    frames: int
    has_audio: bool


def probe(path: str | Path, key: str = "start.video") -> Clip:
    """What the film at ``path`` holds; one-line ConfigErrors (naming ``key``) for a file
    that is missing, is not a video, has no frames or cannot be decoded."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{key}: {str(path)!r} {'is not a file' if path.exists() else 'does not exist'}")
    info = video.describe(path)
    stream = re.search(r"Stream #\S+.*?: Video: .*", info)
    if stream is None:
        raise ConfigError(f"{key}: {str(path)!r} is not a video ffmpeg can read")
    rate = re.search(r"([\d.]+) (?:fps|tbr)", stream.group(0))
    size = re.search(r"\b(\d{2,5})x(\d{2,5})\b", stream.group(0))
    if rate is None or size is None or float(rate.group(1)) <= 0:
        raise ConfigError(f"{key}: {str(path)!r} has no frame rate or size ffmpeg can read")
    try:
        frames = video.count_frames(path)
    except OSError:
        frames = 0
    if frames < 1:
        raise ConfigError(f"{key}: {str(path)!r} has no video frames that can be decoded")
    has_audio = re.search(r"Stream #\S+.*?: Audio: ", info) is not None
    return Clip(path.resolve(), int(size.group(1)), int(size.group(2)), float(rate.group(1)), frames, has_audio)


def frames(clip: Clip, width: int, height: int, start: int = 0) -> Iterator[np.ndarray]:
    """The film's frames from frame ``start`` on, as uint8 RGB (height, width, 3): scaled
    to cover the size and cropped to it, as a still start picture is. Frames before
    ``start`` are decoded and dropped, so that frame k is the same frame however the
    reading began."""
    scale = (f"scale={width}:{height}:force_original_aspect_ratio=increase:flags=area,"
             f"crop={width}:{height},setsar=1")
    # (A reader started with imageio-ffmpeg's Ctrl-C protection would fork the whole JAX
    # process; the render handles Ctrl-C itself.)
    os.environ["IMAGEIO_FFMPEG_NO_PREVENT_SIGINT"] = "1"
    import imageio_ffmpeg  # here, not at the top: only a film's render reads one

    reader = imageio_ffmpeg.read_frames(str(clip.path), output_params=["-vf", scale, "-fps_mode", "passthrough"])
    try:
        next(reader)  # the stream's description
        for k, buffer in enumerate(reader):
            if k >= start:
                yield np.frombuffer(buffer, np.uint8).reshape(height, width, 3)
    finally:
        reader.close()
