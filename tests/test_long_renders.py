"""Long renders that survive: SIGKILL and exact resume, lengthening, refusal of changed
settings, provenance round trip, soundtrack, GIF, preview, and write errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import zoomdream
from zoomdream.frontends import cli
from zoomdream.io import parts, video

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--preset", "classic-zoom", "--size", "64x64", "--layer", "conv2/3x3", "--set", "dream.octaves=2",
         "--set", "dream.iterations=2", "--set", "camera.zoom_per_second=2", "--quiet"]
QUICK_OVERRIDES = {"dream.octaves": 2, "dream.iterations": 2, "camera.zoom_per_second": 2}


def quick_render(net, output, frames, **options):
    return zoomdream.render("classic-zoom", output, frames=frames, size="64x64", layer="conv2/3x3",
                            overrides=QUICK_OVERRIDES, progress=False, net=net, **options)


def env():
    return dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_uninterrupted_frames(tmp_path, net):
    out, frames_dir = tmp_path / "killed.mp4", tmp_path / "frames"
    proc = subprocess.Popen([sys.executable, "-m", "zoomdream", *QUICK, "--frames", "18", "--checkpoint-every", "4",
                             "-o", str(out), "--frames-dir", str(frames_dir)], env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while len(list(frames_dir.glob("*.png"))) < 7 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # killed: nothing was assembled
    saved = parts.load_checkpoint(parts.parts_dir(out))
    assert saved is not None and saved.next_frame % 4 == 0 and saved.next_frame < 18

    assert cli.main(["--resume", str(out), "--frames-dir", str(frames_dir), "--quiet"]) == 0
    resumed = video.read_video(out)
    assert resumed.shape == (18, 64, 64, 3)  # every frame once: none missing, none doubled

    quick_render(net, tmp_path / "straight.mp4", 18, checkpoint_every=4, frames_dir=tmp_path / "straight")
    np.testing.assert_array_equal(resumed, video.read_video(tmp_path / "straight.mp4"))
    import imageio.v3 as iio

    for k in range(1, 19):
        np.testing.assert_array_equal(iio.imread(frames_dir / f"frame_{k:05d}.png"),
                                      iio.imread(tmp_path / "straight" / f"frame_{k:05d}.png"), err_msg=f"frame {k}")


def test_resume_keeps_writing_the_frames_dir_it_was_given(tmp_path, net):
    """The frames folder is part of what a render records: a resume without
    --frames-dir still writes every frame there, identical to an uninterrupted render's."""
    import imageio.v3 as iio

    out, frames_dir = tmp_path / "cut.mp4", tmp_path / "frames"

    def stop_at_seventh(k, frame):
        if k == 6:
            raise KeyboardInterrupt

    cut = quick_render(net, out, 11, checkpoint_every=4, frames_dir=frames_dir, on_frame=stop_at_seventh)
    assert cut.interrupted and len(list(frames_dir.glob("*.png"))) == 7
    assert cli.main(["--resume", str(out), "--quiet"]) == 0
    quick_render(net, tmp_path / "straight.mp4", 11, checkpoint_every=4, frames_dir=tmp_path / "straight")
    assert sorted(p.name for p in frames_dir.glob("*.png")) == [f"frame_{k:05d}.png" for k in range(1, 12)]
    for k in range(1, 12):
        np.testing.assert_array_equal(iio.imread(frames_dir / f"frame_{k:05d}.png"),
                                      iio.imread(tmp_path / "straight" / f"frame_{k:05d}.png"), err_msg=f"frame {k}")


def test_lengthening_a_finished_render_continues_the_same_schedule(tmp_path, net, capsys):
    short = tmp_path / "short.mp4"
    quick_render(net, short, 6, checkpoint_every=4)
    assert cli.main(["--resume", str(short), "--frames", "11", "--quiet"]) == 0
    quick_render(net, tmp_path / "long.mp4", 11, checkpoint_every=4)
    lengthened = video.read_video(short)
    assert lengthened.shape[0] == 11
    np.testing.assert_array_equal(lengthened, video.read_video(tmp_path / "long.mp4"))


