"""The web page in a real browser: headless Chromium (Debian's package), driven by
Playwright, uploads a picture, starts a tiny zoom, sees its progress move and its result
appear, and downloads it.

Without Chromium the test skips, saying so; CI sets ZOOMDREAM_REQUIRE_BROWSER=1, and
there a missing browser fails the test instead.
"""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("ZOOMDREAM_REQUIRE_BROWSER") == "1"
if not REQUIRED:
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)", allow_module_level=True)
    pytest.importorskip("playwright", reason="no Playwright for Python (pip install '.[test]')")
from playwright.sync_api import sync_playwright  # noqa: E402

# Flags for a closed network: no background connections that the machine would refuse.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page_server(tmp_path, net):
    import uvicorn

    from zoomdream.web.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(tmp_path / "jobs", net=net), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(60)


def test_drop_a_picture_watch_it_dream_and_download_it(page_server, tmp_path):
    assert CHROMIUM is not None, "ZOOMDREAM_REQUIRE_BROWSER=1 but no Chromium: apt-get install chromium"
    import imageio.v3 as iio

    picture = tmp_path / "holiday.jpg"
    y, x = np.mgrid[:120, :160]
    iio.imwrite(picture, np.stack([x % 256, y * 2 % 256, (x * y) % 256], -1).astype(np.uint8))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(accept_downloads=True)
            outside = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((page_server, "data:", "blob:")) else None)
            page.goto(page_server)
            page.wait_for_function("document.querySelectorAll('#preset option').length > 3 && "
                                   "document.querySelectorAll('#layer option').length > 10")
            page.set_input_files("#image", str(picture))
            page.locator("#drop-preview").wait_for(state="visible")  # the picture, shown once it loads
            page.select_option("#preset", "classic-zoom")
            page.select_option("#objective-kind", "layer")
            page.select_option("#layer", "conv2/3x3")
            assert page.text_content("#layer-note")  # the layer's note from the layer table
            page.select_option("#size", "64x64")
            page.fill("#seconds", "2")
            page.click("#start")
            job = page.locator(".job").first
            job.wait_for()
            # Progress moves: a frame count that grows, then the result.
            seen = set()
            deadline = time.time() + 300
            while time.time() < deadline and job.get_attribute("data-state") != "done":
                seen.add(job.locator(".job-state").text_content())
                assert job.get_attribute("data-state") != "failed", job.locator(".job-error").text_content()
                time.sleep(0.2)
            frames_seen = {s for s in seen if "frame " in s}
            assert len(frames_seen) >= 2, seen
            job.locator(".result-video").wait_for(state="visible")
            assert job.locator(".latest").is_hidden()
            with page.expect_download() as download:
                job.locator(".download").click()
            saved = tmp_path / "downloaded.mp4"
            download.value.save_as(saved)
            assert download.value.suggested_filename.endswith(".mp4")
            from zoomdream.io import video

            assert video.count_frames(saved) == 50  # 2 s at the preset's 25 fps
            assert outside == []  # the page works offline: nothing fetched from elsewhere
            page.screenshot(path=str(Path(os.environ.get("ZOOMDREAM_SCREENSHOT", tmp_path / "page.png"))), full_page=True)
            # A reload keeps the job and its result.
            page.reload()
            page.locator(".job .download").first.wait_for(state="visible")
        finally:
            browser.close()
