"""The jitted frame step: octaves of jittered gradient ascent, then the camera move.

``frame_step(params, canvas, frame_params, key) -> (next_canvas, frame_u8)`` is one
compiled call per frame with no host round trip inside it. What may change from frame to
frame (layer weights, step size, iteration count, jitter, zoom) is traced data in
:class:`FrameParams`; what fixes the compiled program's shapes is the static
:class:`DreamSpec`, and a change to it recompiles.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zoomdream import camera, googlenet, images, objectives

# Added to the gradient's mean magnitude before dividing by it (flat images have none).
GRAD_EPSILON = 1e-8


class FrameParams(NamedTuple):
    """Per-frame values, all traced: changing them never recompiles.

    Every field is a scalar except ``layer_weights``, one weight per layer of
    :attr:`DreamSpec.layers`.
    """

    layer_weights: jax.Array  # float32 (L,)
    step_size: jax.Array  # float32
    iterations: jax.Array  # int32, per octave
    jitter: jax.Array  # int32, largest roll in pixels
    zoom: jax.Array  # float32, zoom factor applied after this frame's dream
    frame_index: jax.Array  # int32, folded into the PRNG key


@dataclasses.dataclass(frozen=True)
class DreamSpec:
    """The static shape of a render. Every field selects code or sets an array shape, so
    a change triggers recompilation; keep it constant over a render."""

    height: int
    width: int
    octave_shapes: tuple[tuple[int, int], ...]  # smallest first, the last is (height, width)
    layers: tuple[str, ...]  # candidate layers, shallowest first
    max_iterations: int  # the largest per-frame iteration count of the render
    # How the ascent steps run. True: a Python loop unrolled to max_iterations (steps
    # beyond a frame's count are masked out) and the network always run to the deepest
    # candidate layer. XLA:CPU compiles convolutions inside while/conditional bodies to a
    # path about 2x slower than at the top level, so on CPU this is the fast form.
    # False: lax.fori_loop with a traced trip count, and lax.switch that runs the network
    # only as deep as the deepest layer in use: a small program for GPU/TPU.
    unroll: bool

    @classmethod
    def create(cls, height: int, width: int, octaves: int, octave_scale: float, layers, max_iterations: int,
               unroll: bool | None = None) -> "DreamSpec":
        layers = tuple(sorted(dict.fromkeys(layers), key=googlenet.depth))
        shapes = octave_shapes(height, width, octaves, octave_scale, min_side=min_octave_side(layers[-1]))
        if unroll is None:
            unroll = default_unroll()
        return cls(height, width, shapes, layers, int(max_iterations), bool(unroll))


def default_unroll() -> bool:
    """Unrolled ascent on CPU, compiled loops elsewhere (see :attr:`DreamSpec.unroll`)."""
    return jax.default_backend() == "cpu"


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


def _resize(image: jax.Array, shape: tuple[int, int]) -> jax.Array:
    if image.shape[:2] == shape:
        return image
    return jax.image.resize(image, (*shape, image.shape[2]), method="linear")


def make_frame_fn(spec: DreamSpec) -> Callable:
    """The pure (un-jitted) frame step for ``spec``; see :func:`compile_frame_step`."""
    module = googlenet.GoogLeNetModule()
    low, high = (jnp.asarray(b) for b in images.canvas_bounds())

    def loss_to(names):
        def loss(params, image, weights):
            acts = module.apply({"params": params}, image[None], names)
            return objectives.layer_l2(acts, names, weights[: len(names)])

        return loss

    if spec.unroll:
        objective = loss_to(spec.layers)
    else:
        # One loss per candidate depth: branch k runs the network only as deep as
        # layers[k], chosen by the deepest layer with a nonzero weight, so early layers of
        # a schedule do not pay for deep ones and a layer change is data, not a recompile.
        branches = [loss_to(spec.layers[: k + 1]) for k in range(len(spec.layers))]

        def objective(params, image, weights):
            active = jnp.where(weights != 0, jnp.arange(len(spec.layers)), 0)
            return jax.lax.switch(jnp.max(active), branches, params, image, weights)

    grad_fn = jax.grad(objective, argnums=1)

    def ascent_step(params, image, fp: FrameParams, key):
        shift = jax.random.randint(key, (2,), -fp.jitter, fp.jitter + 1)
        rolled = jnp.roll(image, shift, axis=(0, 1))
        g = grad_fn(params, rolled, fp.layer_weights)
        g = jnp.roll(g, -shift, axis=(0, 1))
        image = image + fp.step_size / (jnp.mean(jnp.abs(g)) + GRAD_EPSILON) * g
        return jnp.clip(image, low, high)

    def ascend(params, image, fp: FrameParams, octave_key):
        step = lambda i, img: ascent_step(params, img, fp, jax.random.fold_in(octave_key, i))
        if not spec.unroll:
            return jax.lax.fori_loop(0, fp.iterations, step, image)
        for i in range(spec.max_iterations):
            image = jnp.where(i < fp.iterations, step(i, image), image)
        return image

    def dream(params, canvas, fp: FrameParams, key):
        """2015 octave scheme: dream the smallest octave, carry the dreamed *detail*
        (dreamed minus the octave's base) up to the next size, and so on."""
        bases = [_resize(canvas, shape) for shape in spec.octave_shapes]
        detail = jnp.zeros_like(bases[0])
        for o, base in enumerate(bases):
            octave_key = jax.random.fold_in(key, o)
            image = base + _resize(detail, base.shape[:2])
            image = ascend(params, image, fp, octave_key)
            detail = image - base
        return image

    def frame_step(params, canvas, fp: FrameParams, key):
        key = jax.random.fold_in(key, fp.frame_index)
        dreamed = dream(params, canvas, fp, key)
        return camera.zoom(dreamed, fp.zoom), images.canvas_to_rgb(dreamed)

    return frame_step


def compile_frame_step(spec: DreamSpec, wrap: Callable[[Callable], Callable] | None = None) -> Callable:
    """``jax.jit`` of the frame step with the canvas donated (it is replaced every frame).

    Args:
      spec: the static shape of the render.
      wrap: optional wrapper applied to the pure function before jit (tests use
        ``chex.assert_max_traces`` here).
    """
    fn = make_frame_fn(spec)
    if wrap is not None:
        fn = wrap(fn)
    return jax.jit(fn, donate_argnums=(1,))


# Compiled frame steps of this process, newest last: a notebook that renders the same size
# again does not compile again. (Across processes the persistent compilation cache does
# the same; see zoomdream.render.enable_compilation_cache.)
_COMPILED: dict = {}
_COMPILED_KEEP = 4


def compiled_frame_step(spec: DreamSpec, params, canvas, frame_params: FrameParams, key) -> Callable:
    """The frame step compiled ahead of time for these arguments' shapes and dtypes."""
    abstract = jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), (params, canvas, frame_params, key)
    )
    leaves, treedef = jax.tree_util.tree_flatten(abstract)
    cache_key = (spec, treedef, tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves))
    if cache_key not in _COMPILED:
        if len(_COMPILED) >= _COMPILED_KEEP:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[cache_key] = compile_frame_step(spec).lower(*abstract).compile()
    return _COMPILED[cache_key]
