"""Traced programs kept between runs, so that a warm start does not trace the network again.

JAX's persistent cache (:mod:`zoomdream.dream.cache`) keeps *compiled* programs, but to
find one JAX must first trace the Python code and lower it, and for an ascent step that
is the network's gradient: about a second per octave size on a 2-core CPU, most of a
warm start. Here a traced program is exported (``jax.export``: its StableHLO, with its
argument shapes) and kept in the cache folder; a later run at the same settings loads it
in milliseconds, and compiling it finds XLA's cache. Every run, warm or cold, calls the
exported program, so the first run fills both caches with the program the next one uses.
On a CPU the compiled executable is kept beside it too (:mod:`.executable_store`), and a
warm start loads that without reading the exported program at all.

A program is kept under a digest of everything that could change what it computes: its
name and static settings, its arguments' structure, shapes and types, the JAX version
and backend, the JAX settings that change lowering, and zoomdream's own source code. A
kept file that cannot be read or does not fit is traced again and replaced; a store that
cannot be written only costs the tracing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from zoomdream.dream import cache, executable_store, warm_start

_SUFFIX = ".jaxexport"


@dataclasses.dataclass
class _Entry:
    path: Path | None  # the stored program's file (None with the cache off)
    avals: tuple  # each flat argument's (shape, dtype, weak type)
    export: Callable[[], tuple[jax.export.Exported, bool]]  # read from the store, or traced (and stored)
    out_tree: Any
    out_avals: tuple[jax.ShapeDtypeStruct, ...]
    flat_donate: tuple[int, ...]
    traced: bool  # traced by this process, not read from the store
    kept: executable_store.Kept | None = None  # its executable from the store, not loaded yet
    compiled: jax.stages.Compiled | None = None
    executable_path: Path | None = None  # where its executable is kept, once it is
    called: bool = False

    @functools.cached_property
    def jitted(self) -> Callable:
        """jax.jit of the exported program (flat arrays in, flat arrays out), named after
        its file, so that XLA's cache holds its code under this program alone."""
        call = self.export()[0].call

        def flat(*leaves):
            return call(*leaves)

        flat.__name__ = flat.__qualname__ = self.path.stem.replace("-", "_") if self.path else "stored_program"
        return jax.jit(flat, donate_argnums=self.flat_donate)


_entries: dict[tuple, _Entry] = {}  # this process's programs, by what they were made for


