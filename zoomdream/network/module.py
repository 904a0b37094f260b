"""GoogLeNet as a Flax module, parameters named after Caffe's layers.

Kept apart from :mod:`.googlenet` (the layer table, Caffe's operations, the public handle)
because importing Flax takes about half a second: a render whose programs all come from
the program store never traces the network and never imports this.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoomdream.network.googlenet import (
    _INCEPTION_WIDTHS,
    ARCHITECTURE,
    avg_pool_caffe,
    blob_size,
    conv2d,
    depth,
    local_response_norm,
    max_pool_caffe,
    min_input_size,
)


def _deepest(names: Iterable[str]) -> int:
    return max(depth(n) for n in names)


class CaffeConv(nn.Module):
    """A Caffe convolution with its in-place ReLU; parameters ``kernel`` (HWIO), ``bias``,
    and ``kernel_back`` where the weights carry it (see ``googlenet.with_backward_kernels``)."""

    features: int
    kernel: int
    stride: int = 1
    pad: int = 0

    @nn.compact
    def weights(self, in_features: int) -> tuple[jax.Array, jax.Array]:
        shape = (self.kernel, self.kernel, in_features, self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape)
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return kernel, bias

    def __call__(self, x: jax.Array) -> jax.Array:
        kernel, bias = self.weights(x.shape[-1])
        back = self.get_variable("params", "kernel_back") if self.has_variable("params", "kernel_back") else None
        return nn.relu(conv2d(x, kernel, self.stride, self.pad, back) + bias)


class GoogLeNetModule(nn.Module):
    """GoogLeNet as a Flax module whose parameters are named after Caffe's layers.

    ``__call__(x, names)`` returns ``{name: blob}`` for the requested Caffe blob names and
    computes nothing past the deepest of them. ``names`` must be a tuple of strings (it
    selects code, so it is static under ``jax.jit``).
    """

    num_classes: int = 1000

    def _inception(self, x, name, blobs):
        w = _INCEPTION_WIDTHS[name]
        conv = lambda branch, features, k, pad=0: CaffeConv(features, k, pad=pad, name=f"{name}/{branch}")
        b = {}
        b["1x1"] = conv("1x1", w[0], 1)(x)
        b["3x3_reduce"] = conv("3x3_reduce", w[1], 1)(x)
        b["5x5_reduce"] = conv("5x5_reduce", w[3], 1)(x)
        b["3x3"] = conv("3x3", w[2], 3, pad=1)(b["3x3_reduce"])
        b["5x5"] = conv("5x5", w[4], 5, pad=2)(b["5x5_reduce"])
        b["pool"] = max_pool_caffe(x, 3, 1, 1)
        b["pool_proj"] = conv("pool_proj", w[5], 1)(b["pool"])
        b["output"] = jnp.concatenate([b["1x1"], b["3x3"], b["5x5"], b["pool_proj"]], axis=-1)
        for branch, value in b.items():
            blobs[f"{name}/{branch}"] = value
        return b["output"]

    @nn.compact
    def __call__(self, x: jax.Array, names: Sequence[str]) -> dict[str, jax.Array]:
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"expected an NHWC batch with 3 (BGR) channels, got shape {x.shape}")
        names = tuple(names)
        last = _deepest(names)
        deepest_name = max(names, key=depth)
        reach = blob_size(deepest_name, x.shape[1], x.shape[2])
        if min(reach) < 1:
            raise ValueError(
                f"input {x.shape[2]}x{x.shape[1]} is too small to reach {deepest_name}: "
                f"it needs at least {min_input_size(deepest_name)} px on each side"
            )
        blobs: dict[str, jax.Array] = {}
        for op in ARCHITECTURE[: last + 1]:
            if op.kind == "conv":
                x = CaffeConv(op.features, op.kernel, op.stride, op.pad, name=op.name)(x)
            elif op.kind == "maxpool":
                x = max_pool_caffe(x, op.kernel, op.stride, op.pad)
            elif op.kind == "lrn":
                x = local_response_norm(x)
            elif op.kind == "inception":
                x = self._inception(x, op.name, blobs)
            elif op.kind == "avgpool":
                x = avg_pool_caffe(x, op.kernel, op.stride)
            elif op.kind == "classifier":
                # Caffe's InnerProduct on pool5, applied at every pool5 position: at 224 px
                # there is exactly one and this is Caffe's layer; larger inputs get a map.
                x = nn.Dense(self.num_classes, name=op.name)(x)
            blobs.setdefault(op.name, x)
        return {name: blobs[name] for name in names}
