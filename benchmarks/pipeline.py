"""Host overhead: is frame k encoded while frame k+1 is computed?

Renders a preset to MP4 (and, in a second case, also to a folder of PNG frames) and
reports, from the render itself:

* s_per_frame: steady wall seconds per frame (the median interval between finished frames);
* host_s_per_frame: the host's work per frame (copy out, MP4 encoding, PNG files,
  progress), which runs while the next frame computes;
* device_waits: frames that had finished computing before the host was done with the
  frame before; the device then sat idle. 0 means the device never waited on the host;
* encode_only_s_per_frame: the same frames written to an MP4 with nothing else running,
  the work the pipeline hides;
* timeline_s: when each frame was finished, from the start of the frame loop.

A third case renders full HD with a dream so light (one octave, one step at
inception_3a) that the host's share shows: the host work a fast GPU must hide.

    python benchmarks/pipeline.py [--preset classic-zoom] [--size 256x256] [--frames 24]

Writes benchmarks/results/pipeline-<platform>.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import zoomdream
from zoomdream.io import video

from common import environment, write_result

# A dream so light that the host's work at full HD shows: what a fast device leaves to it.
LIGHT = {"dream.octaves": 1, "dream.iterations": 1}


def encode_only(frames: list[np.ndarray], fps: float, folder: Path) -> float:
    """Seconds per frame to encode ``frames`` to an MP4 with the render's writer."""
    height, width = frames[0].shape[:2]
    began = time.perf_counter()
    writer = video.Mp4Writer(folder / "encode-only.mp4", width, height, fps)
    for frame in frames:
        writer.write(frame)
    writer.close()
    return (time.perf_counter() - began) / len(frames)


def measure(preset: str, size: str, frames: int, with_png: bool, net, folder: Path, light: bool = False) -> dict:
    done, kept = [], []

    def on_frame(k, frame):
        done.append(time.perf_counter())
        kept.append(frame)

    result = zoomdream.render(preset, folder / f"{preset}-{with_png}.mp4", frames=frames, size=size, progress=False,
                              net=net, on_frame=on_frame, overwrite=True,
                              frames_dir=folder / "frames" if with_png else None,
                              overrides=LIGHT if light else None, layer="inception_3a/output" if light else None)
    start = done[0] - (done[1] - done[0])  # loop start, from the first interval
    intervals = np.diff(done)
    return {
        "case": ("mp4 + png frames" if with_png else "mp4") + (" (light dream)" if light else ""),
        "size": size,
        "frames": frames,
        "s_per_frame": float(np.median(intervals[len(intervals) // 4:])),
        "host_s_per_frame": result.host_seconds / result.frames,
        "device_waits": result.device_waits,
        "encode_only_s_per_frame": encode_only(kept, result.config.video.fps, folder),
        "timeline_s": [round(t - start, 4) for t in done],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="classic-zoom")
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--host-size", default="1920x1080", help="size of the light-dream case ('' skips it)")
    args = parser.parse_args()
    net = zoomdream.load_googlenet()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for with_png in (False, True):
            row = measure(args.preset, args.size, args.frames, with_png, net, Path(tmp))
            rows.append(row)
            print({k: v for k, v in row.items() if k != "timeline_s"})
        if args.host_size:
            row = measure(args.preset, args.host_size, 12, False, net, Path(tmp), light=True)
            rows.append(row)
            print({k: v for k, v in row.items() if k != "timeline_s"})
    write_result("pipeline", {"benchmark": f"host overlap of {args.preset} at {args.size}", **environment(), "results": rows})


if __name__ == "__main__":
    main()
