"""The web page's server: a FastAPI application over a :class:`~zoomdream.web.jobs.JobStore`.

Routes (all JSON but the files): ``GET /`` the page; ``GET /api/presets``, ``/api/layers``,
``/api/classes`` what the page offers; ``POST /api/jobs`` (multipart: ``image`` optional,
``preset``, ``overrides`` as JSON, ``format`` png|mp4|gif) -> ``{"id": ...}``;
``GET /api/jobs`` and ``GET /api/jobs/{id}`` a job's state, progress, ETA and, when done,
``result_url``; ``GET /api/jobs/{id}/result`` the file, ``/latest`` the newest frame;
``DELETE /api/jobs/{id}`` cancels. Every refusal is a 4xx with ``{"error": one line}``;
an unexpected failure is a 500 with one line (its traceback goes to the server's log,
never to the client), and the server goes on serving.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

import zoomdream
from zoomdream.dream import objectives
from zoomdream.network import googlenet
from zoomdream.schedule import config as config_lib
from zoomdream.web import jobs, submissions

STATIC = Path(__file__).parent / "static"


def create_app(jobs_dir: str | Path, limits: submissions.Limits | None = None, net=None) -> FastAPI:
    """The application, its jobs kept in ``jobs_dir``, each within ``limits`` (default:
    :class:`~zoomdream.web.submissions.Limits`). ``net``: a loaded network (default: the
    bundled one, loaded when the first job runs)."""
    limits = limits or submissions.Limits()
    store = jobs.JobStore(Path(jobs_dir))
    network = _Network(net)

    def render_job(job: jobs.Job, folder: Path, on_frame) -> zoomdream.RenderResult:
        output = folder / job.result_name
        options = {"progress": False, "net": network.get(), "on_frame": on_frame}
        if jobs.resumable(folder, job):
            return zoomdream.resume(output, **options)
        overrides = dict(job.overrides)
        if job.has_image:
            overrides.update({"start.kind": "image", "start.image": str(folder / "input.png")})
        return zoomdream.render(job.preset, output, overrides=overrides, size=job.size, overwrite=True, **options)

    worker = jobs.Worker(store, render_job)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        worker.start()
        yield
        worker.stop()

    app = FastAPI(title="zoomdream", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.store, app.state.worker = store, worker
    app.add_middleware(_BodyLimit, limit=limits.upload_bytes + 2**20)  # the picture and the form around it
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(submissions.RequestError)
    async def refused(request: Request, exc: submissions.RequestError):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return JSONResponse({"error": f"{where}: {first.get('msg', 'malformed request')}"}, status_code=400)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception):
        return JSONResponse({"error": f"internal error: {jobs.one_line(exc)}"}, status_code=500)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/presets")
    def presets():
        out = []
        for name in config_lib.available_presets():
            raw = config_lib.read_yaml(config_lib.preset_path(name))
            out.append({"name": name, "description": raw.get("description", "")})
        return out

    @app.get("/api/layers")
    def layers():
        return [{"name": layer.name, "channels": layer.channels, "note": layer.note} for layer in googlenet.LAYERS]

    @app.get("/api/classes")
    def classes():
        return [label.split(",")[0].strip() for label in objectives.bundled_labels()]

    @app.post("/api/jobs", status_code=201)
    async def submit(preset: Annotated[str, Form()], overrides: Annotated[str, Form()] = "{}",
                     format: Annotated[str, Form()] = "png", image: Annotated[UploadFile | None, File()] = None):
        if sum(job.state == "queued" for job in store.all()) >= limits.waiting:
            raise submissions.RequestError(429, f"the queue is full ({limits.waiting} jobs wait); try again later")
        asked = submissions.parse_overrides(overrides)
        rgb = None
        if image is not None and image.filename != "":
            rgb = submissions.decode_picture(await image.read(limits.upload_bytes + 1), limits)
        checked = submissions.check(preset, asked, format, rgb is not None, limits)
        job = jobs.Job(id=jobs.new_id(), preset=checked.preset, overrides=checked.overrides, format=checked.format,
                       size=checked.size, created=time.time(), has_image=rgb is not None, frames_total=checked.frames)
        store.folder(job.id).mkdir(parents=True)
        if rgb is not None:
            submissions.save_picture(rgb, store.folder(job.id))
        store.add(job)
        worker.wake()
        return {"id": job.id}

    def find(job_id: str) -> jobs.Job:
        job = store.get(job_id) if jobs.valid_id(job_id) else None
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    @app.get("/api/jobs")
    def list_jobs():
        return [job.public() for job in store.all()]

    @app.get("/api/jobs/{job_id}")
    def job_state(job_id: str):
        return find(job_id).public()

    @app.get("/api/jobs/{job_id}/result")
    def result(job_id: str):
        job = find(job_id)
        path = store.folder(job.id) / job.result_name
        if job.state != "done" or not path.is_file():
            raise HTTPException(409, f"job {job_id} has no result yet (it is {job.state})")
        return FileResponse(path, filename=f"zoomdream-{job.preset}-{job.id[:6]}.{job.format}")

    @app.get("/api/jobs/{job_id}/latest")
    def latest(job_id: str):
        path = store.folder(find(job_id).id) / "latest.png"
        if not path.is_file():
            raise HTTPException(404, f"job {job_id} has no frame yet")
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    @app.delete("/api/jobs/{job_id}")
    def cancel(job_id: str):
        find(job_id)
        return worker.cancel(job_id).public()

    return app


class _Network:
    """The network, loaded once, on first use, by whichever thread needs it first."""

    def __init__(self, net=None):
        self._net, self._lock = net, threading.Lock()

    def get(self):
        with self._lock:
            if self._net is None:
                self._net = zoomdream.load_googlenet()
            return self._net


class _BodyLimit:
    """Refuses a request body over ``limit`` bytes with a 413, as it arrives: before the
    form parser has spooled a giant upload to disk."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _too_large(send, self.limit)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(send, limit: int) -> None:
    body = json.dumps({"error": f"request: larger than {limit // 2**20} MB"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
