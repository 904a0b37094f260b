"""The jitted frame step: it dreams (raises the objective), is deterministic per seed, and
compiles once whatever the per-frame values do."""

import dataclasses
import functools
import os
import subprocess
import sys
import threading
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoomdream.dream import objectives, octaves, program_store
from zoomdream.dream import step as dream_step
from zoomdream.dream.step import DreamSpec
from zoomdream.io import images
from zoomdream.network import googlenet
from zoomdream.schedule.values import default_values

LAYERS = ("inception_3a/output", "inception_3b/output")
# The loop form of GPUs and TPUs: lax.fori_loop steps, the network pruned by lax.switch.
COMPILED_LOOPS = {"host_steps": False, "prune_depth": True}


def params(weights=(0.0, 1.0), step=1.5, iterations=4, jitter=8, zoom=1.0, frame=0):
    return default_values(weights, step_size=step, iterations=iterations, jitter=jitter, zoom=zoom, frame_index=frame)


def compile_step(spec, wrap=None):
    """The compiled frame step for ``spec``; ``wrap`` wraps the pure step before jit
    (chex.assert_max_traces counts its traces)."""
    if wrap is None:
        return functools.partial(dream_step.frame_step, spec=spec)
    jitted = jax.jit(wrap(dream_step.dream_frame), static_argnames="spec", donate_argnames="canvas")
    return functools.partial(jitted, spec=spec)


@pytest.fixture(scope="module")
def spec():
    return DreamSpec.create(64, 80, 2, 1.4, LAYERS, max_iterations=5)


@pytest.fixture(scope="module")
def step(spec):
    return compile_step(spec)


def start_canvas(seed=0, h=64, w=80):
    return jnp.asarray(images.noise_canvas(w, h, 48, seed))


def objective(net, canvas, layer):
    return float(objectives.layer_l2(net.activations(canvas[None], layer)[layer]))


def test_frame_step_raises_the_objective(net, step):
    canvas = start_canvas()
    before = objective(net, canvas, "inception_3b/output")
    dreamed, frame = step(net.params, start_canvas(), params(), jax.random.key(0))
    # zoom is 1, so the returned canvas is the dreamed picture itself.
    after = objective(net, dreamed, "inception_3b/output")
    assert after > 1.5 * before
    assert frame.dtype == jnp.uint8 and frame.shape == (64, 80, 3)
    np.testing.assert_array_equal(np.asarray(frame), np.asarray(images.canvas_to_rgb(dreamed)))


def test_canvas_stays_in_the_pixel_range(net, step):
    dreamed, _ = step(net.params, start_canvas(), params(step=50.0), jax.random.key(0))
    low, high = images.canvas_bounds()
    assert np.all(np.asarray(dreamed) >= low - 1e-4) and np.all(np.asarray(dreamed) <= high + 1e-4)


def test_same_key_same_frame_other_key_other_frame(net, step):
    a = np.asarray(step(net.params, start_canvas(), params(), jax.random.key(1))[1])
    b = np.asarray(step(net.params, start_canvas(), params(), jax.random.key(1))[1])
    c = np.asarray(step(net.params, start_canvas(), params(), jax.random.key(2))[1])
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 1


def test_zero_iterations_only_moves_the_camera(net, step):
    canvas = start_canvas()
    moved, frame = step(net.params, start_canvas(), params(iterations=0, zoom=1.25), jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(frame), np.asarray(images.canvas_to_rgb(canvas)))
    from zoomdream.dream import camera

    # Compiled and eager coordinate arithmetic round differently in the last bits.
    np.testing.assert_allclose(np.asarray(moved), np.asarray(camera.zoom(canvas, jnp.float32(1.25))), atol=2e-3)


def test_changing_every_per_frame_value_never_retraces(net, spec):
    step = compile_step(spec, wrap=chex.assert_max_traces(n=1))
    canvas = start_canvas()
    changes = [
        params(),
        params(weights=(1.0, 0.0)),  # a layer change
        params(weights=(0.5, 0.5), step=0.7),  # a crossfade and another step
        params(iterations=2, jitter=0, zoom=1.05, frame=3),
        params(iterations=5, jitter=31, zoom=0.9, frame=4),
    ]
    for fp in changes:
        canvas, _ = step(net.params, canvas, fp, jax.random.key(0))
    jax.block_until_ready(canvas)


