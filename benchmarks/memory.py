"""Peak memory of one frame at a large size, with and without tiled gradients.

Each case runs in a fresh process (peak RSS is per process; on a GPU the allocator's
peak is read too):

    python benchmarks/memory.py --size 1920x1080 --tiles 1024 0

Writes benchmarks/results/memory-<platform>.json. With ``--analysis`` it renders nothing:
it compiles the frame step in its compiled-loop form (the one GPUs and TPUs run) and
reports XLA's buffer assignment (temporaries, arguments, outputs) for each tile size, an
estimate of device memory for sizes this machine cannot render in reasonable time:

    python benchmarks/memory.py --analysis --size 3840x2160 --tiles 1024 0

which writes benchmarks/results/memory-analysis-<platform>.json. With ``--film`` each case
is measured twice, a zoom's frames and a film's: three frames of a photograph panning 2 px
a frame (made in memory, so no video files and no ffmpeg are needed), each frame's view
and carried dream (the optical flow, see zoomdream.dream.flow) then its dream, the first
dreamed fully and the others ``video_iterations`` steps, as a render of a film runs them:

    python benchmarks/memory.py --film --size 1920x1080 --tiles 1024

which writes benchmarks/results/memory-film-<platform>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

LAYER = "inception_4c/output"


def measure(width: int, height: int, tile: int, octaves: int, iterations: int, film: bool = False) -> dict:
    from zoomdream.dream.step import film_frame_start

    from common import compiled_step, one_frame, peak_memory

    net, spec, canvas, values, key = one_frame(width, height, octaves, iterations, LAYER, zoom=1.0 if film else 1.05,
                                               tile_size=tile, video=film)
    start = time.perf_counter()
    step, _, _ = compiled_step(spec, net, canvas, values, key)
    compile_s = time.perf_counter() - start
    sources = _film_frames(width, height, 3) if film else [None] * 2
    view, times = None, []
    for k, source in enumerate(sources):
        start = time.perf_counter()
        frame_values = values.replace(frame_index=k)
        if film:
            if k:
                frame_values = frame_values.replace(iterations=values.video_iterations)
            canvas, view = film_frame_start(source, view, canvas, frame_values, key, spec=spec)
        canvas, frame = step(net.params, canvas, frame_values, key)
        np.asarray(frame)
        times.append(time.perf_counter() - start)
    return {"mode": "film" if film else "zoom", "size": f"{width}x{height}", "tile_size": tile, "octaves": octaves,
            "iterations": iterations, "host_steps": spec.host_steps, "compile_s": compile_s, "frame_s": times[-1],
            **peak_memory()}


def _film_frames(width: int, height: int, count: int) -> np.ndarray:
    """``count`` frames of the tests' photograph, magnified to cover ``width`` x ``height``,
    panning 2 px a frame."""
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from films import magnification_to_cover, panning_frames

    return panning_frames((width, height), count, (0, 2), magnification_to_cover(width, height, count, 2))


def analysis(width: int, height: int, tile: int, octaves: int, iterations: int) -> dict:
    import jax

    from common import compiled_step, one_frame

    net, spec, _, values, key = one_frame(width, height, octaves, iterations, LAYER, zoom=1.05, tile_size=tile,
                                          host_steps=False, prune_depth=True)
    canvas = jax.ShapeDtypeStruct(spec.canvas_shape, np.float32)
    start = time.perf_counter()
    memory = compiled_step(spec, net, canvas, values, key)[1][0].memory_analysis()
    gib = 2**30
    return {"size": f"{width}x{height}", "tile_size": tile, "octaves": octaves, "iterations": iterations, "host_steps": False,
            "compile_s": time.perf_counter() - start, "temp_gib": memory.temp_size_in_bytes / gib,
            "arguments_gib": memory.argument_size_in_bytes / gib, "outputs_gib": memory.output_size_in_bytes / gib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--tiles", type=int, nargs="+", default=[1024, 0])
    parser.add_argument("--octaves", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--analysis", action="store_true", help="XLA's buffer assignment of the compiled-loop form only")
    parser.add_argument("--film", action="store_true", help="a film's frames beside a zoom's, for each tile size")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-film", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    if args.child is not None:
        print(json.dumps(measure(width, height, args.child, args.octaves, args.iterations, args.child_film)))
        return
    from common import environment, write_result

    if args.analysis:
        rows = [analysis(width, height, tile, args.octaves, args.iterations) for tile in args.tiles]
        for row in rows:
            print(row)
        write_result("memory-analysis", {"benchmark": f"XLA buffer assignment of one frame at {args.size} ({LAYER})",
                                         **environment(), "results": rows})
        return
    rows = []
    for tile in args.tiles:
        for film in (False, True) if args.film else (False,):
            cmd = [sys.executable, __file__, "--size", args.size, "--octaves", str(args.octaves),
                   "--iterations", str(args.iterations), "--child", str(tile)] + (["--child-film"] if film else [])
            # (Each case compiles afresh: a warm cache would spare one of them compiling's memory.)
            out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, ZOOMDREAM_CACHE_DIR=""))
            if out.returncode != 0:
                rows.append({"size": args.size, "tile_size": tile, "failed": out.stderr.strip().splitlines()[-1:]})
            else:
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    name, what = ("memory-film", "a zoom's and a film's frames") if args.film else ("memory", "one frame")
    write_result(name, {"benchmark": f"{what} at {args.size} ({LAYER})", **environment(), "results": rows})


if __name__ == "__main__":
    main()
