"""BVLC GoogLeNet (Inception v1), computing what Caffe computes: its layer table, Caffe's
operations and the public handle. The Flax module itself is in :mod:`.module`, imported
only when a program is traced (a start whose programs are all stored never needs Flax).

The network follows Caffe's ``deploy.prototxt`` for ``bvlc_googlenet`` from ``data`` to
``loss3/classifier``. Every intermediate result is addressed by its Caffe blob name
(``conv2/3x3``, ``inception_4c/output``, ``inception_4d/5x5_reduce``...), the names the 2015
DeepDream notebook used, so presets read like its examples.

Three details make a port Caffe-exact rather than merely similar:

* Caffe pools with **ceil mode**: ``out = ceil((in + 2*pad - k) / stride) + 1``, then drops
  the last window if it would start inside the bottom/right padding. Flax's ``SAME`` and
  ``VALID`` give other sizes on odd inputs (pool1 of a 241 px input is 60 rows in Caffe,
  61 with ``SAME``, 60 with ``VALID`` but then 29 instead of 30 one pool later).
* **LRN** across channels: ``b = a / (1 + alpha/n * sum_{window of n channels} a^2)^beta``,
  with n = 5, alpha = 1e-4, beta = 0.75 (Caffe divides alpha by the window size).
* ReLUs are in place in Caffe, so a convolution's blob is its output *after* the ReLU.

Input: NHWC float32, BGR channel order, 0..255 scale minus :data:`MEAN_BGR`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

# The ImageNet mean of the training images, rounded, in BGR order: what the network's
# input has subtracted. (dream.ipynb used 104, 116, 122; Caffe's mean file averages to
# 104.0, 116.7, 122.7.)
MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)

# Inception module widths: 1x1, 3x3_reduce, 3x3, 5x5_reduce, 5x5, pool_proj.
_INCEPTION_WIDTHS = {
    "inception_3a": (64, 96, 128, 16, 32, 32),
    "inception_3b": (128, 128, 192, 32, 96, 64),
    "inception_4a": (192, 96, 208, 16, 48, 64),
    "inception_4b": (160, 112, 224, 24, 64, 64),
    "inception_4c": (128, 128, 256, 24, 64, 64),
    "inception_4d": (112, 144, 288, 32, 64, 64),
    "inception_4e": (256, 160, 320, 32, 128, 128),
    "inception_5a": (256, 160, 320, 32, 128, 128),
    "inception_5b": (384, 192, 384, 48, 128, 128),
}


@dataclasses.dataclass(frozen=True)
class Op:
    """One Caffe layer of the main path. ``kind`` is conv, maxpool, avgpool, lrn,
    inception or classifier; the numbers are those of the prototxt."""

    kind: str
    name: str
    features: int = 0
    kernel: int = 0
    stride: int = 1
    pad: int = 0


def _inception(name: str) -> Op:
    return Op("inception", name, features=sum(_INCEPTION_WIDTHS[name][i] for i in (0, 2, 4, 5)))


# The main path of deploy.prototxt, in order. The inception modules expand into their
# branches in ``GoogLeNetModule._inception``.
ARCHITECTURE: tuple[Op, ...] = (
    Op("conv", "conv1/7x7_s2", 64, kernel=7, stride=2, pad=3),
    Op("maxpool", "pool1/3x3_s2", kernel=3, stride=2),
    Op("lrn", "pool1/norm1"),
    Op("conv", "conv2/3x3_reduce", 64, kernel=1),
    Op("conv", "conv2/3x3", 192, kernel=3, pad=1),
    Op("lrn", "conv2/norm2"),
    Op("maxpool", "pool2/3x3_s2", kernel=3, stride=2),
    _inception("inception_3a"),
    _inception("inception_3b"),
    Op("maxpool", "pool3/3x3_s2", kernel=3, stride=2),
    _inception("inception_4a"),
    _inception("inception_4b"),
    _inception("inception_4c"),
    _inception("inception_4d"),
    _inception("inception_4e"),
    Op("maxpool", "pool4/3x3_s2", kernel=3, stride=2),
    _inception("inception_5a"),
    _inception("inception_5b"),
    Op("avgpool", "pool5/7x7_s1", kernel=7, stride=1),
    Op("classifier", "loss3/classifier", 1000),
)

CLASSIFIER = "loss3/classifier"

_BRANCHES = ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool", "pool_proj", "output")

# What each stage tends to draw when dreamed, from looking at zoomdream's own zoom renders
# at 256x256 with 3 octaves of 1.4 (what a layer draws depends on the scale: larger
# canvases and more octaves shift the same layer towards smaller, more numerous objects).
_NOTES = {
    "conv1": "edges and colour fringes; barely changes the picture",
    "pool1": "edges and colour fringes",
    "conv2/3x3_reduce": "fine colour noise",
    "conv2": "fine strokes, hatching and brush-like lines",
    "pool2": "fine strokes and hatching",
    "inception_3a": "strokes, simple repeating textures",
    "inception_3b": "fur-like swirls, waves and woven bands; the first faces",
    "pool3": "swirls and textures",
    "inception_4a": "dog faces and fur (on 256 px canvases)",
    "inception_4b": "eyes and animal faces",
    "inception_4c": "eyes and faces everywhere; the 2015 notebook's zoom layer",
    "inception_4d": "birds, snakes and lizards, scales and feathers",
    "inception_4e": "shells, webs and abstract animal shapes",
    "pool4": "animals and objects",
    "inception_5a": "objects and scenes, abstract at small sizes",
    "inception_5b": "large abstract objects; needs big canvases",
    "pool5": "one vector per 7x7 window: global content",
    "loss3": "class logits, one channel per ImageNet class",
}


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    """A dreamable blob: its Caffe name, channel count, stride relative to the input,
    the index of its stage on the main path, and what it tends to draw."""

    name: str
    channels: int
    stride: int
    stage: int
    note: str


def _note(name: str) -> str:
    if name in _NOTES:
        return _NOTES[name]
    return _NOTES.get(name.split("/")[0], "")


def _build_layer_table(num_classes: int = 1000) -> tuple[LayerInfo, ...]:
    table = []
    stride, channels = 1, 3
    for stage, op in enumerate(ARCHITECTURE):
        channels_in = channels
        if op.kind in ("conv", "maxpool"):
            stride *= op.stride
        if op.kind in ("conv", "inception", "classifier"):
            channels = num_classes if op.kind == "classifier" else op.features
        if op.kind == "inception":
            w = _INCEPTION_WIDTHS[op.name]
            widths = dict(zip(_BRANCHES, (w[0], w[1], w[2], w[3], w[4], channels_in, w[5], channels)))
            for branch in _BRANCHES:
                note = _note(op.name) if branch == "output" else f"{branch} branch of {op.name}"
                table.append(LayerInfo(f"{op.name}/{branch}", widths[branch], stride, stage, note))
        else:
            table.append(LayerInfo(op.name, channels, stride, stage, _note(op.name)))
    return tuple(table)


LAYERS: tuple[LayerInfo, ...] = _build_layer_table()
LAYER_NAMES: tuple[str, ...] = tuple(layer.name for layer in LAYERS)
_STAGE = {layer.name: layer.stage for layer in LAYERS}


def layer_info(name: str) -> LayerInfo:
    """The table row of blob ``name``; ``KeyError`` naming close matches if unknown."""
    for layer in LAYERS:
        if layer.name == name:
            return layer
    raise KeyError(unknown_layer_message(name))


def unknown_layer_message(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, LAYER_NAMES, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown layer {name!r}{hint}; valid layers: {', '.join(LAYER_NAMES)}"


def depth(name: str) -> int:
    """Index of the main-path stage that produces blob ``name`` (deeper is larger)."""
    if name not in _STAGE:
        raise KeyError(unknown_layer_message(name))
    return _STAGE[name]


# ----------------------------------------------------------------------------------------
# Caffe's size arithmetic


def caffe_pool_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of a Caffe pooling layer (ceil mode, with Caffe's last-window rule)."""
    out = int(math.ceil((size + 2 * pad - kernel) / stride)) + 1
    if pad > 0 and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _conv_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def blob_size(name: str, height: int, width: int) -> tuple[int, int]:
    """Spatial size (h, w) of blob ``name`` for an input of ``height`` x ``width``.

    A size of zero or less means the input is too small to reach that blob.
    """
    target = depth(name)
    hw = [height, width]
    for op in ARCHITECTURE[: target + 1]:
        if op.kind == "conv":
            hw = [_conv_size(s, op.kernel, op.stride, op.pad) for s in hw]
        elif op.kind == "maxpool":
            hw = [caffe_pool_size(s, op.kernel, op.stride, op.pad) if s > 0 else 0 for s in hw]
        elif op.kind == "avgpool":
            # Caffe rejects pool5 inputs smaller than its 7x7 window; zoomdream shrinks the
            # window to the input instead, so small canvases still classify.
            hw = [caffe_pool_size(s, min(op.kernel, s), op.stride, op.pad) if s > 0 else 0 for s in hw]
    return hw[0], hw[1]


