"""What dreaming only every Nth frame (dream.cadence) saves, and what it costs.

Renders classic-zoom's settings at a small size with cadence 1, 2 and 4 and reports the
steady seconds per frame and two picture measures against cadence 1:

* detail: mean absolute Laplacian of the frames (sharpness of what is drawn);
* jumps: the 95th percentile of the mean absolute change from one frame to the next
  (dreamed frames change the picture at once; a cadence concentrates the change).

    python benchmarks/cadence.py [--size 192x192] [--frames 48]

Writes benchmarks/results/cadence-<platform>.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import zoomdream

from common import environment, write_result


def detail(frames: np.ndarray) -> float:
    f = frames.astype(np.float64).mean(axis=-1)
    lap = 4 * f[:, 1:-1, 1:-1] - f[:, :-2, 1:-1] - f[:, 2:, 1:-1] - f[:, 1:-1, :-2] - f[:, 1:-1, 2:]
    return float(np.abs(lap).mean())


def jumps(frames: np.ndarray) -> float:
    change = np.abs(np.diff(frames.astype(np.float64), axis=0)).mean(axis=(1, 2, 3))
    return float(np.percentile(change, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="192x192")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--cadences", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    net = zoomdream.load_googlenet()
    rows = []
    for cadence in args.cadences:
        frames, times = [], []

        def keep(k, frame, frames=frames, times=times):
            frames.append(frame)
            times.append(time.perf_counter())

        out = Path(tempfile.mkdtemp()) / "c.mp4"
        zoomdream.render("classic-zoom", out, frames=args.frames, size=args.size, progress=False, net=net,
                         overrides={"dream.cadence": cadence}, on_frame=keep)
        stack = np.stack(frames)
        # Mean, not median: with a cadence, dreamed and moved frames alternate.
        warm = len(times) // 4
        steady = (times[-1] - times[warm]) / (len(times) - 1 - warm)
        rows.append({"cadence": cadence, "s_per_frame": steady, "detail": detail(stack[args.frames // 2:]),
                     "jumps_p95": jumps(stack[args.frames // 2:])})
        print(rows[-1])
    base = rows[0]
    for row in rows:
        row["speedup"] = base["s_per_frame"] / row["s_per_frame"]
        row["detail_vs_cadence_1"] = row["detail"] / base["detail"]
        row["jumps_vs_cadence_1"] = row["jumps_p95"] / base["jumps_p95"]
    write_result("cadence", {"benchmark": f"dream.cadence on classic-zoom at {args.size}", **environment(),
                             "frames": args.frames, "results": rows})


if __name__ == "__main__":
    main()
