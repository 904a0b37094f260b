"""zoomdream used the way a careless or hostile user would use it: every bad input, fault
and race gets one line on stderr and the right exit status (2 for input, 1 for faults),
nothing half-written is left behind, and a video that is declared done holds every frame.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoomdream
from zoomdream.dream import cost
from zoomdream.errors import ConfigError
from zoomdream.frontends import cli
from zoomdream.io import lock, parts, video
from zoomdream.schedule import config, expressions
from zoomdream.schedule import plan as schedule

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--preset", "classic-zoom", "--size", "64x64", "--layer", "conv2/3x3", "--set", "dream.octaves=2",
         "--set", "dream.iterations=2", "--set", "camera.zoom_per_second=2", "--quiet"]
QUICK_OVERRIDES = {"dream.octaves": 2, "dream.iterations": 2, "camera.zoom_per_second": 2}


def one_line(capsys, *args, code):
    """Run the command line; assert its exit status and that it said exactly one line,
    and return that line."""
    got = cli.main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    assert got == code, err
    assert len(err.splitlines()) == 1 and err.startswith("zoomdream: "), err
    assert "Traceback" not in err
    return err


def quick_render(net, output, frames, **options):
    return zoomdream.render("classic-zoom", output, frames=frames, size="64x64", layer="conv2/3x3",
                            overrides=QUICK_OVERRIDES, progress=False, net=net, **options)


def stop_at(frame_index):
    """An on_frame callback that stops the render (as Ctrl-C does) at ``frame_index``."""

    def stop(k, frame):
        if k == frame_index:
            raise KeyboardInterrupt

    return stop


def damage_at(frame_index, out, segment):
    """An on_frame callback that overwrites ``segment`` of ``out`` with garbage at ``frame_index``."""

    def damage(k, frame):
        if k == frame_index:
            parts.segment_path(parts.parts_dir(out), segment).write_bytes(os.urandom(3000))

    return damage


def assert_as_if_uninterrupted(net, out, frames, tmp_path):
    quick_render(net, tmp_path / "straight.mp4", frames, checkpoint_every=4)
    np.testing.assert_array_equal(video.read_video(out), video.read_video(tmp_path / "straight.mp4"))


def leftovers(folder: Path) -> list[str]:
    """Temporary files anywhere below ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".tmp" in p.name or ".joining" in p.name)


# ---- 1. a video declared done holds every frame ------------------------------------------------


def test_a_segment_damaged_during_the_render_is_reported_then_remade_by_resume(tmp_path, net, capsys):
    out = tmp_path / "hurt.mp4"
    with pytest.raises(zoomdream.RenderError) as error:  # at frame 9, segments 0 and 1 are closed
        quick_render(net, out, 14, checkpoint_every=4, on_frame=damage_at(9, out, segment=0))
    message = str(error.value)
    assert "segment_00000.mp4 (frames 0-3) was changed after it was written" in message and "--resume" in message
    assert not out.exists()  # never a short video that looks finished

    line = one_line(capsys, "--resume", out, "--frames-dir", tmp_path / "frames", "--quiet", code=0)
    assert "segment_00000.mp4 (frames 0-3)" in line and "rendering again from frame 0 to remake it" in line
    assert_as_if_uninterrupted(net, out, 14, tmp_path)
    assert len(list((tmp_path / "frames").glob("*.png"))) == 14


def test_a_segment_damaged_during_a_resumed_render_is_reported_then_remade(tmp_path, net, capsys):
    out = tmp_path / "twice.mp4"
    quick_render(net, out, 14, checkpoint_every=4, on_frame=stop_at(6))
    with pytest.raises(zoomdream.RenderError, match="segment_00001.mp4 .frames 4-7. was changed after it was written"):
        zoomdream.resume(out, progress=False, net=net, on_frame=damage_at(12, out, segment=1))
    assert video.count_frames(out) == 7  # still the video of the interrupted run, not a short "finished" one
    assert "rendering again from frame 0" in one_line(capsys, "--resume", out, "--quiet", code=0)
    assert_as_if_uninterrupted(net, out, 14, tmp_path)


