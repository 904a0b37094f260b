"""A soundtrack decoded and analysed: loudness, attacks and frequency bands at a fixed
rate of analysis frames (86 a second), each scaled to 0..1 over the track.

Decoding goes through the ffmpeg of imageio-ffmpeg (any format ffmpeg reads), down-mixed
to mono at :data:`~zoomdream.audio.sources.SAMPLE_RATE`: a minute of sound is 5 MB. The
spectrum is a short-time Fourier transform (Hann window of 1024 samples, 46 ms, for a
bass resolution of 21.5 Hz; a hop of 256 samples, 11.6 ms), computed in blocks so that a
long track never holds its whole spectrogram.

* ``rms``: the loudness of each frame in decibels, from 40 dB below the track's loud
  level (its 99th percentile) up to it.
* bands: the power in a band in decibels, on the same 40 dB scale, measured from the
  band's own loud level but never from more than 30 dB below the whole track's: a band
  the music barely touches stays low instead of having its noise magnified to full scale.
* ``onsets``: spectral flux (Masri 1996; Bello et al. 2005), the summed rise of the log
  magnitude spectrum from one frame to the next, which jumps at percussive attacks and
  note starts; scaled so the track's strong attacks reach 1. The spectrum is first
  gathered into bands of equal width in octaves (as a mel spectrum would): over the plain
  FFT bins, which are equally wide in Hz, a hi-hat's hiss would fill hundreds of bins
  and a kick drum a handful, and the flux would follow the hi-hats alone.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np

from zoomdream.audio import sources
from zoomdream.errors import ConfigError
from zoomdream.io import video

WINDOW = 1024
HOP = 256
FRAME_RATE = sources.SAMPLE_RATE / HOP  # analysis frames per second
DYNAMIC_RANGE_DB = 40.0  # loudness from this far below the loud level maps to 0..1
QUIETEST_BAND_DB = 30.0  # a band's loud level is taken no lower than this below the track's
_BLOCK = 4096  # analysis frames per block of the spectrogram
FLUX_BANDS_PER_OCTAVE = 4
FLUX_LOWEST_HZ = 30.0


def _flux_bands(freqs: np.ndarray) -> np.ndarray:
    """(bins, bands) 0/1 matrix gathering FFT bins into bands a quarter octave wide (at
    least one bin each) from FLUX_LOWEST_HZ up."""
    octaves = np.log2(np.maximum(freqs, FLUX_LOWEST_HZ) / FLUX_LOWEST_HZ)
    band = np.floor(octaves * FLUX_BANDS_PER_OCTAVE).astype(int)
    band = np.unique(band, return_inverse=True)[1]  # renumber the bands that hold bins
    return (band[:, None] == np.arange(band.max() + 1)[None, :]).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Analysis:
    """A soundtrack's features, frame ``n`` centred on ``n / FRAME_RATE`` seconds."""

    seconds: float
    rms: np.ndarray  # (frames,) 0..1
    onsets: np.ndarray  # (frames,) 0..1
    bands: dict[tuple[float, float], np.ndarray]  # (low, high) Hz -> (frames,) 0..1
    envelope: np.ndarray  # (frames, 2): the lowest and highest sample in each hop (for plots)

    @property
    def frames(self) -> int:
        return len(self.rms)


def read_samples(path: Path, key: str = "--audio") -> np.ndarray:
    """The first sound stream of ``path``, mono float32 at SAMPLE_RATE. A file ffmpeg
    cannot read, or one without sound, raises a :class:`ConfigError` naming it."""
    command = [video.ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
               "-map", "0:a:0", "-ac", "1", "-ar", str(sources.SAMPLE_RATE), "-f", "f32le", "-"]
    result = subprocess.run(command, capture_output=True, start_new_session=True)
    if result.returncode != 0:
        said = video.last_line(result.stderr.decode(errors="replace"))
        raise ConfigError(f"{key}: {str(path)!r} has no sound ffmpeg can read ({said or 'no audio stream'})")
    samples = np.frombuffer(result.stdout, np.float32)
    if samples.size == 0:
        raise ConfigError(f"{key}: {str(path)!r} holds no sound (zero samples)")
    if not np.isfinite(samples).all():
        raise ConfigError(f"{key}: {str(path)!r} decodes to samples that are not numbers")
    return samples


