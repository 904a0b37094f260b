"""Writing frames: H.264 MP4 through imageio-ffmpeg, and numbered PNG files.

Frames are streamed to ffmpeg as they are produced, never held in memory. The writer is a
context manager: on any exit, Ctrl-C and errors included, ffmpeg's input is closed and it
finishes the file, so the MP4 plays with every frame written so far. The ffmpeg binary is
the one imageio-ffmpeg ships, so nothing has to be installed by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np


def check_video_size(width: int, height: int) -> str | None:
    """Why H.264 in yuv420p cannot take this size, or None if it can. Chroma is stored at
    half resolution, so both sides must be even."""
    if width % 2 or height % 2:
        even_w, even_h = width + width % 2, height + height % 2
        return f"size {width}x{height}: H.264 MP4 needs an even width and height, e.g. {even_w}x{even_h}"
    return None


def crf_for_quality(quality: float) -> int:
    """Map quality 1..10 (10 best) to x264's CRF 0..51 (0 best), as imageio-ffmpeg does."""
    return int((1 - quality / 10.0) * 51)


def ffmpeg_exe() -> str:
    import imageio_ffmpeg  # here, not at the top: a render that writes no video never needs it

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: list[str], what: str) -> subprocess.CompletedProcess:
    """Run ffmpeg to completion and return it (text stdout and stderr); raise OSError
    saying ``what`` failed, with ffmpeg's last word."""
    result = subprocess.run([ffmpeg_exe(), "-y", "-hide_banner", *args], capture_output=True, text=True, start_new_session=True)
    if result.returncode != 0:
        raise OSError(f"{what}: {last_line(result.stderr) or f'ffmpeg exit status {result.returncode}'}")
    return result


def describe(path: str | Path) -> str:
    """ffmpeg's description of a media file's streams (``ffmpeg -i``; empty for a file
    it cannot open)."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True,
                            start_new_session=True)
    return result.stderr


def last_line(log: str) -> str:
    """The last non-empty line of a log (ffmpeg ends with the error that stopped it)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return lines[-1] if lines else ""


class FrameWriter:
    """Stream uint8 RGB frames of one size into ffmpeg, which encodes them as it goes."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float, output_args: list[str]):
        self.path = Path(path)
        self.shape = (height, width, 3)
        self.frames_written = 0
        rate = Fraction(fps).limit_denominator(1001)
        command = [
            ffmpeg_exe(), "-y", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(rate), "-i", "-",
            *output_args, str(self.path),
        ]  # fmt: skip
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in close())
        # A session of its own: a Ctrl-C in the terminal reaches zoomdream, which then
        # closes the file, rather than killing ffmpeg mid-file. (No preexec_fn: forking
        # a multithreaded JAX process to run Python code in the child can deadlock.)
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log,
                                         start_new_session=True)

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != self.shape or frame.dtype != np.uint8:
            raise ValueError(f"frame is {frame.dtype}{frame.shape}, the video takes uint8{self.shape}")
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            raise OSError(f"ffmpeg stopped while writing {self.path}: {self._error_text()}") from None
        self.frames_written += 1

    def _error_text(self) -> str:
        """ffmpeg's last word on what went wrong, on one line."""
        self._process.wait()
        self._log.seek(0)
        return last_line(self._log.read().decode(errors="replace")) or f"exit status {self._process.returncode}"

    def close(self) -> None:
        """Finish the file. Safe to call twice; raises if ffmpeg failed."""
        if self._process.stdin.closed:
            return
        with contextlib.suppress(BrokenPipeError):
            self._process.stdin.close()
        if self._process.wait() != 0:
            raise OSError(f"ffmpeg could not write {self.path}: {self._error_text()}")
        self._log.close()

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Mp4Writer(FrameWriter):
    """H.264 in yuv420p: the MP4 every player plays."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float, quality: float = 8.0):
        problem = check_video_size(width, height)
        if problem:
            raise ValueError(problem)
        # No B-frames: an MP4 with B-frames starts with an edit list that shifts its
        # timestamps, and segments joined without re-encoding would keep those shifts as
        # gaps that players fill by repeating frames.
        args = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf_for_quality(quality)), "-bf", "0",
                "-movflags", "+faststart"]
        super().__init__(path, width, height, fps, args)


class GifWriter(FrameWriter):
    """An endlessly looping GIF with one palette made for the whole clip (ffmpeg's
    palettegen/paletteuse, far better than a fixed web palette); for short loops."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float):
        graph = "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a"
        super().__init__(path, width, height, fps, ["-filter_complex", graph, "-loop", "0"])


