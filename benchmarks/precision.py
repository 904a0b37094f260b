"""Reduced precision: what bfloat16 (and, on GPUs, TF32) changes in a frame, and its speed.

Dreams the same frame from the same canvas (a picture already dreamed for a few frames,
so that there is structure to change) with the network in

* float32 at the highest matmul precision (the reference),
* float32 at JAX's default precision (TF32 convolutions on recent NVIDIA GPUs; the same
  as the reference on a CPU),
* bfloat16 (``dream.precision: bfloat16``),

and reports each one's steady seconds per frame and its difference from the reference:
mean absolute difference in 0-255 levels, the 99th percentile, and PSNR in dB.

    python benchmarks/precision.py [--size 256x256] [--octaves 4] [--iterations 10]

Writes benchmarks/results/precision-<platform>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np

from common import compiled_step, environment, one_frame, write_result

LAYER = "inception_4c/output"
VARIANTS = (("float32, highest", "float32", "highest"), ("float32, default", "float32", None), ("bfloat16", "bfloat16", None))


def difference(frame: np.ndarray, reference: np.ndarray) -> dict:
    diff = np.abs(frame.astype(np.float64) - reference.astype(np.float64))
    mse = float((diff**2).mean())
    return {"mean_abs": float(diff.mean()), "p99_abs": float(np.percentile(diff, 99)),
            "psnr_db": float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--octaves", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--frames", type=int, default=5, help="timed frames per variant")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    net, spec, canvas, fp, key = one_frame(width, height, args.octaves, args.iterations, LAYER, zoom=1.05, tile_size=1024)

    def compiled(precision: str, matmul: str | None):
        with jax.default_matmul_precision(matmul):
            step = compiled_step(dataclasses.replace(spec, precision=precision), net, jax.numpy.zeros_like(canvas), fp, key)[0]

        def call(*args):
            # Called in the precision it was compiled for: the programs are kept by the
            # precision in force, and outside it the step would compile JAX's default.
            with jax.default_matmul_precision(matmul):
                return step(*args)
        return call

    # The shared start: a few frames dreamed from noise at the reference precision.
    reference_step = compiled("float32", "highest")
    for k in range(3):
        canvas, _ = reference_step(net.params, canvas, fp.replace(frame_index=k), key)
    start = np.asarray(canvas)

    rows, reference = [], None
    for name, precision, matmul in VARIANTS:
        step = reference_step if matmul == "highest" else compiled(precision, matmul)
        _, frame = step(net.params, jax.numpy.asarray(start), fp, key)
        frame = np.asarray(frame)
        reference = frame if reference is None else reference
        times = []
        for _ in range(args.frames):
            began = time.perf_counter()
            np.asarray(step(net.params, jax.numpy.asarray(start), fp, key)[1])
            times.append(time.perf_counter() - began)
        rows.append({"variant": name, "s_per_frame": float(np.median(times)), **difference(frame, reference)})
        print(rows[-1])
    write_result("precision", {"benchmark": f"one frame at {args.size}, {args.octaves} octaves x {args.iterations} "
                               f"iterations at {LAYER}, against float32 at the highest precision",
                               **environment(), "results": rows})


if __name__ == "__main__":
    main()