def min_input_size(name: str) -> int:
    """Smallest square input (pixels) whose blob ``name`` has at least one position."""
    size = 1
    while min(blob_size(name, size, size)) < 1:
        size += 1
    return size


# ----------------------------------------------------------------------------------------
# Layers Flax does not have in Caffe's form


def written_out_gradients() -> bool:
    """Whether gradient programs take the max pools' and convolutions' written-out
    gradients (:func:`max_pool_caffe`, :func:`conv2d`'s ``kernel_back``) rather than JAX's
    own. Both were written for XLA:CPU, where they leave a third fewer kernels to compile
    for the same steady speed. On a GPU they made the frame slower (one H100, 2026-11-27,
    a 1920x1080 frame of 4 octaves: 0.19-0.23 s with them, 0.152 s without), so there JAX
    derives both. The values are the same either way."""
    return jax.default_backend() == "cpu"


def conv2d(x: jax.Array, kernel: jax.Array, stride: int, pad: int, kernel_back: jax.Array | None = None) -> jax.Array:
    """Caffe's convolution over NHWC with an HWIO ``kernel``.

    ``kernel_back``, when given, must be :func:`backward_kernel` of ``kernel``: the input
    gradient's convolution takes it as it is. Without it XLA derives that kernel from
    ``kernel`` (flipped, in and out swapped) inside every gradient program: a copy of
    every weight at every ascent step, and one more kernel per layer to compile in each
    octave's ascent program. The values are the same.
    """
    if kernel_back is None:
        return _conv(x, kernel, stride, pad)
    return _conv_with_backward_kernel(x, kernel, kernel_back, stride, pad)


