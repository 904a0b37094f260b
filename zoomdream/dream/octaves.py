"""Octaves: the sizes a frame is dreamed at, and moving pictures between them.

The 2015 scheme dreams the smallest octave first and carries the dreamed *detail* up to
the next size. Octave sizes are static (they are array shapes); when the octave scale is
scheduled, each octave is a buffer of the size the render's smallest scale gives, and
each frame's octave picture fills its top-left corner at the frame's own scale.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoomdream.network import googlenet


def min_octave_side(deepest_layer: str) -> int:
    """The smallest octave that still gives the deepest layer a few positions to dream
    at: below that, a deep layer sees a single pixel and only adds noise."""
    return max(googlenet.min_input_size(deepest_layer), 2 * googlenet.layer_info(deepest_layer).stride)


def octave_shapes(height: int, width: int, octaves: int, scale: float, min_side: int) -> tuple[tuple[int, int], ...]:
    """Octave sizes, smallest first. Octaves smaller than ``min_side`` are dropped (the
    octave count is clamped rather than failing), but the full size is always kept."""
    shapes = []
    for i in range(octaves):
        h, w = round(height / scale**i), round(width / scale**i)
        if i > 0 and min(h, w) < min_side:
            break
        shapes.append((h, w))
    return tuple(reversed(shapes))


def resize(image: jax.Array, shape: tuple[int, int]) -> jax.Array:
    """Bilinear resize of an HWC picture (a no-op at its own size)."""
    if image.shape[:2] == shape:
        return image
    return jax.image.resize(image, (*shape, image.shape[2]), method="linear")


def scale_into(image: jax.Array, shape: tuple[int, int], scale) -> jax.Array:
    """``image`` scaled by a traced factor about its top-left corner into ``shape``."""
    scales = jnp.stack([scale, scale]).astype(jnp.float32)
    return jax.image.scale_and_translate(image, (*shape, image.shape[2]), (0, 1), scales, jnp.zeros(2, jnp.float32),
                                         method="linear", antialias=True)


def shrink_into(canvas: jax.Array, shape: tuple[int, int], factor) -> jax.Array:
    """The canvas shrunk by a traced ``factor`` into the top-left of a buffer of
    ``shape``; the rest of the buffer mirrors it, so the network sees no hard edge."""
    content = scale_into(canvas, shape, 1.0 / factor)
    for axis in (0, 1):
        n = shape[axis]
        filled = jnp.maximum(jnp.floor(canvas.shape[axis] / factor).astype(jnp.int32), 1)
        i = jnp.arange(n)
        # Mirror about the content's last row/column: filled, filled+1, ... -> filled-1, filled-2, ...
        source = jnp.where(i < filled, i, jnp.clip(2 * filled - 1 - i, 0, n - 1))
        content = jnp.take(content, source, axis=axis)
    return content


def base(canvas: jax.Array, shapes: tuple[tuple[int, int], ...], octave: int, scheduled_scale: bool, scale) -> jax.Array:
    """The canvas at octave ``octave`` (0 is the smallest). With a scheduled scale, the
    octave holds the canvas shrunk by ``scale ** (last - octave)`` in a buffer of
    ``shapes[octave]``."""
    last = len(shapes) - 1
    if not scheduled_scale:
        return resize(canvas, shapes[octave])
    return canvas if octave == last else shrink_into(canvas, shapes[octave], scale ** (last - octave))


def carry_up(detail: jax.Array, shape: tuple[int, int], scheduled_scale: bool, scale) -> jax.Array:
    """An octave's dreamed detail, brought to the next octave's size."""
    if not scheduled_scale:
        return resize(detail, shape)
    return scale_into(detail, shape, scale)
