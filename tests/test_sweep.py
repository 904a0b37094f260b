"""Variants side by side (``--sweep``): parsing, which variants share one batch, and that
each variant of a batch renders what the same render made alone renders."""

import json

import imageio.v3 as iio
import numpy as np
import pytest

from zoomdream.dream import step
from zoomdream.errors import ConfigError
from zoomdream.frontends import cli
from zoomdream.render import render, resume
from zoomdream.schedule import sweep

QUICK = ["--preset", "classic-zoom", "--size", "64x64", "--set", "dream.octaves=2", "--quiet"]


def frames_of(folder):
    return np.stack([iio.imread(p) for p in sorted(folder.glob("frame_*.png"))]).astype(int)


def test_sweep_values_ranges_lists_and_combinations():
    variants = sweep.parse(["seed=0..2", "dream.step_size=1, 1.5"])
    assert [v.values for v in variants[:3]] == [{"seed": 0, "dream.step_size": 1}, {"seed": 0, "dream.step_size": 1.5},
                                                {"seed": 1, "dream.step_size": 1}]
    assert len(variants) == 6 and [v.index for v in variants] == list(range(6))
    layer = sweep.parse(["layer=conv2/3x3,class:banana"])
    assert layer[1].overrides == {"layers.schedule": ["class:banana"]}
    assert layer[1].output(__import__("pathlib").Path("out/zoom.mp4")).as_posix() == "out/zoom_1.mp4"
    assert [v.values["seed"] for v in sweep.parse(["seed=-1..1"])] == [-1, 0, 1]


@pytest.mark.parametrize("args, message", [
    (["seed=3..1"], "range 3..1 is empty"),
    (["seed"], "expected KEY=VALUES"),
    (["seed=1,1"], "repeated"),
    (["seed=1,"], "empty value"),
    (["seed=1", "seed=2"], "given twice"),
    (["seed=0..300"], "more than 256"),
])
def test_bad_sweeps_are_refused(args, message):
    with pytest.raises(ConfigError, match=message):
        sweep.parse(args)


def test_only_variants_that_differ_in_data_share_a_batch():
    def spec(layer, octaves=2, iterations=3):
        return step.DreamSpec.create(64, 64, octaves, 1.4, [layer], iterations)

    class Plan:  # what batch_spec reads of a plan
        def __init__(self, frames=4, cadence=1):
            self.frames, self.dreamed = frames, np.arange(frames) % cadence == 0

    batch, why = sweep.batch_spec([spec("conv2/3x3"), spec("inception_3a/output", iterations=5)], [Plan(), Plan()])
    assert why is None and batch.variants == 2 and batch.max_iterations == 5
    assert [o.layer for o in batch.objectives] == ["conv2/3x3", "inception_3a/output"]
    batch, why = sweep.batch_spec([spec("conv2/3x3"), spec("conv2/3x3", octaves=3)], [Plan(), Plan()])
    assert batch is None and "dream.octaves" in why
    assert "length" in sweep.batch_spec([spec("conv2/3x3")] * 2, [Plan(4), Plan(5)])[1]
    assert "cadence" in sweep.batch_spec([spec("conv2/3x3")] * 2, [Plan(4), Plan(4, 2)])[1]


def test_a_batch_renders_each_variant_as_it_renders_alone(tmp_path, capsys):
    """Four variants differing in layer and iteration count (the batch unites the layers
    and steps each variant only as often as it asks) against two of them rendered alone;
    then one variant's output lengthened by --resume from its checkpoint, as any render's is."""
    out = tmp_path / "sweep.mp4"
    assert cli.main([*QUICK[:-1], "--frames", "2", "-o", str(out), "--frames-dir", str(tmp_path / "frames"),
                     "--checkpoint-every", "1",
                     "--sweep", "dream.iterations=1,2", "--sweep", "layer=conv2/3x3,inception_3a/output"]) == 0
    said = capsys.readouterr()
    assert "variant 3: dream.iterations=2, layer=inception_3a/output" in said.err
    assert said.out.count("wrote") == 4 and "one after another" not in said.err
    record = json.loads((tmp_path / "sweep_sweep.json").read_text())
    assert record["dreamed_as_one_batch"] and [v["values"] for v in record["variants"]][2] == \
        {"dream.iterations": 2, "layer": "conv2/3x3"}
    for index, (iterations, layer) in {0: (1, "conv2/3x3"), 3: (2, "inception_3a/output")}.items():
        alone = tmp_path / f"alone{index}"
        render("classic-zoom", tmp_path / f"alone{index}.mp4", frames=2, size="64x64", layer=layer, progress=False,
               overrides={"dream.octaves": 2, "dream.iterations": iterations}, frames_dir=alone)
        # (float rounding of another batch size grows through the feedback loop: see the README)
        assert np.abs(frames_of(tmp_path / "frames" / f"sweep_{index}") - frames_of(alone)).max() <= 2
    variants = [frames_of(tmp_path / "frames" / f"sweep_{i}") for i in range(4)]
    assert all(np.abs(variants[i] - variants[j]).mean() > 1 for i in range(4) for j in range(i))

    longer = resume(tmp_path / "sweep_3.mp4", frames=3, progress=False)
    assert longer.first_frame == 2 and longer.frames == 1
    alone = tmp_path / "alone3-longer"
    render("classic-zoom", tmp_path / "alone3-longer.mp4", frames=3, size="64x64", layer="inception_3a/output",
           progress=False, overrides={"dream.octaves": 2, "dream.iterations": 2}, frames_dir=alone)
    assert np.abs(frames_of(tmp_path / "frames" / "sweep_3") - frames_of(alone)).max() <= 2


