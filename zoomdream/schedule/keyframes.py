"""Scheduled values: a constant, a formula of time, or keyframes with an interpolation per
segment. Pure host code: a :class:`Curve` is evaluated up front into per-frame arrays.

In a preset, any schedulable number can be written as

* a number: ``step_size: 1.5``;
* a formula (see :mod:`zoomdream.schedule.expressions`): ``step_size: "1.5 + 0.5*sin(2*pi*t/8)"``;
* keyframes, each at a time in seconds (``t``) or a frame (``frame``), with a value (a
  number or a formula) and the interpolation of the segment that starts there::

      zoom_per_second:
        - {t: 0, value: 3.6, interp: smooth}
        - {t: 8, value: 1.0}
        - [12, 0.5]            # short form: [t, value] or [t, value, interp]

  or ``{keyframes: [...], interp: cubic}`` to set every segment's interpolation at once;
* the soundtrack: ``{audio: onsets, min: 1.0, max: 4.0, smooth: 0, attack: 0, release: 0.3}``
  (see :mod:`zoomdream.audio.sources`), or a formula that names a feature: ``"1 + 2*onsets"``.

Interpolations: ``hold`` (keep the value until the next keyframe), ``linear``, ``smooth``
(ease in and out: smoothstep), ``cubic`` (monotone cubic through the keyframes, PCHIP: no
overshoot beyond neighbouring values). Before the first keyframe the first value holds,
after the last the last.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from zoomdream.audio import sources
from zoomdream.errors import ConfigError
from zoomdream.schedule import expressions

INTERPOLATIONS = ("hold", "linear", "smooth", "cubic")
DEFAULT_INTERPOLATION = "linear"


@dataclasses.dataclass(frozen=True)
class Keyframe:
    time: float  # in seconds, or in frames when by_frame
    by_frame: bool
    value: float | expressions.Expression
    interp: str

    def seconds(self, fps: float) -> float:
        return self.time / fps if self.by_frame else self.time

    def value_at(self, seconds: float, fps: float, sound=None) -> float:
        if isinstance(self.value, expressions.Expression):
            return float(self.value.evaluate(np.array([seconds]), np.array([seconds * fps]), fps, sound)[0])
        return self.value


@dataclasses.dataclass(frozen=True)
class Curve:
    """A scheduled number. ``source`` keeps the preset's own spelling (as JSON) so that a
    resolved config can be written back as it was given."""

    source: str
    constant: float | None = None
    expression: expressions.Expression | None = None
    keyframes: tuple[Keyframe, ...] = ()
    drive: sources.Drive | None = None  # follows the soundtrack

    @classmethod
    def of(cls, value: float) -> Curve:
        return cls(source=json.dumps(value), constant=float(value))

    @property
    def is_constant(self) -> bool:
        return self.constant is not None

    def raw(self) -> Any:
        """The value as it was written in the preset."""
        return json.loads(self.source)

    def __str__(self) -> str:
        value = self.raw()
        return f"{value:g}" if isinstance(value, (int, float)) else json.dumps(value)

    def at(self, t: np.ndarray, fps: float, key: str = "", sound=None, window: float = 0.0) -> np.ndarray:
        """Values at times ``t`` (seconds), float64. ``sound`` is the soundtrack (a
        :class:`~zoomdream.audio.soundtrack.Soundtrack`) for a curve that follows it, read
        at its highest within ``window`` seconds around each time (0: as it is). A
        formula without a finite value, or a sound curve without a soundtrack, raises
        :class:`ConfigError` naming ``key``."""
        t = np.asarray(t, np.float64)
        try:
            if self.constant is not None:
                return np.full(t.shape, self.constant)
            if self.drive is not None:
                if sound is None:
                    raise ConfigError(sources.without_soundtrack(self.drive.source.name))
                feature = sound.sample(self.drive.source, t, window, self.drive.shaping)
                return self.drive.low + (self.drive.high - self.drive.low) * feature
            if self.expression is not None:
                return self.expression.evaluate(t, t * fps, fps, sound, window)
            return _interpolate(self.keyframes, t, fps, sound)
        except ConfigError as exc:
            raise ConfigError(f"{key}: {exc}" if key else str(exc)) from None

    def per_frame(self, frames: int, fps: float, key: str = "", sound=None) -> np.ndarray:
        """Values at every frame's time, frame k being at t = k / fps; a sound feature
        at its highest within the frame's 1/fps."""
        return self.at(np.arange(frames) / fps, fps, key, sound, window=1 / fps)

    def numbers(self) -> list[float]:
        """The plain numbers this curve is built from (for range checks at load time)."""
        if self.constant is not None:
            return [self.constant]
        if self.drive is not None:
            return [self.drive.low, self.drive.high]
        return [k.value for k in self.keyframes if not isinstance(k.value, expressions.Expression)]

    def sound(self) -> list[tuple[str, sources.Source, sources.Shaping]]:
        """What this curve follows in the soundtrack, as (label, source, shaping)."""
        if self.drive is not None:
            return [(self.drive.label, self.drive.source, self.drive.shaping)]
        formulas = [self.expression] if self.expression is not None else []
        formulas += [k.value for k in self.keyframes if isinstance(k.value, expressions.Expression)]
        names = {name for formula in formulas for name in formula.sound_names}
        return [(name, sources.parse(name, name), sources.AS_IT_IS) for name in sources.NAMES if name in names]


