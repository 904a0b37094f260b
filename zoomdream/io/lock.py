"""One render per output at a time.

A render, a resume or an assembly of ``dogs.mp4`` holds ``dogs.mp4.lock`` for as long as
it runs: an exclusive ``flock`` on that file, so that a second zoomdream aimed at the same
output is refused with a line saying who holds it, instead of the two writing over each
other's segments. The kernel drops the lock when its process ends, however it ends, so a
killed render leaves no stale lock behind (the file may stay; an unlocked file is free).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from zoomdream.errors import ConfigError

try:
    import fcntl
except ImportError:  # Windows: no flock; renders are then not guarded against each other
    fcntl = None


def lock_path(output: Path) -> Path:
    return output.with_name(output.name + ".lock")


def _holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        since = time.strftime("%H:%M:%S", time.localtime(holder["since"]))
        return f"process {holder['pid']} on {holder['host']}, since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def output_lock(output: Path):
    """Hold the lock of ``output`` for the body, or raise :class:`ConfigError` if
    another zoomdream holds it."""
    path = lock_path(output)
    if fcntl is None:
        yield
        return
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a folder that looks writable but takes no files (/proc, a read-only mount)
            raise ConfigError(f"output folder {str(output.parent)!r} cannot be written: "
                              f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(f"{output} is being rendered by {_holder(path)}; wait for it, or stop it first") from None
        except OSError:  # a file system without locks (some network drives): go unguarded
            os.close(fd)
            yield
            return
        # A render that just finished unlinks the file it held; if this is that file,
        # lock the new one instead.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