def test_variants_of_another_shape_render_one_after_another(tmp_path, capsys):
    out = tmp_path / "o.mp4"
    assert cli.main([*QUICK, "--frames", "1", "--set", "dream.iterations=1", "--layer", "conv2/3x3", "-o", str(out),
                     "--sweep", "dream.octaves=1,2"]) == 0
    said = capsys.readouterr()
    assert "the variants differ in dream.octaves/octave_scale: rendering the 2 variants one after another" in said.err
    assert (tmp_path / "o_0.mp4").is_file() and (tmp_path / "o_1.mp4").is_file()
    assert not json.loads((tmp_path / "o_sweep.json").read_text())["dreamed_as_one_batch"]


def test_sweep_mistakes_get_one_line(tmp_path, capsys):
    for args, message in [(["--sweep", "nokey=1,2"], "unknown key 'nokey'"),
                          (["--sweep", "seed=1..0"], "is empty"),
                          (["--sweep", "seed=0,1", "--resume", "x.mp4"], "--resume continues one of its outputs"),
                          (["--sweep", "seed=0,1", "--plan"], "--plan shows one render's schedule"),
                          (["--sweep", "dream.step_size=1,-2"], "dream.step_size")]:
        assert cli.main([*QUICK, "--frames", "1", "-o", str(tmp_path / "x.mp4"), *args]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_compiled_loop_form_steps_each_variant_as_alone(net):
    """The form GPUs and TPUs run (one program, ascent steps in a loop, the network only as
    deep as the deepest layer weighted): two variants of other layers and step counts in
    one batch, each against its frame dreamed alone."""
    import jax
    import jax.numpy as jnp

    from zoomdream.schedule.values import default_values

    spec = step.DreamSpec.create(64, 64, 2, 1.4, ["conv2/3x3", "inception_3a/output"], 3, host_steps=False,
                                 prune_depth=True)
    rng = np.random.default_rng(0)
    canvases = [rng.normal(0, 40, (64, 64, 3)).astype(np.float32) for _ in range(2)]
    values = [default_values(np.array(w, np.float32), iterations=np.int32(n), zoom=np.float32(1.05))
              for w, n in (([1, 0], 1), ([0, 1], 3))]
    keys = [jax.random.key(s) for s in (0, 1)]
    alone = [np.asarray(step.frame_step(net.params, jnp.asarray(c), v, k, spec=spec)[0])
             for c, v, k in zip(canvases, values, keys)]
    both, _ = step.frame_step(net.params, jnp.asarray(np.stack(canvases)), sweep.stack(values),
                              jax.random.wrap_key_data(np.stack([jax.random.key_data(k) for k in keys])),
                              spec=__import__("dataclasses").replace(spec, variants=2))
    for i in range(2):
        assert np.abs(np.asarray(both[i]) - alone[i]).max() < 1e-2 * np.abs(alone[i]).max()
    assert np.abs(alone[0] - alone[1]).max() > 1  # (and the two differ)


def test_variants_with_segments_of_other_lengths_lose_no_frame(tmp_path, monkeypatch):
    """Each variant's MP4 fixes its segment length from its own timing, so the variants'
    checkpoints fall on other frames; each MP4 closes its segments at its own."""
    from zoomdream.io import outputs
    from zoomdream.render import render_sweep

    def choose(self, k):
        self.manifest.segment_frames = 3 if self.output.stem.endswith("_0") else 4
        self.manifest.save(self.parts)

    monkeypatch.setattr(outputs.Mp4Output, "_choose_segment_frames", choose)
    results = render_sweep("classic-zoom", tmp_path / "s.mp4", ["seed=0,1"], frames=10, size="64x64",
                           layer="conv2/3x3", overrides={"dream.octaves": 1, "dream.iterations": 1}, progress=False)
    from zoomdream.io import video

    assert [video.read_video(r.output).shape[0] for r in results] == [10, 10]
