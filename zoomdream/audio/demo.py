"""The demo track: 16 seconds of music at 120 BPM that zoomdream synthesises itself, so
that a preset which follows the sound renders offline (``video.audio: demo``). Free of any
rights: every sample is computed here.

Two bars of pad with a rim click on every beat, then kick drum on every beat, snare on
two and four, hi-hats between the beats and a bass line under the pad: quiet and loud
passages, sharp attacks, a steady beat and a clear low band for presets to follow.
"""

from __future__ import annotations

import os
import tempfile
import wave
from pathlib import Path

import numpy as np

from zoomdream.audio import sources
from zoomdream.dream import cache

BPM = 120.0
BARS = 8
BEATS_PER_BAR = 4
INTRO_BARS = 2
SECONDS = BARS * BEATS_PER_BAR * 60 / BPM
VERSION = 1  # change when the synthesis changes: the cached file is named by it
RATE = sources.SAMPLE_RATE

# The chords of the pad (Hz), one per two bars: A minor, F major, C major, G major.
CHORDS = ((220.0, 261.63, 329.63), (174.61, 220.0, 261.63), (196.0, 261.63, 329.63), (196.0, 246.94, 293.66))
BASS_NOTES = (55.0, 43.65, 65.41, 49.0)  # A1, F1, C2, G1: the chords' roots


def beat_times() -> np.ndarray:
    """Seconds of every beat of the track."""
    return np.arange(BARS * BEATS_PER_BAR) * 60 / BPM


def kick_times() -> np.ndarray:
    """Seconds of every kick drum (every beat after the intro)."""
    beats = beat_times()
    return beats[beats >= INTRO_BARS * BEATS_PER_BAR * 60 / BPM]


def _decaying(length: float, tau: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(length * RATE)) / RATE
    return t, np.exp(-t / tau)


def _add(track: np.ndarray, sound: np.ndarray, at: float) -> None:
    start = int(round(at * RATE))
    end = min(len(track), start + len(sound))
    track[start:end] += sound[:end - start]


def synthesise() -> np.ndarray:
    """The track, mono float32 at SAMPLE_RATE, peaking at 0.9."""
    rng = np.random.default_rng(2015)
    track = np.zeros(int(SECONDS * RATE))
    beat = 60 / BPM
    t, fall = _decaying(0.35, 0.12)
    kick = np.sin(2 * np.pi * np.cumsum(45 + 70 * np.exp(-t / 0.03)) / RATE) * fall
    t, fall = _decaying(0.2, 0.06)
    snare = (0.6 * rng.standard_normal(len(t)) + 0.5 * np.sin(2 * np.pi * 185 * t)) * fall
    t, fall = _decaying(0.06, 0.015)
    hat = np.diff(rng.standard_normal(len(t) + 1)) * fall * 0.25  # differenced noise: hiss
    t, fall = _decaying(0.04, 0.008)
    rim = np.sin(2 * np.pi * 1700 * t) * fall * 0.3
    for k, at in enumerate(beat_times()):
        if at not in kick_times():
            _add(track, rim, at)
            continue
        _add(track, kick, at)
        _add(track, hat, at + beat / 2)
        if k % BEATS_PER_BAR in (1, 3):
            _add(track, snare * 0.7, at)
    span = 2 * BEATS_PER_BAR * beat  # two bars per chord
    t = np.arange(int(span * RATE)) / RATE
    swell = np.minimum(t / 0.8, 1) * np.minimum((span - t) / 0.5, 1)
    for k in range(BARS // 2):
        chord, root = CHORDS[k % len(CHORDS)], BASS_NOTES[k % len(BASS_NOTES)]
        pad = sum(np.sin(2 * np.pi * f * t + 0.3 * np.sin(2 * np.pi * 0.5 * t)) for f in chord) * swell * 0.08
        _add(track, pad, k * span)
        if k * span >= INTRO_BARS * BEATS_PER_BAR * beat:
            for b in range(2 * BEATS_PER_BAR):  # a bass note on every beat: a few harmonics, plucked
                n, pluck = _decaying(beat * 0.9, 0.18)
                note = sum(np.sin(2 * np.pi * root * h * n) / h for h in (1, 2, 3)) * pluck * 0.35
                _add(track, note, k * span + b * beat)
    return (track * 0.9 / np.abs(track).max()).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray) -> None:
    """Mono float samples in -1..1 as a 16-bit WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes())


def track_path() -> Path:
    """The demo track as a WAV file, made once into zoomdream's cache folder (or the
    temporary folder when there is no cache)."""
    folder = cache.cache_dir()
    folder = (folder / "audio") if folder is not None else Path(tempfile.gettempdir())
    path = folder / f"zoomdream-demo-track-v{VERSION}.wav"
    if path.is_file():
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir())
        path = folder / path.name
    # Written beside and renamed: two renders starting at once never read half a file.
    handle, partial = tempfile.mkstemp(dir=folder, suffix=".wav.partial")
    os.close(handle)
    try:
        write_wav(Path(partial), synthesise())
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
    return path
