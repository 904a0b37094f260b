"""Compiled programs kept between runs on a CPU: a warm start loads a frame's executables
directly, instead of reading each exported program, lowering its call and finding the
result in XLA's cache.

For a 256x256 classic-zoom frame on two cores, that lowering and reading took ~0.6 s of
the main thread before and beside the first frame, on top of the compiled code's own
loading (which remains). An executable is kept beside its exported program
(:mod:`zoomdream.dream.program_store` reads and writes the files; this module makes and
reads their contents), with what a call needs without the exported program: the
arguments' and results' shapes and structures.

Two rules keep a kept executable safe to run:

- Only an executable compiled in this process is kept. XLA:CPU cannot serialize again an
  executable that it read from a serialized form (JAX's persistent cache): the copy loads
  but fails when run (``NOT_FOUND: Function wrapped_copy.8 not found``). JAX reports a
  hit of its cache as a monitoring event; a compile during which this thread saw one is
  not kept. (The store names each program's module after its file, so XLA's cache finds
  it only where this very program was compiled before: rarely, once its executable is
  kept.)
- The file's name holds everything that changes the compiled code besides the program:
  jaxlib's version, the backend, ``XLA_FLAGS`` and the CPU's features (code compiled for
  AVX-512 must not run on a CPU without it, where a cache folder is shared between
  machines).

Kept only on the CPU and for programs on one device, where it was measured and tested.
A file that cannot be read, or whose executable does not load, is compiled again, or
read from XLA's cache where that holds the program (and then, by the first rule, not kept
again: that program loads the slower way until XLA's cache lets it go). Like
JAX's own cache, the folder is trusted: what it holds runs as code (and is unpickled).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pickle
import platform
import threading
from pathlib import Path
from typing import Any

import jax
import jaxlib

SUFFIX = ".executable"
_FORMAT = 2


def applies(shardings) -> bool:
    """Whether programs with these argument ``shardings`` (None: on one device) keep their
    executables."""
    return shardings is None and jax.default_backend() == "cpu"


def path_beside(program_path: Path) -> Path:
    """Where the executable of the program kept at ``program_path`` is kept, on this machine."""
    return program_path.with_name(program_path.stem + machine_suffix())


def machine_suffix() -> str:
    """How the names of this machine's executables end."""
    return f"-{_machine_digest()[:16]}{SUFFIX}"


@functools.cache
def _machine_digest() -> str:
    backend = jax.devices()[0].client
    return hashlib.sha256(repr((
        _FORMAT, jax.__version__, jaxlib.__version__,
        backend.platform, backend.platform_version, os.environ.get("XLA_FLAGS", ""),
        platform.machine(), _cpu_features(),
    )).encode()).hexdigest()


def _cpu_features() -> str:
    """The instruction sets this CPU offers, as the kernel lists them (elsewhere, the
    processor's name)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.processor()


@dataclasses.dataclass(frozen=True)
class Kept:
    """A kept executable with what its calls need, read from its file (not yet loaded)."""

    in_avals: tuple  # each flat argument's (shape, dtype, weak type)
    out_avals: tuple[jax.ShapeDtypeStruct, ...]  # each flat result's
    result_tree: Any  # the structure the program's caller receives
    payload: bytes  # jax.experimental.serialize_executable's
    call_trees: tuple  # its argument and result structures


def read(data: bytes) -> Kept | None:
    """The kept executable in a file's ``data``, or None where it is not one."""
    try:
        form, in_avals, out_avals, result_tree, payload, call_trees = pickle.loads(data)
        if form != _FORMAT:
            return None
        out = tuple(jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in out_avals)
        # (The result's structure may name classes of modules not imported yet, optax's
        # states: kept apart, so that load_file can run beside the imports.)
        return Kept(tuple(in_avals), out, pickle.loads(result_tree), payload, tuple(call_trees))
    except Exception:  # noqa: BLE001 - a damaged or foreign file is compiled again
        return None


def load(kept: Kept) -> jax.stages.Compiled | None:
    """The executable, loaded for this process's device, or None where it does not load."""
    from jax.experimental import serialize_executable

    try:
        return serialize_executable.deserialize_and_load(kept.payload, *kept.call_trees)
    except Exception:  # noqa: BLE001 - compiled again instead
        return None


def load_file(data: bytes) -> jax.stages.Compiled | None:
    """The executable in a file's ``data``, loaded, or None. Imports nothing that ``import
    jax`` did not (a thread may load while the main thread imports: two threads importing
    each other's modules stop Python with a deadlock error)."""
    try:
        form, _, _, _, payload, call_trees = pickle.loads(data)
    except Exception:  # noqa: BLE001
        return None
    return load(Kept((), (), None, payload, tuple(call_trees))) if form == _FORMAT else None


def compile_fresh(lowered: jax.stages.Lowered) -> tuple[jax.stages.Compiled, bool]:
    """``lowered`` compiled: (it, whether XLA compiled it now rather than reading it from
    JAX's cache, that is, whether it may be kept)."""
    _watch_cache_hits()
    before = _hits_in_this_thread()
    compiled = lowered.compile()
    return compiled, _hits_in_this_thread() == before


def serialized(compiled: jax.stages.Compiled, in_avals: tuple, result_tree) -> bytes | None:
    """The file's contents for an executable :func:`compile_fresh` compiled now, or None
    where this executable cannot be serialized."""
    from jax.experimental import serialize_executable

    try:
        payload, in_tree, out_tree = serialize_executable.serialize(compiled)
        out_avals = [(tuple(a.shape), a.dtype) for a in jax.tree.leaves(compiled.out_info)]
        return pickle.dumps((_FORMAT, tuple(in_avals), out_avals, pickle.dumps(result_tree), payload, (in_tree, out_tree)))
    except Exception:  # noqa: BLE001 - not kept; the program is only compiled again next time
        return None


_hits = threading.local()


def _hits_in_this_thread() -> int:
    return getattr(_hits, "count", 0)


@functools.cache
def _watch_cache_hits() -> None:
    def on_event(event: str, **kwargs) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            _hits.count = _hits_in_this_thread() + 1

    jax.monitoring.register_event_listener(on_event)
