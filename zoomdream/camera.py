"""Camera motion between frames, at a fixed output shape.

A move is a map from output pixels to source pixels; the picture is resampled bilinearly
at those positions. The output shape never depends on the zoom factor (a crop-then-resize
would round to a different size each frame and recompile).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.ndimage import map_coordinates


def zoom_coordinates(height: int, width: int, factor: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Source (y, x) of every output pixel for a zoom by ``factor`` about the centre.

    A factor above 1 zooms in: the output shows the central 1/factor of the source,
    enlarged. Pixel centres sit at integer coordinates, the centre at ((H-1)/2, (W-1)/2).
    """
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    ys = cy + (jnp.arange(height, dtype=jnp.float32) - cy) / factor
    xs = cx + (jnp.arange(width, dtype=jnp.float32) - cx) / factor
    return jnp.broadcast_to(ys[:, None], (height, width)), jnp.broadcast_to(xs[None, :], (height, width))


def resample(image: jax.Array, ys: jax.Array, xs: jax.Array) -> jax.Array:
    """Bilinear samples of an HWC image at (ys, xs); outside the image the edge pixels
    continue (what a zoom-in never reaches anyway)."""
    sample = lambda channel: map_coordinates(channel, [ys, xs], order=1, mode="nearest")
    return jax.vmap(sample, in_axes=2, out_axes=2)(image)


def zoom(image: jax.Array, factor: jax.Array) -> jax.Array:
    """Crop around the centre by ``factor`` and resample back to the same shape."""
    ys, xs = zoom_coordinates(image.shape[0], image.shape[1], factor)
    return resample(image, ys, xs)