def test_resume_with_changed_settings_is_refused(tmp_path, net, capsys):
    out = tmp_path / "a.mp4"
    quick_render(net, out, 5, checkpoint_every=4)
    code = cli.main(["--resume", str(out), "--set", "dream.step_size=2", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "cannot resume a.mp4: its settings changed (dream.step_size 1.5 -> 2" in err
    code = cli.main(["--resume", str(out), "--preset", "noise-to-dogs", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "its settings changed" in err and "layers.schedule" in err
    assert cli.main(["--resume", str(out), "--frames", "3", "--quiet"]) == 2
    assert "cannot resume a.mp4 shorter" in capsys.readouterr().err
    assert cli.main(["--resume", str(tmp_path / "never.mp4")]) == 2
    assert "no render to resume" in capsys.readouterr().err


def test_unfinished_parts_are_never_overwritten_silently(tmp_path, net, capsys):
    out = tmp_path / "a.mp4"
    quick_render(net, out, 5, checkpoint_every=4)
    out.unlink()  # as after a kill: parts, no video
    assert cli.main([*QUICK, "--frames", "5", "-o", str(out)]) == 2
    assert "holds an unfinished render of a.mp4; --resume" in capsys.readouterr().err


def test_provenance_round_trip(tmp_path, net):
    out = tmp_path / "orig.mp4"
    quick_render(net, out, 5, seed=42)
    record = video.read_metadata(out)
    assert record["seed"] == 42 and record["frames"] == 5 and record["jax"] and record["device"]
    assert record["config"]["dream"]["iterations"] == 2
    assert json.loads(parts.record_path(out).read_text())["config_hash"] == record["config_hash"]
    again = zoomdream.rerender(out, tmp_path / "again.mp4", progress=False, net=net)
    assert again.frames == 5
    np.testing.assert_array_equal(video.read_video(out), video.read_video(tmp_path / "again.mp4"))


def test_cli_from_reproduces_the_video(tmp_path, net):
    out = tmp_path / "orig.mp4"
    quick_render(net, out, 3)
    assert cli.main(["--from", str(out), "--quiet"]) == 0
    np.testing.assert_array_equal(video.read_video(out), video.read_video(tmp_path / "orig-again.mp4"))


def tone(path, seconds):
    video.run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", str(path)], "tone")
    return path


def test_soundtrack_is_cut_to_the_video_unless_asked(tmp_path, net):
    audio = tone(tmp_path / "tone.wav", 2.0)
    out = tmp_path / "music.mp4"
    quick_render(net, out, 10, audio=audio)  # 0.4 s of video at 25 fps
    assert video.count_frames(out) == 10
    assert video.media_seconds(out, "a") == pytest.approx(0.4, abs=0.05)
    fitted = tmp_path / "fitted.mp4"
    result = zoomdream.render("classic-zoom", fitted, size="64x64", layer="conv2/3x3",
                              overrides={**QUICK_OVERRIDES, "video.fps": 10}, audio=audio, audio_length=True, progress=False,
                              net=net)
    assert result.frames == 20 and video.count_frames(fitted) == 20
    assert video.media_seconds(fitted, "a") == pytest.approx(2.0, abs=0.05)


def test_gif_and_preview(tmp_path, net):
    import imageio.v3 as iio

    gif = tmp_path / "loop.gif"
    quick_render(net, gif, 4)
    assert iio.imread(gif).shape == (4, 64, 64, 3)
    preview = tmp_path / "draft.mp4"
    quick_render(net, preview, 3, preview=True)
    assert video.read_video(preview).shape == (3, 32, 32, 3)


def test_latest_picture_is_kept_fresh(tmp_path, net):
    out = tmp_path / "a.mp4"
    quick_render(net, out, 3)
    import imageio.v3 as iio

    assert iio.imread(parts.parts_dir(out) / "latest.png").shape == (64, 64, 3)


def test_host_work_is_measured_and_a_slow_host_is_seen_as_device_waits(tmp_path, net):
    # A consumer far slower than this tiny dream: every frame after the second is computed
    # before the host is done with the one before, and the render reports it. (The first
    # is written before the second is queued.)
    result = quick_render(net, tmp_path / "a.mp4", 4, on_frame=lambda k, frame: time.sleep(0.3))
    assert result.device_waits == 2
    assert result.host_seconds >= 4 * 0.3


def test_write_error_keeps_the_last_checkpoint_and_says_so(tmp_path, net, monkeypatch, capsys):
    out = tmp_path / "full.mp4"
    original = video.Mp4Writer.write
    count = {"n": 0}

    def failing_write(self, frame):
        count["n"] += 1
        if count["n"] == 7:
            raise OSError(28, "No space left on device")
        original(self, frame)

    monkeypatch.setattr(video.Mp4Writer, "write", failing_write)
    with pytest.raises(zoomdream.RenderError) as err:
        quick_render(net, out, 12, checkpoint_every=4)
    message = str(err.value)
    assert "No space left on device" in message and "checkpoint at frame 4 is kept" in message and "--resume" in message
    assert parts.load_checkpoint(parts.parts_dir(out)).next_frame == 4
    monkeypatch.setattr(video.Mp4Writer, "write", original)
    assert zoomdream.resume(out, progress=False, net=net).frames == 8
    assert video.count_frames(out) == 12


def test_removed_output_folder_is_a_clear_error(tmp_path, net, capsys):
    folder = tmp_path / "gone"
    folder.mkdir()
    import shutil

    def remove(k, frame):
        if k == 2:
            shutil.rmtree(folder)

    with pytest.raises(zoomdream.RenderError, match="writing .*gone/a.mp4 failed"):
        quick_render(net, folder / "a.mp4", 8, checkpoint_every=4, on_frame=remove)
