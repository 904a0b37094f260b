"""Random transformations of the picture before each ascent step's gradient.

A picture that maximises the network's response only at one exact position, size and
angle is mostly high-frequency pattern; asking that the response survive small random
changes of all three makes the dream draw what holds under them, which is what a person
sees too ("transformation robustness" in Olah et al., "Feature Visualization", Distill
2017). Each step pads the picture (``pad``, static: it sets the network's input size),
then scales, rotates and shifts it by random amounts within the frame's ranges, in one
bilinear resampling. The gradient flows back through the resampling to the picture.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoomdream.dream import flow


def random_view(image: jax.Array, key: jax.Array, pad: int, jitter, scale, rotate) -> jax.Array:
    """``image`` (H, W, C) padded by ``pad`` pixels of 0 (the canvas's mean colour), then
    seen through a random similarity transform: size ``1 + u*scale``, angle ``v*rotate``
    (radians), shift ``(a, b)*jitter`` pixels, with u, v, a, b uniform in [-1, 1].
    Returns (H + 2 pad, W + 2 pad, C); with every range 0 it is the padded picture."""
    if pad:
        image = jnp.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    h, w = image.shape[:2]
    u, v, a, b = jax.random.uniform(key, (4,), minval=-1.0, maxval=1.0)
    size, angle = 1.0 + u * scale, v * rotate
    # Shifts of whole pixels, like dream.jitter's roll: a fractional shift alone would
    # blur the picture the network sees.
    shift = jnp.round(jnp.stack([a, b]) * jitter)
    ys, xs = flow.grid((h, w))
    cy, cx = (h - 1) / 2, (w - 1) / 2
    # The output pixel p shows the input at centre + R(-angle) (p - centre - shift) / size.
    dy, dx = (ys - cy - shift[0]) / size, (xs - cx - shift[1]) / size
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    return flow.sample(image, cy + cos * dy - sin * dx, cx + sin * dy + cos * dx)
