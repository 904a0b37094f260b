"""``--plan``: a render's schedule shown before anything is dreamed.

A readable table at the keyframes and layer changes, every per-frame value as JSON, and a
plot of the curves. Pure host code over a :class:`zoomdream.schedule.Plan`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from zoomdream.config import ConfigError, RenderConfig
from zoomdream.schedule import Plan


def frame_records(plan: Plan) -> list[dict]:
    """One dict per frame: the values the frame is dreamed with and where the camera is.
    ``zoom``, ``angle`` (degrees) and ``pan_x``/``pan_y`` (pixels) are totals since the
    first frame; ``zoom_step``, ``angle_step`` are the move after the frame."""
    zoom, angle, pan = plan.zoom_total(), plan.angle_total(), plan.pan_total()
    records = []
    for k in range(plan.frames):
        records.append({
            "frame": k,
            "t": round(k / plan.fps, 6),
            "layer": plan.layer_label(k),
            "weights": {o.spec: round(float(w), 6) for o, w in zip(plan.objectives, plan.weights[k])},
            "step_size": round(float(plan.step_size[k]), 6),
            "iterations": int(plan.iterations[k]),
            "jitter": int(plan.jitter[k]),
            "zoom": round(float(zoom[k]), 6),
            "angle": round(float(angle[k]), 6),
            "pan_x": round(float(pan[k, 0]), 4),
            "pan_y": round(float(pan[k, 1]), 4),
            "center_x": round(float(plan.center[k, 0]), 6),
            "center_y": round(float(plan.center[k, 1]), 6),
            "zoom_step": round(float(plan.zoom[k]), 8),
            "angle_step": round(float(np.degrees(plan.angle[k])), 8),
        })
    return records


def plan_json(plan: Plan) -> dict:
    return {"fps": plan.fps, "objectives": [o.spec for o in plan.objectives], "frames": frame_records(plan)}


def _keyframe_frames(config: RenderConfig, plan: Plan) -> set[int]:
    """Frames at which some scheduled value has a keyframe."""
    frames = set()
    curves = [getattr(config.dream, n) for n in ("step_size", "iterations", "jitter")]
    curves += [getattr(config.camera, n) for n in ("zoom_per_second", "rotation", "pan_x", "pan_y", "center_x", "center_y")]
    curves += [curve for step in config.layers.schedule for _, curve in step.layer]
    for curve in curves:
        for key in curve.keyframes:
            frames.add(round(key.seconds(plan.fps) * plan.fps))
    return {f for f in frames if 0 <= f < plan.frames}


def plan_table(config: RenderConfig, plan: Plan) -> str:
    """The schedule at its first and last frame, its keyframes and every layer change."""
    records = frame_records(plan)
    rows = {0, plan.frames - 1} | _keyframe_frames(config, plan)
    rows |= {k for k in range(1, plan.frames) if records[k]["layer"] != records[k - 1]["layer"]}
    header = ("frame", "t (s)", "zoom", "angle", "pan x,y", "centre", "step", "iter", "jitter", "dreaming")
    lines = [header]
    for k in sorted(rows):
        r = records[k]
        lines.append((
            str(k), f"{r['t']:.2f}", f"{r['zoom']:.4g}", f"{r['angle']:.1f}", f"{r['pan_x']:.0f},{r['pan_y']:.0f}",
            f"{r['center_x']:.2f},{r['center_y']:.2f}", f"{r['step_size']:.2f}", str(r["iterations"]), str(r["jitter"]),
            r["layer"],
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = "\n".join("  ".join(cell.ljust(w) if i == len(header) - 1 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))) for line in lines)
    summary = f"{config.name}: {plan.frames} frames at {plan.fps:g} fps ({plan.frames / plan.fps:.1f} s)"
    return summary + "\n" + text


def plot_plan(plan: Plan, path: Path) -> None:
    """The curves over time, one panel each, as a PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plan with a .png needs matplotlib: pip install 'zoomdream[plot]'") from None
    t = plan.times
    panels = [
        ("zoom (total)", [(plan.zoom_total(), None)]),
        ("angle (degrees)", [(plan.angle_total(), None)]),
        ("pan (pixels)", [(plan.pan_total()[:, 0], "x"), (plan.pan_total()[:, 1], "y")]),
        ("step size", [(plan.step_size, None)]),
        ("iterations / jitter", [(plan.iterations, "iterations"), (plan.jitter, "jitter")]),
        ("objective weights", [(plan.weights[:, i], o.label) for i, o in enumerate(plan.objectives)]),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.0 * len(panels)), sharex=True)
    for ax, (title, series) in zip(axes, panels):
        for values, label in series:
            ax.plot(t, values, label=label)
        ax.set_ylabel(title, fontsize=8)
        if any(label for _, label in series):
            ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_plan(config: RenderConfig, plan: Plan, path: str | None) -> list[Path]:
    """Write the plan's JSON to ``path`` (and a plot for a .png path, the JSON beside it)."""
    if path is None:
        return []
    target = Path(path)
    if not target.parent.is_dir():
        raise ConfigError(f"--plan: folder {str(target.parent)!r} does not exist")
    written = []
    if target.suffix.lower() == ".png":
        plot_plan(plan, target)
        written.append(target)
        target = target.with_suffix(".json")
    target.write_text(json.dumps(plan_json(plan), indent=1) + "\n")
    written.append(target)
    return written
