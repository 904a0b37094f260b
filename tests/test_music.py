"""Music: scheduled values that follow the soundtrack (onsets, beats, loudness, bands),
computed up front from a real encoded sound file into per-frame values."""

import subprocess
import sys

import numpy as np
import pytest
from sounds import click_track, clicks, encode, f_measure, tones

import zoomdream
from zoomdream.audio import demo, features, soundtrack, sources
from zoomdream.frontends import cli
from zoomdream.io import video
from zoomdream.schedule import config as config_lib
from zoomdream.schedule import settings
from zoomdream.schedule.plan import build_plan

BPM = 120


@pytest.fixture(scope="module")
def click_file(tmp_path_factory):
    """12 s of clicks at 120 BPM, the first at 0.3 s, as AAC in an .m4a file."""
    times = clicks(BPM, 12.0, 0.3)
    return encode(click_track(times, 12.0), tmp_path_factory.mktemp("sound") / "clicks.m4a"), times


def peaks(curve, floor=0.5):
    """Frames where a per-frame curve has a local maximum of at least ``floor``."""
    padded = np.concatenate([[-np.inf], curve, [-np.inf]])
    return np.nonzero((padded[1:-1] > padded[:-2]) & (padded[1:-1] >= padded[2:]) & (curve >= floor))[0]


def plan_of(yaml_body, sound_path, fps=30.0, seconds=12.0):
    cfg = config_lib.from_yaml(f"video: {{fps: {fps}, seconds: {seconds}, audio: {sound_path}}}\n" + yaml_body)
    return build_plan(cfg, sound=settings.soundtrack(cfg, settings.soundtrack_file(cfg)))


@pytest.mark.parametrize("fps", [12.0, 30.0])
def test_onsets_and_beats_peak_within_a_frame_of_every_click(click_file, fps):
    path, times = click_file
    track = soundtrack.load(path)
    assert f_measure(track.beat_times, times) >= 0.95
    frame_times = np.arange(int(12 * fps)) / fps
    for name in ("onsets", "beats"):
        curve = track.sample(sources.parse(name, name), frame_times, window=1 / fps)
        found = peaks(curve)
        nearest = np.round(times * fps)
        # every click has a peak within one frame, and every peak is a click's
        assert all(np.abs(found - k).min() <= 1 for k in nearest), (name, found, nearest)
        assert all(np.abs(nearest - k).min() <= 1 for k in found), (name, found, nearest)


def test_two_tones_fall_in_their_own_bands(tmp_path):
    path = encode(tones([(80, 2.0), (1000, 2.0)]), tmp_path / "tones.flac")
    cfg_text = ("dream:\n  step_size: {audio: bass}\n  jitter: {audio: '900-1100Hz', min: 0, max: 40}\n"
                "  blend: \"mids\"\n")
    plan = plan_of(cfg_text, path, fps=10, seconds=4)
    first, second = slice(3, 17), slice(23, 37)  # away from the change and the ends
    bass, mids, band = plan.values.step_size, plan.values.blend, plan.values.jitter / 40
    assert bass[first].min() > 0.8 and bass[second].max() < 0.2
    assert mids[first].max() < 0.2 and mids[second].min() > 0.8
    assert band[first].max() < 0.2 and band[second].min() > 0.8


@pytest.mark.parametrize("fps", [12.0, 30.0])
def test_a_zoom_that_follows_onsets_steps_at_the_clicks_at_any_frame_rate(click_file, fps):
    path, times = click_file
    plan = plan_of("camera: {zoom_per_second: {audio: onsets, min: 1.0, max: 4.0}}\n", path, fps=fps)
    steps = np.log(plan.values.zoom)
    found = peaks(steps / steps.max())
    holding = np.floor(times * fps)  # the frame whose move covers the click
    assert all(np.abs(found - k).min() <= 1 for k in holding), (found, holding)
    assert all(np.abs(holding - k).min() <= 1 for k in found), (found, holding)
    # The zoom reached is the same at any frame rate: a rate is integrated over time.
    assert plan.total("zoom")[-1] == pytest.approx(_total_zoom_at_30_fps(path), rel=0.02)