def backward_kernel(kernel: jax.Array) -> jax.Array:
    """An HWIO convolution kernel as the convolution of its input gradient takes it:
    flipped in space, its input and output channels swapped (still HWIO)."""
    return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


def backward_kernels(params: Mapping[str, Mapping[str, jax.Array]]) -> dict[str, jax.Array]:
    """Each convolution's :func:`backward_kernel`, by layer."""
    return {layer: backward_kernel(p["kernel"]) for layer, p in params.items() if p["kernel"].ndim == 4}


def with_backward_kernels(params: Mapping[str, Mapping[str, jax.Array]],
                          kernels: Mapping[str, jax.Array] | None = None) -> dict[str, dict[str, jax.Array]]:
    """The weights with each convolution's backward kernel beside its kernel
    (``kernel_back``; ``kernels``: from :func:`backward_kernels`, made here if not given),
    for a program that takes many input gradients: made once instead of in each gradient
    (see :func:`conv2d`)."""
    kernels = backward_kernels(params) if kernels is None else kernels
    return {layer: {**p, "kernel_back": kernels[layer]} if layer in kernels else dict(p) for layer, p in params.items()}


def _conv(x: jax.Array, kernel: jax.Array, stride: int, pad: int) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((pad, pad), (pad, pad)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _conv_with_backward_kernel(x, kernel, kernel_back, stride, pad):
    return _conv(x, kernel, stride, pad)


def _conv_forward(x, kernel, kernel_back, stride, pad):
    return _conv(x, kernel, stride, pad), (x, kernel, kernel_back)


def _conv_backward(stride, pad, saved, g):
    x, kernel, kernel_back = saved
    k = kernel.shape[0]
    # The input gradient: g spread back over the input's grid (stride - 1 zeros between its
    # values) and correlated with the flipped kernel; the padding makes it the input's size.
    low = k - 1 - pad
    highs = [size - (g.shape[axis] - 1) * stride + pad - 1 for axis, size in ((1, x.shape[1]), (2, x.shape[2]))]
    dx = jax.lax.conv_general_dilated(g, kernel_back, (1, 1), ((low, highs[0]), (low, highs[1])),
                                      lhs_dilation=(stride, stride), dimension_numbers=("NHWC", "HWIO", "NHWC"))
    # The kernel's gradient as JAX derives it (unused by the dream, and then never computed);
    # kernel_back, a copy of kernel in another layout, passes its share on through kernel.
    dkernel = jax.vjp(lambda w: _conv(x, w, stride, pad), kernel)[1](g)[0]
    return dx, dkernel, jnp.zeros_like(kernel_back)


_conv_with_backward_kernel.defvjp(_conv_forward, _conv_backward)


def max_pool_caffe(x: jax.Array, kernel: int, stride: int, pad: int = 0) -> jax.Array:
    """Max pooling over NHWC with Caffe's ceil-mode output size.

    A square max is the max over rows of the max over columns, so the pool is two passes
    along one axis each (see :func:`_max_along`). Same values as ``reduce_window``. (Between
    equal maxima the gradient goes to the first along each pass, which can differ from
    Caffe's first in raster order; after a ReLU such ties are zeros, whose gradient the
    ReLU discards.)
    """
    along = _max_along if written_out_gradients() else _max_along_derived
    rows = along(x, 1, kernel, stride, pad, x.shape[1])
    return along(rows, 2, kernel, stride, pad, x.shape[2])


def _window_maxima(x: jax.Array, axis: int, kernel: int, stride: int, pad: int) -> tuple[jax.Array, jax.Array]:
    """The max of each window along ``axis`` and which of its ``kernel`` taps held it
    first (int8): ``kernel`` strided slices of the padded input, each kept where larger."""
    size = x.shape[axis]
    out = caffe_pool_size(size, kernel, stride, pad)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (pad, _pool_overhang(size, out, kernel, stride, pad))
    padded = jnp.pad(x, widths, constant_values=-jnp.inf)
    result, first = None, jnp.zeros((), jnp.int8)
    for k in range(kernel):
        tap = jax.lax.slice_in_dim(padded, k, k + (out - 1) * stride + 1, stride, axis)
        if result is None:
            result = tap
            continue
        larger = tap > result
        result, first = jnp.where(larger, tap, result), jnp.where(larger, jnp.int8(k), first)
    return result, jnp.broadcast_to(first, result.shape)


def _pool_overhang(size: int, out: int, kernel: int, stride: int, pad: int) -> int:
    """How far the last window reaches past the input's end (Caffe's ceil mode)."""
    return max((out - 1) * stride + kernel - size - pad, 0)


def _max_along_derived(x: jax.Array, axis: int, kernel: int, stride: int, pad: int, size: int) -> jax.Array:
    """One pass of the max pool along ``axis`` (``size``: the input's length there), with
    the gradient JAX derives from its slices and selects."""
    return _window_maxima(x, axis, kernel, stride, pad)[0]


# The same pass with its gradient written out: each input position gathers the gradient
# of the windows whose maximum it held, from the saved index of each window's winning
# tap, in one elementwise pass. JAX's derivative threads the gradient through a chain of
# a select and a pad per tap, which XLA compiles into many more kernels: with it, the
# pools gave about half of the 266 loop kernels of a 256x256 ascent program, and
# compiling took a quarter longer on a CPU, for no faster a step.
_max_along = jax.custom_vjp(_max_along_derived, nondiff_argnums=(1, 2, 3, 4, 5))


def _max_along_forward(x, axis, kernel, stride, pad, size):
    return _window_maxima(x, axis, kernel, stride, pad)  # (the pass, what its gradient needs)


def _max_along_backward(axis, kernel, stride, pad, size, first, g):
    out = g.shape[axis]
    length = pad + size + _pool_overhang(size, out, kernel, stride, pad)  # the padded input's
    zero = jnp.zeros((), g.dtype)
    total = None
    for k in range(kernel):
        # Tap k read padded positions k, k + stride, ...: its windows' gradient goes back there.
        widths = [(0, 0, 0)] * g.ndim
        widths[axis] = (k, length - k - (out - 1) * stride - 1, stride - 1)
        part = jax.lax.pad(jnp.where(first == k, g, zero), zero, widths)
        total = part if total is None else total + part
    return (jax.lax.slice_in_dim(total, pad, pad + size, 1, axis),)


_max_along.defvjp(_max_along_forward, _max_along_backward)


def avg_pool_caffe(x: jax.Array, kernel: int, stride: int) -> jax.Array:
    """Average pooling (no padding) with Caffe's ceil mode: a window that hangs over the
    bottom/right edge averages only the pixels it covers, as Caffe's AVE pooling does."""
    kh, kw = min(kernel, x.shape[1]), min(kernel, x.shape[2])
    pads = [(0, 0)]
    for size, k in ((x.shape[1], kh), (x.shape[2], kw)):
        out = caffe_pool_size(size, k, stride, 0)
        pads.append((0, (out - 1) * stride + k - size))
    pads.append((0, 0))
    window, strides = (1, kh, kw, 1), (1, stride, stride, 1)
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pads)
    ones = jnp.ones((1, x.shape[1], x.shape[2], 1), x.dtype)
    count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, pads)
    return total / count


