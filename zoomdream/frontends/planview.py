"""``--plan``: a render's schedule shown before anything is dreamed.

A readable table at the keyframes and layer changes, every per-frame value as JSON, and a
plot of the curves. Pure host code over a :class:`zoomdream.schedule.plan.Plan`. Values
that follow the soundtrack are shown beside the sound's curves that drive them (columns
and rows at the sound's peaks in the table, ``sound`` in the JSON, the waveform and the
curves in the plot).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from zoomdream.errors import ConfigError
from zoomdream.schedule import values
from zoomdream.schedule.config import RenderConfig
from zoomdream.schedule.plan import Plan


def frame_records(plan: Plan) -> list[dict]:
    """One dict per frame: every value the frame is dreamed with, by its frame name. A
    camera rate appears twice: under its name, the total since the first frame in the
    preset's units (``zoom`` reached, ``angle`` in degrees, ``pan_x`` in pixels), and as
    ``<name>_step``, the move after the frame."""
    columns = {}
    for field in values.scheduled_fields():
        name = field.frame_name
        in_preset_units = plan.values[name] if field.scale == 1 else plan.values[name] / field.scale
        if field.per_frame == "sample":
            columns[name] = in_preset_units
        else:
            columns[name] = plan.total(name)
            columns[f"{name}_step"] = in_preset_units
    records = []
    for k in range(plan.frames):
        record = {"frame": k, "t": round(k / plan.fps, 6), "layer": plan.layer_label(k),
                  "weights": {o.spec: round(float(w), 6) for o, w in zip(plan.objectives, plan.values.weights[k])}}
        for name, column in columns.items():
            record[name] = int(column[k]) if np.issubdtype(column.dtype, np.integer) else round(float(column[k]), 8)
        if plan.sound:
            record["sound"] = {name: {label: round(float(curve[k]), 6) for label, curve in curves.items()}
                               for name, curves in plan.sound.items()}
        records.append(record)
    return records


MAX_TABLE_ROWS = 40


def _sound_columns(plan: Plan) -> dict[str, np.ndarray]:
    """Each sound curve once, by its label (a curve may drive several values)."""
    return {label: curve for curves in plan.sound.values() for label, curve in curves.items()}


def _sound_peaks(plan: Plan) -> set[int]:
    """Frames where a sound curve peaks (a local maximum of at least half its range)."""
    peaks = set()
    for curve in _sound_columns(plan).values():
        padded = np.concatenate([[-np.inf], curve, [-np.inf]])
        top = (padded[1:-1] > padded[:-2]) & (padded[1:-1] >= padded[2:]) & (curve >= 0.5)
        peaks |= set(np.nonzero(top)[0].tolist())
    return peaks


def plan_json(plan: Plan) -> dict:
    return {"fps": plan.fps, "objectives": [o.spec for o in plan.objectives], "frames": frame_records(plan)}


def _keyframe_frames(config: RenderConfig, plan: Plan) -> set[int]:
    """Frames at which some scheduled value has a keyframe."""
    curves = [field.curve(config) for field in values.scheduled_fields()]
    curves += [curve for step in config.layers.schedule for _, curve in step.layer]
    frames = {round(key.seconds(plan.fps) * plan.fps) for curve in curves for key in curve.keyframes}
    return {f for f in frames if 0 <= f < plan.frames}


def plan_table(config: RenderConfig, plan: Plan) -> str:
    """The schedule at its first and last frame, its keyframes and every layer change."""
    records = frame_records(plan)
    rows = {0, plan.frames - 1} | _keyframe_frames(config, plan)
    rows |= {k for k in range(1, plan.frames) if records[k]["layer"] != records[k - 1]["layer"]}
    rows |= _sound_peaks(plan)
    shown = sorted(rows)[:MAX_TABLE_ROWS]
    sound = _sound_columns(plan)
    header = ("frame", "t (s)", "zoom", "zoom step", "angle", "pan x,y", "centre", "step", "iter", "jitter",
              *sound, "dreaming")
    lines = [header]
    for k in shown:
        r = records[k]
        lines.append((
            str(k), f"{r['t']:.2f}", f"{r['zoom']:.4g}", f"{r['zoom_step']:.4f}", f"{r['angle']:.1f}",
            f"{r['pan_x']:.0f},{r['pan_y']:.0f}", f"{r['center_x']:.2f},{r['center_y']:.2f}", f"{r['step_size']:.2f}",
            str(r["iterations"]), str(r["jitter"]), *(f"{curve[k]:.2f}" for curve in sound.values()), r["layer"],
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    last = len(header) - 1  # the objective column, left-aligned
    text = "\n".join("  ".join(cell.ljust(w) if i == last else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
                     for line in lines)
    summary = f"{config.name}: {plan.frames} frames at {plan.fps:g} fps ({plan.frames / plan.fps:.1f} s)"
    notes = [f"{name} follows {', '.join(curves)}" for name, curves in plan.sound.items()]
    if len(rows) > len(shown):
        notes.append(f"{len(rows) - len(shown)} more rows at keyframes, layer changes and sound peaks: see the JSON "
                     "(--plan FILE.json)")
    return "\n".join([summary, text, *notes])


def plot_plan(plan: Plan, path: Path, sound=None) -> None:
    """Every value over time, one panel each, as a PNG (needs matplotlib); with the
    soundtrack (a :class:`~zoomdream.audio.soundtrack.Soundtrack`), its waveform and
    beats on top and each sound curve drawn over the value it drives."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plan with a .png needs matplotlib: pip install 'zoomdream[plot]'") from None
    t = plan.times
    records = frame_records(plan)
    weight_sound = {label: curve for name, curves in plan.sound.items() if name.startswith("weight ")
                    for label, curve in curves.items()}
    panels = [("objective weights", [(plan.values.weights[:, i], o.label) for i, o in enumerate(plan.objectives)],
               weight_sound)]
    for field in values.scheduled_fields():
        name = field.frame_name
        # A rate that follows the sound is shown as its steps, where the sound's pulses are.
        step = field.per_frame != "sample" and name in plan.sound
        title = name if field.per_frame == "sample" else f"{name} ({'step' if step else 'total'})"
        column = f"{name}_step" if step else name
        panels.append((title, [(np.array([r[column] for r in records]), None)], plan.sound.get(name, {})))
    rows = len(panels) + (sound is not None)
    fig, axes = plt.subplots(rows, 1, figsize=(9, 1.6 * rows), sharex=True)
    if sound is not None:
        _plot_waveform(axes[0], sound, t[-1] + 1 / plan.fps)
    for ax, (title, series, driving) in zip(axes[sound is not None:], panels):
        for curve, label in series:
            ax.plot(t, curve, label=label)
        ax.set_ylabel(title, fontsize=8)
        if any(label for _, label in series):
            ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
        if driving:
            twin = ax.twinx()
            for label, curve in driving.items():
                twin.plot(t, curve, color="tab:purple", alpha=0.6, linewidth=0.8, label=label)
            twin.set_ylim(-0.05, 1.05)
            twin.legend(fontsize=7, loc="upper left")
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _plot_waveform(ax, sound, seconds: float) -> None:
    from zoomdream.audio import features

    envelope = sound.analysis.envelope
    shown = min(len(envelope), int(np.ceil(seconds * features.FRAME_RATE)))
    times = np.arange(shown) / features.FRAME_RATE
    ax.fill_between(times, envelope[:shown, 0], envelope[:shown, 1], color="0.4", linewidth=0)
    for beat in sound.beat_times[sound.beat_times < seconds]:
        ax.axvline(beat, color="tab:red", alpha=0.35, linewidth=0.7)
    ax.set_ylabel(f"{sound.path.name}\n(beats red)", fontsize=8)


def write_plan(config: RenderConfig, plan: Plan, path: str | None, sound=None) -> list[Path]:
    """Write the plan's JSON to ``path`` (and a plot for a .png path, the JSON beside it)."""
    if path is None:
        return []
    target = Path(path)
    if not target.parent.is_dir():
        raise ConfigError(f"--plan: folder {str(target.parent)!r} does not exist")
    if target.is_dir():
        raise ConfigError(f"--plan: {str(target)!r} is a folder; name a .json or .png file")
    written = []
    try:
        if target.suffix.lower() == ".png":
            plot_plan(plan, target, sound)
            written.append(target)
            target = target.with_suffix(".json")
        target.write_text(json.dumps(plan_json(plan), indent=1) + "\n")
    except OSError as exc:
        raise ConfigError(f"--plan: cannot write {exc.filename or target}: {exc.strerror or exc}") from None
    written.append(target)
    return written
