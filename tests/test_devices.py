"""One frame on several devices: the tiles of a tiled octave shared out over a device
mesh. Run on the CPU with four host devices forced (in a process of its own: JAX fixes
its devices when it starts)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from zoomdream.dream import devices
from zoomdream.errors import ConfigError
from zoomdream.schedule import config as config_lib

ROOT = Path(__file__).resolve().parents[1]

FOUR_DEVICES = r'''
import json, sys
import jax, jax.numpy as jnp, numpy as np
sys.path.insert(0, sys.argv[2])
import zoomdream
from films import panning_frames
from pathlib import Path
from zoomdream.dream import step
from zoomdream.io import video
from zoomdream.schedule.values import default_values

assert len(jax.devices()) == 4
net = zoomdream.load_googlenet()
out, folder = {}, Path(sys.argv[1])

# The frame step itself: two frames, on one device and on four.
canvases = {}
for n in (1, 4):
    spec = step.DreamSpec.create(64, 64, 2, 1.4, ["inception_3b/output"], 2, tile_size=32, devices=n)
    values = default_values(np.ones(1, np.float32), iterations=np.int32(2), zoom=np.float32(1.05))
    canvas = jnp.asarray(np.random.default_rng(0).normal(0, 40, (64, 64, 3)).astype(np.float32))
    place = lambda x: step.devices.place(x, n)
    params, key = place(net.params), place(jax.random.key(0))
    canvas, _ = step.frame_step(params, place(canvas), values, key, (), spec=spec)
    canvas, _ = step.frame_step(params, canvas, values, key, (), spec=spec)
    canvases[n] = np.asarray(canvas)
    out[f"sharding_{n}"] = str(canvas.sharding)
out["step_difference"] = float(np.abs(canvases[1] - canvases[4]).max())
out["step_scale"] = float(np.abs(canvases[1]).max())

# A film frame's start (optical flow, carried detail) from the same two frames.
frames = panning_frames(64, 2, (1, 2))
starts = {}
for n in (1, 4):
    spec = step.DreamSpec.create(64, 64, 1, 1.4, ["conv2/3x3"], 2, video=True, devices=n)
    values = default_values(np.ones(1, np.float32))
    key = step.devices.place(jax.random.key(0), n)
    view = step.film_frame_view(frames[0], values, key, spec=spec)
    dream = view + step.devices.place(jnp.asarray(canvases[1]), n)
    start, _ = step.film_frame_start(frames[1], view, dream, values, key, spec=spec)
    starts[n] = np.asarray(start)
out["film_start_difference"] = float(np.abs(starts[1] - starts[4]).max())

# A zoom rendered as users make it, counting compiles in the frame loop.
compiles = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: compiles.append(event) if event == "/jax/core/compile/backend_compile_duration" else None)
counts = []
quick = {"dream.octaves": 2, "dream.iterations": 2, "dream.tile_size": 32, "camera.zoom_per_second": 2}
for n in (1, 4):
    result = zoomdream.render("classic-zoom", folder / f"zoom{n}.mp4", frames=4, size="64x64", layer="conv2/3x3",
                              overrides=quick, devices=n, progress=False, net=net,
                              on_frame=lambda k, f: counts.append(len(compiles)))
    out[f"zoom_frames_{n}"] = video.read_video(result.output).astype(int).tolist()
    out[f"zoom_compiles_in_loop_{n}"] = counts[-1] - counts[-4]

# A sweep of four seeds, a variant on each device, against each seed rendered alone on one.
import imageio.v3 as iio
from zoomdream.render import render_sweep
def frames_in(path):
    return np.stack([iio.imread(p) for p in sorted(path.glob("frame_*.png"))]).astype(int)
quick = {"dream.octaves": 2, "dream.iterations": 2}
counts = []
render_sweep("classic-zoom", folder / "sweep.mp4", ["seed=0..3"], frames=3, size="64x64", layer="conv2/3x3",
             overrides=quick, devices=4, progress=False, net=net, frames_dir=folder / "sweep",
             on_frame=lambda k, f: counts.append(len(compiles)))
out["sweep_compiles_in_loop"] = counts[-1] - counts[0]
out["sweep_record"] = json.loads((folder / "sweep_sweep.json").read_text())
out["alone_compiles"], out["sweep_difference"] = [], []
for seed in range(4):
    before = len(compiles)
    zoomdream.render("classic-zoom", folder / f"alone{seed}.mp4", frames=3, size="64x64", layer="conv2/3x3",
                     overrides=quick, seed=seed, devices=1, progress=False, net=net, frames_dir=folder / f"alone{seed}")
    out["alone_compiles"].append(len(compiles) - before)
    difference = np.abs(frames_in(folder / "sweep" / f"sweep_{seed}") - frames_in(folder / f"alone{seed}"))
    out["sweep_difference"].append(int(difference.max()))

# What falls back, and what the notebook says of it.
from zoomdream.frontends import notebook
few = step.devices.map_sharded(lambda x: 2 * x, jnp.arange(3.0).reshape(1, 3), 4)  # fewer items than half the devices
out["map_fewer"] = np.asarray(few).tolist()
out["for_variants"] = [step.devices.for_variants(*a) for a in (("all", 3), ("auto", 6), (2, 4), ("auto", 8))]
out["auto_sweep"] = notebook.auto_sweep()
out["sharing"] = [notebook.sharing("classic-zoom", 64, 64), notebook.sharing("classic-zoom", 64, 64, {"dream.tile_size": 32}),
                  notebook.sharing("classic-zoom", 64, 64, None, ["seed=0..5"])]
print("RESULT" + json.dumps(out))
'''


@pytest.mark.slow
def test_a_frame_on_four_devices_is_the_frame_on_one(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=4",
               PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", FOUR_DEVICES, str(tmp_path), str(ROOT / "tests")], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert "'devices': 4" in out["sharding_4"] and "SingleDevice" in out["sharding_1"]
    # float32 results, summed in another order on another program
    assert out["step_difference"] <= 1e-3 * out["step_scale"]
    assert out["film_start_difference"] <= 1e-3 * out["step_scale"]
    import numpy as np

    one, four = np.array(out["zoom_frames_1"]), np.array(out["zoom_frames_4"])
    assert one.shape == four.shape == (4, 64, 64, 3)
    assert np.abs(one - four).max() <= 2  # the same frames, up to rounding
    assert out["zoom_compiles_in_loop_4"] == 0 and out["zoom_compiles_in_loop_1"] == 0
    # the sweep: its own frames for each seed, as each renders alone, from programs compiled
    # once (before its first frame; renders of the same settings and another seed, none)
    assert out["sweep_record"]["dreamed_as_one_batch"] and out["sweep_record"]["devices"] == 4
    assert max(out["sweep_difference"]) <= 2, out["sweep_difference"]
    assert out["sweep_compiles_in_loop"] == 0
    assert out["alone_compiles"][0] > 0 and out["alone_compiles"][1:] == [0, 0, 0]
    assert out["map_fewer"] == [[0, 2, 4]]
    (three, note), six, two, eight = out["for_variants"]
    assert three == 3 and "3 variants cannot be shared evenly over 4 devices; dreaming them on 3" in note
    assert six == [3, None] and two == [2, None] and eight == [4, None]
    assert out["auto_sweep"] == ["seed=0..3"]
    untiled, tiled, sweep = out["sharing"]
    assert "has 1 tile of dream.tile_size 1024 to share, so 1 of the 4 devices" in untiled and 'seed=0..3' in untiled
    assert tiled == "each frame's tiles are shared over all 4 devices"
    assert sweep == "6 variants side by side: 2 on each of 3 of the 4 devices"


def test_devices_fall_back_with_a_note():
    available = len(__import__("jax").local_devices())
    assert devices.choose("auto", 64, 64, 1024) == (1, None)  # nothing tiled: nothing to share
    count, note = devices.choose(available + 3, 2048, 2048, 512)
    assert count == min(available, 16)
    assert note == (f"dream.devices: {available + 3} asked for, but JAX sees {available} here; "
                    f"dreaming on {min(available, 16)}")
    if available == 1:
        assert devices.choose("all", 64, 64, 1024) == (1, None)
    assert devices.tile_grid(1080, 1920, 1024) == (2, 2) and devices.tile_grid(64, 64, 0) == (1, 1)


@pytest.mark.parametrize("value", ["0", "some", -2, 1.5])
def test_bad_device_counts_are_refused(value):
    with pytest.raises(ConfigError, match="dream.devices: expected a number of devices"):
        config_lib.load("classic-zoom", {"dream.devices": value})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def on_two_processes(folder, *args) -> list[str]:
    """``python -m zoomdream ARGS`` as two processes of two CPU devices each, joined by
    jax.distributed on this machine; what each printed."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2",
               PYTHONPATH=str(ROOT))
    port = free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "zoomdream", *args, "--distributed", f"127.0.0.1:{port},2,{i}"],
                              cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    return [out for out, _ in outs]


