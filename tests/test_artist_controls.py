"""Issue-level checks of the artist's controls: fps independence through --plan, a render
with every parameter scheduled compiling once, and the objectives doing what they say."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoomdream
from zoomdream.dream import objectives
from zoomdream.dream.step import DreamSpec, frame_step
from zoomdream.errors import ConfigError
from zoomdream.frontends import cli
from zoomdream.io import images
from zoomdream.schedule.values import default_values

SCHEDULED = {
    "layers.schedule": [
        {"layer": "inception_3a/output", "seconds": 1},
        {"layer": {"inception_3b/output": "0.5 + 0.5*sin(2*pi*t)", "conv2/3x3": [[0, 0], [2, 1, "smooth"]]}, "seconds": 1},
    ],
    "layers.crossfade_seconds": 0.4,
    "camera.zoom_per_second": [[0, 2.0, "smooth"], [1.5, 0.7, "cubic"], [3, 1.3]],
    "camera.rotation": "20*sin(2*pi*t/3)",
    "camera.pan_x": [{"t": 0, "value": 0, "interp": "hold"}, {"t": 1, "value": 12}],
    "camera.pan_y": -5,
    "camera.center_x": [[0, 0.5], [3, 0.3]],
    "camera.center_y": "0.5 + 0.1*cos(t)",
}


def plan_of(tmp_path, fps, name):
    out = tmp_path / f"{name}.json"
    sets = [f"{k}={json.dumps(v)}" for k, v in SCHEDULED.items()]
    args = ["--preset", "classic-zoom", "--seconds", "3", "--fps", str(fps), "--plan", str(out)]
    for s in sets:
        args += ["--set", s]
    assert cli.main(args) == 0
    return json.loads(out.read_text())


def test_plan_is_the_same_per_second_at_any_fps(tmp_path, capsys):
    slow, fast = plan_of(tmp_path, 12, "slow"), plan_of(tmp_path, 30, "fast")
    printed = capsys.readouterr().out
    assert "frame" in printed and "dreaming" in printed
    assert len(slow["frames"]) == 36 and len(fast["frames"]) == 90
    for second in (1, 2):
        a, b = slow["frames"][12 * second], fast["frames"][30 * second]
        assert a["t"] == b["t"] == second
        assert a["zoom"] == pytest.approx(b["zoom"], rel=1e-3)
        assert a["angle"] == pytest.approx(b["angle"], abs=0.05)
        assert a["pan_x"] == pytest.approx(b["pan_x"], abs=0.05)
        assert a["pan_y"] == pytest.approx(b["pan_y"], abs=0.05)
        assert a["layer"] == b["layer"]
        assert a["center_x"] == pytest.approx(b["center_x"])


def test_plan_writes_a_plot_and_its_json(tmp_path, capsys):
    out = tmp_path / "curves.png"
    assert cli.main(["--preset", "noise-to-dogs", "--plan", str(out), "--seconds", "2"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "curves.json").read_text())["fps"] == 25


def test_render_with_every_value_scheduled_compiles_once(tmp_path, net):
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiles.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
    counts = []
    overrides = {
        **SCHEDULED,
        "dream.octaves": 2,
        "dream.octave_scale": [[0, 1.3], [0.25, 1.6, "hold"]],
        "dream.step_size": [[0, 1.0], [0.2, 2.0, "hold"]],
        "dream.iterations": [[0, 1], [0.2, 3, "hold"]],
        "dream.jitter": "8 + 8*sin(t)",
        "dream.blend": [[0, 0.3], [0.2, 1.0, "smooth"]],
        "dream.gradient_norm": "laplacian",
        "camera.border": "noise",
        "camera.supersample": 2,
        "video.fps": 20,
    }
    result = zoomdream.render("classic-zoom", tmp_path / "all.mp4", frames=8, size="64x48", overrides=overrides,
                              progress=False, net=net, on_frame=lambda k, f: counts.append(len(compiles)))
    assert result.frames == 8
    assert counts[1:] == [counts[0]] * 7, counts


# ---- objectives -------------------------------------------------------------------------------


def ascend(net, objective_spec, canvas, iterations=6, gradient_norm="mean", guides=()):
    """Dream one objective on a canvas for a few steps, without camera motion."""
    spec = DreamSpec.create(canvas.shape[0], canvas.shape[1], 1, 1.4, [objectives.parse(objective_spec, "test")],
                                  max_iterations=iterations, gradient_norm=gradient_norm, host_steps=False)  # quick to compile
    fp = default_values([1.0], iterations=iterations, jitter=4)
    out, _ = frame_step(net.params, jnp.asarray(canvas), fp, jax.random.key(0), guides, spec=spec)
    return np.asarray(out)


def noise(size=96, seed=0):
    return images.noise_canvas(size, size, 20, seed)


def test_class_objective_draws_the_class(net):
    start = noise(128)
    banana = net.class_index("banana")
    before = np.asarray(net.classify(jnp.asarray(start)[None]))[0]
    after = np.asarray(net.classify(jnp.asarray(ascend(net, "class:banana", start, iterations=20))[None]))[0]
    assert after[banana] > before[banana] + 5
    assert np.argsort(-after)[:5].tolist().count(banana) == 1  # banana is now a top-5 class


def test_channel_objective_raises_that_channel(net):
    start = noise()
    layer, channel = "inception_4a/output", 97
    acts = lambda c: np.asarray(net.activations(jnp.asarray(c)[None], layer)[layer])[0]
    before, after = acts(start), acts(ascend(net, f"{layer}:{channel}", start))
    gain = after.mean(axis=(0, 1)) - before.mean(axis=(0, 1))
    assert gain[channel] > 0 and gain[channel] > 5 * np.median(np.abs(gain))


def test_guide_objective_moves_towards_the_guide(net, tmp_path):
    guide_rgb = np.zeros((64, 64, 3), np.uint8)
    guide_rgb[::8] = 255  # horizontal stripes
    path = tmp_path / "stripes.png"
    images.save_image(path, guide_rgb)
    objective = objectives.parse(f"guide:{path}", "test")
    features = objectives.guide_features(net, objective)
    start = noise()
    layer = objective.layer
    match = lambda c: float(objectives.guide_match(net.activations(jnp.asarray(c)[None], layer)[layer], features))
    after = ascend(net, objective.spec, start, guides=(features,))
    assert match(after) > 1.5 * match(start)


def test_laplacian_normalisation_gives_smoother_steps(net):
    start = noise()
    def roughness(canvas):
        change = canvas - start
        high = change[1:-1, 1:-1] * 4 - change[:-2, 1:-1] - change[2:, 1:-1] - change[1:-1, :-2] - change[1:-1, 2:]
        return np.abs(high).mean() / np.abs(change).mean()
    plain = roughness(ascend(net, "inception_3b/output", start, iterations=4))
    smooth = roughness(ascend(net, "inception_3b/output", start, iterations=4, gradient_norm="laplacian"))
    assert smooth < 0.8 * plain


@pytest.mark.parametrize(
    "sets, message",
    [
        (["layers.schedule=[{class: bananna}]"], "unknown class 'bananna' (did you mean banana"),
        (["layers.schedule=[{class: 1000}]"], "class index 1000 is outside 0..999"),
        (["layers.schedule=[inception_4d/output:600]"], "channel 600 is beyond inception_4d/output's 528 channels"),
        (["layers.schedule=[{layer: inception_4d/output, channels: [3, 528]}]"], "channel 528 is beyond"),
        (["camera.zoom_per_second=[[0, 1], [2, 3], [1, 2]]"], "camera.zoom_per_second[2]: keyframes must be in time order"),
        (["camera.rotation=[{t: 0, value: 1, interp: springy}]"], "camera.rotation[0]: unknown interpolation 'springy'"),
        (["camera.zoom_per_second=t - 1"], "camera.zoom_per_second: must be greater than 0"),
        (["dream.step_size=__import__('os')"], "dream.step_size: "),
        (["layers.schedule=[{guide: /no/such.jpg}]"], "guide picture '/no/such.jpg' does not exist"),
    ],
)
def test_bad_schedules_get_one_line(capsys, tmp_path, sets, message):
    args = ["--preset", "classic-zoom", "--frames", "3", "-o", str(tmp_path / "x.mp4")]
    for s in sets:
        args += ["--set", s]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_cadence_dreams_every_nth_frame_and_compiles_once(tmp_path, net):
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiles.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
    frames, counts = [], []

    def keep(k, frame):
        frames.append(frame.astype(int))
        counts.append(len(compiles))

    zoomdream.render("classic-zoom", tmp_path / "c.mp4", frames=6, size="64x64", layer="inception_3a/output",
                     overrides={"dream.octaves": 1, "dream.iterations": 3, "dream.cadence": 3, "camera.zoom_per_second": 1.0},
                     progress=False, net=net, on_frame=keep)
    assert counts[1:] == [counts[0]] * 5  # both programs compiled before the first frame
    # Without camera motion, a frame that only moves shows the previous dreamed picture.
    assert np.abs(frames[1] - frames[0]).max() <= 1 and np.abs(frames[2] - frames[0]).max() <= 1
    assert np.abs(frames[3] - frames[2]).mean() > 1  # frame 3 is dreamed again


def network_with_classes(net, count, seed=0):
    """The bundled network with a classifier of ``count`` random classes, as a converted
    Places205 GoogLeNet has 205."""
    rng = np.random.default_rng(seed)
    params = dict(net.params)
    params["loss3/classifier"] = {"kernel": jnp.asarray(rng.normal(0, 0.05, (1024, count)).astype(np.float32)),
                                  "bias": jnp.zeros(count, jnp.float32)}
    return type(net)(params=params, labels=tuple(f"place {i}" for i in range(count)))


def test_class_objective_on_a_network_with_another_class_count(net):
    seven = network_with_classes(net, 7)
    assert seven.num_classes == 7
    start = noise(128)
    before = np.asarray(seven.classify(jnp.asarray(start)[None]))[0]
    after = np.asarray(seven.classify(jnp.asarray(ascend(seven, "class:3", start, iterations=10))[None]))[0]
    assert np.argmax(after - before) == 3 and np.argmax(after) == 3


def test_class_beyond_the_networks_classes_is_one_line(net, tmp_path):
    seven = network_with_classes(net, 7)
    with pytest.raises(ConfigError, match=r"^class:12: class index 12 is outside this network's 0\.\.6$"):
        zoomdream.render("classic-zoom", tmp_path / "x.mp4", frames=1, size="64x64", layer="class:12", net=seven,
                         progress=False)
    assert not (tmp_path / "x.mp4.parts").exists()
