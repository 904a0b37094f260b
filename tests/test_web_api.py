"""The web page's JSON API: jobs queue, run, report progress, cancel and survive a
restart; every bad request gets a 4xx with one line and the server keeps serving."""

import io
import json
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from zoomdream.io import video  # noqa: E402
from zoomdream.web import submissions  # noqa: E402
from zoomdream.web.app import create_app  # noqa: E402

TINY = {"video.size": "64x64", "dream.octaves": 1, "dream.iterations": 2, "layers.schedule": ["conv2/3x3"]}


def png_bytes(rgb):
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", rgb, extension=".png")


def photo(h=48, w=80):
    y, x = np.mgrid[:h, :w]
    return np.stack([x * 3 % 256, y * 5 % 256, (x + y) % 256], -1).astype(np.uint8)


def submit(client, preset="classic-zoom", overrides=TINY, fmt="png", image=None):
    files = {"image": ("whatever.bin", image, "application/octet-stream")} if image is not None else None
    return client.post("/api/jobs", data={"preset": preset, "overrides": json.dumps(overrides), "format": fmt}, files=files)


def wait_for(client, job_id, states=("done", "failed", "cancelled"), timeout=300, until=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states or (until and until(job)):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


@pytest.fixture
def server(tmp_path, net):
    limits = submissions.Limits(upload_bytes=200_000, upload_pixels=1_000_000)
    with TestClient(create_app(tmp_path / "jobs", limits, net=net)) as client:
        yield client


def test_a_picture_dreamed_through_the_api(server):
    made = submit(server, image=png_bytes(photo()))
    assert made.status_code == 201
    job_id = made.json()["id"]
    assert len(job_id) == 22 and job_id != submit(server).json()["id"]  # random, not counted
    job = wait_for(server, job_id)
    assert job["state"] == "done" and job["progress"] == 1.0 and job["result_url"] == f"/api/jobs/{job_id}/result"
    result = server.get(job["result_url"])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    import imageio.v3 as iio

    assert iio.imread(result.content).shape == (64, 64, 3)  # the asked size, not the photo's
    assert any(j["id"] == job_id for j in server.get("/api/jobs").json())


@pytest.mark.parametrize("request_kind, status, message", [
    ("too big", 413, "image: larger than 0 MB"),
    ("not a picture", 415, "image: not a picture this server reads (PNG, JPEG, WebP, BMP or GIF)"),
    ("bomb", 413, "image: 5000x5000 pixels is more than this server decodes (1,000,000 pixels)"),
    ("unknown preset", 400, "unknown preset '../../etc/passwd'; the presets are"),
    ("unknown key", 400, "unknown key 'dream.stepsize' (did you mean step_size?)"),
    ("bad value", 400, "dream.iterations: must be at most 1000, got 5000"),
    ("formula", 400, "dream.step_size: only the functions sin, cos, abs, min, max may be called"),
    ("path key", 400, "start.video: files on the server cannot be chosen from the web page"),
    ("guide", 400, "guide pictures cannot be used from the web page"),
    ("huge size", 400, "video.size: 4000x4000 is larger than this server's 1024 pixels per side"),
    ("not json", 400, "overrides: not JSON"),
    ("bad format", 400, "format: 'exe' is not one of png, mp4, gif"),
])
def test_bad_requests_get_one_line_and_the_server_goes_on(server, request_kind, status, message):
    from PIL import Image

    bomb = io.BytesIO()
    Image.new("1", (5000, 5000)).save(bomb, format="PNG")  # 25 Mpixels in a few kB
    asks = {
        "too big": lambda: submit(server, image=b"\x89PNG" + bytes(300_000)),
        "not a picture": lambda: submit(server, image=b"GIF89a but really a text file\n"),
        "bomb": lambda: submit(server, image=bomb.getvalue()),
        "unknown preset": lambda: submit(server, preset="../../etc/passwd"),
        "unknown key": lambda: submit(server, overrides={**TINY, "dream.stepsize": 2}),
        "bad value": lambda: submit(server, overrides={**TINY, "dream.iterations": 5000}),
        "formula": lambda: submit(server, overrides={**TINY, "dream.step_size": "__import__('os')"}),
        "path key": lambda: submit(server, overrides={**TINY, "start.video": "/etc/passwd"}),
        "guide": lambda: submit(server, overrides={**TINY, "layers.schedule": ["guide:/etc/passwd"]}),
        "huge size": lambda: submit(server, overrides={**TINY, "video.size": "4000x4000"}),
        "not json": lambda: server.post("/api/jobs", data={"preset": "classic-zoom", "overrides": "{not json"}),
        "bad format": lambda: submit(server, fmt="exe"),
    }
    response = asks[request_kind]()
    assert response.status_code == status
    error = response.json()["error"]
    assert error.startswith(message) and "\n" not in error and "Traceback" not in error
    assert server.get("/api/jobs").json() == []  # nothing was queued
    good = submit(server)
    assert good.status_code == 201 and wait_for(server, good.json()["id"])["state"] == "done"


def test_a_full_queue_refuses_more(tmp_path, net):
    with TestClient(create_app(tmp_path / "jobs", submissions.Limits(waiting=2), net=net)) as client:
        first = submit(client, overrides={**TINY, "video.seconds": 20}, fmt="mp4").json()["id"]
        wait_for(client, first, until=lambda job: job["state"] == "running")
        waiting = [submit(client).status_code for _ in range(3)]
        assert waiting[:2] == [201, 201] and waiting[2] == 429
        for job in client.get("/api/jobs").json():
            client.delete(f"/api/jobs/{job['id']}")


def test_unknown_jobs_are_404_and_results_wait_for_their_job(server):
    for path in ("/api/jobs/nosuchjob", "/api/jobs/nosuchjob/result", "/api/jobs/../../etc/passwd"):
        response = server.get(path)
        assert response.status_code == 404 and "\n" not in response.json()["error"]
    assert server.delete("/api/jobs/" + "A" * 22).status_code == 404


def test_a_running_job_can_be_cancelled_and_the_next_one_runs(server):
    long = submit(server, overrides={**TINY, "video.seconds": 20}, fmt="mp4").json()["id"]
    wait_for(server, long, until=lambda job: job["frames_done"] >= 2)
    queued = submit(server).json()["id"]
    assert server.get(f"/api/jobs/{queued}").json()["state"] == "queued"  # one job at a time
    assert server.delete(f"/api/jobs/{long}").status_code == 200
    job = wait_for(server, long)
    assert job["state"] == "cancelled" and job["frames_done"] < 500
    assert wait_for(server, queued)["state"] == "done"


def test_jobs_survive_a_restart_and_an_unfinished_video_resumes(tmp_path, net):
    jobs_dir = tmp_path / "jobs"
    with TestClient(create_app(jobs_dir, net=net)) as first:
        job_id = submit(first, overrides={**TINY, "video.seconds": 1.2}, fmt="mp4").json()["id"]
        wait_for(first, job_id, until=lambda job: job["frames_done"] >= 12)
    # The server stopped mid-render: the job waits with its checkpoints.
    with TestClient(create_app(jobs_dir, net=net)) as second:
        job = second.get(f"/api/jobs/{job_id}").json()
        assert job["state"] in ("queued", "running") and job["frames_done"] >= 12
        job = wait_for(second, job_id)
        assert job["state"] == "done"
        result = second.get(job["result_url"])
    out = tmp_path / "result.mp4"
    out.write_bytes(result.content)
    assert video.count_frames(out) == 30


def free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_prints_its_address_and_refuses_a_second_server(tmp_path):
    import signal
    import subprocess
    import sys
    import urllib.request

    port, jobs_dir = free_port(), tmp_path / "jobs"
    command = [sys.executable, "-m", "zoomdream", "serve", "--jobs-dir", str(jobs_dir)]
    first = subprocess.Popen([*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = first.stdout.readline()
        assert line.startswith(f"zoomdream: serving the page at http://127.0.0.1:{port}/"), line + first.stderr.read()
        deadline = time.time() + 30
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/").read().decode()
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(0.2)
        assert "<title>zoomdream</title>" in page
        for extra, message in (
            (["--port", str(port)], f"cannot listen on 127.0.0.1:{port}: Address already in use"),
            (["--port", str(free_port())], f"--jobs-dir '{jobs_dir}' is served by another zoomdream already"),
        ):
            second = subprocess.run([*command, *extra], capture_output=True, text=True, timeout=120)
            assert second.returncode == 2 and second.stderr.startswith(f"zoomdream: error: {message}"), second.stderr
            assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(60)
    assert first.returncode == 0


def test_serving_beyond_this_machine_warns(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "zoomdream", "serve", "--host", "0.0.0.0", "--port", str(free_port()),
                             "--jobs-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        warning = proc.stderr.readline()
    finally:
        proc.kill()
        proc.wait()
    assert warning.startswith("zoomdream: warning: --host 0.0.0.0 lets other machines reach this server")
