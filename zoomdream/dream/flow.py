"""Optical flow between two frames, and warping by it, in jax.numpy.

The method is pyramidal, iterative Lucas-Kanade on a dense grid (Lucas & Kanade 1981;
Bouguet's coarse-to-fine form): at each level of a Gaussian pyramid, coarse to fine, the
second frame is warped by the flow found so far, and each pixel solves the 2x2 least
squares problem of the brightness-constancy equations in a Gaussian window around it.
Why this one: it is made of blurs, gradients and bilinear sampling alone (no iterative
global solver, no learned weights), so it compiles into a small, fixed-size program on
any backend; and the motion of a film is mostly smooth (camera moves, objects larger
than the window), where local least squares are accurate to a fraction of a pixel. Where
the picture is flat the window has no texture to go on; a small ridge term keeps the
solution there near the coarser level's estimate, and the occlusion test below marks
where the flow cannot be trusted.

Conventions: pictures are (H, W) float arrays; a flow is (H, W, 2) of (dy, dx) in
pixels, and ``flow(a, b)`` at pixel p is where p's content of ``a`` is found in ``b``:
``a(p) ~ b(p + flow(a, b)(p))``, so ``warp(b, flow(a, b))`` looks like ``a``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from zoomdream.dream import octaves

SMALLEST_LEVEL = 24  # pixels on the short side of the pyramid's coarsest level


def luminance(canvas: jax.Array) -> jax.Array:
    """A canvas (BGR minus the mean, (H, W, 3)) as grey levels."""
    b, g, r = canvas[..., 0], canvas[..., 1], canvas[..., 2]
    return 0.114 * b + 0.587 * g + 0.299 * r


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def blur(x: jax.Array, sigma: float) -> jax.Array:
    """Separable Gaussian blur over the last two axes of an (..., H, W) array, edges
    mirrored; leading axes are pictures blurred alike (one blur for many, a short program)."""
    kernel = _gaussian_kernel(sigma)
    radius = len(kernel) // 2
    for axis in (x.ndim - 2, x.ndim - 1):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (radius, radius)
        padded = jnp.pad(x, pad, mode="reflect" if x.shape[axis] > radius else "edge")
        n = x.shape[axis]
        x = sum(float(w) * jax.lax.slice_in_dim(padded, i, i + n, axis=axis) for i, w in enumerate(kernel))
    return x


def sample(image: jax.Array, coords_y: jax.Array, coords_x: jax.Array) -> jax.Array:
    """Bilinear samples of ``image`` ((H, W) or (H, W, C)) at fractional coordinates,
    clamped to the edge."""
    h, w = image.shape[:2]
    y = jnp.clip(coords_y, 0, h - 1)
    x = jnp.clip(coords_x, 0, w - 1)
    y0 = jnp.clip(jnp.floor(y).astype(jnp.int32), 0, h - 2)
    x0 = jnp.clip(jnp.floor(x).astype(jnp.int32), 0, w - 2)
    fy, fx = y - y0, x - x0
    if image.ndim == 3:
        fy, fx = fy[..., None], fx[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def grid(shape) -> tuple[jax.Array, jax.Array]:
    """Every pixel's (row, column) coordinates, float32, for a picture of ``shape``."""
    return jnp.meshgrid(jnp.arange(shape[0], dtype=jnp.float32), jnp.arange(shape[1], dtype=jnp.float32),
                        indexing="ij")


def warp(image: jax.Array, flow_field: jax.Array) -> jax.Array:
    """``image`` sampled at p + flow(p) for every pixel p of the flow's grid."""
    gy, gx = grid(flow_field.shape[:2])
    return sample(image, gy + flow_field[..., 0], gx + flow_field[..., 1])


