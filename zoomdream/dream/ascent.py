"""The ascent's update rules, as optax gradient transformations.

The 2015 step is ``image += step_size / mean(|g|) * g``: the gradient normalised by its
mean magnitude, so that ``step_size`` is a number of pixel levels per step whatever the
layer's gradient scale. Written as an optax chain (normalise, then scale), the step is one
optimiser among optax's, and Adam (``dream.optimizer: adam``) is another; optax's
convention is that updates are *added* to the parameters, which for an ascent is what we
want. Which chain is used is chosen by the static :class:`~zoomdream.dream.step.DreamSpec`;
its numbers (``step_size``, ``learning_rate``) are the frame's traced values, so
scheduling them never recompiles. The Laplacian-pyramid normalisation
(``dream.gradient_norm: laplacian``) works on the picture's gradient before any of them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from zoomdream.dream.octaves import resize

# Added to the gradient's mean magnitude before dividing by it (flat images have none).
GRAD_EPSILON = 1e-8


def _stateless(update_one) -> optax.GradientTransformation:
    """A transformation applying ``update_one`` to every array of the updates."""

    def update(updates, state, params=None):
        del params
        return jax.tree.map(update_one, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def scale_by_mean_magnitude(eps: float = GRAD_EPSILON) -> optax.GradientTransformation:
    """``g / (mean(|g|) + eps)``: the 2015 normalisation."""
    return _stateless(lambda g: g / (jnp.mean(jnp.abs(g)) + eps))


def laplacian_normalize(g: jax.Array, levels: int) -> jax.Array:
    """Split an HWC gradient into a Laplacian pyramid, scale every level to unit standard
    deviation, and merge: low frequencies get as much of the step as high ones, which
    gives smoother pictures in fewer steps (the 2016 TensorFlow DeepDream tutorial)."""
    bands = []
    low = g
    for _ in range(levels - 1):
        h, w = low.shape[:2]
        if min(h, w) < 4:
            break
        smaller = jax.image.resize(low, ((h + 1) // 2, (w + 1) // 2, low.shape[2]), method="linear")
        bands.append(low - resize(smaller, (h, w)))
        low = smaller
    bands.append(low)
    out = None
    for band in reversed(bands):
        band = band / jnp.maximum(jnp.std(band), 1e-8)
        out = band if out is None else resize(out, band.shape[:2]) + band
    return out


def scale_by_picture_magnitude(to_picture, eps: float = GRAD_EPSILON) -> optax.GradientTransformation:
    """``u / (mean(|to_picture(u)|) + eps)``: the 2015 normalisation measured on the picture,
    for a step taken in another space (``to_picture``: that space's linear map to the
    picture), so that ``step_size`` still counts pixel levels."""
    return _stateless(lambda u: u / (jnp.mean(jnp.abs(to_picture(u))) + eps))


def normalized_ascent(step_size, to_picture=None) -> optax.GradientTransformation:
    """The 2015 ascent step as an optax chain: the gradient normalised by its mean
    magnitude, times ``step_size`` (pixel levels; may be traced). ``to_picture``: for a
    step in another space than the pixels', its linear map to the picture."""
    normalize = scale_by_mean_magnitude() if to_picture is None else scale_by_picture_magnitude(to_picture)
    return optax.chain(normalize, optax.scale(step_size))


def adam(learning_rate) -> optax.GradientTransformation:
    """Adam (Kingma and Ba 2015) as an ascent: each parameter's step is its gradient's
    running mean over the root of its running square, times ``learning_rate`` (traced)."""
    return optax.chain(optax.scale_by_adam(), optax.scale(learning_rate))
