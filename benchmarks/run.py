"""Steady-state seconds per frame of the dream step, compile time apart, peak memory,
FLOP/s, and (with --profile) where a frame's time goes.

Each configuration runs in a fresh process so that its peak memory is its own:

    python benchmarks/run.py                     # the configurations of this backend
    python benchmarks/run.py --only 256-4oct     # one of them
    python benchmarks/run.py --profile           # plus XLA ops by share of a 256-4oct frame

Writes benchmarks/results/frame-<platform>.json (and profile-<platform>.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

CONFIGS = {
    # name: ((width, height), octaves, iterations, layer)
    "256-3oct": ((256, 256), 3, 10, "inception_4c/output"),
    "256-4oct": ((256, 256), 4, 10, "inception_4c/output"),  # classic-zoom's settings
    "512-4oct": ((512, 512), 4, 10, "inception_4c/output"),
    "1080p-4oct": ((1920, 1080), 4, 10, "inception_4c/output"),  # the GPU target
}
CPU_CONFIGS = ("256-3oct", "256-4oct", "512-4oct")
FRAMES = 6  # the first is a warm-up; the median is over the other five


def measure(name: str) -> dict:
    from common import compiled_step, one_frame, peak_memory

    (width, height), octaves, iterations, layer = CONFIGS[name]
    net, spec, canvas, values, key = one_frame(width, height, octaves, iterations, layer, tile_size=1024)
    start = time.perf_counter()
    step, _, flops = compiled_step(spec, net, canvas, values, key)
    compile_s = time.perf_counter() - start
    times = []
    for k in range(FRAMES):
        start = time.perf_counter()
        canvas, frame = step(net.params, canvas, values.replace(frame_index=k), key)
        np.asarray(frame)
        times.append(time.perf_counter() - start)
    steady = float(np.median(times[1:]))
    return {
        "config": name, "size": f"{width}x{height}", "octaves": [list(s) for s in spec.octave_shapes], "iterations": iterations,
        "layer": layer, "host_steps": spec.host_steps, "compile_s": compile_s, "first_frame_s": times[0],
        "steady_s_per_frame": steady, "frame_times_s": times,
        "gflop_per_frame": flops / 1e9 if flops else None,
        "gflop_per_s": flops / 1e9 / steady if flops else None,
        **peak_memory(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CONFIGS), nargs="+", metavar="CONFIG",
                        help=f"these configurations only: {', '.join(CONFIGS)}")
    parser.add_argument("--profile", action="store_true", help="also profile a 256-4oct frame by XLA op")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.only and args.json:
        print(json.dumps(measure(args.only[0])))
        return
    import jax

    from common import environment, write_result

    rows = []
    default = CPU_CONFIGS if jax.default_backend() == "cpu" else list(CONFIGS)
    for name in args.only or default:
        out = subprocess.run([sys.executable, __file__, "--only", name, "--json"], capture_output=True, text=True,
                             env=dict(os.environ, ZOOMDREAM_CACHE_DIR=""))
        if out.returncode != 0:
            raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{name}: {row['steady_s_per_frame']:.3f} s/frame, compile {row['compile_s']:.1f} s, "
              f"peak RSS {row['host_peak_rss_mb']:.0f} MB, {row['gflop_per_s'] or 0:.0f} GFLOP/s")
    write_result("frame", {"benchmark": "dream frame step (octaves x iterations + zoom)", **environment(), "results": rows})
    if args.profile:
        from profile_frame import profile

        write_result("profile", {"benchmark": "XLA ops of one 256x256 4-octave frame", **environment(), **profile()})


if __name__ == "__main__":
    main()