class StoredProgram:
    """``fn(*args, **statics)`` as an exported program: call it like ``fn``, lower it, or
    ask for its results' shapes.

    Calls run the program's executable directly, loaded or compiled at the first call
    unless :meth:`compile` made it before. (Not through ``jax.jit``'s dispatch: an exported
    program's results are committed to their device, and jit would compile again for
    arguments so placed; an executable runs them as they are.)"""

    def __init__(self, entry: _Entry, in_tree, shardings: tuple | None = None):
        self._entry = entry
        self._in_tree = in_tree
        self._shardings = shardings  # each argument leaf's

    def __call__(self, *args):
        leaves = self._flat(args)
        entry = self._entry
        compiled = entry.compiled or self._compile(leaves)
        if not entry.called:
            entry.called = True
            if entry.executable_path is not None:
                warm_start.note_called(entry.executable_path)
        return jax.tree.unflatten(entry.out_tree, compiled(*leaves))

    @property
    def traced(self) -> bool:
        """Whether this process traced the program (a cold start), rather than reading it
        from the store, where a warm start finds it (and its executable, or XLA's cache
        its compiled code)."""
        return self._entry.traced

    def lower(self, *args) -> jax.stages.Lowered:
        return self._lower(self._flat(args))

    @property
    def kept(self) -> bool:
        """Whether the store holds the program's executable, which then loads without
        lowering the program (:mod:`zoomdream.dream.executable_store`)."""
        return self._entry.kept is not None

    def compile(self, *args, lowered: jax.stages.Lowered | None = None) -> jax.stages.Compiled:
        """The program's executable for such arguments, kept for the calls: loaded from the
        store where it is kept there, else compiled from ``lowered`` (this program,
        lowered for ``args`` by :meth:`lower`) or lowered now, and kept there."""
        return self._entry.compiled or self._compile(self._flat(args), lowered)

    def result_shapes(self):
        """The results' shapes and types, as ``jax.eval_shape`` would give them."""
        return jax.tree.unflatten(self._entry.out_tree, list(self._entry.out_avals))

    def _compile(self, leaves: list, lowered: jax.stages.Lowered | None = None) -> jax.stages.Compiled:
        entry = self._entry
        if entry.kept is not None:
            path = executable_store.path_beside(entry.path)
            loaded, entry.kept = warm_start.take(path) or executable_store.load(entry.kept), None
            if loaded is not None:
                entry.executable_path = path
                entry.compiled = loaded
                return loaded
        compiled, fresh = executable_store.compile_fresh(lowered or self._lower(leaves))
        if fresh and entry.path is not None and executable_store.applies(self._shardings):
            data = executable_store.serialized(compiled, entry.avals, entry.out_tree)
            if data is not None:
                entry.executable_path = executable_store.path_beside(entry.path)
                write_whole(entry.executable_path, data)
        entry.compiled = compiled
        return compiled

    def _lower(self, leaves: list) -> jax.stages.Lowered:
        if jax.default_backend() == "cpu":
            _load_lapack_modules()
        # For shapes and types alone: the calls may bring arrays placed either way.
        shardings = self._shardings or (None,) * len(leaves)
        return self._entry.jitted.lower(*(jax.ShapeDtypeStruct(*_aval(x)[:2], weak_type=_aval(x)[2], sharding=s)
                                          for x, s in zip(leaves, shardings)))

    def _flat(self, args: tuple) -> list:
        leaves, tree = jax.tree.flatten(args)
        if tree != self._in_tree:
            raise TypeError(f"arguments of structure {tree}, but the program takes {self._in_tree}")
        return leaves


def program(name: str, fn: Callable, args: tuple, *, statics: dict[str, Any], donate: Sequence[int] = (),
            out_tree: Callable[[], Any], layout: tuple = (None, None)) -> StoredProgram:
    """``fn`` with ``statics`` as a program for arguments shaped like ``args`` (arrays or
    ``jax.ShapeDtypeStruct``): from this process's programs, from the store, or traced
    now (and kept). ``donate``: the positions of arguments whose buffers the program may
    reuse; ``out_tree()``: the structure of ``fn``'s result (asked for only when the
    program is new to this process); ``layout``: (each argument's sharding, the results'
    sharding) over several devices, or (None, None) on one
    (:func:`zoomdream.dream.devices.layout`)."""
    leaves, in_tree = jax.tree.flatten(args)
    avals = tuple(_aval(x) for x in leaves)
    counts = [len(jax.tree.leaves(a)) for a in args]
    in_shardings, out_sharding = layout
    shardings = None if in_shardings is None else tuple(s for s, n in zip(in_shardings, counts) for _ in range(n))
    # (The matmul precision in force changes the lowered program: TF32 or not on a GPU.)
    memo = (name, fn, tuple(sorted(statics.items())), in_tree, avals, shardings, out_sharding,
            jax.config.jax_default_matmul_precision)
    entry = _entries.get(memo)
    if entry is None:
        starts = np.cumsum([0, *counts])
        flat_donate = tuple(i for a in donate for i in range(starts[a], starts[a + 1]))
        path = _path(name, in_tree, avals, statics, (shardings, out_sharding))
        export = functools.cache(functools.partial(_load_or_export, path, fn, in_tree, avals, statics, shardings,
                                                   out_sharding))
        kept = _read_kept(path, avals) if path is not None and executable_store.applies(shardings) else None
        if kept is not None:
            entry = _Entry(path, avals, export, kept.result_tree, kept.out_avals, flat_donate, False, kept)
        else:
            exported, traced = export()
            entry = _Entry(path, avals, export, out_tree(), tuple(jax.ShapeDtypeStruct(a.shape, a.dtype)
                                                                  for a in exported.out_avals), flat_donate, traced)
        _entries[memo] = entry
    return StoredProgram(entry, in_tree, shardings)


