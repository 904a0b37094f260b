"""What a long render keeps on disk so that it survives anything, and its provenance.

Beside ``dogs.mp4`` a render keeps a folder ``dogs.mp4.parts/``:

* ``render.json``: the manifest: the resolved config, its hash, the seed, the segment
  length and the versions and device that rendered it (the same record goes into the
  MP4's metadata and into ``dogs.mp4.json`` beside it when the video is assembled);
* ``segment_00000.mp4``, ...: the video in segments of ``segment_frames`` frames each,
  encoded as they are rendered; segment boundaries depend only on the frame index, so a
  resumed render produces the same segments as an uninterrupted one;
* ``checkpoint.npz``: at every segment boundary, the float canvas that the next frame
  starts from, the frame index and the config hash. Written to a temporary file and
  renamed, so a kill at any moment leaves the previous checkpoint or the new one, whole.

Frame k's randomness is ``fold_in(key(seed), k)``, so the seed and the frame index are the
whole PRNG state; the checkpoint stores the key data as well, and resume checks it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from zoomdream import config as config_lib
from zoomdream.errors import ConfigError

MANIFEST = "render.json"
CHECKPOINT = "checkpoint.npz"
SEGMENT_GLOB = "segment_*.mp4"
# Keys that may change on resume: a longer render continues the same schedule.
LENGTH_KEYS = ("video.frames", "video.seconds")


def parts_dir(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def record_path(output: Path) -> Path:
    """The provenance JSON beside a finished video."""
    return output.with_name(output.name + ".json")


def segment_path(parts: Path, index: int) -> Path:
    return parts / f"segment_{index:05d}.mp4"


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def identity(config_dict: dict) -> str:
    """Hash of everything in a config that decides the frames, its length aside."""
    flat = {k: v for k, v in _flatten(config_dict).items() if k not in LENGTH_KEYS and k not in ("name", "description")}
    return hashlib.sha256(json.dumps(flat, sort_keys=True, default=str).encode()).hexdigest()[:16]


def differences(old: dict, new: dict) -> list[str]:
    """Human-readable changed keys between two resolved configs."""
    a, b = _flatten(old), _flatten(new)
    out = []
    for key in sorted(a.keys() | b.keys()):
        if key in ("name", "description"):
            continue
        if a.get(key) != b.get(key):
            out.append(f"{key} {json.dumps(a.get(key))} -> {json.dumps(b.get(key))}")
    return out


def environment() -> dict:
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


def make_manifest(cfg: config_lib.RenderConfig, total_frames: int, segment_frames: int, width: int, height: int,
                  extra: dict | None = None) -> dict:
    as_dict = config_lib.to_dict(cfg)
    return {
        "format": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": as_dict,
        "config_hash": identity(as_dict),
        "seed": cfg.seed,
        "frames": total_frames,
        "segment_frames": segment_frames,
        "size": [width, height],
        "fps": cfg.video.fps,
        **environment(),
        **(extra or {}),
    }


def _atomic_write(path: Path, write) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def write_manifest(parts: Path, manifest: dict) -> None:
    _atomic_write(parts / MANIFEST, lambda f: f.write((json.dumps(manifest, indent=1) + "\n").encode()))


def read_manifest(parts: Path) -> dict:
    try:
        return json.loads((parts / MANIFEST).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{parts} holds no render to resume (no {MANIFEST})") from None
    except json.JSONDecodeError:
        raise ConfigError(f"{parts / MANIFEST} is damaged") from None


def save(parts: Path, canvas: np.ndarray, next_frame: int, config_hash: str, key_data: np.ndarray) -> None:
    """Atomically replace the checkpoint."""

    def write(f):
        np.savez(f, canvas=canvas, next_frame=np.int64(next_frame), config_hash=np.array(config_hash), key_data=key_data)

    _atomic_write(parts / CHECKPOINT, write)


def load(parts: Path) -> dict | None:
    """The checkpoint as a dict, or None if the render has none yet."""
    path = parts / CHECKPOINT
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        return {"canvas": data["canvas"], "next_frame": int(data["next_frame"]),
                "config_hash": str(data["config_hash"]), "key_data": data["key_data"]}


def completed_segments(parts: Path, next_frame: int, segment_frames: int) -> list[Path]:
    """The segments before the checkpoint; later ones (from a killed run) are deleted."""
    done = next_frame // segment_frames
    for path in parts.glob(SEGMENT_GLOB):
        index = int(path.stem.split("_")[1].split(".")[0])
        if index >= done or ".tmp" in path.name or "partial" in path.name:
            path.unlink()
    for path in parts.glob("*.tmp*"):
        path.unlink()
    return [segment_path(parts, i) for i in range(done)]