def _total_zoom_at_30_fps(path):
    plan = plan_of("camera: {zoom_per_second: {audio: onsets, min: 1.0, max: 4.0}}\n", path, fps=30)
    return plan.total("zoom")[-1] * plan.values.zoom[-1]  # (12 fps ends a step earlier in time: compare ends)


def test_formulas_read_the_sound_and_shaping_follows_it(click_file):
    path, times = click_file
    plan = plan_of("dream:\n  step_size: \"1 + 2*onsets\"\n  blend: {audio: onsets, release: 0.2}\n"
                   "  coherence: {audio: onsets, attack: 0.1}\n", path, fps=30)
    onsets = plan.sound["step_size"]["onsets"]
    np.testing.assert_allclose(plan.values.step_size, 1 + 2 * onsets, rtol=1e-6)
    assert plan.sound["blend"]["onsets (release 0.2s)"] is not None
    click = int(np.round(times[3] * 30))
    released, attacked = plan.values.blend, plan.values.coherence
    # the release holds the pulse up after the click (0.2 s: about e^-1 after 6 frames)
    assert released[click + 6] == pytest.approx(np.exp(-1) * released[click], rel=0.35)
    assert onsets[click + 6] < 0.1
    # the attack rises slowly: never reaching the click's full height
    assert attacked[click - 1:click + 2].max() < 0.5 * onsets[click - 1:click + 2].max()


