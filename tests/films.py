"""Clips for the film tests and the video benchmark, made here from a real photograph."""

import math
from pathlib import Path

import numpy as np

from zoomdream.io import video

PHOTO = Path(__file__).parent / "data" / "golden_subset.npz"


def photo() -> np.ndarray:
    """A real photograph (the coffee cup of the golden crops), uint8 RGB 241x283."""
    with np.load(PHOTO) as g:
        return g["rgb_odd"]


def magnification_to_cover(width: int, height: int, frames: int, shift_x: int) -> int:
    """How many times the photograph is magnified for ``frames`` views of ``width`` x
    ``height`` panning ``shift_x`` px a frame (one more than just enough: bilinear edges)."""
    h, w = photo().shape[:2]
    return math.ceil(max(height / h, (width + shift_x * frames) / w)) + 1


def panning_frames(size: int | tuple[int, int], frames: int, shift: tuple[float, float], magnify: int = 1) -> np.ndarray:
    """``frames`` views of the photograph (magnified ``magnify`` times, bilinearly),
    ``size`` pixels square or (width, height), each moved by ``shift`` (dy, dx) pixels
    from the one before (integer shifts keep them exact)."""
    width, height = (size, size) if isinstance(size, int) else size
    picture = photo()
    if magnify > 1:
        from scipy import ndimage

        picture = np.clip(ndimage.zoom(picture.astype(np.float32), (magnify, magnify, 1), order=1), 0, 255)
        picture = np.round(picture).astype(np.uint8)
    top = (picture.shape[0] - height) // 2 - round(shift[0] * (frames - 1) / 2)
    left = (picture.shape[1] - width) // 2 - round(shift[1] * (frames - 1) / 2)
    out = []
    for k in range(frames):
        y, x = top + round(k * shift[0]), left + round(k * shift[1])
        out.append(picture[y:y + height, x:x + width])
    return np.stack(out)


def write_clip(path: Path, frames: np.ndarray, fps: float, sound_seconds: float | None = None) -> Path:
    """An H.264 MP4 of ``frames`` (visually lossless), with a sine tone as its sound."""
    h, w = frames.shape[1:3]
    writer = video.FrameWriter(path, w, h, fps, ["-c:v", "libx264", "-crf", "1", "-pix_fmt", "yuv444p"])
    with writer:
        for frame in frames:
            writer.write(frame)
    if sound_seconds is not None:
        silent = path.with_name(path.stem + ".silent" + path.suffix)
        path.replace(silent)
        video.run_ffmpeg(["-i", str(silent), "-f", "lavfi", "-i", f"sine=frequency=440:duration={sound_seconds}",
                          "-c:v", "copy", "-c:a", "aac", "-shortest", str(path)], "could not add a sound")
        silent.unlink()
    return path
