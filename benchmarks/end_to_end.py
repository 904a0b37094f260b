"""What a user waits for: the command line end to end, beside the bare frame step, in one run.

    python benchmarks/end_to_end.py [--preset classic-zoom] [--size 256x256] [--frames 12] [--repeats 2]

Runs, one process at a time, alternating so that the machine's drift touches all alike:

* the bare step: ``benchmarks/run.py``'s compiled frame step alone at the preset's settings
  (256-4oct for classic-zoom), steady seconds per frame;
* the command line as a user types it, ``python -m zoomdream --preset P --size S --frames N``,
  with and without ``--frames-dir``, with ``--timeline`` to see inside: steady seconds per
  frame (the median interval between finished frames, past the first two), the whole
  process's wall time, and where the host's time went (each span's mean per frame, the CPU
  seconds of the process's threads and of ffmpeg);
* the time from the command to its first finished frame, with an empty compilation cache
  (cold) and with the cache the cold run filled (warm).

Writes benchmarks/results/end_to_end-<platform>.json, with the CPU it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import environment, write_result

HERE = Path(__file__).resolve().parent
# The PyTorch port of the 2015 notebook, measured once beside the bare step on the same
# day (issue 14): 2.76 s/frame when the bare step took 1.59. Its time here is estimated
# through the bare step measured in this run, since the port is not part of zoomdream.
PORT_OVER_BARE_STEP = 2.76 / 1.59
PRESET_CONFIGS = {"classic-zoom": "256-4oct"}  # run.py's configuration with the preset's settings


def bare_step(config: str) -> dict:
    out = subprocess.run([sys.executable, str(HERE / "run.py"), "--only", config, "--json"], capture_output=True,
                         text=True, env=dict(os.environ, ZOOMDREAM_CACHE_DIR=""), check=True)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    return {"s_per_frame": row["steady_s_per_frame"], "compile_s": row["compile_s"]}


def command_line(preset: str, size: str, frames: int, cache: Path, folder: Path, frames_dir: bool) -> dict:
    """One render from the command line, timed from outside and from its own timeline."""
    stamp = f"{time.monotonic_ns()}"
    output, record = folder / f"{stamp}.mp4", folder / f"{stamp}.timeline.json"
    command = [sys.executable, "-m", "zoomdream", "--preset", preset, "--size", size, "--frames", str(frames),
               "-o", str(output), "--timeline", str(record), "--quiet"]
    if frames_dir:
        command += ["--frames-dir", str(folder / f"{stamp}-frames")]
    began = time.time()
    subprocess.run(command, check=True, env=dict(os.environ, ZOOMDREAM_CACHE_DIR=str(cache)), capture_output=True)
    wall = time.time() - began
    return {"frames_dir": frames_dir, "process_wall_s": wall, **read_timeline(json.loads(record.read_text()), began)}


def read_timeline(record: dict, spawned: float) -> dict:
    """Figures from a render's --timeline record; ``spawned``: when its process was started."""
    events = record["events"]
    ends: dict[int, float] = {}
    for e in events:
        if "frame" in e:
            ends[e["frame"]] = max(ends.get(e["frame"], 0.0), e["start_s"] + e["seconds"])
    finished = [ends[k] for k in sorted(ends)]
    intervals = [b - a for a, b in zip(finished, finished[1:])][1:]  # past the first two frames
    per_frame: dict[str, float] = {}
    for e in events:
        if "frame" in e:
            per_frame[e["name"]] = per_frame.get(e["name"], 0.0) + e["seconds"] / len(finished)
    once = {e["name"]: e["seconds"] for e in events if "frame" not in e}
    return {
        "s_per_frame": statistics.median(intervals),
        "first_frame_s": record["started_epoch_s"] + finished[0] - spawned,
        "before_render_s": record["started_epoch_s"] - spawned,  # interpreter start and imports
        "once_s": once,
        "host_s_per_frame": {name: round(s, 4) for name, s in sorted(per_frame.items(), key=lambda kv: -kv[1])},
        "process_cpu_s": record["process_cpu_s"],
        "ffmpeg_cpu_s": record["children_cpu_s"],
        "threads_cpu_s": record["threads_cpu_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="classic-zoom", choices=sorted(PRESET_CONFIGS))
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows: dict[str, list] = {"bare": [], "cli": [], "cli_frames_dir": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder, cache = Path(tmp), Path(tmp) / "cache"
        cold = command_line(args.preset, args.size, args.frames, cache, folder, frames_dir=False)  # fills the cache
        print(f"cold: first frame after {cold['first_frame_s']:.1f} s", flush=True)
        for _ in range(args.repeats):
            rows["bare"].append(bare_step(PRESET_CONFIGS[args.preset]))
            rows["cli"].append(command_line(args.preset, args.size, args.frames, cache, folder, frames_dir=False))
            rows["cli_frames_dir"].append(command_line(args.preset, args.size, args.frames, cache, folder, frames_dir=True))
            print({k: round(v[-1]["s_per_frame"], 3) for k, v in rows.items()}, flush=True)

    def median(name: str, key: str = "s_per_frame") -> float:
        return statistics.median(r[key] for r in rows[name])

    bare = median("bare")
    summary = {
        "bare_step_s_per_frame": bare,
        "cli_s_per_frame": median("cli"),
        "cli_frames_dir_s_per_frame": median("cli_frames_dir"),
        "cli_over_bare": median("cli") / bare,
        "cli_frames_dir_over_bare": median("cli_frames_dir") / bare,
        "first_frame_cold_s": cold["first_frame_s"],
        "first_frame_warm_s": median("cli", "first_frame_s"),
        "pytorch_port_estimate_s_per_frame": bare * PORT_OVER_BARE_STEP,
        "speedup_over_port_estimate_cli_frames_dir": bare * PORT_OVER_BARE_STEP / median("cli_frames_dir"),
    }
    for key, value in summary.items():
        print(f"{key}: {value:.3f}")
    write_result("end_to_end", {
        "benchmark": f"python -m zoomdream --preset {args.preset} --size {args.size} --frames {args.frames}, "
                     "beside the bare frame step",
        **environment(), "summary": summary, "cold": cold, "runs": rows,
    })


if __name__ == "__main__":
    main()
