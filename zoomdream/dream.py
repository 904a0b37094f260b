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
from zoomdream.objectives import Objective

# Added to the gradient's mean magnitude before dividing by it (flat images have none).
GRAD_EPSILON = 1e-8


class FrameParams(NamedTuple):
    """Per-frame values, all traced: changing them never recompiles."""

    weights: jax.Array  # float32 (objectives,): one weight per DreamSpec.objectives
    step_size: jax.Array  # float32
    octave_scale: jax.Array  # float32; used when DreamSpec.scheduled_octave_scale
    iterations: jax.Array  # int32, per octave
    jitter: jax.Array  # int32, largest roll in pixels
    zoom: jax.Array  # float32: the camera move after this frame's dream...
    angle: jax.Array  # float32, radians
    pan: jax.Array  # float32 (2,), video pixels (x, y)
    center: jax.Array  # float32 (2,), fractions of (width, height)
    frame_index: jax.Array  # int32, folded into the PRNG key


def frame_values(weights, **values) -> FrameParams:
    """FrameParams with the 2015 notebook's values and no camera motion, unless given:
    for experiments, tests and benchmarks. Dtypes are fixed here as the render's are."""
    defaults = dict(step_size=1.5, octave_scale=1.4, iterations=10, jitter=32, zoom=1.0, angle=0.0,
                    pan=(0.0, 0.0), center=(0.5, 0.5), frame_index=0)
    unknown = set(values) - set(defaults)
    if unknown:
        raise TypeError(f"unknown frame values: {sorted(unknown)}")
    v = {**defaults, **values}
    f32, i32 = np.float32, np.int32
    return FrameParams(
        weights=np.asarray(weights, f32), step_size=f32(v["step_size"]), octave_scale=f32(v["octave_scale"]),
        iterations=i32(v["iterations"]), jitter=i32(v["jitter"]), zoom=f32(v["zoom"]), angle=f32(v["angle"]),
        pan=np.asarray(v["pan"], f32), center=np.asarray(v["center"], f32), frame_index=i32(v["frame_index"]),
    )


@dataclasses.dataclass(frozen=True)
class DreamSpec:
    """The static shape of a render. Every field selects code or sets an array shape, so
    a change triggers recompilation; keep it constant over a render."""

    height: int  # the video's size, at which the dream runs
    width: int
    octave_shapes: tuple[tuple[int, int], ...]  # smallest first, the last is (height, width)
    objectives: tuple[Objective, ...]  # candidate objectives, shallowest layer first
    max_iterations: int  # the largest per-frame iteration count of the render
    # How the ascent steps run. True: a Python loop unrolled to max_iterations (steps
    # beyond a frame's count are masked out) and the network always run to the deepest
    # candidate layer. XLA:CPU compiles convolutions inside while/conditional bodies to a
    # path about 2x slower than at the top level, so on CPU this is the fast form.
    # False: lax.fori_loop with a traced trip count, and lax.switch that runs the network
    # only as deep as the deepest objective in use: a small program for GPU/TPU.
    unroll: bool = True
    gradient_norm: str = "mean"  # or "laplacian"
    laplacian_levels: int = 4
    supersample: int = 1  # the camera's canvas is this many times the video's size
    border: str = "reflect"
    noise_amplitude: float = 48.0  # of the noise border
    # A scheduled octave scale cannot change array shapes, so the octaves become buffers
    # of the sizes the smallest scale of the render gives (octave_shapes), and each
    # frame's octave picture fills the top-left of its buffer, the rest mirrored.
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
    def create(cls, height: int, width: int, octaves: int, octave_scale: float, objectives, max_iterations: int,
               unroll: bool | None = None, **options) -> "DreamSpec":
        """``octave_scale``: the render's (smallest) octave scale, which sets the octave
        sizes."""
        objectives = tuple(sorted(dict.fromkeys(_as_objective(o) for o in objectives), key=lambda o: (o.depth, o)))
        shapes = octave_shapes(height, width, octaves, octave_scale, min_side=min_octave_side(objectives[-1].layer))
        if unroll is None:
            unroll = default_unroll()
        return cls(height, width, shapes, objectives, int(max_iterations), bool(unroll), **options)

    @property
    def canvas_shape(self) -> tuple[int, int, int]:
        """Shape of the canvas carried from frame to frame."""
        return (self.height * self.supersample, self.width * self.supersample, 3)

    @property
    def guide_indices(self) -> tuple[int, ...]:
        return tuple(i for i, o in enumerate(self.objectives) if o.kind == "guide")


