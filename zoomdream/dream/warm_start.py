"""The command line's warm start: the last render's executables loaded while zoomdream is
still starting.

A warm start spends about a second importing Python modules on one core while the other
waits, and then loading the frame's kept executables (:mod:`.executable_store`): another
second of XLA rebuilding and linking each program, which until now began when the frame
first called each program. So as soon as JAX is imported, a thread loads the executables
that the last render in this cache folder called, in the order it called them, beside the
rest of the imports, the preset and the network's weights. A program of this render
takes its executable from there (waiting for it if it is being loaded); a program that
the last render did not call means this render is another one, and the thread stops.

The record of the last render is only a hint: executables of another machine in it are
passed over, one that does not load is loaded again by its program (and fails there
the usual way), and a record that is missing or damaged loads nothing. Started only by
``python -m zoomdream`` / ``zoomdream`` about to render (:mod:`zoomdream.frontends.startup`
says when), never by a library import.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import threading
from pathlib import Path

import jax

from zoomdream import timeline
from zoomdream.dream import cache, executable_store

RECORD = "last-render"  # in the programs folder: the executables' file names, one a line

_lock = threading.Lock()
_called: list[str] = []  # this process's executables, in the order of their first call
_remembered = 0  # how many of them the record holds
_ahead: _LoadingAhead | None = None


def begin() -> None:
    """Start loading the last render's executables (the command line does, about to render)."""
    global _ahead
    folder = cache.programs_dir()
    if folder is None or _ahead is not None:
        return
    try:
        names = (folder / RECORD).read_text().split()
    except (OSError, UnicodeError):
        return
    try:  # this machine's executables only (starting JAX's backend here: 20 ms it takes anyway)
        mine = executable_store.machine_suffix()
    except RuntimeError:
        return  # no backend: the render says so itself
    names = [n for n in names if n.endswith(mine) and Path(n).name == n]
    if names:
        from jax.experimental import serialize_executable  # noqa: F401 - imported here, not beside the imports

        _ahead = _LoadingAhead([folder / n for n in dict.fromkeys(names)])


def take(path: Path) -> jax.stages.Compiled | None:
    """The executable kept at ``path``, loaded ahead, or None where it was not (the
    caller loads it). Waits while it is being loaded."""
    ahead = _ahead
    return None if ahead is None else ahead.take(path)


def note_called(path: Path) -> None:
    """The program whose executable is kept at ``path`` is called for the first time in
    this process (the order the next start loads them in)."""
    with _lock:
        if path.name not in _called:
            _called.append(path.name)


def after_frame() -> None:
    """A frame is finished: remember the programs called so far for the next start (where
    there are new ones), and load no more ahead (what is loaded is still taken)."""
    global _remembered
    if _ahead is not None:
        _ahead.stop(wait=False)
    with _lock:
        if len(_called) == _remembered:
            return
        names, _remembered = list(_called), len(_called)
    folder = cache.programs_dir()
    if folder is not None:
        from zoomdream.dream.program_store import write_whole  # (which imports this module)

        write_whole(folder / RECORD, "".join(f"{n}\n" for n in names).encode())


class _LoadingAhead:
    """A thread loading executables in order; each is taken once, by its program."""

    def __init__(self, paths: list[Path]):
        self._order = paths
        self._futures = {path: concurrent.futures.Future() for path in paths}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._load_all, name="zoomdream-load-ahead", daemon=True)
        self._thread.start()
        # (An interpreter that exits while XLA is loading in a daemon thread can crash.)
        atexit.register(self.stop)

    def take(self, path: Path) -> jax.stages.Compiled | None:
        future = self._futures.pop(path, None)
        if future is None:
            self.stop(wait=False)  # another render than the last: the rest would be loaded for nothing
            return None
        if future.cancel():
            return None  # not begun: the caller loads it now, beside the thread's current one
        with timeline.span("executable loaded ahead"):  # (the time waited for it)
            return future.result()

    def stop(self, wait: bool = True) -> None:
        """Load nothing more; with ``wait``, until the executable being loaded is done."""
        self._stopped.set()
        for future in list(self._futures.values()):
            future.cancel()
        if wait:
            self._thread.join()

    def _load_all(self) -> None:
        for path in self._order:
            future = self._futures.get(path)
            if future is None or self._stopped.is_set() or not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(executable_store.load_file(path.read_bytes()))
            except OSError:
                future.set_result(None)
