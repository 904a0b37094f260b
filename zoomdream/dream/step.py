"""The compiled frame step: octaves of jittered gradient ascent, then the camera move.

``frame_step(params, canvas, values, key, guides, spec=spec) -> (next_canvas, frame_u8)``
is one compiled call per frame with no host round trip inside it. What may change from
frame to frame (layer weights, step size, iteration count, jitter, zoom...) is traced
data in ``values`` (a :class:`~zoomdream.schedule.values.FrameValues`); what fixes the
compiled program is the static :class:`DreamSpec`, and a change to it recompiles. The
canvas is donated: the step replaces it every frame, so its buffer is reused.

Written as top-level functions of ``spec`` (the shape of big_vision's ``update_fn``):
:func:`dream_frame` is the pure step, :data:`frame_step` its jit. JAX's own cache keeps
one compiled program per spec and argument shapes.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax

from zoomdream.dream import ascent, camera, objectives, octaves
from zoomdream.dream.objectives import Objective
from zoomdream.io import images
from zoomdream.network import googlenet

# Bit 20 of the frame's key folds in the camera's noise border, far from the octave
# indices (0, 1, ...) folded in for the ascent.
_CAMERA_STREAM = 1 << 20


@dataclasses.dataclass(frozen=True)
class DreamSpec:
    """The static shape of a render. Every field selects code or sets an array shape, so
    a change triggers recompilation; keep it constant over a render."""

    height: int  # the video's size, at which the dream runs
    width: int
    octave_shapes: tuple[tuple[int, int], ...]  # smallest first, the last is (height, width)
    objectives: tuple[Objective, ...]  # candidate objectives, shallowest layer first
    max_iterations: int  # the largest per-frame iteration count of the render
    # True: the ascent steps are a Python loop unrolled to max_iterations (steps beyond a
    # frame's count are masked out). XLA:CPU compiles convolutions inside while-loop and
    # conditional bodies to a path about 2x slower than at the top level, so on CPU this
    # is the fast form. False: lax.fori_loop with a traced trip count, a small program
    # that compiles quickly (GPU/TPU, and short galleries).
    unroll_steps: bool = True
    # True: lax.switch runs the network only as deep as the deepest objective with a
    # nonzero weight, so early layers of a schedule do not pay for deep ones. A
    # conditional, so slow on CPU (see unroll_steps); False runs the network to the
    # deepest candidate layer every step.
    prune_depth: bool = False
    gradient_norm: str = "mean"  # or "laplacian"
    laplacian_levels: int = 4
    supersample: int = 1  # the camera's canvas is this many times the video's size
    border: str = "reflect"
    noise_amplitude: float = 48.0  # of the noise border
    # A scheduled octave scale cannot change array shapes, so the octaves become buffers
    # of the sizes the smallest scale of the render gives (octave_shapes); see octaves.py.
    scheduled_octave_scale: bool = False
    # Octaves larger than tile_size (0: never) take their gradient tile by tile, one tile
    # at a time (lax.map), so memory is bounded by one tile's activations whatever the
    # canvas size. Each step's random roll moves the tile seams, so they never settle
    # into the picture.
    tile_size: int = 0
    # The network's arithmetic. "bfloat16" casts weights and the image at the network's
    # input and its activations back to float32 for the objective, so only the network
    # runs in bfloat16; the canvas, the gradient's normalisation and the steps stay float32.
    precision: str = "float32"

    @classmethod
    def create(cls, height: int, width: int, octave_count: int, octave_scale: float, objectives, max_iterations: int,
               **options) -> DreamSpec:
        """A spec with ``octave_count`` octaves sized for ``octave_scale`` (the render's
        smallest) and the loop form of this backend (:func:`default_loop_form`) unless
        ``options`` say otherwise."""
        objectives = tuple(sorted(dict.fromkeys(_as_objective(o) for o in objectives), key=lambda o: (o.depth, o)))
        shapes = octaves.octave_shapes(height, width, octave_count, octave_scale,
                                       min_side=octaves.min_octave_side(objectives[-1].layer))
        return cls(height, width, shapes, objectives, int(max_iterations), **{**default_loop_form(), **options})

    @property
    def canvas_shape(self) -> tuple[int, int, int]:
        """Shape of the canvas carried from frame to frame."""
        return (self.height * self.supersample, self.width * self.supersample, 3)

    @property
    def guide_indices(self) -> tuple[int, ...]:
        return tuple(i for i, o in enumerate(self.objectives) if o.kind == "guide")


def _as_objective(objective) -> Objective:
    return objective if isinstance(objective, Objective) else Objective("l2", objective)


def default_loop_form() -> dict:
    """Unrolled steps over the whole network on CPU; compiled loops and depth pruning
    elsewhere (see :class:`DreamSpec`)."""
    cpu = jax.default_backend() == "cpu"
    return {"unroll_steps": cpu, "prune_depth": not cpu}


# ---- the objective and its gradient ------------------------------------------------------


def _loss_to(spec: DreamSpec, count: int):
    """The weighted objective of the first ``count`` objectives, running the network only
    as deep as the deepest of them."""
    chosen = spec.objectives[:count]
    names = tuple(dict.fromkeys(o.layer for o in chosen))

    def loss(params, image, weights, guides):
        # params come already cast (once per frame, in dream_frame); the image is cast
        # here, inside the gradient, so that the gradient returns as float32.
        acts = googlenet.module_for(params).apply({"params": params}, image[None].astype(spec.precision), names)
        acts = {name: a.astype(jnp.float32) for name, a in acts.items()}
        return objectives.weighted_sum(chosen, acts, weights, guides)

    return loss


def _objective(spec: DreamSpec):
    if not spec.prune_depth:
        return _loss_to(spec, len(spec.objectives))
    # One loss per candidate depth: branch k runs the network only as deep as
    # objectives[k], chosen by the deepest objective with a nonzero weight, so a layer
    # change is data, not a recompile.
    branches = [_loss_to(spec, k + 1) for k in range(len(spec.objectives))]

    def objective(params, image, weights, guides):
        active = jnp.where(weights != 0, jnp.arange(len(spec.objectives)), 0)
        return jax.lax.switch(jnp.max(active), branches, params, image, weights, guides)

    return objective


def _gradient(params, image: jax.Array, weights: jax.Array, guides: dict, spec: DreamSpec) -> jax.Array:
    """The objective's gradient with respect to the picture, tile by tile for octaves
    larger than ``spec.tile_size``."""
    whole = jax.grad(_objective(spec), argnums=1)
    h, w = image.shape[:2]
    size = spec.tile_size
    if not size or max(h, w) <= size:
        return whole(params, image, weights, guides)
    # As few tiles as fit in tile_size, of equal shape (lax.map needs one), cut as evenly
    # as possible so that hardly any padding is dreamed in vain.
    rows, cols = -(-h // size), -(-w // size)
    th, tw = -(-h // rows), -(-w // cols)
    padded = jnp.pad(image, ((0, rows * th - h), (0, cols * tw - w), (0, 0)), mode="reflect")
    tiles = padded.reshape(rows, th, cols, tw, 3).transpose(0, 2, 1, 3, 4).reshape(-1, th, tw, 3)
    # A loop even on CPU, where loop bodies run slower (see unroll_steps): unrolled tiles,
    # even chained by optimization barriers, got no buffer reuse from XLA:CPU and took as
    # much memory as no tiling (measured: 629 vs 673 MB at 960x540).
    grads = jax.lax.map(lambda tile: whole(params, tile, weights, guides), tiles)
    grads = grads.reshape(rows, cols, th, tw, 3).transpose(0, 2, 1, 3, 4).reshape(rows * th, cols * tw, 3)
    return grads[:h, :w]


# ---- the ascent ------------------------------------------------------------------------


def _optimizer(values, spec: DreamSpec) -> optax.GradientTransformation:
    return ascent.normalized_ascent(values.step_size, spec.gradient_norm, spec.laplacian_levels)


# A jit of its own: traced once per octave size and then reused by every unrolled step
# (tracing the network 40 times took longer than XLA's compile); XLA inlines the calls,
# so the compiled program is the same.
@functools.partial(jax.jit, static_argnames="spec")
def _ascent_step(params, image, opt_state, values, guides, key, *, spec: DreamSpec):
    """One step: roll by a random jitter, take the gradient, roll it back, let the
    optimiser turn it into an update, clip to the pixel range."""
    shift = jax.random.randint(key, (2,), -values.jitter, values.jitter + 1)
    g = _gradient(params, jnp.roll(image, shift, axis=(0, 1)), values.weights, guides, spec)
    g = jnp.roll(g, -shift, axis=(0, 1))
    updates, opt_state = _optimizer(values, spec).update(g, opt_state, image)
    low, high = images.canvas_bounds()
    return jnp.clip(optax.apply_updates(image, updates), low, high), opt_state


def _ascend(params, image, values, guides, key, spec: DreamSpec) -> jax.Array:
    """``values.iterations`` ascent steps on one octave."""
    carry = (image, _optimizer(values, spec).init(image))

    def step(i, carry):
        return _ascent_step(params, *carry, values, guides, jax.random.fold_in(key, i), spec=spec)

    if not spec.unroll_steps:
        return jax.lax.fori_loop(0, values.iterations, step, carry)[0]
    for i in range(spec.max_iterations):
        active = i < values.iterations
        carry = jax.tree.map(lambda new, old, active=active: jnp.where(active, new, old), step(i, carry), carry)
    return carry[0]


def _dream(params, canvas, values, guides, key, spec: DreamSpec) -> jax.Array:
    """The 2015 octave scheme: dream the smallest octave, carry the dreamed *detail*
    (dreamed minus the octave's base) up to the next size, and so on."""
    scheduled, scale = spec.scheduled_octave_scale, values.octave_scale
    bases = octaves.bases(canvas, spec.octave_shapes, scheduled, scale)
    detail = jnp.zeros_like(bases[0])
    for o, base in enumerate(bases):
        image = base + (detail if o == 0 else octaves.carry_up(detail, base.shape[:2], scheduled, scale))
        image = _ascend(params, image, values, guides, jax.random.fold_in(key, o), spec)
        detail = image - base
    return image


# ---- the frame ---------------------------------------------------------------------------


def _move_camera(canvas: jax.Array, values, frame_key: jax.Array, spec: DreamSpec) -> jax.Array:
    """The camera's move after this frame, on the (possibly supersampled) canvas."""
    extent = jnp.array([canvas.shape[1] - 1, canvas.shape[0] - 1], jnp.float32)
    center = jnp.stack([values.center_x, values.center_y]) * extent
    pan = jnp.stack([values.pan_x, values.pan_y]) * spec.supersample
    return camera.move(canvas, values.zoom, values.angle, pan, center, spec.border,
                       jax.random.fold_in(frame_key, _CAMERA_STREAM), spec.noise_amplitude)


def dream_frame(params, canvas: jax.Array, values, key: jax.Array, guides: tuple = (), *, spec: DreamSpec):
    """One frame: dream the canvas, then move the camera.

    Args:
      params: the network's weights (``net.params``).
      canvas: float32 (H*S, W*S, 3), BGR minus the mean (S: ``spec.supersample``).
      values: this frame's :class:`~zoomdream.schedule.values.FrameValues`.
      key: the render's PRNG key; the frame's randomness is ``fold_in(key, frame_index)``.
      guides: the features of each guide objective, in objective order.
      spec: the static shape of the render.

    Returns:
      (the next frame's canvas, this frame as uint8 RGB (H, W, 3)).
    """
    key = jax.random.fold_in(key, values.frame_index)
    params = jax.tree.map(lambda a: a.astype(spec.precision), params)  # no-op for float32
    guide_of = dict(zip(spec.guide_indices, guides))
    # With supersampling the canvas is larger than the video: the dream runs on it
    # shrunk to the video's size, and its detail is added back at full resolution, where
    # the camera's resampling blurs it S times less.
    base = octaves.resize(canvas, (spec.height, spec.width))
    # Blending as a weighted sum is exact at blend 1: the 2015 dream, bit for bit.
    dreamed = values.blend * _dream(params, base, values, guide_of, key, spec) + (1 - values.blend) * base
    canvas = dreamed if spec.supersample == 1 else canvas + octaves.resize(dreamed - base, canvas.shape[:2])
    return _move_camera(canvas, values, key, spec), images.canvas_to_rgb(dreamed)


def move_frame(params, canvas: jax.Array, values, key: jax.Array, guides: tuple = (), *, spec: DreamSpec):
    """A frame that is not dreamed (``dream.cadence`` > 1): the camera moves the last
    dreamed picture on, and the frame shows it as it is. Same arguments and results as
    :func:`dream_frame`."""
    del params, guides
    key = jax.random.fold_in(key, values.frame_index)
    shown = images.canvas_to_rgb(octaves.resize(canvas, (spec.height, spec.width)))
    return _move_camera(canvas, values, key, spec), shown


# The compiled forms. ``spec`` is static: a new spec (size, octaves, objectives...)
# compiles a new program, and JAX keeps the programs it compiled. The canvas is donated.
frame_step = jax.jit(dream_frame, static_argnames="spec", donate_argnames="canvas")
move_step = jax.jit(move_frame, static_argnames="spec", donate_argnames="canvas")
