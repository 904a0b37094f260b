"""End to end: the CLI and zoomdream.render() on tiny canvases, the MP4 read back, and
every user mistake answered with one line and exit status 2."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import jax
import numpy as np
import pytest

import zoomdream
from zoomdream.frontends import cli
from zoomdream.io import video

ROOT = Path(__file__).resolve().parents[1]
# A quick dream for tests: a shallow layer, two octaves, few iterations.
QUICK = ["--set", "dream.octaves=2", "--set", "dream.iterations=3", "--quiet"]
QUICK_OVERRIDES = {"dream.octaves": 2, "dream.iterations": 3}


def run_cli(*args, timeout=300, **env):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "zoomdream", *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.slow
def test_cli_renders_an_mp4_with_the_right_frames_and_size(tmp_path):
    out = tmp_path / "dogs.mp4"
    frames_dir = tmp_path / "frames"
    timeline = tmp_path / "timeline.json"
    settings = ["--preset", "noise-to-dogs", "--frames", "6", "--size", "96x64", "--layer", "inception_3b/output", *QUICK]
    cache = str(tmp_path / "cache")  # empty: this render compiles, the warm one below loads
    result = run_cli(*settings, "-o", str(out), "--frames-dir", str(frames_dir), "--timeline", str(timeline),
                     ZOOMDREAM_CACHE_DIR=cache)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    frames = video.read_video(out)
    assert frames.shape == (6, 64, 96, 3)
    pngs = sorted(frames_dir.glob("frame_*.png"))
    assert [p.name for p in pngs] == [f"frame_{i:05d}.png" for i in range(1, 7)]
    # The video shows the PNG frames (up to H.264's loss, large on pixel noise, so compare
    # 8x8 block means), and the picture changes.
    blocks = lambda a: a.astype(float).reshape(8, 8, 12, 8, 3).mean(axis=(1, 3))
    first, last = iio.imread(pngs[0]), iio.imread(pngs[-1])
    assert np.abs(blocks(frames[0]) - blocks(first)).mean() < 4
    assert np.abs(blocks(frames[-1]) - blocks(last)).mean() < 4
    assert np.abs(first.astype(float) - last).mean() > 5
    # --timeline: every frame queued, waited for, encoded and written as PNG, in order;
    # compiling before them; CPU time of the process's threads and of ffmpeg.
    record = json.loads(timeline.read_text())
    spans = {(e["name"], e.get("frame")) for e in record["events"]}
    for k in range(6):
        assert {("queue frame", k), ("wait for frame", k), ("write mp4", k), ("write png frames", k)} <= spans
    compiled = next(e for e in record["events"] if e["name"] == "trace and compile")
    first_wait = next(e for e in record["events"] if e["name"] == "wait for frame")
    assert 0 < compiled["start_s"] + compiled["seconds"] <= first_wait["start_s"]
    assert record["children_cpu_s"]["user"] > 0 and sum(record["threads_cpu_s"].values()) > 0
    assert record["process_started_epoch_s"] <= record["started_epoch_s"]

    # The same command again: a warm start finds the first run's executables loaded, or
    # being loaded, when its frame calls them (dream/warm_start.py), and dreams the same.
    warm = run_cli(*settings, "-o", str(tmp_path / "warm.mp4"), "--frames-dir", str(tmp_path / "warm"), "--timeline",
                   str(timeline), ZOOMDREAM_CACHE_DIR=cache)
    assert warm.returncode == 0 and warm.stderr.strip() == "", warm.stderr  # (nothing said at exit by its thread)
    called = (tmp_path / "cache" / "programs" / "last-render").read_text().split()
    # backward kernels, (entering an octave, its ascent) x 2, the camera
    assert [name.split("-")[0] for name in called] == ["backward", "octave", "ascent", "octave", "ascent", "camera"]
    taken = [e for e in json.loads(timeline.read_text())["events"] if e["name"] == "executable loaded ahead"]
    # (each, unless the frame reached a program before the thread began it: a busy machine)
    assert len(called) // 2 <= len(taken) <= len(called)
    for png in pngs:
        np.testing.assert_array_equal(iio.imread(tmp_path / "warm" / png.name), iio.imread(png))


def test_render_api_compiles_once_across_a_changing_schedule(tmp_path, net, monkeypatch):
    """Every program of the frame is compiled before the loop; nothing compiles in it,
    whatever the schedule and the soundtrack do to the values."""
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiles.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
    seen, before_loop = [], []
    render_module = sys.modules["zoomdream.render"]  # (zoomdream.render is the function)
    compile_ahead = render_module._compile

    def counted(*args, **kwargs):
        seconds = compile_ahead(*args, **kwargs)
        before_loop.append(len(compiles))
        return seconds

    monkeypatch.setattr(render_module, "_compile", counted)

    def on_frame(k, frame):
        seen.append((k, len(compiles)))

    overrides = {
        **QUICK_OVERRIDES,
        "layers.schedule": [{"layer": "conv2/3x3", "frames": 2}, {"layer": "inception_3a/output", "frames": 2},
                            {"layer": {"inception_3b/output": 1.0, "conv2/3x3": 0.5}, "frames": 2}],
        "layers.crossfade_frames": 2,
        "camera.zoom_per_second": 2.0,
        "camera.rotation": "40*bass",
        "dream.step_size": {"audio": "onsets", "min": 1.0, "max": 2.0},
    }
    result = zoomdream.render("classic-zoom", tmp_path / "a.mp4", frames=7, size="64x64", overrides=overrides,
                              progress=False, on_frame=on_frame, net=net, audio="demo")
    assert result.frames == 7 and not result.interrupted
    counts = [c for _, c in seen]
    assert counts == before_loop * 7, f"compiles before the loop: {before_loop}, after each frame: {counts}"


def test_same_seed_same_video_other_seed_other_video(tmp_path, net):
    def frames(seed, name):
        got = []
        zoomdream.render("classic-zoom", tmp_path / name, frames=2, size="64x64", seed=seed, layer="inception_3a/output",
                         overrides=QUICK_OVERRIDES, progress=False, net=net, on_frame=lambda k, f: got.append(f))
        return np.stack(got)

    a, b, c = frames(5, "a.mp4"), frames(5, "b.mp4"), frames(6, "c.mp4")
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 1


def test_interrupted_render_leaves_a_playable_file(tmp_path, net):
    out = tmp_path / "cut.mp4"

    def stop_at_third(k, frame):
        if k == 2:
            raise KeyboardInterrupt

    result = zoomdream.render("classic-zoom", out, frames=20, size="64x64", layer="conv2/3x3", overrides=QUICK_OVERRIDES,
                              progress=False, net=net, on_frame=stop_at_third)
    assert result.interrupted and result.frames == 3
    assert video.read_video(out).shape == (3, 64, 64, 3)


def start_cli(*args):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "zoomdream", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(condition, proc, what, timeout=600):
    """Wait until ``condition()``; fail (never go on regardless) if the render ends or
    takes longer than ``timeout`` seconds, however slow the machine."""
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"the render ended before {what}: {proc.communicate()[1]}"
        assert time.time() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.1)


def assert_interrupted_cleanly(proc, out, frames_dir):
    """Exit status 130, one line, and the video holds exactly the frames written as PNG
    (or, stopped before the first frame, nothing at all is left)."""
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    written = len(list(frames_dir.glob("*.png")))
    if written == 0:
        assert not out.exists() and not out.with_name(out.name + ".parts").exists()
    else:
        assert video.read_video(out).shape == (written, 64, 64, 3)
    return written


@pytest.mark.slow
def test_ctrl_c_between_frames_closes_the_video(tmp_path):
    out, frames_dir = tmp_path / "cut.mp4", tmp_path / "frames"
    proc = start_cli("--preset", "classic-zoom", "--frames", "500", "--size", "64x64", "--layer", "conv2/3x3", "-o", str(out),
                     "--frames-dir", str(frames_dir), *QUICK)
    wait_for(lambda: len(list(frames_dir.glob("*.png"))) >= 3, proc, "three frames")
    proc.send_signal(signal.SIGINT)
    written = assert_interrupted_cleanly(proc, out, frames_dir)
    assert 3 <= written < 500


@pytest.mark.slow
def test_ctrl_c_while_compiling_leaves_nothing_half_written(tmp_path):
    out, frames_dir = tmp_path / "cut.mp4", tmp_path / "frames"
    proc = start_cli("--preset", "classic-zoom", "--frames", "500", "--size", "64x64", "--layer", "conv2/3x3", "-o", str(out),
                     "--frames-dir", str(frames_dir), "--set", "dream.octaves=2", "--set", "dream.iterations=3")
    # The progress line says "compiling" before the compile starts.
    first_line = proc.stderr.readline()
    assert "compiling" in first_line, first_line
    proc.send_signal(signal.SIGINT)
    assert_interrupted_cleanly(proc, out, frames_dir)


def test_ctrl_c_signal_stops_after_the_frame_in_progress(tmp_path, net):
    """A real SIGINT (not a KeyboardInterrupt raised by a callback) during frame 2: frames
    0..2 are whole in the video and the PNG folder, and nothing after them."""
    out, frames_dir = tmp_path / "cut.mp4", tmp_path / "frames"

    def interrupt_at_third(k, frame):
        if k == 2:
            os.kill(os.getpid(), signal.SIGINT)

    result = zoomdream.render("classic-zoom", out, frames=20, size="64x64", layer="conv2/3x3", overrides=QUICK_OVERRIDES,
                              progress=False, net=net, on_frame=interrupt_at_third, frames_dir=frames_dir)
    assert result.interrupted and 3 <= result.frames < 20
    assert video.read_video(out).shape[0] == result.frames == len(list(frames_dir.glob("*.png")))


def test_ctrl_c_after_the_last_frame_keeps_the_whole_render(tmp_path, net):
    out = tmp_path / "whole.mp4"

    def interrupt_at_last(k, frame):
        if k == 3:
            os.kill(os.getpid(), signal.SIGINT)

    result = zoomdream.render("classic-zoom", out, frames=4, size="64x64", layer="conv2/3x3", overrides=QUICK_OVERRIDES,
                              progress=False, net=net, on_frame=interrupt_at_last)
    assert not result.interrupted and result.frames == 4
    assert video.count_frames(out) == 4


def test_ctrl_c_while_compiling_writes_nothing(tmp_path, net, monkeypatch, capsys):
    render_module = sys.modules["zoomdream.render"]  # (zoomdream.render is the function)
    compile_for_real = render_module._compile

    def compile_interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return compile_for_real(*args, **kwargs)

    monkeypatch.setattr(render_module, "_compile", compile_interrupted)
    out, frames_dir = tmp_path / "never.mp4", tmp_path / "frames"
    code = cli.main(["--preset", "classic-zoom", "--frames", "5", "--size", "64x64", "--layer", "conv2/3x3", "-o", str(out),
                     "--frames-dir", str(frames_dir), *QUICK])
    assert code == 130
    assert capsys.readouterr().err.strip() == "zoomdream: interrupted before the first frame; nothing was written"
    assert not out.exists() and not out.with_name("never.mp4.parts").exists() and not frames_dir.exists()
    # and the same render then runs: nothing was left to block it
    monkeypatch.undo()
    assert cli.main(["--preset", "classic-zoom", "--frames", "2", "--size", "64x64", "--layer", "conv2/3x3", "-o", str(out),
                     *QUICK]) == 0


def test_still_image_keeps_the_photos_size(tmp_path, net):
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 70)[None, :, None] * np.ones((50, 1, 3)) * 0.5
    picture = (ramp + rng.uniform(0, 100, (50, 70, 3))).astype(np.uint8)
    iio.imwrite(photo, picture)
    out = tmp_path / "dreamed.png"
    result = zoomdream.render("classic-zoom", out, input_image=str(photo), layer="inception_3a/output", overrides=QUICK_OVERRIDES,
                              progress=False, net=net)
    assert result.frames == 1
    dreamed = iio.imread(out)
    assert dreamed.shape == (50, 70, 3)
    assert np.abs(dreamed.astype(int) - picture).mean() > 3


# ---- user mistakes: one line, exit status 2 ----------------------------------------------


def errors_of(capsys, *args):
    code = cli.main(list(args))
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "no-such-preset"], "unknown preset 'no-such-preset'; available presets: banana, class-gallery, classic"),
        (["--set", "dream.stepsize=3"], "unknown key 'dream.stepsize'"),
        (["--set", "dream.octaves=many"], "dream.octaves: expected a whole number"),
        (["--layer", "inception_9z/output"], "--layer: unknown layer 'inception_9z/output'"),
        (["--layer", "inception_4c/output:9999"], "--layer: channel 9999 is beyond"),
        (["--size", "255x256"], "H.264 MP4 needs an even width and height, e.g. 256x256"),
        (["--size", "huge"], "video.size: expected WIDTHxHEIGHT"),
        (["-o", "/nonexistent-folder/x.mp4"], "output folder '/nonexistent-folder' does not exist"),
        (["-o", "movie.avi"], "zoomdream writes .mp4 or .gif videos, or .png/.jpg stills"),
        (["--input", "/no/such/photo.jpg", "-o", "{tmp}/x.png"], "image file '/no/such/photo.jpg' does not exist"),
        (["--set", "novalue"], "expected key=value"),
        (["-o", "/proc/x.mp4"], "output folder '/proc'"),  # looks writable to root, takes no files
        (["--timeline", "/nonexistent-folder/t.json"], "--timeline '/nonexistent-folder/t.json': its folder does not exist"),
        (["--timeline", "{tmp}"], "is a folder; name a file"),
    ],
)
def test_user_mistakes_get_one_line(capsys, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, err = errors_of(capsys, *args)
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1 and err.startswith("zoomdream: error: ")


def test_existing_output_is_refused_before_rendering(capsys, tmp_path):
    out = tmp_path / "taken.mp4"
    out.write_bytes(b"precious")
    code, err = errors_of(capsys, "-o", str(out))
    assert code == 2 and "already exists; pass --overwrite" in err
    assert out.read_bytes() == b"precious"


def test_unwritable_output_folder(capsys, tmp_path, monkeypatch):
    # As root every folder is writable, so the permission answer is simulated.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    code, err = errors_of(capsys, "-o", str(tmp_path / "x.mp4"))
    assert code == 2 and "is not writable" in err


def test_malformed_preset_file_names_the_line(capsys, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("video:\n  size: 64x64\n  fps: [25\n")
    code, err = errors_of(capsys, "--preset", str(bad))
    assert code == 2 and f"{bad}:" in err and "malformed YAML" in err


def test_bad_flag_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--frames", "ten"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--frames" in err


def test_listings(capsys):
    assert cli.main(["--list-presets"]) == 0
    assert "noise-to-dogs" in capsys.readouterr().out
    assert cli.main(["--list-layers"]) == 0
    out = capsys.readouterr().out
    assert "inception_4a/output" in out and "512" in out and "dog faces" in out
    assert cli.main(["--list-keys"]) == 0
    assert "dream.step_size" in capsys.readouterr().out


def test_help_explains(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for flag in ("--preset", "--frames", "--seconds", "--size", "--fps", "--seed", "--layer", "--set", "--frames-dir",
                 "--list-presets", "--list-layers", "--overwrite", "--resume", "--from", "--assemble", "--preview",
                 "--audio", "--checkpoint-every", "--plan", "examples:"):
        assert flag in out


def test_a_second_render_loads_its_kept_programs_and_dreams_the_same_frames(tmp_path, net, monkeypatch):
    """A warm start traces nothing, and on a CPU does not even read the traced programs:
    every program of the frame runs the executable that the first render kept, and the
    frames are the same. The render remembers the executables it called, in order, for
    the next start to load first (dream/warm_start.py)."""
    from zoomdream.dream import program_store, warm_start

    monkeypatch.setenv("ZOOMDREAM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(program_store, "_entries", {})
    monkeypatch.setattr(warm_start, "_called", [])
    monkeypatch.setattr(warm_start, "_remembered", 0)
    frames = {}

    def keep(name):
        return lambda k, frame: frames.setdefault(name, []).append(frame)

    overrides = {**QUICK_OVERRIDES, "dream.cadence": 2}  # the camera-only program too
    zoomdream.render("classic-zoom", tmp_path / "a.mp4", frames=3, size="64x64", overrides=overrides,
                     progress=False, net=net, on_frame=keep("cold"))
    programs = tmp_path / "cache" / "programs"
    for suffix in (".jaxexport", ".executable"):
        stored = sorted(p.name.split("-")[0] for p in programs.iterdir() if p.suffix == suffix)
        assert stored.count("ascent") == 2 and stored.count("octave") == 2 and "camera" in stored and "move" in stored
    # backward kernels, then (entering an octave, its ascent) x 2, the camera; the
    # camera-only frame (frame 1 of a cadence of 2) after them
    called = [name.split("-")[0] for name in (programs / warm_start.RECORD).read_text().split()]
    assert called == ["backward", "octave", "ascent", "octave", "ascent", "camera", "move"]

    monkeypatch.setattr(program_store, "_entries", {})  # as in a new process

    def traced(*args, **kwargs):
        raise AssertionError("a warm start traced a program or read a traced one")

    monkeypatch.setattr(jax.export, "export", traced)
    monkeypatch.setattr(jax.export, "deserialize", traced)
    zoomdream.render("classic-zoom", tmp_path / "b.mp4", frames=3, size="64x64", overrides=overrides,
                     progress=False, net=net, on_frame=keep("warm"))
    np.testing.assert_array_equal(np.stack(frames["warm"]), np.stack(frames["cold"]))