def test_octaves_are_clamped_for_small_canvases():
    shapes = octaves.octave_shapes(64, 64, octaves=6, scale=1.4, min_side=octaves.min_octave_side("inception_4c/output"))
    assert shapes[-1] == (64, 64)
    assert len(shapes) < 6
    assert all(min(s) >= googlenet.min_input_size("inception_4c/output") for s in shapes)
    assert octaves.octave_shapes(256, 256, 4, 1.4, 8) == ((93, 93), (131, 131), (183, 183), (256, 256))


def test_compiled_loop_path_skips_the_deep_network_for_shallow_layers(net):
    """With lax.switch by depth (the GPU/TPU form), a frame that dreams only conv2 never
    runs inception_4: poisoning inception_4's weights with NaN leaves it finite, while a
    frame that uses 4c turns NaN."""
    spec = DreamSpec.create(48, 48, 1, 1.4, ("conv2/3x3", "inception_4c/output"), max_iterations=2, **COMPILED_LOOPS)
    poisoned = {k: ({n: jnp.full_like(v, jnp.nan) for n, v in p.items()} if k.startswith("inception_4") else p)
                for k, p in net.params.items()}
    step = compile_step(spec)
    shallow, _ = step(poisoned, start_canvas(h=48, w=48), params(weights=(1.0, 0.0), iterations=2), jax.random.key(0))
    deep, _ = step(poisoned, start_canvas(h=48, w=48), params(weights=(0.0, 1.0), iterations=2), jax.random.key(0))
    assert np.isfinite(np.asarray(shallow)).all()
    assert np.isnan(np.asarray(deep)).any()


def test_host_stepped_and_whole_frame_forms_agree(net):
    frames = []
    for host_steps in (True, False):
        spec = DreamSpec.create(64, 64, 2, 1.4, LAYERS, max_iterations=4, host_steps=host_steps, prune_depth=not host_steps)
        _, frame = compile_step(spec)(net.params, start_canvas(h=64, w=64), params(iterations=3), jax.random.key(3))
        frames.append(np.asarray(frame).astype(int))
    # Same jitter, same steps; only the float rounding of two differently fused programs
    # differs, and it grows a little over the steps.
    assert np.abs(frames[0] - frames[1]).mean() < 1.0


def test_jaxs_own_gradients_dream_the_same_frame_without_backward_kernels(net, monkeypatch, tmp_path):
    """A GPU's frame takes the gradients JAX derives (googlenet.written_out_gradients):
    no backward kernels, and the same frame as the CPU's written-out gradients give."""
    spec = DreamSpec.create(48, 48, 1, 1.4, LAYERS, max_iterations=2)
    frames = []
    for written in (True, False):
        monkeypatch.setattr(googlenet, "written_out_gradients", lambda written=written: written)
        monkeypatch.setattr(program_store, "_entries", {})  # programs made anew, as in a new process
        monkeypatch.setenv("ZOOMDREAM_CACHE_DIR", str(tmp_path / str(written)))
        assert bool(dream_step._backward_kernels(net.params, spec)) == written
        _, frame = compile_step(spec)(net.params, start_canvas(h=48, w=48), params(iterations=2), jax.random.key(3))
        frames.append(np.asarray(frame).astype(int))
    assert np.abs(frames[0] - frames[1]).mean() < 1.0


def test_compiled_loop_path_never_retraces(net):
    spec = DreamSpec.create(48, 48, 1, 1.4, LAYERS, max_iterations=4, **COMPILED_LOOPS)
    step = compile_step(spec, wrap=chex.assert_max_traces(n=1))
    canvas = start_canvas(h=48, w=48)
    for fp in (params(), params(weights=(1.0, 0.0), iterations=1), params(weights=(0.3, 0.7), iterations=6, zoom=1.1)):
        canvas, _ = step(net.params, canvas, fp, jax.random.key(0))
    jax.block_until_ready(canvas)


def test_host_stepped_form_runs_the_frames_iterations(net, step):
    """The host queues as many steps as the frame's iteration count: 2 differs from 5."""
    two = np.asarray(step(net.params, start_canvas(), params(iterations=2), jax.random.key(0))[1]).astype(int)
    five = np.asarray(step(net.params, start_canvas(), params(iterations=5), jax.random.key(0))[1]).astype(int)
    assert np.abs(two - five).mean() > 1


