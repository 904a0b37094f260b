"""A render's per-frame values as one pytree: :class:`FrameValues`.

Every scheduled key of a preset (a field declared with ``_scheduled`` in
:mod:`zoomdream.schedule.config`) is evaluated here, generically, into an array with a
leading frame axis; the layer schedule adds ``weights`` and the render adds
``frame_index``. The result is the frame step's input: frame k is ``values.at(k)``
(``jax.tree.map(lambda a: a[k], values)``), a batch of frames or of variants is a slice or
a stack of the same pytree, and ``--plan`` shows the same fields. A new scheduled value is
a new field in the config schema and a line in the step that reads it; nothing here
changes.

Frame k is shown at t = k / fps. The camera move that follows frame k covers the interval
[t, t + 1/fps]; a ``rate`` value is the integral of its per-second rate over that interval
(computed on a fine grid) and a ``log_rate`` value compounds its per-second factor, so a
render at 12 fps and one at 30 fps reach the same zoom, angle and position at the same
second.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import numpy as np

from zoomdream.errors import ConfigError
from zoomdream.schedule import config as config_lib
from zoomdream.schedule import keyframes

# Sub-steps per frame for integrating per-second rates.
INTEGRATION_STEPS = 16
# The values of a rate and of a compounded factor that stand for "no motion".
_AT_REST = {"rate": 0.0, "log_rate": 1.0}


@jax.tree_util.register_pytree_with_keys_class
class FrameValues:
    """Named arrays, read as attributes (``values.step_size``), that JAX treats as a
    pytree: the names are static, the arrays are its leaves. With a leading frame axis it
    holds a whole render; :meth:`at` picks one frame."""

    __slots__ = ("_arrays",)

    def __init__(self, arrays: Mapping[str, Any]):
        object.__setattr__(self, "_arrays", dict(arrays))

    def __getattr__(self, name: str) -> Any:
        if name == "_arrays":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        try:
            return self._arrays[name]
        except KeyError:
            raise AttributeError(f"no frame value {name!r}; the values are {', '.join(self.names)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrameValues is immutable: use replace()")

    def __getitem__(self, name: str) -> Any:
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={getattr(v, 'dtype', type(v).__name__)}{tuple(np.shape(v))}" for k, v in self._arrays.items())
        return f"FrameValues({shapes})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._arrays)

    def replace(self, **changes: Any) -> FrameValues:
        """A copy with some arrays replaced, each cast to the dtype it replaces (a
        Python float where an int32 was would change the compiled program)."""
        unknown = set(changes) - set(self._arrays)
        if unknown:
            raise TypeError(f"unknown frame values: {sorted(unknown)}")
        cast = {k: np.asarray(v, np.asarray(self._arrays[k]).dtype) for k, v in changes.items()}
        return FrameValues({**self._arrays, **cast})

    def at(self, k: int | slice | np.ndarray) -> FrameValues:
        """Frame ``k`` (or a slice of frames) of values with a leading frame axis."""
        return jax.tree.map(lambda a: a[k], self)

    def tree_flatten_with_keys(self):
        names = tuple(sorted(self._arrays))
        return [(jax.tree_util.GetAttrKey(n), self._arrays[n]) for n in names], names

    @classmethod
    def tree_unflatten(cls, names, arrays):
        return cls(dict(zip(names, arrays)))


@dataclasses.dataclass(frozen=True)
class ScheduledField:
    """A scheduled key of the config schema, as the schedule needs it."""

    section: str  # "camera"
    name: str  # "zoom_per_second"
    meta: Mapping[str, Any] = dataclasses.field(repr=False)

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def frame_name(self) -> str:
        """Its name among the frame's values (``zoom`` for ``camera.zoom_per_second``)."""
        return self.meta["frame_name"] or self.name

    @property
    def per_frame(self) -> str:
        return self.meta["per_frame"]

    @property
    def integer(self) -> bool:
        return bool(self.meta["integer"])

    @property
    def scale(self) -> float:
        return self.meta["scale"]

    @property
    def dtype(self) -> type:
        return np.int32 if self.integer else np.float32

    def curve(self, config: config_lib.RenderConfig) -> keyframes.Curve:
        section = functools.reduce(getattr, self.section.split("."), config)
        return getattr(section, self.name)