def test_a_join_that_loses_frames_is_never_written(tmp_path, net):
    """The last line of defence: whatever happened to the segments, a joined video that
    does not hold every frame does not replace the output."""
    quick_render(net, tmp_path / "a.mp4", 8, checkpoint_every=4)
    folder = parts.parts_dir(tmp_path / "a.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(5000))
    out = tmp_path / "joined.mp4"
    with pytest.raises(OSError, match="the joined video would hold 4 frames, not 8"):
        video.join([parts.segment_path(folder, 0), garbage], out, 8, 25.0)
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_segment_damaged_after_the_render_is_refused_by_assemble_and_remade_by_resume(tmp_path, net, capsys):
    out = tmp_path / "done.mp4"
    quick_render(net, out, 10, checkpoint_every=4)
    original = video.read_video(out)
    parts.segment_path(parts.parts_dir(out), 1).write_bytes(b"not a video at all")
    line = one_line(capsys, "--assemble", out, code=1)
    assert "segment_00001.mp4 (frames 4-7) was changed after it was written" in line
    np.testing.assert_array_equal(video.read_video(out), original)  # the old video was left alone
    parts.segment_path(parts.parts_dir(out), 1).unlink()
    assert cli.main(["--resume", str(out), "--quiet"]) == 0
    np.testing.assert_array_equal(video.read_video(out), original)


def test_a_truncated_checkpoint_resumes_from_the_start_keeping_the_intact_segments(tmp_path, net, capsys):
    out = tmp_path / "cut.mp4"
    quick_render(net, out, 14, checkpoint_every=4, on_frame=stop_at(9))
    checkpoint = parts.parts_dir(out) / parts.CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    line = one_line(capsys, "--resume", out, "--quiet", code=0)
    assert "checkpoint.npz cannot be read" in line and "rendering again from frame 0" in line
    assert_as_if_uninterrupted(net, out, 14, tmp_path)


# ---- 2. numbers: finite, and not absurdly many frames ------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--set", "camera.zoom_per_second=.nan"], "camera.zoom_per_second: must be a finite number, got nan"),
    (["--set", "camera.rotation=.inf"], "camera.rotation: must be a finite number, got inf"),
    (["--set", "dream.step_size=.nan"], "dream.step_size: must be a finite number, got nan"),
    (["--set", "camera.pan_x=-.inf"], "camera.pan_x: must be a finite number, got -inf"),
    (["--set", "camera.zoom_per_second=[{t: .nan, value: 2}]"], "camera.zoom_per_second[0]: keyframe time must be"),
    (["--set", "camera.rotation=[[0, 1], [1, .nan]]"], "camera.rotation: must be a finite number, got nan"),
    (["--fps", "nan"], "video.fps: must be a finite number, got nan"),
    (["--seconds", "nan"], "video.seconds: must be a finite number, got nan"),
    (["--seconds", "inf"], "video.seconds: must be a finite number, got inf"),
    (["--frames", "99999999999"], "video.frames: must be at most 1000000"),
    (["--seconds", "1e9"], "video.seconds: 25,000,000,000 frames is more than one render makes"),
    (["--set", "layers.schedule=[{layer: conv2/3x3, frames: 99999999999}]"], "layers.schedule[0].frames: must be at most"),
    (["--set", "camera.pan_x=1e300"], "camera.pan_x: too large"),
    (["--set", "dream.step_size=1/0"], "dream.step_size: '1/0' is not a finite number at t=0"),
    (["--set", "dream.step_size=10**10**10"], "dream.step_size: '10**10**10' is not a finite number"),
    (["--set", "dream.step_size=(-1)**0.5"], "dream.step_size: '(-1)**0.5' is not a finite number"),
    (["--set", "dream.step_size=[[0, 1], [2, 1/(t-2)]]"], "dream.step_size: '1/(t-2)' is not a finite number at t=2"),
    (["--set", "dream.jitter=1/(t-1)"], "dream.jitter: '1/(t-1)' is not a finite number at t=1"),
    (["--set", "video.size=0x10"], "video.size: 0x10 is outside 16..16384"),
    (["--set", "seed=010"], "seed: expected a whole number, got '010'"),
])
def test_bad_numbers_are_one_line_before_anything_compiles(capsys, tmp_path, monkeypatch, args, message):
    def no_compiling(*args, **kwargs):
        raise AssertionError("the render got as far as compiling")

    monkeypatch.setattr(sys.modules["zoomdream.render"], "_compile", no_compiling)
    out = tmp_path / "x.mp4"
    line = one_line(capsys, *args, "-o", out, code=2)
    assert message in line
    assert not out.exists() and not parts.parts_dir(out).exists()


