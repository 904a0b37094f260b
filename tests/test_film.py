"""Dreaming a film: the output keeps the film's frames, rate, size and sound; the dream
follows the film's motion; a killed render resumes to the same frames; bad films are one
line before anything renders."""

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from films import panning_frames, write_clip

import zoomdream
from zoomdream.frontends import cli
from zoomdream.io import clip, parts, video
from zoomdream.schedule import keyframes

ROOT = Path(__file__).resolve().parents[1]
QUICK = {"dream.octaves": 2, "dream.iterations": 3, "dream.video_iterations": 2, "camera.zoom_per_second": 1.0,
         "layers.schedule": ["inception_3b/output"]}
QUICK_ARGS = [arg for key, value in QUICK.items() if key != "layers.schedule" for arg in ("--set", f"{key}={value}")]


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """8 frames of a photograph panning 2 px a frame, at 10 fps, with 0.8 s of sound."""
    folder = tmp_path_factory.mktemp("film")
    return write_clip(folder / "pan.mp4", panning_frames(64, 8, (0, 2)), 10, sound_seconds=0.8)


def dream(net, source, output, **options):
    overrides = {**QUICK, **options.pop("overrides", {})}
    return zoomdream.render("classic-zoom", output, input_image=str(source), overrides=overrides, progress=False,
                            net=net, **options)


def test_a_dreamed_film_keeps_its_frames_rate_size_and_sound(tmp_path, net, film):
    out = tmp_path / "dreamed.mp4"
    result = dream(net, film, out)
    assert result.frames == 8 and not result.interrupted
    made = clip.probe(out)
    assert (made.width, made.height, made.frames, made.fps) == (64, 64, 8, 10.0)
    assert made.has_audio and abs(video.media_seconds(out, "a") - 0.8) < 0.1
    dreamed, source = video.read_video(out).astype(float), video.read_video(film).astype(float)
    assert 2 < np.abs(dreamed - source).mean() < 60  # dreamed on, and still the film


def test_the_dream_follows_the_motion_instead_of_flickering(tmp_path, net, film):
    """The warping error (each frame against the one before moved by the film's true
    motion) is smaller with the dream carried along the flow than dreamed frame by frame."""

    def warping_error(path):
        frames = video.read_video(path).astype(float)
        # the film moves 2 px left a frame: frame k at x shows what frame k-1 showed at x+2
        return np.mean([np.abs(frames[k][8:-8, 8:-10] - frames[k - 1][8:-8, 10:-8]).mean() for k in range(1, 8)])

    carried = warping_error(dream(net, film, tmp_path / "carried.mp4").output)
    alone = warping_error(dream(net, film, tmp_path / "alone.mp4", overrides={"dream.coherence": 0}).output)
    assert carried < 0.75 * alone, (carried, alone)


def env():
    return dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}")


@pytest.mark.slow
def test_a_killed_film_render_resumes_to_the_same_frames(tmp_path, net):
    source = write_clip(tmp_path / "long.mp4", panning_frames(64, 14, (1, 1)), 12)
    out, frames_dir = tmp_path / "killed.mp4", tmp_path / "frames"
    args = ["--preset", "classic-zoom", "--input", str(source), "--layer", "inception_3b/output", *QUICK_ARGS,
            "--checkpoint-every", "4", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "zoomdream", *args, "-o", str(out), "--frames-dir", str(frames_dir)],
                            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while len(list(frames_dir.glob("*.png"))) < 6 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = parts.load_checkpoint(parts.parts_dir(out))
    assert saved is not None and 0 < saved.next_frame < 14
    assert cli.main(["--resume", str(out), "--quiet"]) == 0
    straight = tmp_path / "straight.mp4"
    assert cli.main([*args, "-o", str(straight)]) == 0
    np.testing.assert_array_equal(video.read_video(out), video.read_video(straight))


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("not a video at all"), "is not a video ffmpeg can read"),
    (lambda p: p.mkdir(), "is not a file"),
    (lambda p: video.run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=0.5", str(p)], "sound"),
     "is not a video ffmpeg can read"),
    (lambda p: p.write_bytes(Path(write_clip(p.with_name("whole.mp4"), panning_frames(64, 4, (0, 1)), 10))
                             .read_bytes()[:900]), "video"),
])
def test_a_bad_film_is_one_line_and_exit_2(tmp_path, capsys, make, message):
    source = tmp_path / "film.mp4"
    make(source)
    out = tmp_path / "out.mp4"
    assert cli.main(["--input", str(source), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "start.video" in err and message in err, err
    assert not out.exists() and not parts.parts_dir(out).exists()


def test_a_film_longer_than_asked_is_cut_and_a_length_beyond_it_refused(tmp_path, net, film, capsys):
    assert cli.main(["--input", str(film), "--frames", "20", "-o", str(tmp_path / "x.mp4"), "--quiet"]) == 2
    assert "has 8 frames, fewer than the 20 asked for" in capsys.readouterr().err
    result = dream(net, film, tmp_path / "short.mp4", frames=3)
    assert clip.probe(result.output).frames == 3


def test_a_film_cannot_be_dreamed_into_one_picture(tmp_path, film, capsys):
    assert cli.main(["--input", str(film), "-o", str(tmp_path / "still.png"), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == ("zoomdream: error: a video input makes a video: still.png is a picture "
                                               "(use .mp4 or .gif)")
    assert not (tmp_path / "still.png").exists()


def test_a_films_plan_views_it_through_the_accumulated_camera(film):
    """classic-zoom's 3.6x a second, at the film's 10 fps, is frame k seen zoomed
    3.6^(k/10): in the step's values and in --plan's totals alike; and every frame after
    the first dreams dream.video_iterations steps, more the less it carries: all of
    dream.iterations when it carries nothing."""
    from zoomdream.schedule import settings
    from zoomdream.schedule.plan import build_plan

    shortcuts = settings.Shortcuts(input_image=str(film))
    cfg, _ = settings.with_film(settings.resolve_config("classic-zoom", shortcuts), shortcuts, None)
    plan = build_plan(cfg)
    reached = 3.6 ** (np.arange(8) / 10)
    np.testing.assert_allclose(plan.values.zoom, reached, rtol=1e-5)
    np.testing.assert_allclose(plan.total("zoom"), reached, rtol=1e-5)
    assert plan.values.iterations[0] == 10 and (plan.values.iterations[1:] == 4).all()  # coherence 0.9
    fading = dataclasses.replace(cfg, dream=dataclasses.replace(cfg.dream, coherence=keyframes.Curve.of(0.0)))
    assert (build_plan(fading).values.iterations == 10).all()
    halfway = dataclasses.replace(cfg, dream=dataclasses.replace(cfg.dream, coherence=keyframes.Curve.of(0.5)))
    assert (build_plan(halfway).values.iterations[1:] == 4 + 3).all()