def scheduled_fields() -> tuple[ScheduledField, ...]:
    """Every scheduled key of a preset, section by section (sections within sections
    too, such as ``dream.transforms``), in declaration order."""
    return tuple(_scheduled_in(config_lib.RenderConfig, ""))


def _scheduled_in(cls: type, where: str) -> list[ScheduledField]:
    found = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("scheduled"):
            found.append(ScheduledField(where, f.name, f.metadata))
        elif dataclasses.is_dataclass(hints[f.name]) and "parse" not in f.metadata:
            found += _scheduled_in(hints[f.name], f"{where}.{f.name}" if where else f.name)
    return found


def field_named(frame_name: str) -> ScheduledField | None:
    """The scheduled key behind a frame value, or None (``weights``, ``frame_index``)."""
    return next((f for f in scheduled_fields() if f.frame_name == frame_name), None)


def _evaluate(field: ScheduledField, config: config_lib.RenderConfig, frames: int, still: bool, sound) -> np.ndarray:
    fps = config.video.fps
    curve = field.curve(config)
    keyframes.check_order(curve, field.key, fps)
    if field.per_frame == "sample":
        values = curve.per_frame(frames, fps, field.key, sound)
        if field.integer:
            values = np.round(values)
        config_lib.check_numbers(field.meta, values, field.key)
        return values * field.scale
    if still:  # one picture: the camera does not move
        return np.full(frames, _AT_REST[field.per_frame])
    # Midpoints of INTEGRATION_STEPS sub-intervals of every frame interval.
    sub = (np.arange(frames)[:, None] + (np.arange(INTEGRATION_STEPS)[None, :] + 0.5) / INTEGRATION_STEPS) / fps
    rate = curve.at(sub.ravel(), fps, field.key, sound).reshape(sub.shape)
    config_lib.check_numbers(field.meta, rate, field.key)
    if field.per_frame == "log_rate":
        return np.exp(np.log(rate).mean(axis=1) / fps)
    return rate.mean(axis=1) / fps * field.scale


def evaluate(config: config_lib.RenderConfig, frames: int, still: bool = False, sound=None) -> dict[str, np.ndarray]:
    """Every scheduled value of ``config`` at every frame, range-checked against its
    declared bounds: ``{frame_name: array (frames,)}`` in the step's units and dtypes.

    Args:
      config: a validated render config.
      frames: number of frames.
      still: one picture: camera rates are at rest.
      sound: the soundtrack (:class:`~zoomdream.audio.soundtrack.Soundtrack`) that values
        following the sound read; without one they are refused.
    """
    if frames < 1:
        raise ConfigError(f"a render needs at least one frame, got {frames}")
    out = {}
    for field in scheduled_fields():
        with np.errstate(over="ignore", invalid="ignore"):
            array = _evaluate(field, config, frames, still, sound).astype(field.dtype)
        if not np.isfinite(array).all():  # float32 overflow, or a factor compounded past it
            raise ConfigError(f"{field.key}: too large: it reaches {array[~np.isfinite(array)][0]:g} in a frame")
        out[field.frame_name] = array
    return out


def default_values(weights: Any, **overrides: Any) -> FrameValues:
    """One frame's values with every scheduled key at its preset default (the 2015
    notebook's dream, no camera motion) unless given: for experiments, tests and
    benchmarks. Names are frame names (``zoom``, ``angle``, ``frame_index``...)."""
    defaults = FrameValues({
        **{k: v[0] for k, v in evaluate(config_lib.RenderConfig(), 1).items()},
        "weights": np.asarray(weights, np.float32),
        "frame_index": np.int32(0),
    })
    return defaults.replace(**overrides)
