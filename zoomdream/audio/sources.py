"""What a scheduled value can follow in the soundtrack: the names a preset uses.

``rms`` (loudness), ``onsets`` (percussive attacks), ``beats`` (a pulse at each tracked
beat), a named frequency band (``bass``...) or any band as ``"LOW-HIGHHz"``. Pure
parsing, no audio: a preset is checked before anything is decoded.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from zoomdream.errors import ConfigError

# The soundtrack is analysed at this rate, so no band can reach above half of it.
SAMPLE_RATE = 22050
NYQUIST = SAMPLE_RATE / 2

# The usual bands of mixing engineers, in Hz.
NAMED_BANDS = {
    "sub": (20.0, 60.0),
    "bass": (60.0, 250.0),
    "low_mids": (250.0, 500.0),
    "mids": (500.0, 2000.0),
    "high_mids": (2000.0, 4000.0),
    "highs": (4000.0, NYQUIST),
}
FEATURES = ("rms", "onsets", "beats")
# The names a formula may use, each the source of the same name.
NAMES = FEATURES + tuple(NAMED_BANDS)


@dataclasses.dataclass(frozen=True)
class Source:
    """A feature of the soundtrack: ``kind`` is rms, onsets, beats or band (then
    ``band`` is its (low, high) in Hz)."""

    name: str  # as written: "onsets", "bass", "60-250Hz"
    kind: str
    band: tuple[float, float] | None = None


def parse(text: object, key: str) -> Source:
    """A source as a preset names it; a :class:`ConfigError` naming ``key`` otherwise."""
    valid = f"valid: {', '.join(NAMES)} or a band such as \"60-250Hz\""
    if not isinstance(text, str):
        raise ConfigError(f"{key}: expected the name of a sound feature ({valid}), got {text!r}")
    name = text.strip()
    if name in FEATURES:
        return Source(name, name)
    if name in NAMED_BANDS:
        return Source(name, "band", NAMED_BANDS[name])
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*hz", name, flags=re.IGNORECASE)
    if not match:
        raise ConfigError(f"{key}: unknown sound feature {name!r}; {valid}")
    low, high = float(match[1]), float(match[2])
    if not 0 <= low < high <= NYQUIST:
        raise ConfigError(f"{key}: the band {name!r} must run upwards from 0 Hz to at most {NYQUIST:g} Hz "
                          f"(the soundtrack is analysed at {SAMPLE_RATE} samples per second)")
    return Source(name, "band", (low, high))


def without_soundtrack(name: str) -> str:
    """What is wrong with a value that follows feature ``name`` in a render with no sound."""
    return f"follows the sound ({name}), but there is no soundtrack: give --audio FILE or video.audio"


@dataclasses.dataclass(frozen=True)
class Shaping:
    """How a feature's curve is shaped before it drives a value, all in seconds:
    ``smooth`` (a centred moving average), then ``attack`` and ``release`` (how fast the
    curve may rise and fall: an envelope follower; 0 follows at once)."""

    smooth: float = 0.0
    attack: float = 0.0
    release: float = 0.0


AS_IT_IS = Shaping()


@dataclasses.dataclass(frozen=True)
class Drive:
    """A scheduled value that follows the soundtrack: ``low + (high - low) * feature``."""

    source: Source
    low: float
    high: float
    shaping: Shaping = AS_IT_IS

    @property
    def label(self) -> str:
        """The feature and its shaping, as the plan shows it."""
        s = self.shaping
        shaped = [f"{name} {value:g}s" for name, value in (("smooth", s.smooth), ("attack", s.attack),
                                                           ("release", s.release)) if value]
        return self.source.name + (f" ({', '.join(shaped)})" if shaped else "")


DRIVE_KEYS = ("audio", "min", "max", "smooth", "attack", "release")


def parse_drive(value: dict, key: str) -> Drive:
    """``{audio: onsets, min: 1, max: 4, smooth: 0.1, attack: 0, release: 0.3}``."""
    unknown = set(value) - set(DRIVE_KEYS)
    if unknown:
        raise ConfigError(f"{key}: unknown key {sorted(map(str, unknown))[0]!r} of a value that follows the sound; "
                          f"valid keys: {', '.join(DRIVE_KEYS)}")
    source = parse(value["audio"], f"{key}.audio")
    numbers = {}
    for name, default in (("min", 0.0), ("max", 1.0), ("smooth", 0.0), ("attack", 0.0), ("release", 0.0)):
        number = value.get(name, default)
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not np.isfinite(number):
            raise ConfigError(f"{key}.{name}: expected a number, got {number!r}")
        if name not in ("min", "max") and not 0 <= number <= 60:
            raise ConfigError(f"{key}.{name}: must be between 0 and 60 seconds, got {number!r}")
        numbers[name] = float(number)
    shaping = Shaping(numbers["smooth"], numbers["attack"], numbers["release"])
    return Drive(source, numbers["min"], numbers["max"], shaping)
