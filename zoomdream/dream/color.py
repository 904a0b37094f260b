"""Colour coherence: a long zoom's colours held near a reference (``color.coherence``).

A feedback loop drifts: each frame's dream nudges the colours the same way, and over
thousands of frames the picture slides to one hue, washes out or saturates. Before each
frame is dreamed, :func:`hold` moves the canvas's colour statistics (the mean and spread of
L*, a* and b* in CIE Lab, a space where equal steps look about equally different) part of
the way towards a reference's, by ``values.color_coherence`` (0: untouched). The
reference, the *tone*, is state carried from frame to frame on the device:

* ``window``: the running statistics of the frames held so far, an exponential average
  over about ``color.window_seconds``: the palette may wander slowly, never jump or
  collapse;
* ``first``: the statistics of the first dreamed frame, kept;
* a picture: its statistics, kept (a palette to hold).

Holding the mean and spread of L*, a* and b* one by one does not hold how colourful the
picture looks: the dream paints its colours where it paints its light, and an RGB
picture's colourfulness grows with that even when each channel's spread stays. So the hold
then scales the chroma about its mean (a* and b*, the mean colour kept) until the picture's
colourfulness, Hasler and Suesstrunk's measure (2003), has moved the same part of the way
towards the tone's.

A tone is float32 ``(9,)``: the mean and spread of L*, a*, b*; 1 once it is set (0: the
next frame held sets it from itself); how far it follows each frame (0: a reference that
stays); and the colourfulness. It is data, so a sweep's variants may hold other references
in one program, and it is part of a render's checkpoint.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from zoomdream.io import images
from zoomdream.network.googlenet import MEAN_BGR

# sRGB (D65) to CIE XYZ, and the D65 white point.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]], np.float32)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ).astype(np.float32)
_WHITE = np.array([0.95047, 1.0, 1.08883], np.float32)
_EDGE = 6.0 / 29.0
# The smallest spread a channel is divided by (a flat picture has none to scale).
_MIN_SPREAD = 0.5
# How far one hold may scale the chroma: a frame's colourfulness is reached over a few
# frames rather than by blowing up a near-grey picture's noise at once.
_CHROMA_SCALE = (0.5, 2.0)
TONE_SIZE = 9


def canvas_to_lab(canvas: jax.Array) -> jax.Array:
    """(..., 3) canvas (BGR minus the mean) -> CIE Lab (L* 0..100)."""
    rgb = _canvas_rgb(canvas) / 255.0
    linear = jnp.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = jnp.where(xyz > _EDGE**3, jnp.cbrt(jnp.maximum(xyz, _EDGE**3)), xyz / (3 * _EDGE**2) + 4.0 / 29.0)
    return jnp.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1)


def lab_to_canvas(lab: jax.Array) -> jax.Array:
    """CIE Lab -> canvas, clipped to the colours an 8-bit frame can show."""
    fy = (lab[..., 0] + 16.0) / 116.0
    f = jnp.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], -1)
    xyz = jnp.where(f > _EDGE, f**3, 3 * _EDGE**2 * (f - 4.0 / 29.0)) * _WHITE
    linear = jnp.clip(xyz @ _XYZ_TO_RGB.T, 0.0, 1.0)
    rgb = jnp.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    low, high = images.canvas_bounds()
    return jnp.clip(rgb[..., ::-1] * 255.0 - MEAN_BGR, low, high)


def colourfulness(rgb: jax.Array) -> jax.Array:
    """Hasler and Suesstrunk's colourfulness (2003) of (..., H, W, 3) RGB on 0..255: the
    spread of the opponent channels R-G and (R+G)/2-B plus 0.3 times their mean's size."""
    spread_part, mean_part = _colourfulness_parts(rgb)
    return spread_part + mean_part


def _colourfulness_parts(rgb: jax.Array) -> tuple[jax.Array, jax.Array]:
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    opponents = jnp.stack([red - green, 0.5 * (red + green) - blue])
    mean = jnp.mean(opponents, axis=(-2, -1), keepdims=True)
    spread = jnp.sqrt(jnp.sum(jnp.mean((opponents - mean) ** 2, axis=(-2, -1)), axis=0))
    return spread, 0.3 * jnp.sqrt(jnp.sum(mean[..., 0, 0] ** 2, axis=0))


