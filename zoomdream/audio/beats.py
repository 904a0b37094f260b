"""Beat tracking by dynamic programming (Ellis, "Beat Tracking by Dynamic Programming",
J. New Music Research 2007): a global tempo from the onset curve's autocorrelation, then
the beat times that best balance landing on strong onsets against keeping that tempo.

Written here with NumPy rather than taken from an audio library: the method is short, and
the libraries that ship it bring a JIT compiler and its import time with them.
"""

from __future__ import annotations

import numpy as np

SLOWEST_BPM, FASTEST_BPM = 40.0, 240.0
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0  # the tempo prior: log-normal around 120 BPM
TIGHTNESS = 100.0  # how strongly the beats keep the tempo (librosa's default, after Ellis)


def tempo_period(onsets: np.ndarray, rate: float) -> float:
    """The beat period in analysis frames: the autocorrelation lag of the onset curve
    that is strongest once weighted by the tempo prior (refined between frames)."""
    centred = onsets - onsets.mean()
    shortest, longest = int(rate * 60 / FASTEST_BPM), int(np.ceil(rate * 60 / SLOWEST_BPM))
    longest = min(longest, len(centred) - 1)
    if longest <= shortest:
        return rate * 60 / PRIOR_BPM
    spectrum = np.fft.rfft(centred, 2 * len(centred))
    correlation = np.fft.irfft(np.abs(spectrum) ** 2)[:longest + 2]
    lags = np.arange(shortest, longest + 1)
    bpm = 60 * rate / lags
    weighted = correlation[lags] * np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    best = int(np.argmax(weighted))
    lag = float(lags[best])
    if 0 < best < len(lags) - 1:  # a parabola through the peak and its neighbours
        a, b, c = weighted[best - 1:best + 2]
        if a - 2 * b + c < 0:
            lag += 0.5 * (a - c) / (a - 2 * b + c)
    return lag


def track(onsets: np.ndarray, rate: float) -> np.ndarray:
    """Beat positions, as indices into ``onsets`` (an onset strength curve at ``rate``
    frames a second), in time order; none for a curve without attacks."""
    if len(onsets) < 3 or not np.any(onsets > 0):
        return np.zeros(0, np.int64)
    period = tempo_period(onsets, rate)
    # Ellis smooths the onsets by a Gaussian of a 32nd of the period before scoring.
    from scipy import ndimage  # here, not above: a quarter second of every start otherwise

    local = ndimage.gaussian_filter1d(onsets / (onsets.std() + 1e-12), max(period / 32, 0.5), mode="constant")
    lags = np.arange(max(1, round(period / 2)), round(2 * period) + 1)
    penalty = -TIGHTNESS * np.log(lags / period) ** 2
    score = local.copy()
    previous = np.full(len(local), -1)
    for t in range(len(local)):
        earlier = t - lags
        usable = earlier >= 0
        if not usable.any():
            continue
        candidates = score[earlier[usable]] + penalty[usable]
        best = int(np.argmax(candidates))
        if candidates[best] > 0:
            score[t] += candidates[best]
            previous[t] = earlier[usable][best]
    # The last beat: the best score within the last period; then back through the chain.
    tail = max(0, len(score) - int(np.ceil(period)))
    beat = tail + int(np.argmax(score[tail:]))
    beats = [beat]
    while previous[beats[-1]] >= 0:
        beats.append(int(previous[beats[-1]]))
    beats = np.array(beats[::-1])
    # Leading and trailing beats in silence (the chain runs on through it): drop those
    # where the smoothed onsets are below half their root mean square.
    floor = 0.5 * np.sqrt(np.mean(local ** 2))
    strong = np.nonzero(local[beats] >= floor)[0]
    if len(strong) == 0:
        return np.zeros(0, np.int64)
    return beats[strong[0]:strong[-1] + 1].astype(np.int64)
