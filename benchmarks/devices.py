"""How a frame and a sweep share out over devices: work per device and bytes moved.

For 1, 2, 4 and 8 devices (CPU devices forced with ``--xla_force_host_platform_device_count``,
each count in a process of its own), at 1920x1080, 4 octaves x 10 iterations at
inception_4c with ``dream.tile_size`` 512:

* one frame, its tiles shared out: the operations each device does per frame (XLA's
  count of one ascent step at each octave's size and at each tile's size, times the
  steps and the tiles each device takes: XLA counts a loop's body once, so loops are
  multiplied out here), and the bytes the compiled step moves between devices per frame
  (the collectives in XLA's compiled programs, each result's size, times its calls);
* a sweep of 8 variants at 256x256, each device taking 8 / N of them: the same two
  figures.

    python benchmarks/devices.py [--counts 1 2 4 8]

With ``--measure`` it times instead, on the devices this machine has (a GPU, say): the
seconds per frame of one render and of sweeps of 2 and 4 variants dreamed as one batch,
and so the seconds per frame per variant:

    python benchmarks/devices.py --measure --size 1920x1080 --variants 1 2 4

Writes benchmarks/results/devices-<platform>.json (devices-measured-<platform>.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np

LAYER = "inception_4c/output"
SIZE, TILE, OCTAVES, ITERATIONS = (1920, 1080), 512, 4, 10
SWEEP_SIZE, SWEEP_VARIANTS = (256, 256), 8
# A collective in XLA's HLO text: its result's type and shape, and its kind.
_COLLECTIVE = re.compile(r"=\s*\(?(\w+)\[([\d,]*)\][^=]*?\s(all-gather|all-reduce|collective-permute|all-to-all|"
                         r"reduce-scatter)(?:-start)?\(")
_BYTES = {"f32": 4, "s32": 4, "u32": 4, "bf16": 2, "f16": 2, "pred": 1, "u8": 1, "s8": 1, "f64": 8, "s64": 8}


def collective_bytes(hlo: str) -> int:
    """Bytes of the results of the collectives in a compiled program's HLO text."""
    total = 0
    for dtype, dims, _ in _COLLECTIVE.findall(hlo):
        total += _BYTES.get(dtype, 4) * math.prod(int(d) for d in dims.split(",") if d)
    return total


def _inputs(width: int, height: int, variants: int = 1):
    from common import one_frame

    net, spec, _, values, key = one_frame(width, height, OCTAVES, ITERATIONS, LAYER, tile_size=0)
    if variants > 1:
        from zoomdream.schedule.sweep import stack

        values = stack([values] * variants)
        key = __import__("jax").random.split(key, variants)
    return net, spec, values, key


def step_flops(net, values, key, height: int, width: int) -> float:
    """XLA's count of one ascent step's operations on a picture of this size, untiled
    (``values`` and ``key``: one frame's, as :func:`_inputs` gives them)."""
    import jax

    from zoomdream.dream import step

    spec = step.DreamSpec.create(height, width, 1, 1.4, [LAYER], 1, tile_size=0, host_steps=True)
    canvas = jax.ShapeDtypeStruct(spec.canvas_shape, np.float32)
    program = next(p for p in step.frame_programs(net.params, canvas, values, key, spec=spec)
                   if p.name.startswith("ascent step"))
    return float(program.lowered.cost_analysis()["flops"])