def local_response_norm(
    x: jax.Array, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> jax.Array:
    """Caffe's ACROSS_CHANNELS LRN on NHWC input.

    The windowed sum of squares over channels is a sum-``reduce_window`` along the channel
    axis, zero-padded as Caffe does. (A matmul with a banded 0/1 matrix gives the same
    sums but took 2.8x as long, forward and backward, on XLA:CPU.)
    """
    half = size // 2
    # The sums and the scale in float32 whatever x's dtype: in bfloat16 a sum of five
    # squares would lose most of its digits. The result takes x's dtype.
    squares = (x * x).astype(jnp.float32)
    window_sum = jax.lax.reduce_window(
        squares, 0.0, jax.lax.add, (1,) * (x.ndim - 1) + (size,), (1,) * x.ndim, ((0, 0),) * (x.ndim - 1) + ((half, half),)
    )
    scale = k + (alpha / size) * window_sum
    if beta == 0.75:  # s^-0.75 = rsqrt(s) * sqrt(rsqrt(s)): cheaper than pow, forward and back
        inv_sqrt = jax.lax.rsqrt(scale)
        return (x * inv_sqrt * jnp.sqrt(inv_sqrt)).astype(x.dtype)
    return (x * scale ** (-beta)).astype(x.dtype)


# ----------------------------------------------------------------------------------------
# Parameters


def param_shapes(num_classes: int = 1000) -> dict[str, dict[str, tuple[int, ...]]]:
    """Every parameter's shape by Caffe layer name, derived from :data:`ARCHITECTURE`
    without building a model: ``{"conv1/7x7_s2": {"kernel": (7, 7, 3, 64), "bias": (64,)}}``.
    Convolution kernels are HWIO (Flax's layout)."""
    shapes: dict[str, dict[str, tuple[int, ...]]] = {}

    def conv(name, cin, cout, k):
        shapes[name] = {"kernel": (k, k, cin, cout), "bias": (cout,)}

    channels = 3
    for op in ARCHITECTURE:
        if op.kind == "conv":
            conv(op.name, channels, op.features, op.kernel)
            channels = op.features
        elif op.kind == "inception":
            w = _INCEPTION_WIDTHS[op.name]
            conv(f"{op.name}/1x1", channels, w[0], 1)
            conv(f"{op.name}/3x3_reduce", channels, w[1], 1)
            conv(f"{op.name}/3x3", w[1], w[2], 3)
            conv(f"{op.name}/5x5_reduce", channels, w[3], 1)
            conv(f"{op.name}/5x5", w[3], w[4], 5)
            conv(f"{op.name}/pool_proj", channels, w[5], 1)
            channels = op.features
        elif op.kind == "classifier":
            shapes[op.name] = {"kernel": (channels, num_classes), "bias": (num_classes,)}
    return shapes


def num_classes_of(params: Mapping[str, Mapping[str, jax.Array]]) -> int:
    """The class count of a set of weights: the classifier's width (1000 for ImageNet,
    205 for Places205). Shapes are static, so this works under ``jax.jit`` too."""
    return int(params[CLASSIFIER]["bias"].shape[0])


def module_for(params: Mapping[str, Mapping[str, jax.Array]]):
    """The Flax module (:class:`.module.GoogLeNetModule`) that takes these weights, whatever
    their class count."""
    from zoomdream.network.module import GoogLeNetModule

    return GoogLeNetModule(num_classes=num_classes_of(params))


def __getattr__(name: str):
    # The Flax classes by their old address, imported on first use (importing Flax costs
    # half a second of every start).
    if name in ("CaffeConv", "GoogLeNetModule"):
        from zoomdream.network import module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def find_class(labels: Sequence[str], name_or_index: str | int, num_classes: int | None = None) -> int:
    """A class by index (``954``, ``"954"``) or by one of its label words (``banana``,
    ``tabby cat``); ``KeyError`` with a one-line message, naming close words, otherwise.

    Args:
      labels: one label per class, each a comma-separated list of words (may be empty).
      name_or_index: what the user wrote.
      num_classes: the class count (default ``len(labels)``).
    """
    count = len(labels) if num_classes is None else num_classes
    text = str(name_or_index).strip()
    if isinstance(name_or_index, (int, np.integer)) or text.isdigit():
        index = int(text)
        if not 0 <= index < count:
            raise KeyError(f"class index {index} is outside 0..{count - 1}")
        return index
    wanted = text.lower()
    for i, label in enumerate(labels):
        if wanted in (s.strip().lower() for s in label.split(",")):
            return i
    import difflib

    words = [s.strip() for label in labels for s in label.split(",")]
    close = difflib.get_close_matches(text, words, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise KeyError(f"unknown class {text!r}{hint}; a class is an index 0..{count - 1} or a label word of the network")


# ----------------------------------------------------------------------------------------
# The public handle


@functools.partial(jax.tree_util.register_dataclass, data_fields=["params"], meta_fields=["labels"])
@dataclasses.dataclass(frozen=True)
class GoogLeNet:
    """Pretrained GoogLeNet: parameters, class labels and the blob-level API.

    It is a pytree (the parameters are its leaves), so it can be passed into ``jax.jit``
    functions as an argument instead of being baked into them as constants.
    """

    params: Mapping[str, Mapping[str, jax.Array]]
    labels: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return num_classes_of(self.params)

    @property
    def module(self):
        return module_for(self.params)

    @property
    def layers(self) -> tuple[LayerInfo, ...]:
        """The layer table: every blob with channels, stride and what it tends to draw."""
        if self.num_classes == 1000:
            return LAYERS
        return _build_layer_table(self.num_classes)

    def activations(self, x: jax.Array, names: str | Sequence[str]) -> dict[str, jax.Array]:
        """Blobs of the network for input ``x``.

        Args:
          x: NHWC float32, BGR, 0..255 minus :data:`MEAN_BGR`.
          names: one Caffe blob name or a sequence of them.

        Returns:
          ``{name: NHWC array}``. Nothing deeper than the deepest name is computed.
        """
        if isinstance(names, str):
            names = (names,)
        return self.module.apply({"params": self.params}, x, tuple(names))

    def classify(self, x: jax.Array) -> jax.Array:
        """The ``loss3/classifier`` logits, shape (N, num_classes). Inputs larger than
        224 px give a map of logits, which is averaged over its positions."""
        logits = self.activations(x, CLASSIFIER)[CLASSIFIER]
        return logits.mean(axis=(1, 2))

    def class_index(self, name_or_index: str | int) -> int:
        """Index of a class given by index or by a label word (``banana``, ``tabby``)."""
        return find_class(self.labels, name_or_index, self.num_classes)