def _canvas_rgb(canvas: jax.Array) -> jax.Array:
    """A canvas as RGB on 0..255, unrounded (float: the measures see what the hold made)."""
    return jnp.clip((canvas + MEAN_BGR)[..., ::-1], 0.0, 255.0)


def statistics(lab: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean, spread) of each Lab channel over the picture."""
    mean = jnp.mean(lab, axis=(0, 1))
    return mean, jnp.sqrt(jnp.mean((lab - mean) ** 2, axis=(0, 1)))


def picture_tone(rgb: np.ndarray) -> np.ndarray:
    """The tone of a picture (uint8 RGB): a reference that stays."""
    mean, spread = statistics(canvas_to_lab(jnp.asarray(images.rgb_to_canvas(rgb))))
    vivid = colourfulness(jnp.asarray(rgb, jnp.float32))
    return np.concatenate([np.asarray(mean), np.asarray(spread), [1.0, 0.0, float(vivid)]]).astype(np.float32)


def unset_tone(rate: float = 0.0) -> np.ndarray:
    """A tone the first frame held sets from itself, then following each frame by ``rate``."""
    return np.array([0.0] * 7 + [rate, 0.0], np.float32)


def saved_tone(tone: np.ndarray) -> np.ndarray:
    """A tone as a checkpoint kept it; one saved before colourfulness was held (8 numbers)
    takes its colourfulness from the next frame held."""
    tone = np.asarray(tone, np.float32)
    return np.concatenate([tone, np.zeros(TONE_SIZE - len(tone), np.float32)]) if len(tone) < TONE_SIZE else tone


def window_rate(fps: float, seconds: float) -> float:
    """How far a ``window`` tone moves towards each new frame: an exponential average
    whose time constant is ``seconds``."""
    return float(1.0 - np.exp(-1.0 / (fps * seconds)))


def hold(canvas: jax.Array, tone: jax.Array, strength) -> tuple[jax.Array, jax.Array]:
    """(the canvas with its colour statistics and colourfulness moved by ``strength``
    towards the tone's, the next tone: moved by its rate towards the held canvas's own
    statistics). A strength of 0 returns the canvas as it is."""
    lab = canvas_to_lab(canvas)
    mean, spread = statistics(lab)
    vivid = colourfulness(_canvas_rgb(canvas))
    ready = tone[6] > 0
    target_mean = jnp.where(ready, tone[:3], mean)
    target_spread = jnp.where(ready, tone[3:6], spread)
    target_vivid = jnp.where(ready & (tone[8] > 0), tone[8], vivid)
    matched = (lab - mean) * (target_spread / jnp.maximum(spread, _MIN_SPREAD)) + target_mean
    held = lab + strength * (matched - lab)
    held = _scale_chroma(held, vivid + strength * (target_vivid - vivid))
    out = jnp.where(strength > 0, lab_to_canvas(held), canvas)
    new_mean, new_spread = statistics(held)
    seen = jnp.concatenate([new_mean, new_spread, colourfulness(_canvas_rgb(out))[None]])
    last = jnp.concatenate([tone[:6], tone[8:]])
    follows = jnp.concatenate([jnp.broadcast_to(ready, (6,)), (ready & (tone[8] > 0))[None]])
    moved = jnp.where(follows, last + tone[7] * (seen - last), seen)
    return out, jnp.concatenate([moved[:6], jnp.ones(1, tone.dtype), tone[7:8], moved[6:]])


def _scale_chroma(lab: jax.Array, wanted: jax.Array) -> jax.Array:
    """``lab`` with a* and b* scaled about their means so that its colourfulness comes near
    ``wanted``: the spread part of the measure scales with the chroma's spread, the mean
    colour stays. Twice: the RGB picture's gamma and gamut bend the first scale."""
    chroma_mean = jnp.mean(lab[..., 1:], axis=(0, 1))
    for _ in range(2):
        spread_part, mean_part = _colourfulness_parts(_canvas_rgb(lab_to_canvas(lab)))
        scale = jnp.clip((wanted - mean_part) / jnp.maximum(spread_part, _MIN_SPREAD), *_CHROMA_SCALE)
        lab = jnp.concatenate([lab[..., :1], chroma_mean + scale * (lab[..., 1:] - chroma_mean)], -1)
    return lab