@pytest.mark.slow
def test_two_processes_render_what_one_does(tmp_path, net):
    """A 4-seed sweep on two processes: each writes the two variants its devices dream; a
    single render with its tiles over all four devices: the first process writes it. Both
    give the frames one process gives."""
    import imageio.v3 as iio
    import numpy as np

    from zoomdream.render import render

    def frames_in(path):
        return np.stack([iio.imread(p) for p in sorted(path.glob("frame_*.png"))]).astype(int)

    quick = ["--preset", "classic-zoom", "--frames", "3", "--size", "64x64", "--layer", "conv2/3x3", "--quiet",
             "--set", "dream.octaves=2", "--set", "dream.iterations=2"]
    first, second = on_two_processes(tmp_path, *quick, "--sweep", "seed=0..3", "-o", "s.mp4", "--frames-dir", "sweep")
    assert "s_0.mp4" in first and "s_1.mp4" in first and "s_2" not in first
    assert "s_2.mp4" in second and "s_3.mp4" in second and "s_0" not in second
    first, second = on_two_processes(tmp_path, *quick, "--set", "dream.tile_size=32", "--seed", "2", "-o", "one.mp4",
                                     "--frames-dir", "one")
    assert "wrote" in first and "wrote" not in second
    for tile_size, made in ((0, tmp_path / "sweep" / "s_2"), (32, tmp_path / "one")):
        alone = tmp_path / f"alone{tile_size}"
        render("classic-zoom", tmp_path / f"alone{tile_size}.mp4", frames=3, size="64x64", layer="conv2/3x3", seed=2,
               overrides={"dream.octaves": 2, "dream.iterations": 2, "dream.tile_size": tile_size}, frames_dir=alone,
               progress=False, net=net)
        assert np.abs(frames_in(made) - frames_in(alone)).max() <= 2


@pytest.mark.parametrize("how, message", [("a,b", "expected auto or ADDRESS:PORT,PROCESSES,ID"),
                                          ("127.0.0.1:1234,2,x", "expected auto"),
                                          ("127.0.0.1:1234,2,2", "the process ID must be from 0 to 1")])
def test_bad_distributed_settings_get_one_line(how, message, capsys):
    from zoomdream.frontends import cli

    assert cli.main(["--preset", "classic-zoom", "--frames", "1", "--distributed", how]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