def _as_objective(objective) -> Objective:
    return objective if isinstance(objective, Objective) else Objective("l2", objective)


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


def _scale_into(image: jax.Array, shape: tuple[int, int], scale) -> jax.Array:
    """``image`` scaled by a traced factor about its top-left corner into ``shape``."""
    scales = jnp.stack([scale, scale]).astype(jnp.float32)
    return jax.image.scale_and_translate(image, (*shape, image.shape[2]), (0, 1), scales, jnp.zeros(2, jnp.float32),
                                         method="linear", antialias=True)


def _shrink_into(canvas: jax.Array, shape: tuple[int, int], factor) -> jax.Array:
    """The canvas shrunk by a traced ``factor`` into the top-left of a buffer of
    ``shape``; the rest of the buffer mirrors it, so the network sees no hard edge."""
    content = _scale_into(canvas, shape, 1.0 / factor)
    for axis in (0, 1):
        n = shape[axis]
        filled = jnp.maximum(jnp.floor(canvas.shape[axis] / factor).astype(jnp.int32), 1)
        i = jnp.arange(n)
        # Mirror about the content's last row/column: filled, filled+1, ... -> filled-1, filled-2, ...
        source = jnp.where(i < filled, i, jnp.clip(2 * filled - 1 - i, 0, n - 1))
        content = jnp.take(content, source, axis=axis)
    return content


