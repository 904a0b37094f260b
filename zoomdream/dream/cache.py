"""Compiled frame programs kept between runs, so that the next render starts sooner.

Two caches: JAX's persistent compilation cache (it skips XLA's compile, but every run
still traces the network to find its key), and :class:`ProgramStore`, zoomdream's own,
which keeps each compiled program whole with the trees of its arguments and results, and
skips the tracing as well (about a second per octave size on a CPU). A stored program is
found again only under a key made of everything that shapes it: the spec, the shapes and
types of its arguments, the versions of JAX and jaxlib, the backend and its device, the
CPU's features, XLA's flags and zoomdream's own source.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
from pathlib import Path

import jax
import jaxlib
from jax.experimental import serialize_executable


def cache_dir() -> Path | None:
    """Where compiled programs are kept between runs: $ZOOMDREAM_CACHE_DIR, else
    $XDG_CACHE_HOME/zoomdream (~/.cache/zoomdream), with JAX's cache in ``xla/`` and
    zoomdream's in ``programs/``. An empty ZOOMDREAM_CACHE_DIR turns both off."""
    configured = os.environ.get("ZOOMDREAM_CACHE_DIR")
    if configured is not None:
        return Path(configured).expanduser() if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zoomdream"


def enable() -> None:
    """Turn on JAX's persistent compilation cache, unless the user configured their own."""
    folder = cache_dir()
    if folder is None or jax.config.jax_compilation_cache_dir:
        return
    try:
        (folder / "xla").mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # an unwritable home only costs compile time
    jax.config.update("jax_compilation_cache_dir", str(folder / "xla"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


@functools.lru_cache(maxsize=1)
def _fingerprint() -> str:
    """What every stored program depends on besides its own shapes and spec."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode() + b"\0" + source.read_bytes())
    device = jax.devices()[0]
    try:
        cpu = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        cpu = os.uname().machine
    settings = (jax.__version__, jaxlib.__version__, device.platform, getattr(device, "device_kind", ""), cpu,
                os.environ.get("XLA_FLAGS", ""), str(jax.config.jax_default_matmul_precision), jax.config.jax_enable_x64)
    digest.update(repr(settings).encode())
    return digest.hexdigest()


def _shapes(tree) -> str:
    leaves, structure = jax.tree.flatten(tree)
    described = [(tuple(leaf.shape), str(leaf.dtype), bool(getattr(leaf, "weak_type", False))) if hasattr(leaf, "shape")
                 else repr(leaf) for leaf in leaves]
    return f"{structure}|{described}"


class ProgramStore:
    """Compiled programs in a folder, one file each, named by their key (see the module's
    docstring). A file that cannot be read back is compiled again and replaced. Like
    JAX's own cache, it holds executable code: keep it in a folder only you can write."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, program, spec) -> Path:
        key = repr((_fingerprint(), program.kind, program.octave, spec, _shapes(program.args)))
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()}.program"

    def load(self, program, spec) -> jax.stages.Compiled | None:
        """The program as stored by an earlier run, or None."""
        try:
            blob, in_tree, out_tree = pickle.loads(self._path(program, spec).read_bytes())
            return serialize_executable.deserialize_and_load(blob, in_tree, out_tree)
        except Exception:  # noqa: BLE001  (missing, cut short, or from elsewhere: compile it again)
            return None

    def store(self, program, spec, compiled: jax.stages.Compiled) -> None:
        """Keep a compiled program; a program that cannot be kept only costs time later."""
        path = self._path(program, spec)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(pickle.dumps(serialize_executable.serialize(compiled)))
            partial.replace(path)  # whole or not at all, also with two renders at once
        except (OSError, ValueError, NotImplementedError, pickle.PicklingError):
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)


def program_store() -> ProgramStore | None:
    """The store of compiled programs beside JAX's cache (None when caching is off)."""
    folder = cache_dir()
    return ProgramStore(folder / "programs") if folder is not None else None