# ---- 3. YAML that would exhaust memory ---------------------------------------------------------


def billion_laughs(levels=9) -> str:
    lines = ['a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\ncamera:\n  zoom_per_second: *a{levels - 1}\n"


def test_nested_yaml_aliases_are_refused_at_once(capsys, tmp_path):
    preset = tmp_path / "laughs.yaml"
    preset.write_text(billion_laughs())
    assert len(preset.read_bytes()) < 1000
    began = time.perf_counter()
    line = one_line(capsys, "--preset", preset, "-o", tmp_path / "x.mp4", code=2)
    assert "expands to more than 100,000 values" in line and str(preset) in line
    assert time.perf_counter() - began < 60  # refused, not expanded (generous: no timing claim beyond that)


def test_an_alias_used_sensibly_still_works(tmp_path):
    preset = tmp_path / "anchors.yaml"
    preset.write_text("camera:\n  zoom_per_second: &k [[0, 1.0], [2, 2.0]]\n  rotation: *k\n")
    c = config.load(str(preset))
    assert c.camera.rotation.raw() == [[0, 1.0], [2, 2.0]]


def test_deeply_nested_yaml_is_one_line(capsys, tmp_path):
    preset = tmp_path / "deep.yaml"
    preset.write_text("camera: " + "[" * 50000 + "]" * 50000 + "\n")
    line = one_line(capsys, "--preset", preset, "-o", tmp_path / "x.mp4", code=2)
    assert str(preset) in line


# ---- 4. one render per output ------------------------------------------------------------------


HOLD_LOCK = ("import sys, time; from pathlib import Path; from zoomdream.io import lock\n"
             "with lock.output_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(600)\n")


def test_a_second_render_of_the_same_output_is_refused_and_a_killed_holder_frees_it(capsys, tmp_path, net):
    out = tmp_path / "busy.mp4"
    quick_render(net, out, 5, checkpoint_every=4)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert holder.stdout.readline().strip() == "held"
        for args in (["--resume", out], [*QUICK, "--frames", "5", "-o", out, "--overwrite"], ["--assemble", out]):
            line = one_line(capsys, *args, code=2)
            assert f"is being rendered by process {holder.pid} on " in line and "wait for it" in line
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert lock.lock_path(out).exists()  # the killed holder left its file, but no lock
    assert cli.main(["--resume", str(out), "--frames", "7", "--quiet"]) == 0
    assert video.count_frames(out) == 7 and not lock.lock_path(out).exists()


# ---- 5 and 7. tracebacks and many-line messages where one line is promised ------------------------


def test_a_preset_that_is_not_text(capsys, tmp_path):
    preset = tmp_path / "binary.yaml"
    preset.write_bytes(b"\xff\xfe\x00video: {}" + os.urandom(200))
    assert "not a text file" in one_line(capsys, "--preset", preset, code=2)


def test_a_folder_as_preset(capsys, tmp_path):
    assert "is a folder, not a preset file" in one_line(capsys, "--preset", tmp_path, code=2)


def test_a_file_that_is_not_a_picture(capsys, tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("this is not a JPEG\n" * 20)
    line = one_line(capsys, "--preset", "classic-zoom", "--input", fake, "-o", tmp_path / "x.png", code=2)
    assert "is not a picture zoomdream can read" in line


def test_plan_to_a_path_that_cannot_be_written(capsys, tmp_path):
    cli.main(["--plan", str(tmp_path / "no" / "such" / "folder.json")])
    assert capsys.readouterr().err.strip() == f"zoomdream: error: --plan: folder '{tmp_path / 'no' / 'such'}' does not exist"
    code = cli.main(["--plan", "/dev/full"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "zoomdream: error: --plan: cannot write /dev/full: No space left on device"


def test_a_full_disk_while_writing_frames_is_one_line_and_leaves_no_temporary_files(capsys, tmp_path):
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    (frames_dir / "frame.tmp.png").symlink_to("/dev/full")  # every frame written there finds the disk full
    line = one_line(capsys, *QUICK, "--frames", "6", "--checkpoint-every", "2", "-o", tmp_path / "a.mp4",
                    "--frames-dir", frames_dir, code=1)
    assert "No space left on device" in line and "failed after frame 0" in line
    assert leftovers(tmp_path) == []


def test_a_full_disk_while_writing_a_gif_is_one_line(capsys, tmp_path):
    (tmp_path / "loop.tmp.gif").symlink_to("/dev/full")
    line = one_line(capsys, *QUICK, "--frames", "3", "-o", tmp_path / "loop.gif", code=1)
    assert "No space left on device" in line or "ffmpeg" in line
    assert not (tmp_path / "loop.gif").exists()


# ---- 6. a rejected render writes nothing ---------------------------------------------------------


def test_a_rejected_render_leaves_nothing_that_blocks_the_corrected_one(capsys, tmp_path):
    bad_guide = tmp_path / "guide.png"
    bad_guide.write_text("not a picture")
    out = tmp_path / "guided.mp4"
    line = one_line(capsys, *QUICK, "--frames", "2", "-o", out, "--set", f"layers.schedule=[{{guide: {bad_guide}}}]", code=2)
    assert "is not a picture zoomdream can read" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["guide.png"]
    import imageio.v3 as iio

    iio.imwrite(bad_guide, (np.random.default_rng(0).uniform(0, 255, (48, 48, 3))).astype(np.uint8))
    assert cli.main([*QUICK, "--frames", "2", "-o", str(out), "--set", f"layers.schedule=[{{guide: {bad_guide}}}]"]) == 0


# ---- 8. a large render says what it will cost ------------------------------------------------------


@pytest.mark.parametrize("octaves", [1, 2])  # one octave: a frame whose octave is the canvas itself
def test_a_large_canvas_says_its_cost_before_the_first_frame(capsys, tmp_path, monkeypatch, net, octaves):
    monkeypatch.setattr(cost, "LARGE_PIXELS", 64 * 64)  # a small canvas stands for a large one
    seen = []
    overrides = {**QUICK_OVERRIDES, "dream.octaves": octaves}
    zoomdream.render("classic-zoom", tmp_path / "big.png", size="64x64", overrides=overrides, net=net,
                     progress=False, on_frame=lambda k, f: seen.append(capsys.readouterr().err))
    said = seen[0]
    assert "64x64 is a large canvas (0.0 megapixels)" in said and "TFLOP per frame" in said
    assert "roughly" in said and "per frame on this CPU" in said
    assert "the frame step needs about" in said and "GB of memory" in said


# ---- more of our own: generated presets and formulas ------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.sampled_from(["0x10", "1e400", "t/0", "-1", "inception_4c/output", ".nan"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.sampled_from(["t", "value", "frame", "interp",
                                                                                         "keyframes", "layer"]), inner,
                                                                        max_size=3)), max_leaves=8)
KEYS = [row[0] for row in config.key_docs() if "[]" not in row[0]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(assignments=st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=3))
def test_generated_presets_are_valid_or_one_line(assignments):
    raw = {}
    try:
        for key, value in assignments.items():
            config.set_value(raw, key, value)
        c = config.from_dict(raw)
        if schedule.render_frames(c) <= 2000:
            schedule.build_plan(c)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc)


TOKENS = ["t", "frame", "fps", "pi", "1", "0", "2.5", "1e308", "-", "+", "*", "/", "**", "(", ")", "sin(", "cos(", "abs(",
          "min(", "max(", ",", "__import__", "'a'", "[", "]", ".", "x"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join))
def test_generated_formulas_evaluate_or_give_one_line(text):
    try:
        formula = expressions.parse(text)
        values = formula.evaluate(np.linspace(0, 10, 7), np.arange(7), 25.0)
        assert np.isfinite(values).all()
    except ConfigError as exc:
        assert "\n" not in str(exc)
