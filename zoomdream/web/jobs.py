"""Render jobs of the web page: kept in a folder, run one at a time, surviving restarts.

Each job is a folder ``<jobs>/<id>/`` holding ``job.json`` (what was asked, its state and
progress), the uploaded picture as ``input.png`` (re-encoded by the server: the client's
file name never becomes a path), ``latest.png`` (the newest frame) and ``result.<ext>``.
``job.json`` is replaced atomically, so a kill never leaves half of one. A job id is 128
random bits (``secrets``): unguessable, and the only name the client ever gives.

One worker thread takes the queued jobs in the order they came and renders each with
:func:`zoomdream.render` (the device does one thing at a time). A job cancelled while it
runs stops after the frame in progress, its video made of the frames so far. A server
stopped mid-render leaves the job queued with its checkpoints; when it starts again the
job continues from the last checkpoint (:func:`zoomdream.resume`) for an MP4, or starts
over for a still or a GIF.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zoomdream.io import parts

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
LATEST_EVERY_S = 0.5  # the newest frame is written at most this often


class Stopped(KeyboardInterrupt):
    """Raised from a render's frame callback to stop it cleanly: the render treats it as
    Ctrl-C (finishes the frame, keeps what it made)."""


@dataclasses.dataclass
class Job:
    id: str
    preset: str
    overrides: dict[str, Any]
    format: str  # png, mp4 or gif
    size: str  # WIDTHxHEIGHT, fixed when the job was checked
    created: float
    state: str = "queued"
    has_image: bool = False
    progress: float = 0.0
    frames_done: int = 0
    frames_total: int | None = None
    eta_seconds: float | None = None
    phase: str = "waiting"  # waiting, compiling, dreaming, finishing
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    cancel_requested: bool = False

    @property
    def result_name(self) -> str:
        return f"result.{self.format}"

    def public(self) -> dict[str, Any]:
        """What the API shows of the job."""
        out = dataclasses.asdict(self)
        del out["cancel_requested"]
        out["result_url"] = f"/api/jobs/{self.id}/result" if self.state == "done" else None
        out["latest_url"] = f"/api/jobs/{self.id}/latest" if self.frames_done else None
        return out


def new_id() -> str:
    return secrets.token_urlsafe(16)


def valid_id(text: str) -> bool:
    """An id this server could have made (so that it is safe as a folder name)."""
    return len(text) == 22 and all(c.isalnum() or c in "-_" for c in text)


class JobStore:
    """The jobs folder: every job's ``job.json``, read at start and rewritten on change."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        for record in sorted(self.root.glob("*/job.json")):
            try:
                job = Job(**json.loads(record.read_text()))
            except (OSError, ValueError, TypeError):
                continue  # a damaged record is skipped, not fatal
            if job.state == "running":  # the server stopped mid-render: run it again
                job.state, job.phase = "queued", "waiting"
            self._jobs[job.id] = job

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def add(self, job: Job) -> None:
        self.folder(job.id).mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._jobs[job.id] = job
            self._save(job)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return dataclasses.replace(job) if job else None

    def all(self) -> list[Job]:
        with self._lock:
            return sorted((dataclasses.replace(j) for j in self._jobs.values()), key=lambda j: j.created)

    def update(self, job_id: str, **changes: Any) -> Job:
        with self._lock:
            job = dataclasses.replace(self._jobs[job_id], **changes)
            self._jobs[job_id] = job
            self._save(job)
            return dataclasses.replace(job)

    def claim_next(self) -> Job | None:
        """The oldest queued job, marked running in the same step (so that a cancel
        cannot slip in between), or None."""
        with self._lock:
            queued = [j for j in self._jobs.values() if j.state == "queued"]
            if not queued:
                return None
            oldest = min(queued, key=lambda j: j.created)
            job = dataclasses.replace(oldest, state="running", phase="compiling", error=None,
                                      started=oldest.started or time.time())
            self._jobs[job.id] = job
            self._save(job)
            return dataclasses.replace(job)

    def _save(self, job: Job) -> None:
        path = self.folder(job.id) / "job.json"
        partial = path.with_name("job.json.partial")
        partial.write_text(json.dumps(dataclasses.asdict(job), indent=1))
        os.replace(partial, path)


class Worker:
    """The thread that renders queued jobs one after another."""

    def __init__(self, store: JobStore, render_job: Callable[[Job, Path, Callable], Any]):
        self.store = store
        self._render_job = render_job
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="zoomdream-web-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the frame in progress; the job stays queued with its checkpoints."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """The server is stopping: the job in progress stops after its frame."""
        return self._stopping.is_set()

    def cancel(self, job_id: str) -> Job | None:
        job = self.store.get(job_id)
        if job is None or job.state in FINISHED:
            return job
        if job.state == "queued":
            return self.store.update(job_id, state="cancelled", phase="waiting", finished=time.time())
        return self.store.update(job_id, cancel_requested=True)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            job = self.store.claim_next()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self._run(job)

    def _run(self, job: Job) -> None:
        folder = self.store.folder(job.id)
        progress = _Progress(self, job, folder)
        try:
            result = self._render_job(job, folder, progress)
        except Stopped:
            result = None
        except Exception as exc:  # a render that fails says why in one line; the server goes on
            self.store.update(job.id, state="failed", phase="waiting", error=one_line(exc), finished=time.time())
            return
        current = self.store.get(job.id)
        if current.cancel_requested:
            self.store.update(job.id, state="cancelled", phase="waiting", finished=time.time(), eta_seconds=None)
        elif self.stopping and (result is None or result.interrupted):
            self.store.update(job.id, state="queued", phase="waiting", eta_seconds=None)  # resumes at the next start
        else:
            self.store.update(job.id, state="done", phase="waiting", progress=1.0, finished=time.time(), eta_seconds=0.0)


class _Progress:
    """A render's frame callback: progress, ETA and the newest frame; stops the render when
    the job is cancelled or the server stops."""

    def __init__(self, worker: Worker, job: Job, folder: Path):
        self.worker, self.job_id, self.folder = worker, job.id, folder
        self.total = job.frames_total
        self._first: tuple[int, float] | None = None
        self._latest_written = 0.0

    def __call__(self, index: int, frame: np.ndarray) -> None:
        now = time.perf_counter()
        if self._first is None:
            self._first = (index, now)
        done = index + 1
        first_index, first_time = self._first
        rate = (now - first_time) / (index - first_index) if index > first_index else None
        total = self.total or done
        eta = rate * (total - done) if rate is not None else None
        if now - self._latest_written >= LATEST_EVERY_S or done == total:
            _write_png(self.folder / "latest.png", frame)
            self._latest_written = now
        job = self.worker.store.update(self.job_id, phase="dreaming" if done < total else "finishing", frames_done=done,
                                       frames_total=total, progress=min(done / total, 1.0), eta_seconds=eta)
        if job.cancel_requested or self.worker.stopping:
            raise Stopped


def _write_png(path: Path, frame: np.ndarray) -> None:
    import imageio.v3 as iio

    partial = path.with_name(path.stem + ".partial.png")
    iio.imwrite(partial, frame)
    os.replace(partial, path)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def resumable(folder: Path, job: Job) -> bool:
    """Whether a job's MP4 has checkpoints to continue from."""
    return job.format == "mp4" and parts.parts_dir(folder / job.result_name).exists()