def _gradients(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Central differences (one-sided at the edges)."""
    return jnp.gradient(x, axis=0), jnp.gradient(x, axis=1)


def _downsample(x: jax.Array) -> jax.Array:
    return blur(x, 1.0)[::2, ::2]


def _upsample_flow(flow_field: jax.Array, shape) -> jax.Array:
    """A coarse level's flow on the next level's grid, in that level's pixels."""
    h, w = flow_field.shape[:2]
    return octaves.resize(flow_field, shape) * jnp.array([shape[0] / h, shape[1] / w], jnp.float32)


def _refine(a: jax.Array, b: jax.Array, flow_field: jax.Array, iterations: int, window: float) -> jax.Array:
    """Lucas-Kanade iterations at one level, starting from ``flow_field``."""
    # A ridge in units of the picture's own gradient energy, so that the method does not
    # depend on the pictures' contrast: flat windows keep the flow they were given.
    gy, gx = _gradients(a)
    ridge = 1e-3 * jnp.mean(gy * gy + gx * gx) + 1e-6

    # A loop, not unrolled: the iterations' copies made a program XLA took minutes to compile.
    def iterate(_, flow_field):
        moved = warp(b, flow_field)
        iy, ix = _gradients(0.5 * (a + moved))
        it = moved - a
        # the five window sums of the least-squares problem, blurred as one
        syy, sxx, sxy, sty, stx = blur(jnp.stack([iy * iy, ix * ix, iy * ix, iy * it, ix * it]), window)
        syy, sxx = syy + ridge, sxx + ridge
        det = syy * sxx - sxy * sxy
        dy = -(sxx * sty - sxy * stx) / det
        dx = -(syy * stx - sxy * sty) / det
        return flow_field + jnp.stack([dy, dx], axis=-1)

    return jax.lax.fori_loop(0, iterations, iterate, flow_field)


def flow(a: jax.Array, b: jax.Array, iterations: int = 4, window: float = 4.0) -> jax.Array:
    """Dense flow from picture ``a`` to picture ``b`` (both (H, W) grey levels): see the
    module's docstring. ``window``: the Gaussian window's sigma, in pixels of each level."""
    pyramid = [(a, b)]
    while min(pyramid[-1][0].shape) >= 2 * SMALLEST_LEVEL:
        pa, pb = pyramid[-1]
        pyramid.append((_downsample(pa), _downsample(pb)))
    flow_field = jnp.zeros((*pyramid[-1][0].shape, 2), jnp.float32)
    for level_a, level_b in reversed(pyramid):
        if flow_field.shape[:2] != level_a.shape:
            flow_field = _upsample_flow(flow_field, level_a.shape)
        flow_field = _refine(level_a, level_b, flow_field, iterations, window)
    return flow_field


def both_ways(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(``flow(a, b)``, ``flow(b, a)``) as one loop of two turns: one copy of the flow in
    the program instead of two (half the compiling), and one direction's temporaries
    alive at a time (batching both, as vmap would, doubles them: at 1080p they are the
    largest of a film frame's programs)."""
    there, back = jax.lax.map(lambda pair: flow(*pair), (jnp.stack([a, b]), jnp.stack([b, a])))
    return there, back


def consistent(forward: jax.Array, backward: jax.Array) -> jax.Array:
    """Where ``backward`` (``flow(a, b)``) can be trusted, as 1.0 or 0.0 on ``a``'s grid,
    with ``forward`` = ``flow(b, a)``: going to b and back must return to the start
    (occlusions and disocclusions fail this), and the flow must not change sharply
    (motion boundaries). The criteria and constants are Ruder et al. 2016's."""
    back_again = warp(forward, backward)
    round_trip = backward + back_again
    lhs = jnp.sum(round_trip**2, -1)
    rhs = 0.01 * (jnp.sum(backward**2, -1) + jnp.sum(back_again**2, -1)) + 0.5
    dyy, dyx = _gradients(backward[..., 0])
    dxy, dxx = _gradients(backward[..., 1])
    boundary = dyy**2 + dyx**2 + dxy**2 + dxx**2 > 0.01 * jnp.sum(backward**2, -1) + 0.002
    return jnp.where((lhs <= rhs) & ~boundary, 1.0, 0.0).astype(jnp.float32)
