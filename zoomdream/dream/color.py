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

A tone is float32 ``(8,)``: the mean and spread of L*, a*, b*; 1 once it is set (0: the
next frame held sets it from itself); and how far it follows each frame (0: a reference
that stays). It is data, so a sweep's variants may hold other references in one program,
and it is part of a render's checkpoint.
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
TONE_SIZE = 8


def canvas_to_lab(canvas: jax.Array) -> jax.Array:
    """(..., 3) canvas (BGR minus the mean) -> CIE Lab (L* 0..100)."""
    rgb = jnp.clip((canvas + MEAN_BGR)[..., ::-1] / 255.0, 0.0, 1.0)
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


def statistics(lab: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean, spread) of each Lab channel over the picture."""
    mean = jnp.mean(lab, axis=(0, 1))
    return mean, jnp.sqrt(jnp.mean((lab - mean) ** 2, axis=(0, 1)))


def picture_tone(rgb: np.ndarray) -> np.ndarray:
    """The tone of a picture (uint8 RGB): a reference that stays."""
    mean, spread = statistics(canvas_to_lab(jnp.asarray(images.rgb_to_canvas(rgb))))
    return np.concatenate([np.asarray(mean), np.asarray(spread), [1.0, 0.0]]).astype(np.float32)


def unset_tone(rate: float = 0.0) -> np.ndarray:
    """A tone the first frame held sets from itself, then following each frame by ``rate``."""
    return np.array([0.0] * 7 + [rate], np.float32)


def window_rate(fps: float, seconds: float) -> float:
    """How far a ``window`` tone moves towards each new frame: an exponential average
    whose time constant is ``seconds``."""
    return float(1.0 - np.exp(-1.0 / (fps * seconds)))


def hold(canvas: jax.Array, tone: jax.Array, strength) -> tuple[jax.Array, jax.Array]:
    """(the canvas with its colour statistics moved by ``strength`` towards the tone's,
    the next tone: moved by its rate towards the held canvas's own statistics). A strength
    of 0 returns the canvas as it is."""
    lab = canvas_to_lab(canvas)
    mean, spread = statistics(lab)
    ready = tone[6] > 0
    target_mean = jnp.where(ready, tone[:3], mean)
    target_spread = jnp.where(ready, tone[3:6], spread)
    matched = (lab - mean) * (target_spread / jnp.maximum(spread, _MIN_SPREAD)) + target_mean
    held = lab + strength * (matched - lab)
    out = jnp.where(strength > 0, lab_to_canvas(held), canvas)
    new_mean, new_spread = statistics(held)
    seen = jnp.concatenate([new_mean, new_spread])
    moved = jnp.where(ready, tone[:6] + tone[7] * (seen - tone[:6]), seen)
    return out, jnp.concatenate([moved, jnp.ones(1, tone.dtype), tone[7:]])
