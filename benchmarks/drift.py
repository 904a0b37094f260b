"""Does a long zoom drift? Colour, colourfulness, clipping and sharpness over thousands of frames.

Renders `classic-zoom` at a small size for many frames twice, side by side as one sweep:
with `color.coherence` 0 (off) and at the strength asked for (the README's recommended
0.75), and measures every frame:

* mean colour: the mean CIE Lab of the frame;
* colourfulness: Hasler and Suesstrunk's measure (2003) on 0..255 RGB;
* clipped: the share of pixels with a channel at 0 or 255;
* sharpness: the mean absolute Laplacian of the luminance (high-frequency energy).

The summary (JSON) gives, after the first 25 frames: how far each frame's mean colour lies
from the mean of the frames of the window before it (CIE76 Delta E; the reference of
`color.reference: window`), the drift (Delta E between the mean colour of the last 100
frames and of frames 25-125, which the issue measured at 15.7 without coherence), and the
extremes of 100-frame averages of colourfulness and sharpness against frames 25-125 and of
the clipped share. The curves go to a PNG.

    python benchmarks/drift.py [--frames 5000] [--size 64x64] [--strength 0.75]

Other variants side by side: ``--sweep color.reference=window,first --set color.coherence=0.75``
(any ``--sweep`` and ``--set`` of the command line; ``--name`` keeps their results apart).

Writes benchmarks/results/drift[-NAME]-<platform>.json, drift[-NAME].png and every frame's
measures to drift[-NAME]-curves.npz.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

EARLY = slice(25, 125)
BLOCK = 100


def measures(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame measures of uint8 RGB frames (N, H, W, 3)."""
    import jax.numpy as jnp

    from zoomdream.dream import color
    from zoomdream.io import images

    chunks = np.array_split(frames, max(1, len(frames) // 256))
    lab = np.concatenate([np.asarray(color.canvas_to_lab(jnp.asarray(images.rgb_to_canvas(chunk)))).mean(axis=(1, 2))
                          for chunk in chunks])
    colourful = np.concatenate([np.asarray(color.colourfulness(jnp.asarray(chunk, jnp.float32))) for chunk in chunks])
    rgb = frames.astype(np.float64)
    clipped = ((frames == 0) | (frames == 255)).any(axis=-1).mean(axis=(1, 2))
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    laplacian = (luma[:, 1:-1, :-2] + luma[:, 1:-1, 2:] + luma[:, :-2, 1:-1] + luma[:, 2:, 1:-1]
                 - 4 * luma[:, 1:-1, 1:-1])
    return {"lab": lab, "colourfulness": colourful, "clipped": clipped, "sharpness": np.abs(laplacian).mean(axis=(1, 2))}


def summary(m: dict[str, np.ndarray], window: int) -> dict:
    lab = m["lab"]
    window = min(window, len(lab) - EARLY.start - 1)  # (a short render: as much window as there is)
    # Each frame against the mean of the window of frames before it.
    cumulative = np.cumsum(np.vstack([np.zeros(3), lab]), axis=0)
    index = np.arange(EARLY.start + window, len(lab))
    reference = (cumulative[index] - cumulative[index - window]) / window
    from_window = np.linalg.norm(lab[index] - reference, axis=1)

    def blocks(values: np.ndarray) -> np.ndarray:
        usable = values[EARLY.start:]
        return usable[: len(usable) // BLOCK * BLOCK].reshape(-1, BLOCK).mean(axis=1)

    def relative(name: str) -> list[float]:
        early = m[name][EARLY].mean()
        ratios = blocks(m[name]) / early
        return [float(ratios.min()), float(ratios.max())]

    return {
        "delta_e_from_window_p95": float(np.percentile(from_window, 95)),
        "delta_e_from_window_max": float(from_window.max()),
        "drift_delta_e": float(np.linalg.norm(lab[-BLOCK:].mean(axis=0) - lab[EARLY].mean(axis=0))),
        "lab_early": lab[EARLY].mean(axis=0).round(2).tolist(),
        "lab_last": lab[-BLOCK:].mean(axis=0).round(2).tolist(),
        "colourfulness_vs_early": relative("colourfulness"),
        "sharpness_vs_early": relative("sharpness"),
        "clipped_share_max_block": float(blocks(m["clipped"]).max()),
    }


def plot(curves: dict[str, dict[str, np.ndarray]], path: Path, fps: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(5, 1, figsize=(9, 11), sharex=True)
    for label, m in curves.items():
        t = np.arange(len(m["lab"])) / fps
        for ax, values, name in zip(axes, (m["lab"][:, 0], np.hypot(m["lab"][:, 1], m["lab"][:, 2]), m["colourfulness"],
                                           m["clipped"] * 100, m["sharpness"]),
                                    ("mean L*", "mean chroma (a*, b*)", "colourfulness", "clipped pixels (%)",
                                     "sharpness (|Laplacian|)")):
            ax.plot(t, values, lw=0.6, label=label)
            ax.set_ylabel(name, fontsize=8)
    axes[0].legend(fontsize=8)
    axes[-1].set_xlabel("seconds of video")
    fig.suptitle("classic-zoom over a long render, with and without color.coherence", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--strength", type=float, default=0.75)
    parser.add_argument("--sweep", action="append", help="variants (default: color.coherence=0,STRENGTH)")
    parser.add_argument("--set", action="append", default=[], help="settings of every variant")
    parser.add_argument("--name", default="", help="a name for the results' files")
    args = parser.parse_args()
    if args.frames < EARLY.stop + BLOCK:
        parser.error(f"--frames: at least {EARLY.stop + BLOCK} (blocks of {BLOCK} frames are compared with frames "
                     f"{EARLY.start}-{EARLY.stop})")
    import imageio.v3 as iio

    import zoomdream
    from zoomdream.schedule import config as config_lib
    from zoomdream.schedule import sweep

    from common import RESULTS, environment, write_result

    overrides = {"dream.octaves": 2, **dict(config_lib.parse_assignment(s) for s in args.set)}
    variants = args.sweep or [f"color.coherence=0,{args.strength}"]
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        results = zoomdream.render_sweep("classic-zoom", Path(folder) / "drift.mp4", variants, frames=args.frames,
                                         size=args.size, overrides=overrides, frames_dir=Path(folder) / "frames")
        seconds = time.perf_counter() - began
        curves, windows = {}, {}
        for variant, result in zip(sweep.parse(variants), results):
            files = sorted((Path(folder) / "frames" / f"drift_{variant.index}").glob("frame_*.png"))
            curves[variant.label] = measures(np.stack([iio.imread(f) for f in files]))
            config = result.config
            windows[variant.label] = round(config.color.window_seconds * config.video.fps)
    fps = results[0].config.video.fps
    rows = [{"case": label, "settings": args.set, "window_frames": windows[label], **summary(m, windows[label])}
            for label, m in curves.items()]
    for row in rows:
        print(row)
    RESULTS.mkdir(exist_ok=True)
    name = f"drift-{args.name}" if args.name else "drift"
    plot(curves, RESULTS / f"{name}.png", fps)
    # Every frame's measures, so that another summary needs no new render.
    np.savez_compressed(RESULTS / f"{name}-curves.npz",
                        **{f"{n}/{key}": value for n, m in enumerate(curves.values()) for key, value in m.items()},
                        labels=np.array(list(curves)))
    write_result(name, {"benchmark": f"classic-zoom at {args.size}, 2 octaves, {args.frames} frames, rendered as one "
                        f"sweep in {seconds:.0f} s", **environment(), "results": rows})


if __name__ == "__main__":
    main()
