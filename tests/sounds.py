"""Sound files for the music tests, made here and encoded by ffmpeg as real files."""

from pathlib import Path

import numpy as np

from zoomdream.audio import demo, sources
from zoomdream.io import video

RATE = sources.SAMPLE_RATE


def clicks(bpm: float, seconds: float, first: float) -> np.ndarray:
    """The times of a click track: one click every beat from ``first`` on."""
    return np.arange(first, seconds - 0.1, 60 / bpm)


def click_track(times: np.ndarray, seconds: float) -> np.ndarray:
    """Short 2 kHz blips (a metronome's click) at ``times``, under a quiet hum."""
    x = 0.01 * np.sin(2 * np.pi * 110 * np.arange(int(seconds * RATE)) / RATE)
    n = np.arange(int(0.02 * RATE))
    blip = np.sin(2 * np.pi * 2000 * n / RATE) * np.exp(-n / (0.003 * RATE))
    for t in times:
        start = int(round(t * RATE))
        x[start:start + len(blip)] += 0.8 * blip[:len(x) - start]
    return x.astype(np.float32)


def tones(parts: list[tuple[float, float]]) -> np.ndarray:
    """Pure tones one after another: [(frequency, seconds), ...]."""
    return np.concatenate([0.5 * np.sin(2 * np.pi * f * np.arange(int(s * RATE)) / RATE) for f, s in parts]).astype(np.float32)


def encode(samples: np.ndarray, path: Path) -> Path:
    """``samples`` as a real file of the kind its suffix names (WAV, or AAC in .m4a, FLAC...)."""
    wav = path.with_suffix(".source.wav")
    demo.write_wav(wav, samples)
    if path.suffix.lower() == ".wav":
        wav.replace(path)
        return path
    video.run_ffmpeg(["-loglevel", "error", "-i", str(wav), "-ar", "44100", str(path)], "encode a test sound")
    wav.unlink()
    return path


def f_measure(found: np.ndarray, truth: np.ndarray, tolerance: float = 0.07) -> float:
    """Beat-tracking F-measure: found and true beats paired one to one within ``tolerance``."""
    unused = list(truth)
    hits = 0
    for t in found:
        near = [u for u in unused if abs(u - t) <= tolerance]
        if near:
            unused.remove(min(near, key=lambda u: abs(u - t)))
            hits += 1
    precision, recall = hits / max(len(found), 1), hits / max(len(truth), 1)
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)