def join(segments: list[Path], output: Path, frames: int, fps: float, metadata: dict | None = None,
         audio: Path | None = None) -> None:
    """Join MP4 segments made with the same settings into ``output`` without re-encoding,
    with ``metadata`` as JSON in the file's comment tag and an optional soundtrack (cut or
    padded with silence to the video's length). Written to a temporary file, which replaces ``output`` only once
    it is seen to hold all ``frames`` frames (ffmpeg's concat skips a damaged input and
    still succeeds)."""
    listing = output.with_name(output.name + ".segments.txt")
    listing.write_text("".join(f"file '{p.resolve()}'\n" for p in segments))
    temporary = output.with_name(output.stem + ".joining" + output.suffix)
    args = ["-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing)]
    if audio is not None:
        # Padded with silence, then cut with the video: the sound ends when the picture does.
        args += ["-i", str(audio), "-map", "0:v", "-map", "1:a", "-af", "apad", "-c:a", "aac", "-b:a", "192k"]
    args += ["-c:v", "copy", "-t", f"{frames / fps:.6f}"]
    if metadata is not None:
        args += ["-metadata", f"comment={json.dumps(metadata, separators=(',', ':'))}"]
    args += ["-movflags", "+faststart", str(temporary)]
    try:
        run_ffmpeg(args, f"could not join the video segments into {output}")
        joined = count_frames(temporary, decode=False)
        if joined != frames:
            raise OSError(f"the joined video would hold {joined} frames, not {frames}; {output} was not written")
        temporary.replace(output)
    finally:
        listing.unlink(missing_ok=True)
        temporary.unlink(missing_ok=True)


def read_metadata(path: str | Path) -> dict:
    """The JSON that :func:`join` stored in a video's comment tag ({} if none)."""
    listing = run_ffmpeg(["-loglevel", "error", "-i", str(path), "-f", "ffmetadata", "-"], f"cannot read {path}").stdout
    # ffmetadata escapes '=', ';', '#', '\\' and newlines with a backslash.
    for line in re.split(r"(?<!\\)\n", listing):
        if line.startswith("comment="):
            text = re.sub(r"\\(.)", r"\1", line[len("comment="):], flags=re.S)
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return {}
    return {}


def count_frames(path: str | Path, decode: bool = True) -> int:
    """Number of video frames in a file, by decoding it (or, with ``decode=False``, by
    counting its packets, which is fast and the same for zoomdream's H.264)."""
    copy = [] if decode else ["-c", "copy"]
    err = run_ffmpeg(["-i", str(path), "-map", "0:v", *copy, "-f", "null", "-"], f"cannot read {path}").stderr
    counts = re.findall(r"frame=\s*(\d+)", err)
    if not counts:
        raise OSError(f"cannot count the frames of {path}")
    return int(counts[-1])


def media_seconds(path: str | Path, stream: str = "") -> float:
    """Duration of a media file, or of its audio (``"a"``) or video (``"v"``) stream, by
    decoding it."""
    mapping = ["-map", f"0:{stream}"] if stream else []
    err = run_ffmpeg(["-i", str(path), *mapping, "-f", "null", "-"], f"cannot read {path}").stderr
    times = re.findall(r"time=(\d+):(\d+):([\d.]+)", err)
    if not times:
        raise OSError(f"cannot tell how long {path} is")
    h, m, sec = times[-1]
    return int(h) * 3600 + int(m) * 60 + float(sec)


def read_video(path: str | Path) -> np.ndarray:
    """All frames of a video as uint8 RGB (frames, H, W, 3), decoded by ffmpeg."""
    # imageio-ffmpeg would start its reader with a preexec_fn, which forks the whole
    # multithreaded JAX process; a reader needs no Ctrl-C protection, so skip that.
    previous = os.environ.get("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT")
    os.environ["IMAGEIO_FFMPEG_NO_PREVENT_SIGINT"] = "1"
    import imageio_ffmpeg

    try:
        reader = imageio_ffmpeg.read_frames(str(path))
        width, height = next(reader)["size"]
        frames = [np.frombuffer(buf, np.uint8).reshape(height, width, 3) for buf in reader]
    finally:
        if previous is None:
            del os.environ["IMAGEIO_FFMPEG_NO_PREVENT_SIGINT"]
        else:
            os.environ["IMAGEIO_FFMPEG_NO_PREVENT_SIGINT"] = previous
    return np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8)
