"""Dreaming a film: how steady the dream is along the film's motion, and how fast.

    python benchmarks/video.py [--size 256] [--frames 24] [--strip benchmarks/results/film-strip.jpg]

Makes a clip of a real photograph (the golden crops' coffee cup, magnified twice) panning
by a known 2 px per frame, dreams it with the classic-zoom preset (camera still) twice,
with ``dream.coherence`` at its default and at 0 (every frame on its own, dreamed as fully
as the first), and reports:

* the warping error E_warp (Lai et al. 2018): the mean absolute difference, in 8-bit
  levels, between each output frame and the frame before moved by the true motion, over
  the pixels visible in both; beside the source clip's own (its compression's);
* the brightness drift: the largest difference between an output frame's mean level and
  its source frame's, over the clip;
* the dream's strength: the mean difference between output and source frames;
* seconds per frame (steady, and the whole command with compiling).

Writes benchmarks/results/video-<platform>.json, with the CPU it ran on.

    python benchmarks/video.py --large 1920x1080 --frames 4 [--zoom]

A large film instead (tiled octaves): seconds of its first frame and of each frame after
(which dream ``dream.video_iterations`` steps), and the process's peak memory; with
``--zoom``, the same preset's zoom from noise at that size for ``--frames`` frames, the
memory tiled frames need without a film, to compare. Both compile their programs (no
compilation cache), so that their peaks compare. Writes video-large-<platform>.json
(one entry per mode, kept across runs). ``--steps 3`` dreams 3 steps an octave (2 for a
film's later frames) for a quicker measure of memory; ``--cache DIR`` keeps the compiled
programs there, so that a second run measures a render whose programs come from the cache
(its entry is named ``...-cached``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import environment, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from films import magnification_to_cover, panning_frames, write_clip  # noqa: E402

import zoomdream  # noqa: E402
from zoomdream.io import video  # noqa: E402

SHIFT = 2  # pixels per frame, to the left in the picture


def warping_error(frames: np.ndarray) -> float:
    """Mean |frame k - frame k-1 moved by the true motion| over the pixels both show."""
    frames = frames.astype(np.float64)
    return float(np.mean([np.abs(frames[k][:, :-SHIFT] - frames[k - 1][:, SHIFT:]).mean()
                          for k in range(1, len(frames))]))


def large(size: str, frames: int, zoom: bool, steps: int | None = None, cache_dir: Path | None = None) -> None:
    """A large film (or, with ``zoom``, a zoom from noise) at ``size``: time and memory."""
    import json

    from common import RESULTS, peak_memory

    width, height = (int(v) for v in size.lower().split("x"))
    # No compilation cache unless one is named, so that film and zoom both compile: a
    # program loaded from the cache spares the memory compiling takes, and peaks of a
    # compiling render and a cached one do not compare.
    os.environ["ZOOMDREAM_CACHE_DIR"] = str(cache_dir or "")
    cached = cache_dir is not None and any(cache_dir.glob("xla/*"))  # (an empty cache: it compiles)
    net = zoomdream.load_googlenet()
    stamps = []
    # (--steps: fewer steps an octave, for memory alone: a step's buffers do not depend on their number.)
    fewer = {} if steps is None else {"dream.iterations": steps, "dream.video_iterations": max(1, steps - 1)}
    with tempfile.TemporaryDirectory() as tmp:
        options = {"progress": False, "net": net, "on_frame": lambda k, frame: stamps.append(time.perf_counter())}
        began = time.perf_counter()
        if zoom:
            result = zoomdream.render("classic-zoom", Path(tmp) / "zoom.mp4", frames=frames, size=size, overrides=fewer,
                                      **options)
        else:
            magnify = magnification_to_cover(width, height, frames, SHIFT)
            source = write_clip(Path(tmp) / "pan.mp4", panning_frames((width, height), frames, (0, SHIFT), magnify), 25)
            result = zoomdream.render("classic-zoom", Path(tmp) / "film.mp4", input_image=str(source),
                                      overrides={"camera.zoom_per_second": 1.0, **fewer}, **options)
    frame_s = [b - a for a, b in zip([began + result.compile_seconds] + stamps, stamps)]
    # A frame is handed out once the next one is queued, so single gaps between frames
    # wobble; their mean does not.
    record = {
        "size": size, "frames": result.frames, "steps": steps or "preset", "programs_from_cache": cached,
        "compile_s": result.compile_seconds,
        "first_frame_s": frame_s[0], "later_frames_s": frame_s[1:],
        "later_frames_mean_s": sum(frame_s[1:]) / max(len(frame_s) - 1, 1), **peak_memory(), **environment(),
    }
    print(json.dumps(record, indent=1))
    path = RESULTS / f"video-large-{record['device'].split(':')[0]}.json"
    kept = json.loads(path.read_text()) if path.exists() else {}
    kept.pop("still_frame", None)
    kept[("zoom" if zoom else "film") + ("" if steps is None else f"-{steps}-steps") + ("-cached" if cached else "")] = record
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(kept, indent=2) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--strip", type=Path, help="also write a strip: source frames above dreamed frames")
    parser.add_argument("--large", metavar="WxH", help="a large film instead: time per frame and peak memory")
    parser.add_argument("--zoom", action="store_true", help="with --large: a zoom from noise instead of a film")
    parser.add_argument("--steps", type=int, help="with --large: steps an octave (a film's later frames one fewer)")
    parser.add_argument("--cache", type=Path, help="with --large: this compilation cache (a second run's programs come from it)")
    args = parser.parse_args()
    if args.large:
        return large(args.large, args.frames, args.zoom, args.steps, args.cache)
    net = zoomdream.load_googlenet()
    with tempfile.TemporaryDirectory() as tmp:
        source = write_clip(Path(tmp) / "pan.mp4", panning_frames(args.size, args.frames, (0, SHIFT), magnify=2), 25)
        film = video.read_video(source)
        runs = {}
        for name, coherence in (("carried", None), ("frame_by_frame", 0.0)):
            overrides = {"camera.zoom_per_second": 1.0}
            if coherence is not None:
                overrides["dream.coherence"] = coherence
            began = time.perf_counter()
            result = zoomdream.render("classic-zoom", Path(tmp) / f"{name}.mp4", input_image=str(source),
                                      overrides=overrides, progress=False, net=net)
            wall = time.perf_counter() - began
            dreamed = video.read_video(result.output)
            drift = np.abs(dreamed.reshape(len(dreamed), -1).mean(1) - film.reshape(len(film), -1).mean(1))
            runs[name] = {
                "coherence": coherence if coherence is not None else "default",
                "warping_error": warping_error(dreamed),
                # how much is dreamed: the mean |output - source| in 8-bit levels
                "dream_strength": float(np.abs(dreamed.astype(np.float64) - film).mean()),
                "largest_brightness_drift_levels": float(drift.max()),
                "s_per_frame": result.seconds / result.frames,
                "compile_s": result.compile_seconds,
                "whole_s": wall,
            }
            print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in runs[name].items()}, flush=True)
            if name == "carried" and args.strip:
                picks = np.linspace(0, len(film) - 1, 6).round().astype(int)
                strip = np.concatenate([np.concatenate(list(film[picks]), 1), np.concatenate(list(dreamed[picks]), 1)], 0)
                args.strip.parent.mkdir(parents=True, exist_ok=True)
                import imageio.v3 as iio

                iio.imwrite(args.strip, strip)
    summary = {
        "source_warping_error": warping_error(film),
        "carried_warping_error": runs["carried"]["warping_error"],
        "frame_by_frame_warping_error": runs["frame_by_frame"]["warping_error"],
        "carried_over_frame_by_frame": runs["carried"]["warping_error"] / runs["frame_by_frame"]["warping_error"],
        "largest_brightness_drift_levels": runs["carried"]["largest_brightness_drift_levels"],
    }
    for key, value in summary.items():
        print(f"{key}: {value:.3f}")
    write_result("video", {
        "benchmark": f"classic-zoom on a {args.size}x{args.size} clip of {args.frames} frames panning {SHIFT} px/frame",
        **environment(), "summary": summary, "runs": runs,
    })


if __name__ == "__main__":
    main()
