"""Where rendered frames go: every output is a :class:`Sink`.

The render loop knows one interface. It hands every finished frame to each sink in turn
(``write``), asks whether any wants a checkpoint once a frame is done
(``checkpoint_due``) and then hands them the canvas the next frame starts from
(``checkpoint``), and ends with ``finish``. The sinks: a segmented, checkpointed MP4, a
GIF, a still picture, numbered PNG files, the ``latest.png`` of a long render and a
user's callback. Everything here runs on the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoomdream import timeline
from zoomdream.errors import ConfigError
from zoomdream.io import images, parts, video

# Without --checkpoint-every, a checkpoint every this many seconds of rendering; the
# segment length in frames is fixed from the speed of the first frames and recorded.
CHECKPOINT_SECONDS = 60.0
MIN_SEGMENT_FRAMES = 4  # the length is chosen after frame 1, so it must exceed 3
MAX_SEGMENT_FRAMES = 3000

VIDEO_SUFFIXES = (".mp4", ".gif")
STILL_SUFFIXES = (".png", ".jpg", ".jpeg")


class Sink:
    """What the render loop does with frames. Every method has a do-nothing default, so a
    sink implements only what it needs."""

    name = "output"  # what its work is called in a --timeline

    def write(self, k: int, frame: np.ndarray) -> None:
        """Take frame ``k`` (uint8 RGB)."""

    def checkpoint_due(self, next_frame: int) -> bool:
        """Whether this sink wants the canvas once frame ``next_frame - 1`` is written."""
        return False

    def checkpoint(self, next_frame: int, canvas: np.ndarray, tone: np.ndarray | None = None) -> None:
        """The canvas that frame ``next_frame`` starts from, and the colour tone it is held
        to (None: colours are not held), given to a sink when its ``checkpoint_due`` asked."""

    def finish(self, frames_done: int, interrupted: bool) -> None:
        """The render ended with ``frames_done`` frames of the video done (counted from
        frame 0, also when the render resumed later)."""

    def kept(self) -> str:
        """What survives a failed write, said after the error ("" if nothing)."""
        return ""

    def where(self) -> str:
        """Where the frames go besides the output, for the user ("" if nowhere)."""
        return ""

    def abandon(self) -> None:
        """After a failure: let go of open files and remove temporary ones, quietly."""


# ---- checks before anything is written ---------------------------------------------------


def output_kind(output: Path) -> str:
    """``mp4``, ``gif`` or ``still``, from the file name; anything else is refused."""
    suffix = output.suffix.lower()
    if suffix in STILL_SUFFIXES:
        return "still"
    if suffix in VIDEO_SUFFIXES:
        return suffix[1:]
    raise ConfigError(f"output {str(output)!r}: zoomdream writes .mp4 or .gif videos, or .png/.jpg stills")


def check_output_folder(output: Path) -> None:
    """Refuse, before any work, an output that cannot be written."""
    output_kind(output)
    if output.is_dir():
        raise ConfigError(f"output {str(output)!r} is a folder; name a file")
    folder = output.parent
    if not folder.is_dir():
        raise ConfigError(f"output folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"output folder {str(folder)!r} is not writable")


def check_output_free(output: Path, overwrite: bool) -> None:
    """Refuse an output that should not be written over (checked with its lock held)."""
    if output.exists() and not overwrite:
        raise ConfigError(f"output {str(output)!r} already exists; pass --overwrite to replace it")
    folder_of_parts = parts.parts_dir(output)
    if output_kind(output) == "mp4" and folder_of_parts.exists() and not overwrite:
        raise ConfigError(f"{folder_of_parts} holds an unfinished render of {output.name}; "
                          f"--resume {output} continues it, --overwrite starts again")


def check_frames_dir(frames_dir: Path, overwrite: bool) -> None:
    if frames_dir.exists() and not frames_dir.is_dir():
        raise ConfigError(f"--frames-dir {str(frames_dir)!r} is a file, not a folder")
    if frames_dir.is_dir() and any(frames_dir.glob("frame_*.png")) and not overwrite:
        raise ConfigError(f"--frames-dir {str(frames_dir)!r} already holds frames; pass --overwrite to replace them")
    parent = frames_dir if frames_dir.is_dir() else frames_dir.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"--frames-dir {str(frames_dir)!r} cannot be created or written")


# ---- the MP4 -------------------------------------------------------------------------------


class Mp4Output(Sink):
    """An MP4 built from segments in ``<output>.parts/``, each closed and checkpointed at a
    fixed frame boundary, and joined (without re-encoding) into the output at the end, on
    Ctrl-C, or by :func:`assemble`. The parts folder is made when the first frame
    arrives, so a render that fails or stops before it leaves nothing behind; it also
    holds ``latest.png``."""

    name = "mp4"

    def __init__(self, output: Path, manifest: parts.Manifest, start_frame: int, key_data: np.ndarray,
                 replace_parts: bool = False, keep: frozenset[int] = frozenset(), checkpoint_floor: int = 0):
        """``keep``: segments that are on disk and intact, which a render that starts over
        to remake a damaged one computes again but does not write; ``checkpoint_floor``:
        the frame of the checkpoint on disk, which such a render never moves back."""
        self.output = output
        self.parts = parts.parts_dir(output)
        self.manifest = manifest
        self.start_frame = start_frame
        self.key_data = key_data
        self.keep = keep
        self.checkpoint_floor = checkpoint_floor
        self._replace_parts = replace_parts
        self._opened = False
        self._latest = LatestPicture(self.parts)
        self._writer: video.Mp4Writer | None = None
        self._writer_index = -1
        self._first_write_time: float | None = None

    def _open_parts(self) -> None:
        if self._replace_parts and self.parts.exists():
            shutil.rmtree(self.parts)
        self.parts.mkdir(exist_ok=True)
        self.manifest.save(self.parts)
        self._opened = True

    def checkpoint_due(self, next_frame: int) -> bool:
        n = self.manifest.segment_frames
        return n is not None and next_frame % n == 0

    def write(self, k: int, frame: np.ndarray) -> None:
        if not self._opened:
            self._open_parts()
        if self.manifest.segment_frames is None:
            self._choose_segment_frames(k)
        index = k // self.manifest.segment_frames if self.manifest.segment_frames else 0
        with timeline.span(f"write {self._latest.name}", k):
            self._latest.write(k, frame)
        if self._writer is not None and index != self._writer_index:
            self._close_segment()  # (a segment ends at its boundary even when no checkpoint is due)
        if index in self.keep:
            return
        if self._writer is None:
            width, height = self.manifest.size
            self._writer = video.Mp4Writer(parts.segment_path(self.parts, index, "tmp"), width, height, self.manifest.fps,
                                           self.manifest.quality)
            self._writer_index = index
        self._writer.write(frame)

    def _choose_segment_frames(self, k: int) -> None:
        """Fix the segment length from the time between the first two frames (the very
        first also pays for warming up), and record it so that a resume keeps it."""
        now = time.perf_counter()
        if k == self.start_frame:
            self._first_write_time = now
            return
        per_frame = max(now - self._first_write_time, 1e-3)
        self.manifest.segment_frames = int(np.clip(round(CHECKPOINT_SECONDS / per_frame), MIN_SEGMENT_FRAMES,
                                                   MAX_SEGMENT_FRAMES))
        self.manifest.save(self.parts)

    def _close_segment(self, state: str = "") -> None:
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        writer.close()
        writer.path.replace(parts.segment_path(self.parts, self._writer_index, state))
        if not state:
            parts.record_segment(self.parts, self.manifest, self._writer_index)

    def checkpoint(self, next_frame: int, canvas: np.ndarray, tone: np.ndarray | None = None) -> None:
        """Close the segment that ends before ``next_frame`` and checkpoint the canvas."""
        self._close_segment()
        if next_frame > self.checkpoint_floor:
            parts.save_checkpoint(self.parts, parts.Checkpoint(canvas, next_frame, self.manifest.config_hash,
                                                               self.key_data, tone))

    def finish(self, frames_done: int, interrupted: bool) -> None:
        """Close the last segment (kept as ``partial`` when interrupted: a resume redoes
        it) and assemble the output from every segment, checked."""
        if not self._opened and not self.parts.exists():
            return  # stopped before the first frame: nothing was written
        self._close_segment("partial" if interrupted else "")
        assemble(self.output, frames_done)

    def abandon(self) -> None:
        self._latest.abandon()
        _discard(self._writer)
        self._writer = None

    def where(self) -> str:
        return f"parts in {self.parts}"

    def kept(self) -> str:
        try:
            saved = parts.load_checkpoint(self.parts) if self.parts.exists() else None
        except parts.CheckpointDamaged:
            saved = None
        return f"; the checkpoint at frame {saved.next_frame} is kept: --resume {self.output} continues" if saved else ""


class SegmentsDamaged(OSError):
    """Segments of a render that are not what was rendered: the video is not assembled."""


def _segments_of(folder: Path, manifest: parts.Manifest, frames: int | None) -> list[Path]:
    """The segment files that make the first ``frames`` frames (all there are when
    None): complete ones, checked against their recorded checksums, and a partial last
    one if the render stopped inside it."""
    size = manifest.segment_frames
    if frames is None:
        complete = len(manifest.segments)
        count = complete + parts.segment_path(folder, complete, "partial").is_file()
    else:
        count = -(-frames // size) if size else min(frames, 1)
    files = [parts.segment_path(folder, i) for i in range(count)]
    last = parts.segment_path(folder, count - 1, "partial") if count else None
    if last is not None and not files[-1].is_file() and last.is_file():
        files[-1] = last
    complete = count - (files[-1] == last) if count else 0
    damaged = parts.damaged_segments(folder, manifest, complete)
    if damaged:
        raise SegmentsDamaged(f"{parts.describe_damage(damaged, size or 1)}; --resume {folder.name[:-len('.parts')]} "
                              "renders it again")
    return files


def assemble(output: Path, frames: int | None = None) -> Path:
    """Join the segments in ``<output>.parts/`` into a playable ``output`` now, with the
    render's soundtrack and its provenance. Every segment is checked first and the joined
    video after, so a video that is written holds every frame it says it holds."""
    folder = parts.parts_dir(output)
    manifest = parts.Manifest.load(folder)
    segments = _segments_of(folder, manifest, frames)
    if not segments:
        return output
    if frames is None:
        frames = sum(video.count_frames(p, decode=False) for p in segments)
    audio = Path(manifest.audio) if manifest.audio else None
    record = manifest.provenance(frames)
    video.join(segments, output, frames, manifest.fps, metadata=record, audio=audio if audio and audio.exists() else None)
    parts.record_path(output).write_text(json.dumps(record, indent=1) + "\n")
    return output


# ---- other sinks ---------------------------------------------------------------------------


class GifOutput(Sink):
    """A looping GIF, written to a temporary name and renamed when complete."""

    name = "gif"

    def __init__(self, output: Path, width: int, height: int, fps: float):
        self.output = output
        self._size, self._fps = (width, height), fps
        self._writer: video.GifWriter | None = None

    def write(self, k: int, frame: np.ndarray) -> None:
        if self._writer is None:
            self._writer = video.GifWriter(self.output.with_name(self.output.stem + ".tmp.gif"), *self._size, self._fps)
        self._writer.write(frame)

    def finish(self, frames_done: int, interrupted: bool) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer.path.replace(self.output)

    def abandon(self) -> None:
        _discard(self._writer)
        self._writer = None


def _discard(writer: video.FrameWriter | None) -> None:
    """Stop an unfinished writer quietly and delete what it wrote."""
    if writer is not None:
        with contextlib.suppress(OSError):
            writer.close()
        writer.path.unlink(missing_ok=True)


class StillOutput(Sink):
    """One dreamed picture."""

    name = "picture"

    def __init__(self, output: Path):
        self.output = output

    def write(self, k: int, frame: np.ndarray) -> None:
        images.save_image(self.output, frame)


class FrameFiles(Sink):
    """Every frame also as ``frame_00001.png``... (numbered from 1, with enough digits for
    ``total`` frames, so that the files sort in order)."""

    name = "png frames"

    def __init__(self, folder: str | Path, total: int):
        self.folder = Path(folder)
        self.digits = max(5, len(str(total)))

    def path(self, k: int) -> Path:
        return self.folder / f"frame_{k + 1:0{self.digits}d}.png"

    def _temporary(self) -> Path:
        return self.folder / "frame.tmp.png"

    def write(self, k: int, frame: np.ndarray) -> None:
        # Through a temporary file, so that no frame file is ever half written.
        self.folder.mkdir(parents=True, exist_ok=True)
        images.save_image(self._temporary(), frame)
        self._temporary().replace(self.path(k))

    def abandon(self) -> None:
        with contextlib.suppress(OSError):
            self._temporary().unlink(missing_ok=True)


class LatestPicture(Sink):
    """``latest.png`` in the parts folder, replaced every few seconds during a render so a
    notebook or an image viewer can watch it."""

    name = "latest.png"

    def __init__(self, folder: Path, every_seconds: float = 3.0):
        self.path = folder / parts.LATEST
        self.every = every_seconds
        self._last = -np.inf

    def write(self, k: int, frame: np.ndarray) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        images.save_image(self._temporary(), frame)
        self._temporary().replace(self.path)
        self._last = now

    def _temporary(self) -> Path:
        return self.path.with_name("latest.tmp.png")

    def abandon(self) -> None:
        with contextlib.suppress(OSError):
            self._temporary().unlink(missing_ok=True)


class FrameCallback(Sink):
    """A user's ``on_frame(index, rgb_uint8)``."""

    name = "on_frame"

    def __init__(self, on_frame: Callable[[int, np.ndarray], None]):
        self.on_frame = on_frame

    def write(self, k: int, frame: np.ndarray) -> None:
        self.on_frame(k, frame)
