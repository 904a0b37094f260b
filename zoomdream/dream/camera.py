"""Camera motion between frames, at a fixed output shape.

A move is one affine map from output pixels to source pixels: zoom by ``z`` and rotate by
``angle`` about a centre ``c``, and pan by ``pan``. A source point q appears at

    p = c + z * R(angle) (q - c - pan),

so the output pixel p shows the source at q = c + pan + R(-angle)(p - c) / z, sampled
with cubic interpolation. Coordinates are (x right, y down) with pixel centres on integers; a positive
angle turns the picture counter-clockwise on screen. The output shape never depends on
the move (a crop-then-resize would round to another size each frame and recompile).

What a zoom-out, rotation or pan reveals beyond the edges is filled by the border mode:
reflect (mirror the picture), wrap (tile it), edge (repeat the edge pixels) or noise (fresh
noise around mid-grey, which the dream then turns into new detail).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

BORDER_MODES = ("reflect", "wrap", "edge", "noise")


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


def _border_index(i: jax.Array, n: int, border: str) -> tuple[jax.Array, jax.Array]:
    """Map integer sample positions outside 0..n-1 into the picture; also return whether
    each position was inside (only the noise border needs that)."""
    inside = (i >= 0) & (i < n)
    if border == "wrap":
        i = jnp.mod(i, n)
    elif border == "reflect":  # ... c b a | a b c ... (the edge pixel is repeated once)
        m = jnp.mod(i, 2 * n)
        i = jnp.where(m >= n, 2 * n - 1 - m, m)
    else:
        i = jnp.clip(i, 0, n - 1)
    return i, inside


def _cubic_weights(f: jax.Array) -> jax.Array:
    """Keys' cubic convolution weights (a = -0.5) of the 4 taps at offsets -1, 0, 1, 2 for
    a fractional position f in [0, 1). It reproduces linear and quadratic ramps exactly and
    blurs far less than bilinear interpolation, which matters when a picture is resampled
    once per frame for hundreds of frames."""
    a = -0.5
    d = jnp.stack([1 + f, f, 1 - f, 2 - f], axis=-1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return jnp.where(d <= 1, near, far)


def resample(image: jax.Array, ys: jax.Array, xs: jax.Array, border: str = "edge") -> tuple[jax.Array, jax.Array]:
    """Bicubic samples of an HWC image at (ys, xs), and the share of each sample that came
    from inside the picture. Outside, the border mode decides: reflect, wrap, edge, or
    noise (zero here; :func:`move` fills it)."""
    h, w = image.shape[:2]
    y0, x0 = jnp.floor(ys), jnp.floor(xs)
    wy, wx = _cubic_weights(ys - y0), _cubic_weights(xs - x0)  # (..., 4)
    taps = jnp.arange(-1, 3)
    yi, y_in = _border_index(y0.astype(jnp.int32)[..., None] + taps, h, border)
    xi, x_in = _border_index(x0.astype(jnp.int32)[..., None] + taps, w, border)
    if border == "noise":
        wy, wx = wy * y_in, wx * x_in
    # Separable: 4 taps along x for each of 4 rows, then 4 along y; one row of taps per
    # step of a loop, whose buffers are reused: gathering all 16 taps at once held
    # (H, W, 4, 4, C) samples and their indices, 570 MB at 1920x1080.
    flat = image.reshape(h * w, -1)

    def add_row(i, out):
        row = flat[jnp.take(yi, i, axis=-1)[..., None] * w + xi]  # (H, W, 4, C)
        return out + jnp.take(wy, i, axis=-1)[..., None] * jnp.einsum("hwjc,hwj->hwc", row, wx)

    out = jax.lax.fori_loop(0, 4, add_row, jnp.zeros(ys.shape + image.shape[2:], image.dtype))
    inside = wy.sum(-1) * wx.sum(-1)
    return out, inside


def move(image: jax.Array, zoom, angle, pan, center, border: str = "reflect", key=None,
         noise_amplitude: float = 48.0) -> jax.Array:
    """Apply one camera move to an HWC canvas; the shape stays the same."""
    ys, xs = source_coordinates(image.shape[0], image.shape[1], zoom, angle, pan, center)
    moved, inside = resample(image, ys, xs, border)
    if border != "noise":
        return moved
    noise = jax.random.uniform(key, image.shape, image.dtype, -noise_amplitude, noise_amplitude)
    # Canvas values are mean-subtracted, so 0 +- noise is noise around mid-grey (give or
    # take the few levels between the ImageNet mean and 127.5).
    return moved + (1.0 - jnp.clip(inside, 0.0, 1.0))[..., None] * noise


def zoom(image: jax.Array, factor) -> jax.Array:
    """Zoom about the centre by ``factor``, keeping the shape."""
    h, w = image.shape[:2]
    center = jnp.array([(w - 1) / 2.0, (h - 1) / 2.0])
    return move(image, factor, 0.0, jnp.zeros(2), center, border="edge")
