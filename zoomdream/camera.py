"""Camera motion between frames, at a fixed output shape.

A move is one affine map from output pixels to source pixels: zoom by ``z`` and rotate by
``angle`` about a centre ``c``, and pan by ``pan``. A source point q appears at

    p = c + z * R(angle) (q - c - pan),

so the output pixel p shows the source at q = c + pan + R(-angle)(p - c) / z, sampled
bilinearly. Coordinates are (x right, y down) with pixel centres on integers; a positive
angle turns the picture counter-clockwise on screen. The output shape never depends on
the move (a crop-then-resize would round to another size each frame and recompile).

What a zoom-out, rotation or pan reveals beyond the edges is filled by the border mode:
reflect (mirror the picture), wrap (tile it), edge (repeat the edge pixels) or noise (fresh
noise around mid-grey, which the dream then turns into new detail).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.ndimage import map_coordinates

BORDER_MODES = {"reflect": "reflect", "wrap": "wrap", "edge": "nearest", "noise": "constant"}


def source_coordinates(height: int, width: int, zoom, angle, pan, center) -> tuple[jax.Array, jax.Array]:
    """(ys, xs) in the source for every output pixel. ``pan`` and ``center`` are (x, y)
    in pixels; ``zoom`` > 1 zooms in; ``angle`` in radians."""
    ys, xs = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32), indexing="ij")
    dx, dy = (xs - center[0]) / zoom, (ys - center[1]) / zoom
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    # R(-angle) in (x, y-down) coordinates.
    sx = center[0] + pan[0] + cos * dx - sin * dy
    sy = center[1] + pan[1] + sin * dx + cos * dy
    return sy, sx


def resample(image: jax.Array, ys: jax.Array, xs: jax.Array, border: str = "edge") -> jax.Array:
    """Bilinear samples of an HWC image at (ys, xs), with a border mode of
    :data:`BORDER_MODES` (noise samples outside as zero; see :func:`move`)."""
    mode = BORDER_MODES[border]
    sample = lambda channel: map_coordinates(channel, [ys, xs], order=1, mode=mode, cval=0.0)
    return jax.vmap(sample, in_axes=2, out_axes=2)(image)


def move(image: jax.Array, zoom, angle, pan, center, border: str = "reflect", key=None, noise_amplitude: float = 48.0) -> jax.Array:
    """Apply one camera move to an HWC canvas; the shape stays the same."""
    ys, xs = source_coordinates(image.shape[0], image.shape[1], zoom, angle, pan, center)
    moved = resample(image, ys, xs, border)
    if border != "noise":
        return moved
    # How much of each output pixel came from inside the picture (bilinear weights).
    inside = map_coordinates(jnp.ones(image.shape[:2], image.dtype), [ys, xs], order=1, mode="constant", cval=0.0)
    noise = jax.random.uniform(key, image.shape, image.dtype, -noise_amplitude, noise_amplitude)
    # Canvas values are mean-subtracted, so 0 +- noise is noise around mid-grey (give or
    # take the few levels between the ImageNet mean and 127.5).
    return moved + (1.0 - inside)[..., None] * noise


def zoom(image: jax.Array, factor) -> jax.Array:
    """Zoom about the centre by ``factor``, keeping the shape."""
    h, w = image.shape[:2]
    center = jnp.array([(w - 1) / 2.0, (h - 1) / 2.0])
    return move(image, factor, 0.0, jnp.zeros(2), center, border="edge")
