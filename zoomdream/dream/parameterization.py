"""The space the ascent moves in: the picture's pixels, or its decorrelated, scaled spectrum.

Plain gradient ascent on pixels lets the network's high-frequency gradients draw most of
the picture: a class comes out as fine noise the network reads and a person barely sees.
Olah, Mordvintsev and Schubert ("Feature Visualization", Distill 2017) optimise instead
in a space where every direction is about equally likely in natural images:

* the colours are *decorrelated*: the picture is a fixed 3x3 matrix (the square root of
  ImageNet's colour covariance, normalised; the figures Lucid publishes for this network)
  times three independent channels;
* each channel is given by its Fourier coefficients, each scaled by ``1 / frequency``
  (natural images' spectra fall off about so), so that a step of the same size on every
  coefficient changes coarse structure as much as fine.

Here the map is linear and invertible (no sigmoid at the end, since a canvas must enter
the space and leave it again at every frame of a zoom): :func:`encode` takes a canvas
(BGR, 0..255 minus the mean) to coefficients, :func:`decode` takes them back. The frame
step converts its picture at every ascent step and clips the decoded picture to the pixel
range, so the octaves, the camera and the feedback of a zoom see pixels as before.

Units: the coefficients are sized as Lucid's are before its final sigmoid, with the
picture's range (255 levels) as one unit. Without the sigmoid's slope of 1/4 a step moves
the picture further than there: Adam's learning rate of 0.05, Lucid's usual one, clips a
fifth of the pixels here, 0.01 does not (``dream.learning_rate``; measured on banana).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

CHOICES = ("pixel", "fourier")

# The square root of ImageNet's RGB colour correlation (as published with Lucid for this
# network), rows R, G, B; divided by its largest column norm so that a unit of each
# decorrelated channel stays within the picture's range.
_COLOR_SQRT = np.array([[0.26, 0.09, 0.02],
                        [0.27, 0.00, -0.05],
                        [0.27, -0.09, 0.03]], np.float64)
_COLOR = _COLOR_SQRT / np.max(np.linalg.norm(_COLOR_SQRT, axis=0))
_BGR = [2, 1, 0]
# Picture levels per unit of decorrelated channel: the range of a canvas.
PIXEL_RANGE = 255.0
# Lucid divides the inverse transform by 4 so that its initial coefficients give a calm
# picture; kept, so that coefficients are of Lucid's size.
_CALM = 4.0


def _mixing() -> np.ndarray:
    """Decorrelated channels -> BGR canvas levels (3x3)."""
    return (_COLOR[_BGR] * PIXEL_RANGE / _CALM).astype(np.float32)


def frequency_scale(height: int, width: int) -> np.ndarray:
    """``1 / max(frequency, 1 / max side)`` per coefficient of ``rfft2`` (shape (H, W//2+1)),
    times ``sqrt(H*W)`` so that the inverse transform's ``1 / (H*W)`` leaves unit
    coefficients at unit size."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    frequency = np.sqrt(fx * fx + fy * fy)
    return (np.sqrt(height * width) / np.maximum(frequency, 1.0 / max(height, width))).astype(np.float32)


def coefficient_shape(height: int, width: int) -> tuple[int, int, int, int]:
    """(H, W//2+1, 3 channels, real and imaginary)."""
    return (height, width // 2 + 1, 3, 2)


def decode(coefficients: jax.Array, height: int, width: int) -> jax.Array:
    """Coefficients (:func:`coefficient_shape`) -> a canvas (H, W, 3), linearly."""
    spectrum = jax.lax.complex(coefficients[..., 0], coefficients[..., 1])
    spectrum = spectrum * frequency_scale(height, width)[..., None]
    channels = jnp.fft.irfft2(spectrum, s=(height, width), axes=(0, 1))
    return channels @ jnp.asarray(_mixing().T)


def encode(canvas: jax.Array) -> jax.Array:
    """A canvas (H, W, 3) -> its coefficients: the inverse of :func:`decode` (up to
    rounding; the imaginary parts that a real picture's spectrum cannot have are 0)."""
    height, width = canvas.shape[:2]
    channels = canvas @ jnp.asarray(np.linalg.inv(_mixing().astype(np.float64)).T.astype(np.float32))
    spectrum = jnp.fft.rfft2(channels, axes=(0, 1)) / frequency_scale(height, width)[..., None]
    return jnp.stack([spectrum.real, spectrum.imag], axis=-1)


@dataclasses.dataclass(frozen=True)
class Space:
    """The ascent's parameters for a picture of one size, as the frame step uses them."""

    encode: Callable  # picture -> parameters
    decode: Callable  # parameters -> picture
    pull_back: Callable  # the picture's gradient -> the parameters' gradient
    to_picture: Callable | None  # a parameter step -> the picture's step (linear); None: the same
    unit: float  # the parameters' size of the whole pixel range: what a learning rate of 1 moves them by


def space(kind: str, height: int, width: int) -> Space:
    """The ``kind`` (``pixel`` or ``fourier``) space of an (H, W, 3) picture."""
    if kind == "pixel":
        same = lambda x: x  # noqa: E731
        return Space(same, same, same, None, PIXEL_RANGE)
    if kind != "fourier":
        raise ValueError(f"unknown parameterization {kind!r}; one of {', '.join(CHOICES)}")
    to_picture = functools.partial(decode, height=height, width=width)
    zero = jnp.zeros(coefficient_shape(height, width), jnp.float32)

    def pull_back(gradient):
        # decode is linear, so its transpose at any point takes a picture's gradient to
        # the coefficients'.
        return jax.vjp(to_picture, zero)[1](gradient)[0]

    return Space(encode, to_picture, pull_back, to_picture, 1.0)
