"""Variants of one render side by side: ``--sweep KEY=VALUES``.

``--sweep seed=0..3`` or ``--sweep dream.step_size=1,1.5,2``: each value is read as YAML,
as ``--set`` reads it, and ``A..B`` is every integer from A to B. Several ``--sweep``
options make every combination (the first varies slowest). A variant is the render with
its values set on top of the render's own settings. ``layer`` stands for the objective of
the whole render, as ``--layer`` does.

Variants whose frame step has the same static shape (:class:`~zoomdream.dream.step.DreamSpec`)
are dreamed as one batch: :func:`batch_spec` says whether they can be and
:func:`over_objectives` puts every variant's layer weights on the batch's objectives.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from zoomdream.errors import ConfigError
from zoomdream.schedule import yamltext
from zoomdream.schedule.plan import Plan

# More would be a batch too large for any device's memory at useful sizes, or a typo.
MAX_VARIANTS = 256
# Shortcut names a sweep may vary, and the preset key each sets.
_SHORTCUTS = {"layer": ("layers.schedule", lambda value: [value])}
_RANGE = re.compile(r"\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One render of a sweep: its number and the values it sets (as the user wrote them)."""

    index: int
    values: dict[str, Any]

    @property
    def label(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.values.items())

    @property
    def overrides(self) -> dict[str, Any]:
        """The values as ``{dotted.key: value}`` overrides of the preset."""
        out = {}
        for key, value in self.values.items():
            target, convert = _SHORTCUTS.get(key, (key, lambda v: v))
            out[target] = convert(value)
        return out

    def output(self, output: Path) -> Path:
        """This variant's file: ``<stem>_<n><suffix>`` beside ``output``."""
        return output.with_name(f"{output.stem}_{self.index}{output.suffix}")


def parse(texts: Sequence[str]) -> list[Variant]:
    """The variants of ``--sweep`` options (one per combination of their values)."""
    axes: dict[str, list] = {}
    for text in texts:
        key, values = _axis(text)
        if key in axes:
            raise ConfigError(f"--sweep {key}: given twice; list all its values in one --sweep")
        axes[key] = values
    count = int(np.prod([len(v) for v in axes.values()]))
    if count > MAX_VARIANTS:
        raise ConfigError(f"--sweep: {count} variants, more than {MAX_VARIANTS}")
    combos = itertools.product(*axes.values())
    return [Variant(i, dict(zip(axes, combo))) for i, combo in enumerate(combos)]


def _axis(text: str) -> tuple[str, list]:
    """``"KEY=VALUES"`` -> (KEY, [values])."""
    key, _, spec = text.partition("=")
    key = key.strip()
    if not key or not spec.strip():
        raise ConfigError(f"--sweep {text!r}: expected KEY=VALUES, e.g. seed=0..3 or dream.step_size=1,1.5,2")
    span = _RANGE.fullmatch(spec)
    if span:
        first, last = int(span.group(1)), int(span.group(2))
        if last < first:
            raise ConfigError(f"--sweep {key}: the range {spec.strip()} is empty (write it low..high)")
        values = list(range(first, last + 1))
    else:
        values = [yamltext.parse(item, f"--sweep {key}") for item in spec.split(",")]
        if any(v is None for v in values):
            raise ConfigError(f"--sweep {key}: an empty value in {spec.strip()!r}")
    if len(set(map(repr, values))) < len(values):
        raise ConfigError(f"--sweep {key}: a value is repeated in {spec.strip()!r}")
    return key, values


# ---- dreaming variants as one batch ------------------------------------------------------


def batch_spec(specs: Sequence, plans: Sequence[Plan]):
    """(the frame step that dreams all variants as one batch, None) or (None, why they
    cannot be: one line). They can when only data differs between them: the static
    shape of their steps (their objectives aside, which the batch unites), their length,
    the frames they dream, and none dreams a film."""
    first = specs[0]
    merged = tuple(sorted({o for s in specs for o in s.objectives}, key=lambda o: (o.depth, o)))
    fixed = {f.name for f in dataclasses.fields(first)} - {"objectives", "max_iterations"}
    for spec, plan in zip(specs[1:], plans[1:]):
        differs = sorted(name for name in fixed if getattr(spec, name) != getattr(first, name))
        if differs:
            return None, f"the variants differ in {_spec_names(differs)}"
        if plan.frames != plans[0].frames:
            return None, "the variants differ in length"
        if not np.array_equal(plan.dreamed, plans[0].dreamed):
            return None, "the variants differ in the frames they dream (dream.cadence)"
    if first.video:
        return None, "a film's frames are dreamed one variant after another"
    return dataclasses.replace(first, objectives=merged, max_iterations=max(s.max_iterations for s in specs),
                               variants=len(specs)), None


def _spec_names(fields: list[str]) -> str:
    """The settings behind DreamSpec fields, as a user knows them."""
    known = {"height": "video.size", "width": "video.size", "octave_shapes": "dream.octaves/octave_scale",
             "scheduled_octave_scale": "dream.octave_scale", "gradient_norm": "dream.gradient_norm",
             "laplacian_levels": "dream.laplacian_levels", "supersample": "camera.supersample",
             "border": "camera.border", "noise_amplitude": "start.noise_amplitude", "video": "start.kind",
             "tile_size": "dream.tile_size", "precision": "dream.precision", "devices": "dream.devices",
             "parameterization": "dream.parameterization", "optimizer": "dream.optimizer",
             "transforms": "dream.transforms", "transform_pad": "dream.transforms.pad"}
    return ", ".join(dict.fromkeys(known.get(f, f) for f in fields))


def over_objectives(plan: Plan, merged: tuple) -> Plan:
    """``plan`` with its layer weights on the batch's objectives ``merged`` (a superset
    of its own): zero weight for the objectives only other variants dream."""
    weights = np.zeros((plan.frames, len(merged)), np.float32)
    for column, objective in enumerate(plan.objectives):
        weights[:, merged.index(objective)] = plan.values.weights[:, column]
    return dataclasses.replace(plan, objectives=merged, values=plan.values.replace(weights=weights))


def stack(trees: Sequence):
    """Pytrees of one structure as one, each leaf with a leading variant axis."""
    return jax.tree.map(lambda *leaves: np.stack(leaves), *trees)


# ---- the sweep's record ---------------------------------------------------------------------


def record_path(output: Path) -> Path:
    """``<stem>_sweep.json`` beside the variants' outputs."""
    return output.with_name(f"{output.stem}_sweep.json")


def write_record(path: Path, variants: Sequence[Variant], outputs: Sequence[Path], batch) -> None:
    """What each output of the sweep is: its file, number and values (written whole or
    not at all, before the first frame)."""
    record = {
        "variants": [{"index": v.index, "output": str(out), "values": v.values, "overrides": v.overrides}
                     for v, out in zip(variants, outputs)],
        "dreamed_as_one_batch": batch is not None,
        "devices": batch.devices if batch is not None else None,
    }
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(record, indent=1, default=str) + "\n")
    os.replace(temporary, path)