def shared_frame(count: int) -> dict:
    """One 1080p frame, its tiles over ``count`` devices."""
    import jax

    from zoomdream.dream import devices, step

    net, base, values, key = _inputs(*SIZE)
    spec = dataclasses.replace(base, tile_size=TILE, devices=count, host_steps=True, prune_depth=False)
    work, total = 0.0, 0.0
    for h, w in spec.octave_shapes:
        rows, cols = devices.tile_grid(h, w, TILE)
        tiles = rows * cols
        per_tile = step_flops(net, values, key, -(-h // rows), -(-w // cols))
        work += ITERATIONS * -(-tiles // count) * per_tile  # each device's share, padded to equal
        total += ITERATIONS * tiles * per_tile
    canvas = jax.ShapeDtypeStruct(spec.canvas_shape, np.float32)
    params = devices.place(net.params, count)
    moved = sum(collective_bytes(c.as_text()) * p.calls_per_frame
                for p, c in step.compile_programs(step.frame_programs(params, canvas, values, key, spec=spec)))
    return {"devices": count, "case": f"one frame {SIZE[0]}x{SIZE[1]}, tiles of {TILE}",
            "tiles": [devices.tile_grid(h, w, TILE) for h, w in spec.octave_shapes],
            "gflop_per_device": work / 1e9, "gflop_all_devices": total / 1e9,
            "share_of_the_frame": work / total, "mb_moved_per_frame": moved / 1e6}


def shared_sweep(count: int) -> dict:
    """A sweep of SWEEP_VARIANTS at SWEEP_SIZE, its variants over ``count`` devices."""
    import jax

    from zoomdream.dream import devices, step

    net, base, values, key = _inputs(*SWEEP_SIZE, SWEEP_VARIANTS)
    spec = dataclasses.replace(base, variants=SWEEP_VARIANTS, devices=count, host_steps=True, prune_depth=False)
    frame = sum(ITERATIONS * step_flops(net, values.at(0), key[0], h, w) for h, w in spec.octave_shapes)
    canvas = jax.ShapeDtypeStruct((SWEEP_VARIANTS, *spec.canvas_shape), np.float32)
    params = devices.place(net.params, count)
    moved = sum(collective_bytes(c.as_text()) * p.calls_per_frame
                for p, c in step.compile_programs(step.frame_programs(params, canvas, values, key, spec=spec)))
    return {"devices": count, "case": f"sweep of {SWEEP_VARIANTS} at {SWEEP_SIZE[0]}x{SWEEP_SIZE[1]}",
            "gflop_per_device": frame * SWEEP_VARIANTS / count / 1e9, "gflop_all_devices": frame * SWEEP_VARIANTS / 1e9,
            "share_of_the_frame": 1 / count, "mb_moved_per_frame": moved / 1e6}


def measure(size: tuple[int, int], variants: list[int], frames: int) -> list[dict]:
    """Seconds per frame of a render and of sweeps dreamed as one batch, here."""
    import jax

    from zoomdream.dream import step
    from zoomdream.io import images

    from common import peak_memory

    rows = []
    for count in variants:
        net, base, values, key = _inputs(*size, count)
        spec = dataclasses.replace(base, tile_size=1024, variants=count)
        noise = [images.noise_canvas(size[0], size[1], 48.0, seed) for seed in range(count)]
        canvas = jax.numpy.asarray(np.stack(noise) if count > 1 else noise[0])
        began = time.perf_counter()
        step.compile_programs(step.frame_programs(net.params, canvas, values, key, spec=spec))
        compile_s = time.perf_counter() - began
        times = []
        for _ in range(frames):
            began = time.perf_counter()
            canvas, frame = step.frame_step(net.params, canvas, values, key, spec=spec)
            np.asarray(frame)
            times.append(time.perf_counter() - began)
        steady = float(np.median(times[1:]))
        rows.append({"variants": count, "size": f"{size[0]}x{size[1]}", "compile_s": compile_s,
                     "s_per_frame": steady, "s_per_frame_per_variant": steady / count, **peak_memory()})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--measure", action="store_true", help="time renders and sweeps on this machine's devices")
    parser.add_argument("--size", default="1920x1080", help="with --measure")
    parser.add_argument("--variants", type=int, nargs="+", default=[1, 2, 4], help="with --measure")
    parser.add_argument("--frames", type=int, default=4, help="with --measure: frames timed (the first is not counted)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print("RESULT" + json.dumps([shared_frame(args.child), shared_sweep(args.child)]))
        return
    from common import environment, write_result

    if args.measure:
        size = tuple(int(v) for v in args.size.split("x"))
        rows = measure(size, args.variants, args.frames)
        write_result("devices-measured", {"benchmark": f"a render and sweeps as one batch at {args.size}, {OCTAVES} "
                                          f"octaves x {ITERATIONS} iterations at {LAYER}", **environment(),
                                          "results": rows})
        return
    rows = []
    for count in args.counts:
        env = dict(os.environ, JAX_PLATFORMS="cpu", ZOOMDREAM_CACHE_DIR="",
                   XLA_FLAGS=f"--xla_force_host_platform_device_count={count}")
        out = subprocess.run([sys.executable, __file__, "--child", str(count)], capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise SystemExit(f"{count} devices failed:\n{out.stderr[-3000:]}")
        for row in json.loads(out.stdout.split("RESULT", 1)[1]):
            rows.append(row)
            print(f"{row['case']}, {count} devices: {row['gflop_per_device']:.0f} GFLOP per device "
                  f"({row['share_of_the_frame']:.0%} of all), {row['mb_moved_per_frame']:.1f} MB moved per frame")
    write_result("devices", {"benchmark": "work per device and bytes between devices per frame, from XLA's analysis "
                             "of the compiled step (CPU devices forced)", **environment(), "results": rows})


if __name__ == "__main__":
    main()