def _laplacian_normalize(g: jax.Array, levels: int) -> jax.Array:
    """Split ``g`` into a Laplacian pyramid, scale every level to unit standard deviation,
    and merge: low frequencies get as much of the step as high ones, which gives smoother
    pictures in fewer steps (the 2016 TensorFlow DeepDream tutorial)."""
    bands = []
    low = g
    for _ in range(levels - 1):
        h, w = low.shape[:2]
        if min(h, w) < 4:
            break
        smaller = jax.image.resize(low, ((h + 1) // 2, (w + 1) // 2, low.shape[2]), method="linear")
        bands.append(low - _resize(smaller, (h, w)))
        low = smaller
    bands.append(low)
    out = None
    for band in reversed(bands):
        band = band / jnp.maximum(jnp.std(band), 1e-8)
        out = band if out is None else _resize(out, band.shape[:2]) + band
    return out


def make_frame_fn(spec: DreamSpec) -> Callable:
    """The pure (un-jitted) frame step for ``spec``:
    ``frame_step(params, canvas, frame_params, key, guides) -> (next_canvas, frame_u8)``,
    where ``guides`` holds the features of each guide objective, in objective order."""
    module = googlenet.GoogLeNetModule()
    low, high = (jnp.asarray(b) for b in images.canvas_bounds())

    def loss_to(count: int):
        chosen = spec.objectives[:count]
        names = tuple(dict.fromkeys(o.layer for o in chosen))

        def loss(params, image, weights, guides):
            # params come already cast (once per frame, in frame_step); the image is cast
            # here, inside the gradient, so that the gradient returns as float32.
            acts = module.apply({"params": params}, image[None].astype(spec.precision), names)
            acts = {name: a.astype(jnp.float32) for name, a in acts.items()}
            return objectives.weighted_sum(chosen, acts, weights, guides)

        return loss

    if spec.unroll:
        objective = loss_to(len(spec.objectives))
    else:
        # One loss per candidate depth: branch k runs the network only as deep as
        # objectives[k], chosen by the deepest objective with a nonzero weight, so early
        # layers of a schedule do not pay for deep ones and a change is data, not a recompile.
        branches = [loss_to(k + 1) for k in range(len(spec.objectives))]

        def objective(params, image, weights, guides):
            active = jnp.where(weights != 0, jnp.arange(len(spec.objectives)), 0)
            return jax.lax.switch(jnp.max(active), branches, params, image, weights, guides)

    whole_grad = jax.grad(objective, argnums=1)

    def grad_fn(params, image, weights, guides):
        h, w = image.shape[:2]
        size = spec.tile_size
        if not size or max(h, w) <= size:
            return whole_grad(params, image, weights, guides)
        # As few tiles as fit in tile_size, of equal shape (lax.map needs one), cut as
        # evenly as possible so that hardly any padding is dreamed in vain.
        rows, cols = -(-h // size), -(-w // size)
        th, tw = -(-h // rows), -(-w // cols)
        padded = jnp.pad(image, ((0, rows * th - h), (0, cols * tw - w), (0, 0)), mode="reflect")
        tiles = padded.reshape(rows, th, cols, tw, 3).transpose(0, 2, 1, 3, 4).reshape(-1, th, tw, 3)
        # A loop even on CPU, where loop bodies run slower (see unroll): unrolled tiles,
        # even chained by optimization barriers, got no buffer reuse from XLA:CPU and
        # took as much memory as no tiling (measured: 629 vs 673 MB at 960x540).
        grads = jax.lax.map(lambda tile: whole_grad(params, tile, weights, guides), tiles)
        grads = grads.reshape(rows, cols, th, tw, 3).transpose(0, 2, 1, 3, 4).reshape(rows * th, cols * tw, 3)
        return grads[:h, :w]

    # A jit of its own: traced once per octave size and then reused by every unrolled
    # step (tracing the network 40 times took longer than XLA's compile); XLA inlines the
    # calls, so the compiled program is the same.
    @jax.jit
    def ascent_step(params, image, fp: FrameParams, guides, key):
        shift = jax.random.randint(key, (2,), -fp.jitter, fp.jitter + 1)
        rolled = jnp.roll(image, shift, axis=(0, 1))
        g = grad_fn(params, rolled, fp.weights, guides)
        g = jnp.roll(g, -shift, axis=(0, 1))
        if spec.gradient_norm == "laplacian":
            g = _laplacian_normalize(g, spec.laplacian_levels)
        image = image + fp.step_size / (jnp.mean(jnp.abs(g)) + GRAD_EPSILON) * g
        return jnp.clip(image, low, high)

    def ascend(params, image, fp: FrameParams, guides, octave_key):
        step = lambda i, img: ascent_step(params, img, fp, guides, jax.random.fold_in(octave_key, i))
        if not spec.unroll:
            return jax.lax.fori_loop(0, fp.iterations, step, image)
        for i in range(spec.max_iterations):
            image = jnp.where(i < fp.iterations, step(i, image), image)
        return image

    def octave_bases(canvas, fp: FrameParams):
        if not spec.scheduled_octave_scale:
            return [_resize(canvas, shape) for shape in spec.octave_shapes]
        last = len(spec.octave_shapes) - 1
        return [canvas if o == last else _shrink_into(canvas, shape, fp.octave_scale ** (last - o))
                for o, shape in enumerate(spec.octave_shapes)]

    def carry_up(detail, shape, fp: FrameParams):
        if not spec.scheduled_octave_scale:
            return _resize(detail, shape)
        return _scale_into(detail, shape, fp.octave_scale)

    def dream(params, canvas, fp: FrameParams, guides, key):
        """2015 octave scheme: dream the smallest octave, carry the dreamed *detail*
        (dreamed minus the octave's base) up to the next size, and so on."""
        bases = octave_bases(canvas, fp)
        detail = jnp.zeros_like(bases[0])
        for o, base in enumerate(bases):
            image = base + (detail if o == 0 else carry_up(detail, base.shape[:2], fp))
            image = ascend(params, image, fp, guides, jax.random.fold_in(key, o))
            detail = image - base
        return image

    def frame_step(params, canvas, fp: FrameParams, key, guides=()):
        key = jax.random.fold_in(key, fp.frame_index)
        params = jax.tree_util.tree_map(lambda a: a.astype(spec.precision), params)  # no-op for float32
        guide_of = dict(zip(spec.guide_indices, guides))
        # With supersampling the canvas is larger than the video: the dream runs on it
        # shrunk to the video's size, and its detail is added back at full resolution,
        # where the camera's resampling blurs it S times less.
        base = _resize(canvas, (spec.height, spec.width))
        dreamed = dream(params, base, fp, guide_of, key)
        canvas = dreamed if spec.supersample == 1 else canvas + _resize(dreamed - base, canvas.shape[:2])
        return move_camera(spec, canvas, fp, key), images.canvas_to_rgb(dreamed)

    return frame_step


def move_camera(spec: DreamSpec, canvas: jax.Array, fp: FrameParams, frame_key: jax.Array) -> jax.Array:
    """The frame's camera move, on the (possibly supersampled) canvas."""
    center = fp.center * jnp.array([canvas.shape[1] - 1, canvas.shape[0] - 1], jnp.float32)
    return camera.move(canvas, fp.zoom, fp.angle, fp.pan * spec.supersample, center, spec.border,
                       jax.random.fold_in(frame_key, 1 << 20), spec.noise_amplitude)


def make_move_fn(spec: DreamSpec) -> Callable:
    """The frame step of a frame that is not dreamed (``dream.cadence`` > 1): the camera
    moves the last dreamed picture on, and the frame shows it as it is. Same signature
    and outputs as the dreaming step."""

    def move_step(params, canvas, fp: FrameParams, key, guides=()):
        key = jax.random.fold_in(key, fp.frame_index)
        shown = images.canvas_to_rgb(_resize(canvas, (spec.height, spec.width)))
        return move_camera(spec, canvas, fp, key), shown

    return move_step


def compile_frame_step(spec: DreamSpec, wrap: Callable[[Callable], Callable] | None = None, move_only: bool = False) -> Callable:
    """``jax.jit`` of the frame step with the canvas donated (it is replaced every frame).

    Args:
      spec: the static shape of the render.
      wrap: optional wrapper applied to the pure function before jit (tests use
        ``chex.assert_max_traces`` here).
      move_only: the step of frames that are not dreamed (see :func:`make_move_fn`).
    """
    fn = make_move_fn(spec) if move_only else make_frame_fn(spec)
    if wrap is not None:
        fn = wrap(fn)
    return jax.jit(fn, donate_argnums=(1,))


# Compiled frame steps of this process, newest last: a notebook that renders the same size
# again does not compile again. (Across processes the persistent compilation cache does
# the same; see zoomdream.render.enable_compilation_cache.)
_COMPILED: dict = {}
_COMPILED_KEEP = 4


def compiled_frame_step(spec: DreamSpec, params, canvas, frame_params: FrameParams, key, guides=(),
                        move_only: bool = False) -> Callable:
    """The frame step compiled ahead of time for these arguments' shapes and dtypes."""
    abstract = jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), (params, canvas, frame_params, key, tuple(guides))
    )
    leaves, treedef = jax.tree_util.tree_flatten(abstract)
    cache_key = (spec, move_only, treedef, tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves))
    if cache_key not in _COMPILED:
        if len(_COMPILED) >= _COMPILED_KEEP:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[cache_key] = compile_frame_step(spec, move_only=move_only).lower(*abstract).compile()
    return _COMPILED[cache_key]
