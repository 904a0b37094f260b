"""A soundtrack as scheduled values read it: each feature's curve, shaped, at any time.

Two readings of a curve, because the schedule asks two questions (see
:mod:`zoomdream.schedule.values`):

* a value sampled at a frame's time (``step_size``, a layer's weight) takes the curve's
  highest point within the frame's own 1/fps of time, so that an attack shorter than a
  frame still reaches the frame it falls in, at any frame rate;
* a camera rate, integrated over the frame's interval, reads the curve as it is: the zoom
  that a drum hit adds is the same at 12 and at 30 fps, and lands in the frame that holds
  the hit.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import numpy as np

from zoomdream.audio import beats, features, sources
from zoomdream.errors import ConfigError


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: analyses are kept per process
class Soundtrack:
    path: Path
    analysis: features.Analysis
    beats: np.ndarray  # analysis frames of the tracked beats

    @property
    def seconds(self) -> float:
        return self.analysis.seconds

    @property
    def beat_times(self) -> np.ndarray:
        return self.beats / features.FRAME_RATE

    def feature(self, source: sources.Source) -> np.ndarray:
        """The feature's curve, 0..1, one value per analysis frame."""
        if source.kind == "band":
            return self.analysis.bands[source.band]
        if source.kind == "beats":
            pulse = np.zeros(self.analysis.frames)
            pulse[self.beats] = 1.0
            return pulse
        return getattr(self.analysis, source.kind)

    def sample(self, source: sources.Source, t: np.ndarray, window: float = 0.0,
               shaping: sources.Shaping = sources.AS_IT_IS) -> np.ndarray:
        """The shaped feature at times ``t`` (seconds): with ``window`` > 0, its highest
        value within ``window`` seconds centred on each time; else interpolated. After the
        track ends it is silent (0)."""
        curve = _shaped(self, source, shaping)
        table = _range_max_table(self, source, shaping) if window > 0 else None
        position = np.asarray(t, np.float64) * features.FRAME_RATE
        out = np.interp(position, np.arange(len(curve)), curve, right=0.0)
        if table is not None:
            first = np.clip(np.ceil(position - window * features.FRAME_RATE / 2), 0, None).astype(np.int64)
            last = np.minimum(np.floor(position + window * features.FRAME_RATE / 2), len(curve) - 1).astype(np.int64)
            spans = last >= first  # a window narrower than an analysis frame keeps the interpolation
            out[spans] = _range_max(table, first[spans], last[spans])
        return out


@functools.lru_cache(maxsize=64)
def _shaped(track: Soundtrack, source: sources.Source, shaping: sources.Shaping) -> np.ndarray:
    curve = track.feature(source).astype(np.float64)
    if shaping.smooth > 0:
        peak = curve.max()
        from scipy import ndimage  # here, not above: a quarter second of every start otherwise

        curve = ndimage.uniform_filter1d(curve, max(1, round(shaping.smooth * features.FRAME_RATE)), mode="nearest")
        if curve.max() > 0:  # smoothing keeps the curve's peak where it was
            curve *= peak / curve.max()
    if shaping.attack > 0 or shaping.release > 0:
        curve = _follow(curve, shaping.attack, shaping.release)
    return curve


def _follow(curve: np.ndarray, attack: float, release: float) -> np.ndarray:
    """An envelope follower: rises towards the curve with time constant ``attack`` and
    falls with ``release`` (seconds; 0 is immediate)."""
    def gain(seconds: float) -> float:
        return 1.0 if seconds <= 0 else 1.0 - float(np.exp(-1.0 / (seconds * features.FRAME_RATE)))

    up, down = gain(attack), gain(release)
    out = np.empty_like(curve)
    level = 0.0
    for i, target in enumerate(curve.tolist()):
        level += (up if target > level else down) * (target - level)
        out[i] = level
    return out


@functools.lru_cache(maxsize=64)
def _range_max_table(track: Soundtrack, source: sources.Source, shaping: sources.Shaping) -> list[np.ndarray]:
    """Level k holds the maxima of every 2**k consecutive values of the shaped curve (a
    sparse table: any range's maximum in two lookups)."""
    curve = _shaped(track, source, shaping)
    table = [curve]
    while 2 ** len(table) <= len(curve):
        half = 2 ** (len(table) - 1)
        table.append(np.maximum(table[-1][:-half], table[-1][half:]))
    return table


def _range_max(table: list[np.ndarray], first: np.ndarray, last: np.ndarray) -> np.ndarray:
    level = np.floor(np.log2(last - first + 1)).astype(np.int64)
    out = np.empty(len(first))
    for k in np.unique(level):
        rows = level == k
        out[rows] = np.maximum(table[k][first[rows]], table[k][last[rows] - 2 ** k + 1])
    return out


def load(path: str | Path, bands: tuple[tuple[float, float], ...] = (), key: str = "--audio") -> Soundtrack:
    """Decode and analyse a sound file (every named band, and ``bands`` besides). Kept
    per process for the file as it is now; a bad file raises a ConfigError naming ``key``."""
    path = Path(path).expanduser().resolve()
    try:
        stat = os.stat(path)
    except OSError:
        raise ConfigError(f"{key}: {str(path)!r} does not exist") from None
    wanted = tuple(sorted(set(bands) | set(sources.NAMED_BANDS.values())))
    return _load(path, stat.st_mtime_ns, stat.st_size, wanted, key)


@functools.lru_cache(maxsize=4)
def _load(path: Path, _mtime: int, _size: int, bands: tuple[tuple[float, float], ...], key: str) -> Soundtrack:
    analysis = features.analyse(features.read_samples(path, key), list(bands))
    return Soundtrack(path, analysis, beats.track(analysis.onsets, features.FRAME_RATE))