def test_shrink_into_a_buffer_mirrors_beyond_the_content():
    canvas = jnp.asarray(np.random.default_rng(0).uniform(-50, 50, (40, 60, 3)).astype(np.float32))
    out = np.asarray(octaves.shrink_into(canvas, (30, 45), jnp.float32(2.0)))
    shrunk = np.asarray(jax.image.resize(canvas, (20, 30, 3), "linear"))
    np.testing.assert_allclose(out[:20, :30], shrunk, atol=1e-3)
    np.testing.assert_allclose(out[20:30, :30], shrunk[19:9:-1], atol=1e-3)  # mirrored rows
    np.testing.assert_allclose(out[:20, 30:45], shrunk[:, 29:14:-1], atol=1e-3)  # mirrored columns


def test_scheduled_octave_scale_matches_the_fixed_octaves_at_the_same_scale(net):
    fixed = DreamSpec.create(64, 64, 3, 1.4, LAYERS, max_iterations=3)
    buffered = DreamSpec.create(64, 64, 3, 1.4, LAYERS, max_iterations=3, scheduled_octave_scale=True)
    assert buffered.octave_shapes == fixed.octave_shapes
    fp = default_values((0.0, 1.0), iterations=3, jitter=0, octave_scale=1.4)
    start = np.asarray(images.canvas_to_rgb(start_canvas(h=64, w=64))).astype(float)

    def change(spec, fp):
        frame = compile_step(spec)(net.params, start_canvas(h=64, w=64), fp, jax.random.key(0))[1]
        return (np.asarray(frame) - start).ravel()

    a = change(fixed, fp)
    same_scale = np.corrcoef(a, change(buffered, fp))[0, 1]
    other_scale = np.corrcoef(a, change(buffered, fp.replace(octave_scale=1.8)))[0, 1]
    # The buffered octaves hold the picture at exactly 1/1.4, 1/1.96 of the canvas where
    # the fixed ones round to whole pixels, and dreaming amplifies such differences; still
    # the same scale dreams much the same picture, and another scale another one.
    assert same_scale > 0.5 and same_scale > 2 * other_scale, (same_scale, other_scale)


def test_tiled_gradients_leave_no_seams(net):
    """Octaves above tile_size take their gradient tile by tile. With the random roll the
    seams move every step and leave no mark; without it (jitter 0) the tile border shows."""
    def seam_ratio(jitter):
        spec = DreamSpec.create(96, 96, 1, 1.4, ("inception_3a/output",), max_iterations=8, tile_size=48, **COMPILED_LOOPS)
        out, _ = compile_step(spec)(net.params, jnp.asarray(images.noise_canvas(96, 96, 4, 0)),
                                                default_values((1.0,), iterations=8, jitter=jitter), jax.random.key(0))
        change = np.asarray(out) - images.noise_canvas(96, 96, 4, 0)
        column_step = np.abs(np.diff(change, axis=1)).mean(axis=(0, 2))  # between column c and c+1
        return column_step[47] / np.median(column_step)

    assert seam_ratio(jitter=16) < 1.6
    assert seam_ratio(jitter=0) > seam_ratio(jitter=16)


def test_tiled_and_whole_gradients_agree_away_from_the_seams(net):
    spec_whole = DreamSpec.create(96, 96, 1, 1.4, ("inception_3a/output",), max_iterations=1, **COMPILED_LOOPS)
    spec_tiled = DreamSpec.create(96, 96, 1, 1.4, ("inception_3a/output",), max_iterations=1, tile_size=48, **COMPILED_LOOPS)
    start = images.noise_canvas(96, 96, 30, 1)
    fp = default_values((1.0,), iterations=1, jitter=0)
    # (each call donates its canvas, so each gets its own copy)
    whole = np.asarray(compile_step(spec_whole)(net.params, jnp.asarray(start), fp, jax.random.key(0))[0]) - start
    tiled = np.asarray(compile_step(spec_tiled)(net.params, jnp.asarray(start), fp, jax.random.key(0))[0]) - start
    inner = (slice(12, 36), slice(12, 36))  # the middle of the first tile, far from its edges
    a, b = whole[inner].ravel(), tiled[inner].ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.9


def test_bfloat16_network_dreams_nearly_the_same_frame(net):
    spec = DreamSpec.create(64, 80, 2, 1.4, LAYERS, max_iterations=3)
    half = dataclasses.replace(spec, precision="bfloat16")
    frames, objs = [], []
    for s in (spec, half):
        dreamed, frame = compile_step(s)(net.params, start_canvas(), params(iterations=3), jax.random.key(0))
        frames.append(np.asarray(frame).astype(int))
        objs.append(objective(net, dreamed, "inception_3b/output"))
    programs = dream_step.frame_programs(net.params, start_canvas(), params(), jax.random.key(0), spec=half)
    assert any("bf16" in p.lowered.as_text() for p in programs if p.name.startswith("ascent step"))
    diff = np.abs(frames[0] - frames[1]).mean()
    assert 0 < diff < 6  # rounding differs; the picture is the same dream
    assert objs[1] > 0.9 * objs[0]