def test_the_demo_track_is_made_here_and_its_beats_are_found(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOOMDREAM_CACHE_DIR", str(tmp_path))
    path = demo.track_path()
    assert path.is_file() and video.media_seconds(path, "a") == pytest.approx(demo.SECONDS, abs=0.05)
    np.testing.assert_array_equal(features.read_samples(path), features.read_samples(demo.track_path()))
    track = soundtrack.load(path)
    assert f_measure(track.beat_times, demo.beat_times()) >= 0.95
    bass = track.sample(sources.parse("bass", "bass"), demo.kick_times() + 0.01, window=0.04)
    assert bass.min() > 0.9  # every kick is in the bass


def test_the_music_preset_plans_offline_with_its_sound_beside_the_values(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOOMDREAM_CACHE_DIR", str(tmp_path))
    assert cli.main(["--preset", "music-pulse", "--plan", str(tmp_path / "plan.png")]) == 0
    out = capsys.readouterr().out
    assert "zoom follows onsets (release 0.15s)" in out and "onsets (release 0.15s)" in out.splitlines()[1]
    import json

    record = json.loads((tmp_path / "plan.json").read_text())["frames"][100]
    assert set(record["sound"]) == {"step_size", "zoom", "angle", "weight inception_4c/output"}
    assert (tmp_path / "plan.png").stat().st_size > 10_000


@pytest.mark.parametrize("args, message", [
    (["--set", "camera.zoom_per_second={audio: onsets, min: 1, max: 3}"],
     "camera.zoom_per_second: follows the sound (onsets), but there is no soundtrack: give --audio FILE or video.audio"),
    (["--set", "dream.step_size=1 + bass"],
     "dream.step_size: '1 + bass' follows the sound (bass), but there is no soundtrack: give --audio FILE or video.audio"),
    (["--set", "camera.zoom_per_second={audio: treble}"],
     "camera.zoom_per_second.audio: unknown sound feature 'treble'; valid: rms, onsets, beats, sub, bass, low_mids, "
     "mids, high_mids, highs or a band such as \"60-250Hz\""),
    (["--set", "camera.zoom_per_second={audio: 20-30000Hz}"],
     "camera.zoom_per_second.audio: the band '20-30000Hz' must run upwards from 0 Hz to at most 11025 Hz (the "
     "soundtrack is analysed at 22050 samples per second)"),
    (["--set", "camera.zoom_per_second={audio: rms, maximum: 3}"],
     "camera.zoom_per_second: unknown key 'maximum' of a value that follows the sound; valid keys: audio, min, max, "
     "smooth, attack, release"),
    (["--set", "camera.zoom_per_second={audio: rms, min: 0}"],
     "camera.zoom_per_second: must be greater than 0, got 0.0"),
    (["--set", "dream.step_size={audio: rms, release: -1}"],
     "dream.step_size.release: must be between 0 and 60 seconds, got -1"),
])
def test_bad_sound_keys_get_one_line_before_rendering(tmp_path, capsys, args, message):
    out = tmp_path / "x.mp4"
    assert cli.main(["--preset", "classic-zoom", "--frames", "2", "-o", str(out), "--quiet", *args]) == 2
    assert capsys.readouterr().err.strip() == f"zoomdream: error: {message}"
    assert not out.exists() and not list(tmp_path.iterdir())


def test_an_unreadable_soundtrack_gets_one_line(tmp_path):
    fake = tmp_path / "song.mp3"
    fake.write_text("this is not a song\n")
    silent = tmp_path / "silent.mp4"
    video.run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", "color=c=black:s=32x32:d=0.5", str(silent)], "video")
    for path in (fake, silent):
        proc = subprocess.run([sys.executable, "-m", "zoomdream", "--preset", "music-pulse", "--audio", str(path),
                               "--frames", "2", "-o", str(tmp_path / "x.mp4")], capture_output=True, text=True,
                              cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.strip() == f"zoomdream: error: video.audio (--audio): '{path}' has no sound ffmpeg can read"
        assert not (tmp_path / "x.mp4").exists()


def test_a_render_that_follows_the_sound_keeps_it_frame_exact(tmp_path, net, click_file):
    """The MP4's sound lasts as long as its picture (within a frame) whether the track is
    longer or shorter than the render; and the values follow the clicks."""
    path, _ = click_file
    short = encode(click_track(clicks(BPM, 1.0, 0.1), 1.0), tmp_path / "short.wav")
    overrides = {"dream.octaves": 1, "dream.iterations": 1, "camera.zoom_per_second": {"audio": "onsets", "min": 1, "max": 3}}
    for sound, frames in ((path, 9), (short, 40)):  # 0.36 s of a 12 s track; 1.6 s of a 1 s one
        out = tmp_path / f"{sound.stem}.mp4"
        result = zoomdream.render("classic-zoom", out, frames=frames, size="64x64", layer="conv2/3x3", audio=sound,
                                  overrides=overrides, progress=False, net=net)
        assert result.frames == frames == video.count_frames(out)
        assert abs(video.media_seconds(out, "a") - frames / 25) <= 1 / 25


def test_an_interrupted_render_that_follows_the_sound_resumes_exactly(tmp_path, net, click_file, monkeypatch):
    """The soundtrack is read again on resume, from where the render found it, even when
    it was named relative to a folder the resume is not run from."""
    path, _ = click_file
    (tmp_path / "songs").mkdir()
    (tmp_path / "songs" / "clicks.m4a").write_bytes(path.read_bytes())
    monkeypatch.chdir(tmp_path / "songs")
    overrides = {"dream.octaves": 1, "dream.iterations": 1, "camera.zoom_per_second": {"audio": "onsets", "min": 1, "max": 3}}

    def stop_at_sixth(k, frame):
        if k == 5:
            raise KeyboardInterrupt

    common = {"frames": 10, "size": "64x64", "layer": "conv2/3x3", "audio": "clicks.m4a", "overrides": overrides,
              "progress": False, "net": net, "checkpoint_every": 3}
    cut = zoomdream.render("classic-zoom", tmp_path / "cut.mp4", on_frame=stop_at_sixth, **common)
    assert cut.interrupted
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--resume", str(tmp_path / "cut.mp4"), "--quiet"]) == 0
    monkeypatch.chdir(tmp_path / "songs")
    zoomdream.render("classic-zoom", tmp_path / "straight.mp4", **common)
    np.testing.assert_array_equal(video.read_video(tmp_path / "cut.mp4"), video.read_video(tmp_path / "straight.mp4"))