def _read_kept(path: Path, avals: tuple) -> executable_store.Kept | None:
    try:
        data = executable_store.path_beside(path).read_bytes()
    except OSError:
        return None
    kept = executable_store.read(data)
    return kept if kept is not None and kept.in_avals == avals else None  # not a foreign file under its name


_lapack_lock = threading.Lock()


@functools.cache
def _load_lapack_modules() -> None:
    """Load scipy's two LAPACK/BLAS extension modules, and nothing else of scipy.linalg
    (once a process; the lock keeps two lowering threads from loading them twice).

    Lowering a call of an exported program for the CPU makes JAX set up its LAPACK
    kernels, whatever the program holds, and they take their functions from
    ``scipy.linalg.cython_blas`` and ``cython_lapack``: importing those imports all of
    ``scipy.linalg`` first, about 0.2 s of every start before the frame's first program
    can run (more on a busy machine). Loaded on their own they take 40 ms;
    ``scipy.linalg`` still imports as usual when something asks for it. If this scipy is
    laid out otherwise, nothing is loaded here and JAX imports them itself."""
    with _lapack_lock:
        try:
            import scipy
        except ImportError:
            return
        folder = Path(scipy.__file__).parent / "linalg"
        for short in ("cython_blas", "cython_lapack"):
            name = f"scipy.linalg.{short}"
            if name in sys.modules:
                continue
            found = [folder / (short + suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES
                     if (folder / (short + suffix)).is_file()]
            if not found:
                return
            spec = importlib.util.spec_from_file_location(name, found[0])
            if spec is None or spec.loader is None:
                return
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception:  # noqa: BLE001 - left to JAX's own import
                del sys.modules[name]
                return


def _aval(x) -> tuple:
    return tuple(np.shape(x)), x.dtype, bool(getattr(x, "weak_type", False))


def _load_or_export(path: Path | None, fn: Callable, in_tree, avals: tuple, statics: dict, shardings,
                    out_sharding) -> tuple[jax.export.Exported, bool]:
    """The program from the store, or traced now and stored: (it, whether it was traced)."""
    specs = [jax.ShapeDtypeStruct(shape, dtype, weak_type=weak, sharding=s)
             for (shape, dtype, weak), s in zip(avals, shardings or (None,) * len(avals))]
    if path is not None:
        try:
            exported = jax.export.deserialize(bytearray(path.read_bytes()))
            if [(tuple(a.shape), a.dtype) for a in exported.in_avals] == [(s, d) for s, d, _ in avals]:
                return exported, False
        except Exception:  # noqa: BLE001 - a missing, damaged or foreign file is traced again
            pass

    def flat(*leaves):
        return jax.tree.leaves(fn(*jax.tree.unflatten(in_tree, leaves), **statics))

    exported = jax.export.export(jax.jit(flat, out_shardings=out_sharding))(*specs)
    if path is not None:
        write_whole(path, exported.serialize())
    return exported, True


def _path(name: str, in_tree, avals: tuple, statics: dict, layout: tuple) -> Path | None:
    root = cache.programs_dir()
    if root is None:
        return None
    config = jax.config
    shardings, out_sharding = layout
    placed = None if out_sharding is None else [(str(s.spec), tuple(d.id for d in s.mesh.devices.flat))
                                                 for s in (*shardings, out_sharding)]
    digest = hashlib.sha256(repr((
        name, sorted((k, repr(v)) for k, v in statics.items()), str(in_tree), [(s, str(d), w) for s, d, w in avals],
        *(() if placed is None else (placed,)),
        jax.__version__, jax.default_backend(), config.jax_enable_x64, config.jax_default_matmul_precision,
        _source_digest(),
    )).encode()).hexdigest()
    return root / f"{name.replace(' ', '-')}-{digest[:40]}{_SUFFIX}"


@functools.cache
def _source_digest() -> str:
    """zoomdream's Python source: a program traced from other code is another program."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def write_whole(path: Path, data: bytes) -> None:
    """Whole or not at all: through a temporary file renamed into place, so that two
    runs writing the same program, or a kill, never leave half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass  # an unwritable cache only costs tracing next time
