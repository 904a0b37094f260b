"""The parts folder of a long render: what it keeps on disk so that it survives anything,
and the render's record.

Beside ``dogs.mp4`` a render keeps a folder ``dogs.mp4.parts/``:

* ``render.json``: the :class:`Manifest`: the resolved config, its hash, the seed, the
  segment length, the size, the outputs beside the video and the versions and device
  that rendered it. Its public part (:meth:`Manifest.provenance`) goes into the MP4's
  metadata and into ``dogs.mp4.json`` beside it when the video is assembled;
* ``segment_00000.mp4``, ...: the video in segments of ``segment_frames`` frames each,
  encoded as they are rendered; segment boundaries depend only on the frame index, so a
  resumed render produces the same segments as an uninterrupted one;
* ``checkpoint.npz``: at every segment boundary, the float canvas that the next frame
  starts from, the frame index and the config hash. Written to a temporary file and
  renamed, so a kill at any moment leaves the previous checkpoint or the new one, whole;
* ``latest.png``: the latest frame, refreshed every few seconds.

Frame k's randomness is ``fold_in(key(seed), k)``, so the seed and the frame index are the
whole PRNG state; the checkpoint stores the key data as well, and resume checks it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from zoomdream.errors import ConfigError
from zoomdream.io import video
from zoomdream.network.weights import sha256_of

MANIFEST = "render.json"
CHECKPOINT = "checkpoint.npz"
LATEST = "latest.png"
SEGMENT_GLOB = "segment_*.mp4"
# Keys that may change on resume: a longer render continues the same schedule.
LENGTH_KEYS = ("video.frames", "video.seconds")
# Keys that do not change the frames.
_NAMING_KEYS = ("name", "description")


def parts_dir(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def record_path(output: Path) -> Path:
    """The provenance JSON beside a finished video."""
    return output.with_name(output.name + ".json")


def segment_path(parts: Path, index: int, state: str = "") -> Path:
    """Segment ``index``: complete (``state`` empty), ``tmp`` while it is written, or
    ``partial`` when a render stopped inside it."""
    return parts / f"segment_{index:05d}{'.' + state if state else ''}.mp4"


def segment_index(path: Path) -> int:
    return int(path.name.split("_")[1].split(".")[0])


# ---- the render's identity ------------------------------------------------------------------


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def identity(config_dict: dict) -> str:
    """Hash of everything in a config that decides the frames, its length aside."""
    flat = {k: v for k, v in _flatten(config_dict).items() if k not in LENGTH_KEYS and k not in _NAMING_KEYS}
    return hashlib.sha256(json.dumps(flat, sort_keys=True, default=str).encode()).hexdigest()[:16]


def differences(old: dict, new: dict) -> list[str]:
    """Human-readable changed keys between two resolved configs, their length aside."""
    a, b = _flatten(old), _flatten(new)
    out = []
    for key in sorted(a.keys() | b.keys()):
        if key in _NAMING_KEYS or key.startswith(LENGTH_KEYS):
            continue
        if a.get(key) != b.get(key):
            out.append(f"{key} {json.dumps(a.get(key))} -> {json.dumps(b.get(key))}")
    return out


def environment() -> dict[str, str]:
    """The versions and device that render, for the record."""
    import jax

    import zoomdream

    device = jax.devices()[0]
    return {
        "zoomdream": zoomdream.__version__,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": f"{device.platform}: {getattr(device, 'device_kind', '')}".strip(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


# ---- the manifest ------------------------------------------------------------------------


@dataclasses.dataclass
class Manifest:
    """Everything a render records about itself: ``render.json`` in the parts folder,
    and (its public part) the MP4's provenance."""

    config: dict  # the resolved config, as config.to_dict writes it
    config_hash: str
    seed: int
    frames: int  # planned
    size: tuple[int, int]  # (width, height) of the video
    fps: float
    segment_frames: int | None = None  # fixed after the first frames when not given
    quality: float = 8.0
    audio: str | None = None  # soundtrack file, absolute
    preview: bool = False
    frames_dir: str | None = None  # where every frame is also written as PNG, absolute
    # sha256 of every complete segment, by index ("00003"), recorded when it is closed:
    # what proves later that a segment is still the one that was rendered.
    segments: dict[str, str] = dataclasses.field(default_factory=dict)
    created: str = ""
    zoomdream: str = ""
    jax: str = ""
    backend: str = ""
    device: str = ""
    python: str = ""
    machine: str = ""
    format: int = 1

    # What stays on this machine: paths and how the render was shown.
    _LOCAL = ("frames", "quality", "audio", "preview", "frames_dir", "segments", "format")

    @classmethod
    def new(cls, config_dict: dict, seed: int, frames: int, size: tuple[int, int], fps: float, **options) -> Manifest:
        return cls(config=config_dict, config_hash=identity(config_dict), seed=seed, frames=frames, size=tuple(size),
                   fps=fps, created=datetime.now(timezone.utc).isoformat(timespec="seconds"), **environment(),
                   **options)

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "size": list(self.size)}

    @classmethod
    def from_json(cls, data: Any, where: str) -> Manifest:
        """A manifest or provenance record read back; fields it does not know are
        ignored, so older and newer records load."""
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            record = cls(**{k: v for k, v in data.items() if k in known})
            record.size = (int(record.size[0]), int(record.size[1]))
        except (TypeError, AttributeError, IndexError, ValueError):
            raise ConfigError(f"{where} is not a zoomdream render record") from None
        return record

    def save(self, parts: Path) -> None:
        _atomic_write(parts / MANIFEST, lambda f: f.write((json.dumps(self.to_json(), indent=1) + "\n").encode()))

    @classmethod
    def load(cls, parts: Path) -> Manifest:
        path = parts / MANIFEST
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{parts} holds no render to resume (no {MANIFEST})") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ConfigError(f"{path} is damaged") from None
        return cls.from_json(data, str(path))

    def provenance(self, frames: int) -> dict:
        """The record stored in the MP4 and beside it: enough for ``--from`` to render
        the same video again."""
        public = {k: v for k, v in self.to_json().items() if k not in self._LOCAL}
        return {"zoomdream_render": 1, **public, "frames": frames}