def test_blend_keeps_that_share_of_the_dreamed_change(net, step):
    start = np.asarray(images.canvas_to_rgb(start_canvas())).astype(float)

    def change(blend):
        frame = step(net.params, start_canvas(), params().replace(blend=blend), jax.random.key(0))[1]
        return np.asarray(frame).astype(float) - start

    full, half, none = change(1.0), change(0.5), change(0.0)
    assert np.abs(full).mean() > 3
    assert np.abs(none).max() == 0
    assert np.abs(half - full / 2).max() <= 1  # the same dream, half of it (up to uint8 rounding)


def resident_mb_after_freeing(keep: bool) -> tuple[float, float, float]:
    """(resident MB with 400 MB in use, once it is freed, once freed pages are released),
    in a fresh process."""
    code = f"""
import numpy as np
from zoomdream.dream import host_memory
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024
assert host_memory.keep_freed_memory() if {keep} else True
block = np.ones(100_000_000, np.float32)
used = rss()
del block
freed = rss()
host_memory.release_freed_memory()
print(used, freed, rss())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, JAX_PLATFORMS="cpu"))
    used, freed, released = map(float, out.stdout.split())
    return used, freed, released


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_memory_is_kept_for_the_next_program():
    """Without keep_freed_memory glibc gives a large freed block back to the kernel (and
    the next program pays for fresh, zeroed pages); with it, the block stays for reuse."""
    used, freed, _ = resident_mb_after_freeing(keep=False)
    assert freed < used - 300
    used, freed, released = resident_mb_after_freeing(keep=True)
    assert freed > used - 50
    # what compiling freed is handed back once, on purpose
    assert released < used - 300


def test_a_warm_start_leaves_stored_programs_to_their_first_call(net, monkeypatch, tmp_path):
    """With defer_stored, what a cold start traced is compiled ahead, what a warm start
    read from the store is not (it compiles at its first call, while the programs
    before it run), and the frame is the same either way."""
    monkeypatch.setenv("ZOOMDREAM_CACHE_DIR", str(tmp_path))
    spec = DreamSpec.create(48, 48, 2, 1.4, LAYERS, max_iterations=2)
    frames = []
    for start in ("cold", "warm"):
        args = (net.params, start_canvas(h=48, w=48), params(iterations=2), jax.random.key(1))  # (the frame takes the canvas)
        monkeypatch.setattr(dream_step.program_store, "_entries", {})  # a new process
        compiled = dream_step.compile_programs(dream_step.frame_programs(*args, spec=spec), defer_stored=True)
        # backward kernels, (entering the octave, its ascent step) x 2, camera: all or none
        assert len(compiled) == (6 if start == "cold" else 0), start
        frames.append(np.asarray(dream_step.frame_step(*args, spec=spec)[1]))
    np.testing.assert_array_equal(frames[0], frames[1])


def test_programs_are_traced_ahead_in_order_and_a_tracing_error_is_raised_where_it_stopped():
    traced_on = []

    def programs():
        for name in ("a", "b", "c"):
            traced_on.append(threading.current_thread().name)
            if name == "c":
                raise ValueError("input too small")
            yield name

    taken = []
    with pytest.raises(ValueError, match="too small"):
        for program in dream_step._traced_ahead(programs()):
            taken.append(program)
    assert taken == ["a", "b"]
    assert threading.main_thread().name not in traced_on  # traced beside the caller


def test_programs_traced_ahead_see_the_callers_matmul_precision():
    def programs():
        yield jax.config.jax_default_matmul_precision

    with jax.default_matmul_precision("highest"):
        assert list(dream_step._traced_ahead(programs())) == ["highest"]


def test_tracing_ahead_stops_when_its_caller_gives_up():
    traced = []

    def programs():
        for name in range(100):
            time.sleep(0.01)  # tracing takes time
            traced.append(name)
            yield name

    ahead = dream_step._traced_ahead(programs())
    next(ahead)
    ahead.close()  # as when compiling the first program fails
    time.sleep(1.5)  # long enough for a tracer left running to trace all 100
    assert len(traced) < 50
