"""What the dream maximises: pure functions from activations to a scalar."""

from __future__ import annotations

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp


def layer_l2(acts: Mapping[str, jax.Array], names: Sequence[str], weights: jax.Array) -> jax.Array:
    """Weighted sum over layers of the mean squared activation.

    The 2015 objective is 0.5 * sum(a^2) of one layer; the mean instead of the sum keeps
    layers of different sizes on comparable scales when several are blended, and the
    ascent step is normalised by the gradient's mean magnitude anyway.
    """
    return sum(weights[i] * jnp.mean(jnp.square(acts[name])) for i, name in enumerate(names))
