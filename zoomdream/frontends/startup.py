"""The command line's first second: whether this process is ``python -m zoomdream`` (or the
``zoomdream`` script) about to render, and Ctrl-C held while it imports.

``python -m zoomdream`` imports the package before the command line's own code runs, so
what the command line wants from its imports is decided here, from the arguments alone,
with nothing but the standard library: the warm start's loading ahead
(:mod:`zoomdream.dream.warm_start`) and an interrupt that ends the start in one line.
Ctrl-C in the middle of importing JAX stops Python with a traceback, or, in a callback
of JAX's C++ code, aborts it; while the command line imports, Ctrl-C is noted instead and
honoured once the imports are done.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path

EXIT_INTERRUPTED = 130
_NOT_RENDERING = ("--help", "--list-presets", "--list-layers", "--list-keys", "--plan", "--assemble", "--distributed")


def command_line_args() -> list[str] | None:
    """The arguments after ``python -m zoomdream`` or the ``zoomdream`` script, or None
    where zoomdream was imported otherwise."""
    command = list(getattr(sys, "orig_argv", []))
    if "-m" in command:
        at = command.index("-m")
        return command[at + 2:] if command[at + 1:at + 2] == ["zoomdream"] else None
    return sys.argv[1:] if sys.argv and Path(sys.argv[0]).name == "zoomdream" else None


def renders(args: list[str]) -> bool:
    """Whether these command-line arguments render (argparse takes an option's prefix too;
    ``--distributed`` and a TPU pod slice join other processes before JAX's backend starts,
    which loading ahead would start)."""
    if args[:1] == ["serve"] or "-h" in args:
        return False
    given = [a.split("=", 1)[0] for a in args if a.startswith("--") and len(a) > 2]
    if any(option.startswith(a) for a in given for option in _NOT_RENDERING):
        return False
    from zoomdream.dream.hosts import on_tpu_pod_slice

    return not on_tpu_pod_slice()


@contextlib.contextmanager
def interrupts_held():
    """For the command line, in the main thread: Ctrl-C during the body is noted, and ends
    the process in one line after it. Elsewhere, nothing."""
    if command_line_args() is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    noted = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if noted:
        print("zoomdream: interrupted while starting; nothing was rendered", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED)