def _interpolate(keys: tuple[Keyframe, ...], t: np.ndarray, fps: float, sound=None) -> np.ndarray:
    times = np.array([k.seconds(fps) for k in keys])
    values = np.array([k.value_at(s, fps, sound) for k, s in zip(keys, times)])
    if len(keys) == 1:
        return np.full(t.shape, values[0])
    segment = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(keys) - 2)
    t0, t1 = times[segment], times[segment + 1]
    v0, v1 = values[segment], values[segment + 1]
    u = np.clip((t - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0, 1.0)
    modes = np.array([INTERPOLATIONS.index(k.interp) for k in keys])[segment]
    out = np.where(modes == INTERPOLATIONS.index("hold"), v0, v0 + (v1 - v0) * u)
    smooth = modes == INTERPOLATIONS.index("smooth")
    out = np.where(smooth, v0 + (v1 - v0) * u * u * (3 - 2 * u), out)
    cubic = modes == INTERPOLATIONS.index("cubic")
    if cubic.any():
        # Imported here: scipy.interpolate takes half a second to import, and only cubic
        # keyframes need it.
        from scipy.interpolate import PchipInterpolator

        distinct = np.concatenate([[True], np.diff(times) > 0])  # PCHIP needs increasing times
        out = np.where(cubic, PchipInterpolator(times[distinct], values[distinct])(np.clip(t, times[0], times[-1])), out)
    # Before the first keyframe its value holds; after the last, the last value.
    out = np.where(t < times[0], values[0], out)
    out = np.where(t >= times[-1], values[-1], out)
    return out


# ---- parsing a preset's value ------------------------------------------------------------


def _number_or_formula(value: Any, key: str) -> float | expressions.Expression:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return expressions.parse(value)
        except expressions.ExpressionError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    raise ConfigError(f"{key}: expected a number or a formula such as \"1 + 0.5*sin(t)\", got {value!r}")


def _keyframe(entry: Any, key: str, default_interp: str) -> Keyframe:
    if isinstance(entry, (list, tuple)) and len(entry) in (2, 3):
        entry = dict(zip(("t", "value", "interp"), entry))
    if not isinstance(entry, dict):
        raise ConfigError(f"{key}: a keyframe is {{t: SECONDS, value: V}}, {{frame: N, value: V}} or [t, value], got {entry!r}")
    unknown = set(entry) - {"t", "frame", "value", "interp"}
    if unknown:
        raise ConfigError(f"{key}: unknown keyframe key {sorted(unknown)[0]!r}; valid keys: t, frame, value, interp")
    if ("t" in entry) == ("frame" in entry):
        raise ConfigError(f"{key}: a keyframe needs exactly one of 't' (seconds) or 'frame'")
    if "value" not in entry:
        raise ConfigError(f"{key}: a keyframe needs a 'value'")
    by_frame = "frame" in entry
    time = entry["frame"] if by_frame else entry["t"]
    if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time) or time < 0:
        raise ConfigError(f"{key}: keyframe time must be a number >= 0, got {time!r}")
    interp = entry.get("interp", default_interp)
    if interp not in INTERPOLATIONS:
        raise ConfigError(f"{key}: unknown interpolation {interp!r}; valid: {', '.join(INTERPOLATIONS)}")
    return Keyframe(float(time), by_frame, _number_or_formula(entry["value"], f"{key}.value"), interp)


def parse_curve(value: Any, key: str) -> Curve:
    """A preset value (number, formula or keyframes) as a :class:`Curve`; mistakes raise
    :class:`ConfigError` naming ``key``."""
    if isinstance(value, Curve):
        return value
    source = json.dumps(value)
    if isinstance(value, dict) and "audio" in value:
        return Curve(source=source, drive=sources.parse_drive(value, key))
    if isinstance(value, dict):
        unknown = set(value) - {"keyframes", "interp"}
        if unknown or "keyframes" not in value:
            raise ConfigError(f"{key}: expected a number, a formula, a list of keyframes, {{keyframes: [...], interp: ...}} "
                              "or {audio: FEATURE, min: ..., max: ...}")
        default_interp, entries = value.get("interp", DEFAULT_INTERPOLATION), value["keyframes"]
        if default_interp not in INTERPOLATIONS:
            raise ConfigError(f"{key}.interp: unknown interpolation {default_interp!r}; valid: {', '.join(INTERPOLATIONS)}")
    else:
        default_interp, entries = DEFAULT_INTERPOLATION, value
    if not isinstance(entries, list):
        parsed = _number_or_formula(entries, key)
        if isinstance(parsed, float):
            return Curve(source=source, constant=parsed)
        return Curve(source=source, expression=parsed)
    if not entries:
        raise ConfigError(f"{key}: the list of keyframes is empty")
    keys = tuple(_keyframe(e, f"{key}[{i}]", default_interp) for i, e in enumerate(entries))
    # Order can only be checked within one unit; mixed seconds and frames are checked
    # when the frame rate is known (check_order).
    for unit in (False, True):
        times = [(i, k.time) for i, k in enumerate(keys) if k.by_frame == unit]
        for (_, a), (i, b) in zip(times, times[1:]):
            if b < a:
                name = "frame" if unit else "t"
                raise ConfigError(f"{key}[{i}]: keyframes must be in time order, but {name}={b:g} comes after {name}={a:g}")
    return Curve(source=source, keyframes=keys)


def check_order(curve: Curve, key: str, fps: float) -> None:
    """Keyframes given partly in seconds and partly in frames must still be in order."""
    times = [k.seconds(fps) for k in curve.keyframes]
    for i in range(1, len(times)):
        if times[i] < times[i - 1]:
            raise ConfigError(f"{key}[{i}]: keyframes must be in time order, but it falls at {times[i]:g} s, "
                              f"before {times[i - 1]:g} s")
