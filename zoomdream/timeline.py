"""Where a render's time goes: named spans on the host, for ``--timeline FILE``.

Off by default, and then every call here is a cheap no-op. When a render is asked for a
timeline, the render loop and the outputs mark what they do (compiling, and for each
frame queueing, waiting for it, encoding, PNG files, checkpoints) as spans
with the thread that did it, and :func:`write` saves them as JSON with the process's CPU
time and that of its ffmpeg children, so that a reader can see which work shares the cores
with the dream.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import threading
import time
from pathlib import Path

_events: list[dict] | None = None
_origin = 0.0  # perf_counter() at start()
_origin_epoch = 0.0  # time.time() at start()


def start() -> None:
    """Begin recording (a second call starts again)."""
    global _events, _origin, _origin_epoch
    _events = []
    _origin, _origin_epoch = time.perf_counter(), time.time()


@contextlib.contextmanager
def span(name: str, frame: int | None = None):
    """Record the time the body takes as ``name`` (of frame ``frame``)."""
    if _events is None:
        yield
        return
    began = time.perf_counter()
    try:
        yield
    finally:
        _record(name, began, time.perf_counter(), frame)


def _record(name: str, began: float, ended: float, frame: int | None) -> None:
    event = {"name": name, "start_s": round(began - _origin, 6), "seconds": round(ended - began, 6),
             "thread": threading.current_thread().name}
    if frame is not None:
        event["frame"] = frame
    _events.append(event)


def write(path: str | Path) -> None:
    """Save what was recorded, with CPU times, as JSON (a no-op when not recording)."""
    if _events is None:
        return
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    record = {
        "process_started_epoch_s": _process_started(),
        "started_epoch_s": _origin_epoch,
        "wall_s": round(time.perf_counter() - _origin, 6),
        "cpu_count": os.cpu_count(),
        # CPU seconds of this process (the dream and the host's work) and of its finished
        # children (ffmpeg's encoders and joins).
        "process_cpu_s": {"user": own.ru_utime, "system": own.ru_stime},
        "children_cpu_s": {"user": children.ru_utime, "system": children.ru_stime},
        "threads_cpu_s": _threads_cpu(),
        "events": _events,
    }
    # Through a temporary file, so that a kill mid-write leaves no half-written record.
    path = Path(path)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(record, indent=0) + "\n")
    partial.replace(path)


def _threads_cpu() -> dict[str, float]:
    """CPU seconds of this process's threads, grouped by their names (Linux: XLA's
    workers, the Python thread...); empty where /proc cannot say."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        name = name.rstrip("0123456789-_") or name  # worker-3 and worker-7 are one pool
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return {name: round(seconds, 2) for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1])}


def _process_started() -> float | None:
    """When this process started (Unix time, to 1/100 s; Linux), so that a reader can
    count the interpreter's start and the imports too."""
    try:
        stat = Path("/proc/self/stat").read_text()
        ticks_after_boot = int(stat[stat.rindex(")") + 2:].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
    except (OSError, ValueError, StopIteration):
        return None
    return boot + ticks_after_boot / os.sysconf("SC_CLK_TCK")