def _decibels(power: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(power, 1e-20))


def _scaled_decibels(level_db: np.ndarray, loud_db: float) -> np.ndarray:
    return np.clip((level_db - (loud_db - DYNAMIC_RANGE_DB)) / DYNAMIC_RANGE_DB, 0.0, 1.0)


def analyse(samples: np.ndarray, bands: list[tuple[float, float]]) -> Analysis:
    """Every feature of mono ``samples`` at SAMPLE_RATE, with these frequency bands."""
    frames = 1 + len(samples) // HOP
    # Centred frames: frame n covers samples n*HOP - WINDOW/2 .. n*HOP + WINDOW/2.
    padded = np.concatenate([np.zeros(WINDOW // 2, np.float32), samples, np.zeros(WINDOW, np.float32)])
    window = np.hanning(WINDOW + 1)[:-1].astype(np.float32)  # periodic Hann
    freqs = np.fft.rfftfreq(WINDOW, 1 / sources.SAMPLE_RATE)
    masks = {band: (freqs >= band[0]) & (freqs < band[1]) for band in bands}
    gather = _flux_bands(freqs)
    mean_square = np.empty(frames)
    total = np.empty(frames)
    band_power = {band: np.empty(frames) for band in bands}
    flux = np.zeros(frames)
    previous = None
    for start in range(0, frames, _BLOCK):
        count = min(_BLOCK, frames - start)
        index = (start + np.arange(count))[:, None] * HOP + np.arange(WINDOW)[None, :]
        chunk = padded[index]
        mean_square[start:start + count] = np.mean(chunk.astype(np.float64) ** 2, axis=1)
        power = np.abs(np.fft.rfft(chunk * window, axis=1)) ** 2
        total[start:start + count] = power.sum(1)
        for band, mask in masks.items():
            band_power[band][start:start + count] = power[:, mask].sum(1)
        # Log magnitude compresses the loud partials so that a quiet attack still counts.
        log_magnitude = np.log1p(100.0 * np.sqrt(power @ gather))
        joined = log_magnitude if previous is None else np.concatenate([previous[None], log_magnitude])
        rise = np.maximum(np.diff(joined, axis=0), 0).mean(1)
        flux[start + (previous is None):start + count] = rise
        previous = log_magnitude[-1]
    loud = float(np.percentile(_decibels(total), 99))
    scaled_bands = {}
    for band, power in band_power.items():
        level = _decibels(power)
        scaled_bands[band] = _scaled_decibels(level, max(float(np.percentile(level, 99)), loud - QUIETEST_BAND_DB))
    # The flux of an attack peaks as it reaches the steep side of the Hann window, a
    # quarter window (one hop) before the frame's centre: move it back by that hop.
    flux = np.concatenate([[0.0], flux[:-1]])
    rms_db = _decibels(mean_square)
    # Strong attacks reach 1; a track with very few makes its largest reach at least 1/4.
    flux_scale = max(float(np.percentile(flux, 99)), 0.25 * float(flux.max()), 1e-12)
    hops = padded[WINDOW // 2:WINDOW // 2 + frames * HOP].reshape(frames, HOP)
    return Analysis(
        seconds=len(samples) / sources.SAMPLE_RATE,
        rms=_scaled_decibels(rms_db, float(np.percentile(rms_db, 99))),
        onsets=np.clip(flux / flux_scale, 0.0, 1.0),
        bands=scaled_bands,
        envelope=np.stack([hops.min(1), hops.max(1)], axis=1),
    )
