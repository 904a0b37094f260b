"""Where rendered frames go: a segmented, checkpointed MP4, a GIF or a still picture.

The render loop hands every finished frame to one of these and, at each segment boundary,
the canvas that the next frame starts from. Everything here runs on the host.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from zoomdream import checkpoint, images, video

# Without --checkpoint-every, a checkpoint every this many seconds of rendering; the
# segment length in frames is fixed from the speed of the first frames and recorded.
CHECKPOINT_SECONDS = 60.0
MIN_SEGMENT_FRAMES = 4  # the length is chosen after frame 1, so it must exceed 3
MAX_SEGMENT_FRAMES = 3000


class VideoOutput:
    """An MP4 built from segments in ``<output>.parts/``, each closed and checkpointed at a
    fixed frame boundary, and joined (without re-encoding) into the output at the end, on
    Ctrl-C, or by :func:`assemble`."""

    def __init__(self, output: Path, manifest: dict, start_frame: int, quality: float, audio: Path | None):
        self.output = output
        self.parts = checkpoint.parts_dir(output)
        self.manifest = manifest
        self.width, self.height = manifest["size"]
        self.fps = manifest["fps"]
        self.quality = quality
        self.audio = audio
        self.start_frame = start_frame
        self._writer: video.Mp4Writer | None = None
        self._writer_index = -1
        self._first_write_time: float | None = None

    @property
    def segment_frames(self) -> int | None:
        return self.manifest["segment_frames"]

    def is_boundary(self, next_frame: int) -> bool:
        """Whether a checkpoint is due once frame ``next_frame - 1`` is written."""
        n = self.segment_frames
        return n is not None and next_frame % n == 0

    def _temporary(self, index: int) -> Path:
        return self.parts / f"segment_{index:05d}.tmp.mp4"

    def write(self, k: int, frame: np.ndarray) -> None:
        if self.segment_frames is None:
            self._choose_segment_frames(k)
        index = k // self.segment_frames if self.segment_frames else 0
        if self._writer is None:
            self._writer = video.Mp4Writer(self._temporary(index), self.width, self.height, self.fps, self.quality)
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
        self.manifest["segment_frames"] = int(np.clip(round(CHECKPOINT_SECONDS / per_frame), MIN_SEGMENT_FRAMES, MAX_SEGMENT_FRAMES))
        checkpoint.write_manifest(self.parts, self.manifest)

    def _close_segment(self, final_name: Path) -> None:
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        writer.close()
        writer.path.replace(final_name)

    def boundary(self, next_frame: int, canvas: np.ndarray, key_data: np.ndarray) -> None:
        """Close the segment that ends before ``next_frame`` and checkpoint the canvas."""
        self._close_segment(checkpoint.segment_path(self.parts, self._writer_index))
        checkpoint.save(self.parts, canvas, next_frame, self.manifest["config_hash"], key_data)

    def finish(self, frames_done: int, interrupted: bool) -> None:
        """Close the last segment (kept as ``.partial`` when interrupted: a resume redoes
        it) and assemble the output from every segment."""
        if self._writer is not None:
            index = self._writer_index
            name = checkpoint.segment_path(self.parts, index)
            self._close_segment(name.with_name(name.stem + ".partial.mp4") if interrupted else name)
        assemble(self.output, frames_done, self.audio)


def segments_in_order(parts: Path) -> list[Path]:
    """Complete segments, then a partial last one, by index."""
    found = [p for p in parts.glob(checkpoint.SEGMENT_GLOB) if ".tmp" not in p.name]
    return sorted(found, key=lambda p: (int(p.stem.split("_")[1].split(".")[0]), "partial" in p.name))


def provenance(manifest: dict, frames: int) -> dict:
    """The record stored in the MP4 and beside it: enough for ``--from`` to re-render."""
    keep = ("config", "config_hash", "seed", "fps", "size", "segment_frames", "zoomdream", "jax", "backend", "device",
            "python", "machine", "created")
    return {"zoomdream_render": 1, **{k: manifest[k] for k in keep if k in manifest}, "frames": frames}


def assemble(output: Path, frames: int | None = None, audio: Path | None = None) -> Path:
    """Join the segments in ``<output>.parts/`` into a playable ``output`` now."""
    parts = checkpoint.parts_dir(output)
    manifest = checkpoint.read_manifest(parts)
    segments = segments_in_order(parts)
    if not segments:
        return output
    if frames is None:
        frames = sum(video.count_frames(p) for p in segments)
    if audio is None and manifest.get("audio"):
        audio = Path(manifest["audio"])
    record = provenance(manifest, frames)
    video.join(segments, output, metadata=record, audio=audio if audio and audio.exists() else None,
               seconds=frames / manifest["fps"])
    checkpoint.record_path(output).write_text(json.dumps(record, indent=1) + "\n")
    return output


class GifOutput:
    """A looping GIF, written to a temporary name and renamed when complete."""

    def __init__(self, output: Path, width: int, height: int, fps: float):
        self.output = output
        self._writer = video.GifWriter(output.with_name(output.stem + ".tmp.gif"), width, height, fps)

    def is_boundary(self, next_frame: int) -> bool:
        return False

    def write(self, k: int, frame: np.ndarray) -> None:
        self._writer.write(frame)

    def finish(self, frames_done: int, interrupted: bool) -> None:
        self._writer.close()
        self._writer.path.replace(self.output)


class StillOutput:
    """One dreamed picture."""

    def __init__(self, output: Path):
        self.output = output

    def is_boundary(self, next_frame: int) -> bool:
        return False

    def write(self, k: int, frame: np.ndarray) -> None:
        images.save_image(self.output, frame)

    def finish(self, frames_done: int, interrupted: bool) -> None:
        pass


class LatestPicture:
    """``latest.png`` in the parts folder, replaced every few seconds during a render so a
    notebook or an image viewer can watch it."""

    def __init__(self, path: Path, every_seconds: float = 3.0):
        self.path = path
        self.every = every_seconds
        self._last = -np.inf

    def offer(self, frame: np.ndarray) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        temporary = self.path.with_name("latest.tmp.png")
        images.save_image(temporary, frame)
        temporary.replace(self.path)
        self._last = now