def read_provenance(video_path: str | Path) -> Manifest:
    """The render record of a zoomdream video: from its metadata, else the JSON beside it."""
    path = Path(video_path)
    if not path.is_file():
        raise ConfigError(f"--from: {str(video_path)!r} does not exist")
    try:
        record = video.read_metadata(path)
    except OSError:
        record = {}
    if "config" not in record:
        beside = record_path(path)
        if not beside.exists():
            raise ConfigError(f"--from: {path.name} carries no zoomdream render record, and there is no {beside.name}")
        try:
            record = json.loads(beside.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ConfigError(f"--from: {beside} is damaged") from None
    return Manifest.from_json(record, str(path))


# ---- the checkpoint ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Where a render can continue from: the canvas that frame ``next_frame`` starts from."""

    canvas: np.ndarray
    next_frame: int
    config_hash: str
    key_data: np.ndarray
    tone: np.ndarray | None = None  # the colour tone frame `next_frame` is held to (dream/color.py)


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file and a rename: the old file or the new one, whole."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def save_checkpoint(parts: Path, checkpoint: Checkpoint) -> None:
    """Atomically replace the checkpoint."""

    def write(f):
        tone = {} if checkpoint.tone is None else {"tone": checkpoint.tone}
        np.savez(f, canvas=checkpoint.canvas, next_frame=np.int64(checkpoint.next_frame),
                 config_hash=np.array(checkpoint.config_hash), key_data=checkpoint.key_data, **tone)

    _atomic_write(parts / CHECKPOINT, write)


# The lengths a checkpoint's colour tone may have (dream/color.py): 8 numbers before the
# colourfulness was held, 9 since.
_TONE_LENGTHS = (8, 9)


class CheckpointDamaged(OSError):
    """A checkpoint file that cannot be read back."""


def load_checkpoint(parts: Path) -> Checkpoint | None:
    """The checkpoint, or None if the render has none yet; :class:`CheckpointDamaged` if
    the file is there but cannot be read (it is written atomically, so only something
    outside zoomdream damages it)."""
    path = parts / CHECKPOINT
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            tone = data["tone"] if "tone" in data.files else None
            if tone is not None and (tone.shape not in [(n,) for n in _TONE_LENGTHS] or not np.isfinite(tone).all()):
                raise ValueError(f"a colour tone of shape {tone.shape}")
            return Checkpoint(canvas=data["canvas"], next_frame=int(data["next_frame"]),
                              config_hash=str(data["config_hash"]), key_data=data["key_data"], tone=tone)
    except Exception as exc:  # zipfile, numpy and OS errors alike: the file is unreadable
        raise CheckpointDamaged(f"{path} cannot be read ({type(exc).__name__})") from None


# ---- segments ------------------------------------------------------------------------------


def record_segment(parts: Path, manifest: Manifest, index: int) -> None:
    """Note the checksum of complete segment ``index`` in the manifest."""
    manifest.segments[f"{index:05d}"] = sha256_of(segment_path(parts, index))
    manifest.save(parts)


def damaged_segments(parts: Path, manifest: Manifest, count: int) -> dict[int, str]:
    """Which of complete segments ``0 .. count-1`` are not what was rendered, and why:
    missing, or changed since it was written (its checksum differs from the one recorded
    when it was closed)."""
    damaged = {}
    for index in range(count):
        path = segment_path(parts, index)
        recorded = manifest.segments.get(f"{index:05d}")
        if not path.is_file():
            damaged[index] = "is missing"
        elif recorded is None:
            damaged[index] = "has no checksum on record"
        elif sha256_of(path) != recorded:
            damaged[index] = "was changed after it was written"
    return damaged


def describe_damage(damaged: dict[int, str], segment_frames: int) -> str:
    """``segment_00002.mp4 (frames 20-29) was changed after it was written`` (and how many more)."""
    first = min(damaged)
    text = (f"{segment_path(Path(), first).name} (frames {first * segment_frames}-{(first + 1) * segment_frames - 1}) "
            f"{damaged[first]}")
    return text + (f", and {len(damaged) - 1} more segment(s)" if len(damaged) > 1 else "")


def discard_after(parts: Path, next_frame: int, segment_frames: int) -> None:
    """Delete what a killed or stopped render left past its checkpoint: later segments,
    partial ones and temporary files. Segments before ``next_frame`` stay."""
    done = next_frame // segment_frames
    for path in parts.glob(SEGMENT_GLOB):
        if segment_index(path) >= done or ".tmp" in path.name or "partial" in path.name:
            path.unlink()
    for path in parts.glob("*.tmp*"):
        path.unlink()


# ---- where a render continues ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ResumePoint:
    """Where an interrupted render continues, from what is in its parts folder."""

    start: int  # the first frame to compute
    canvas: np.ndarray | None  # what frame `start` starts from (None: the render's first canvas)
    tone: np.ndarray | None  # the colour tone it is held to, if the render holds colours
    keep: frozenset[int]  # intact segments that a render starting over computes through without writing
    checkpoint_frame: int  # the frame of the checkpoint on disk (0 if none), never moved back
    notes: tuple[str, ...]  # what the user should be told


def resume_point(parts: Path, manifest: Manifest, key_data: np.ndarray) -> ResumePoint:
    """Check the parts folder and say where its render continues.

    What a killed render left past its checkpoint is deleted. Segments before the
    checkpoint that are no longer what was rendered, or a checkpoint that cannot be read,
    are remade: frames are a function of the seed and their index, but the canvas a
    segment starts from is kept only for the latest one, so the render then starts over
    from frame 0 and writes only what is missing.
    """
    notes = []
    try:
        saved = load_checkpoint(parts)
    except CheckpointDamaged as exc:
        notes.append(f"{exc}: rendering again from frame 0, keeping the intact segments")
        saved = None
    if saved is not None and saved.config_hash != manifest.config_hash:
        raise ConfigError(f"{parts / CHECKPOINT} belongs to another render")
    if saved is not None and not np.array_equal(saved.key_data, key_data):
        raise ConfigError(f"{parts / CHECKPOINT}: its random key does not match the seed")
    done = saved.next_frame if saved is not None else 0
    size = manifest.segment_frames or max(done, 1)
    discard_after(parts, done, size)
    manifest.segments = {k: v for k, v in manifest.segments.items() if int(k) < done // size}
    damaged = damaged_segments(parts, manifest, done // size)
    if damaged:
        notes.append(f"{describe_damage(damaged, size)}: rendering again from frame 0 to remake it")
        for index in damaged:
            segment_path(parts, index).unlink(missing_ok=True)
            manifest.segments.pop(f"{index:05d}", None)
    if saved is not None and not damaged:
        return ResumePoint(done, saved.canvas, saved.tone, frozenset(), done, tuple(notes))
    return ResumePoint(0, None, None, frozenset(range(done // size)) - set(damaged), done, tuple(notes))
