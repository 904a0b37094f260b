"""The frame step: octaves of jittered gradient ascent, then the camera move.

``frame_step(params, canvas, values, key, guides, spec=spec) -> (next_canvas, frame_u8)``
dreams one frame with no host round trip inside it. What may change from frame to frame
(layer weights, step size, iteration count, jitter, zoom...) is data in ``values`` (a
:class:`~zoomdream.schedule.values.FrameValues`); what fixes the compiled programs is the
static :class:`DreamSpec`, and a change to it recompiles. The canvas is donated: the step
replaces it every frame, so its buffer is reused.

A frame runs in one of two forms, chosen by ``spec.host_steps``:

* **host-stepped** (CPU): every ascent step is a call of one compiled program per octave
  size, and the host queues a frame's calls one after another. Calls are asynchronous,
  so the host never waits for the device inside a frame; each step runs as a top-level
  program (the fast form of XLA:CPU), and a render compiles one ascent step per octave
  size instead of every step of every octave (4 network programs instead of 40 for the
  2015 settings: about 3x less compiling, the same speed).
* **whole** (GPU, TPU): the frame is one program, its steps a ``lax.fori_loop``.

Both are built from the same pure pieces below, and dream the same frame. A sweep
(``spec.variants`` > 1) runs the same programs over a leading variant axis (``jax.vmap``):
every argument but the weights and guides carries one slice per variant.
"""

from __future__ import annotations

import dataclasses
import functools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax

from zoomdream.dream import (
    ascent,
    camera,
    color,
    devices,
    flow,
    host_memory,
    objectives,
    octaves,
    parameterization,
    program_store,
    transforms,
)
from zoomdream.dream.objectives import Objective
from zoomdream.io import images
from zoomdream.network import googlenet

# Bit 20 of the frame's key folds in the camera's noise border, far from the octave
# indices (0, 1, ...) folded in for the ascent.
_CAMERA_STREAM = 1 << 20
# A step's key folds in this for its robustness transformations, apart from its jitter.
_TRANSFORM_STREAM = 1 << 21
# The vmap axis of a sweep's variants (its collectives name it).
VARIANTS = "variants"


@dataclasses.dataclass(frozen=True)
class DreamSpec:
    """The static shape of a render. Every field selects code or sets an array shape, so
    a change triggers recompilation; keep it constant over a render."""

    height: int  # the video's size, at which the dream runs
    width: int
    octave_shapes: tuple[tuple[int, int], ...]  # smallest first, the last is (height, width)
    objectives: tuple[Objective, ...]  # candidate objectives, shallowest layer first
    max_iterations: int  # the largest per-frame iteration count of the render
    # True: each ascent step is its own call of a program compiled once per octave size,
    # queued by the host (see the module's docstring): XLA:CPU runs convolutions inside
    # while-loop and conditional bodies about 2x slower than at the top level, so on CPU
    # this is the fast form, and it compiles quickly. False: the whole frame is one
    # program with lax.fori_loop steps (GPU/TPU).
    host_steps: bool = True
    # True: lax.switch runs the network only as deep as the deepest objective with a
    # nonzero weight, so early layers of a schedule do not pay for deep ones. A
    # conditional, so slow on CPU (see host_steps); False runs the network to the
    # deepest candidate layer every step.
    prune_depth: bool = False
    gradient_norm: str = "mean"  # or "laplacian"
    laplacian_levels: int = 4
    supersample: int = 1  # the camera's canvas is this many times the video's size
    border: str = "reflect"
    noise_amplitude: float = 48.0  # of the noise border
    # True: a film is dreamed (start.kind: video). A frame's dream is the next canvas as
    # it is, and the camera moves the view of the film instead (see film_start).
    video: bool = False
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
    # Devices a frame is dreamed on: the tiles of its tiled octaves are shared out over
    # them, everything else is replicated; in a sweep they share out the variants
    # instead (see zoomdream.dream.devices).
    devices: int = 1
    # Renders dreamed side by side (a sweep): a leading axis of the canvas, the values and
    # the key. They share this spec, so only data differs between them.
    variants: int = 1
    # The space the ascent moves the picture in (see zoomdream.dream.parameterization),
    # and the rule that turns a gradient into a step (see zoomdream.dream.ascent).
    parameterization: str = "pixel"
    optimizer: str = "ascent"
    # Robustness transformations before each step's gradient (see
    # zoomdream.dream.transforms): on or off, and the padding, which sets the network's
    # input size; their ranges are the frame's values.
    transforms: bool = False
    transform_pad: int = 0

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

    @property
    def tile_devices(self) -> int:
        """Devices a frame's tiles are shared over (a sweep's devices take variants)."""
        return self.devices if self.variants == 1 else 1


def _as_objective(objective) -> Objective:
    return objective if isinstance(objective, Objective) else Objective("l2", objective)


def default_loop_form() -> dict:
    """Host-stepped frames over the whole network on CPU; whole-frame programs with
    compiled loops and depth pruning elsewhere (see :class:`DreamSpec`)."""
    cpu = jax.default_backend() == "cpu"
    return {"host_steps": cpu, "prune_depth": not cpu}


# ---- the objective and its gradient ------------------------------------------------------


def _loss_to(spec: DreamSpec, count: int):
    """The weighted objective of the first ``count`` objectives, running the network only
    as deep as the deepest of them."""
    chosen = spec.objectives[:count]
    names = tuple(dict.fromkeys(o.layer for o in chosen))

    def loss(params, image, weights, guides):
        # params come already cast (see _cast); the image is cast
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
        deepest = jnp.max(active)
        if spec.variants > 1:  # the deepest of any variant: one branch for all, not all branches
            deepest = jax.lax.pmax(deepest, VARIANTS)
        return jax.lax.switch(deepest, branches, params, image, weights, guides)

    return objective


def _gradient(params, image: jax.Array, weights: jax.Array, guides: dict, spec: DreamSpec) -> jax.Array:
    """The objective's gradient with respect to the picture, tile by tile for octaves
    larger than ``spec.tile_size``."""
    whole = jax.grad(_objective(spec), argnums=1)
    h, w = image.shape[:2]
    rows, cols = devices.tile_grid(h, w, spec.tile_size)
    if rows * cols == 1:
        return whole(params, image, weights, guides)
    # As few tiles as fit in tile_size, of equal shape (lax.map needs one), cut as evenly
    # as possible so that hardly any padding is dreamed in vain.
    th, tw = -(-h // rows), -(-w // cols)
    padded = jnp.pad(image, ((0, rows * th - h), (0, cols * tw - w), (0, 0)), mode="reflect")
    tiles = padded.reshape(rows, th, cols, tw, 3).transpose(0, 2, 1, 3, 4).reshape(-1, th, tw, 3)
    # A loop even on CPU, where loop bodies run slower (see host_steps): unrolled tiles,
    # even chained by optimization barriers, got no buffer reuse from XLA:CPU and took as
    # much memory as no tiling (measured: 629 vs 673 MB at 960x540).
    if spec.tile_devices > 1:  # each device its share of the tiles
        grads = devices.map_sharded(lambda tile, *shared: whole(shared[0], tile, *shared[1:]), tiles, spec.tile_devices,
                                    params, weights, guides)
    else:
        grads = jax.lax.map(lambda tile: whole(params, tile, weights, guides), tiles)
    grads = grads.reshape(rows, cols, th, tw, 3).transpose(0, 2, 1, 3, 4).reshape(rows * th, cols * tw, 3)
    return grads[:h, :w]


# ---- the pieces of a frame -----------------------------------------------------------


def _space(image: jax.Array, spec: DreamSpec) -> parameterization.Space:
    return parameterization.space(spec.parameterization, *image.shape[:2])


def _optimizer(values, spec: DreamSpec, space: parameterization.Space) -> optax.GradientTransformation:
    if spec.optimizer == "adam":
        return ascent.adam(values.learning_rate * space.unit)  # learning_rate counts the pixel range as 1
    return ascent.normalized_ascent(values.step_size, space.to_picture)


def _optimizer_state(image: jax.Array, values, spec: DreamSpec):
    """The optimiser's state at the start of an octave."""
    space = _space(image, spec)
    return _optimizer(values, spec, space).init(space.encode(image))


def _cast(params, spec: DreamSpec):
    """The weights in the network's arithmetic (a no-op for float32)."""
    return jax.tree.map(lambda a: a.astype(spec.precision), params)


def _backward_kernels(params, spec: DreamSpec) -> dict:
    """Each convolution's backward kernel (see googlenet.conv2d) in the network's
    arithmetic: made once a frame for all its ascent steps, where XLA would make it from
    the kernel in each of them. Empty where JAX's own gradients are used (see
    googlenet.written_out_gradients)."""
    return googlenet.backward_kernels(_cast(params, spec)) if googlenet.written_out_gradients() else {}


def _ascent_weights(params, backward: dict, spec: DreamSpec):
    """The weights as an ascent step's network takes them: cast, with ``backward``
    (from :func:`_backward_kernels`) beside the kernels."""
    return googlenet.with_backward_kernels(_cast(params, spec), backward)


def _frame_key(key: jax.Array, values) -> jax.Array:
    """The frame's randomness: the render's key folded with the frame's index."""
    return jax.random.fold_in(key, values.frame_index)


def _step_key(frame_key: jax.Array, octave, step) -> jax.Array:
    return jax.random.fold_in(jax.random.fold_in(frame_key, octave), step)


def _base(canvas: jax.Array, spec: DreamSpec) -> jax.Array:
    """What the frame dreams: with supersampling the canvas is larger than the video,
    and the dream runs on it shrunk to the video's size."""
    return octaves.resize(canvas, (spec.height, spec.width))


def _octave_start(base: jax.Array, previous: jax.Array | None, values, spec: DreamSpec, octave: int) -> jax.Array:
    """The 2015 octave scheme: octave ``octave`` starts from the frame at its size plus
    the *detail* dreamed at the octave before (dreamed minus that octave's own start),
    carried up."""
    scheduled, scale = spec.scheduled_octave_scale, values.octave_scale
    here = octaves.base(base, spec.octave_shapes, octave, scheduled, scale)
    if previous is None:
        return here
    detail = previous - octaves.base(base, spec.octave_shapes, octave - 1, scheduled, scale)
    return here + octaves.carry_up(detail, here.shape[:2], scheduled, scale)


def _ascent_step(params, image, opt_state, values, guides: dict, key, spec: DreamSpec):
    """One step: roll by a random jitter (and transform, if asked), take the gradient,
    bring it back onto the picture, let the optimiser turn it into an update in the
    parameterisation's space, and clip the picture to the pixel range."""
    shift = jax.random.randint(key, (2,), -values.jitter, values.jitter + 1)
    rolled = jnp.roll(image, shift, axis=(0, 1))
    if spec.transforms:
        view_key = jax.random.fold_in(key, _TRANSFORM_STREAM)
        seen, back = jax.vjp(lambda x: transforms.random_view(x, view_key, spec.transform_pad, values.transform_jitter,
                                                              values.transform_scale, values.transform_rotate), rolled)
        g = back(_gradient(params, seen, values.weights, guides, spec))[0]
    else:
        g = _gradient(params, rolled, values.weights, guides, spec)
    g = jnp.roll(g, -shift, axis=(0, 1))
    if spec.gradient_norm == "laplacian":
        g = ascent.laplacian_normalize(g, spec.laplacian_levels)
    space = _space(image, spec)
    parameters = space.encode(image)
    updates, opt_state = _optimizer(values, spec, space).update(space.pull_back(g), opt_state, parameters)
    low, high = images.canvas_bounds()
    return jnp.clip(space.decode(optax.apply_updates(parameters, updates)), low, high), opt_state


def _finish(canvas: jax.Array, dreamed: jax.Array, values, frame_key, spec: DreamSpec):
    """Blend the dream in, add it to the (possibly supersampled) canvas and move the
    camera: (the next frame's canvas, this frame as uint8 RGB)."""
    base = _base(canvas, spec)
    # Blending as a weighted sum is exact at blend 1: the 2015 dream, bit for bit.
    dreamed = values.blend * dreamed + (1 - values.blend) * base
    # With supersampling the dream's detail is added back at full resolution, where the
    # camera's resampling blurs it S times less.
    canvas = dreamed if spec.supersample == 1 else canvas + octaves.resize(dreamed - base, canvas.shape[:2])
    if spec.video:
        return canvas, images.canvas_to_rgb(dreamed)
    return _move_camera(canvas, values, frame_key, spec), images.canvas_to_rgb(dreamed)


def _move_camera(canvas: jax.Array, values, frame_key: jax.Array, spec: DreamSpec) -> jax.Array:
    """The camera's move after this frame, on the (possibly supersampled) canvas."""
    extent = jnp.array([canvas.shape[1] - 1, canvas.shape[0] - 1], jnp.float32)
    center = jnp.stack([values.center_x, values.center_y]) * extent
    pan = jnp.stack([values.pan_x, values.pan_y]) * spec.supersample
    return camera.move(canvas, values.zoom, values.angle, pan, center, spec.border,
                       jax.random.fold_in(frame_key, _CAMERA_STREAM), spec.noise_amplitude)


# ---- the whole frame as one program ------------------------------------------------------


def dream_frame(params, canvas: jax.Array, values, key: jax.Array, guides: tuple = (), *, spec: DreamSpec):
    """One frame as one pure function: dream the canvas, then move the camera. The
    ascent steps are a ``lax.fori_loop`` over the frame's iteration count.

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
    frame_key = _frame_key(key, values)
    params = _ascent_weights(params, _backward_kernels(params, spec), spec)
    guide_of = dict(zip(spec.guide_indices, guides))
    base = _base(canvas, spec)
    image = None
    for octave in range(len(spec.octave_shapes)):
        image = _octave_start(base, image, values, spec, octave)

        def step(i, carry, octave=octave):
            return _ascent_step(params, *carry, values, guide_of, _step_key(frame_key, octave, i), spec)

        image = jax.lax.fori_loop(0, values.iterations, step, (image, _optimizer_state(image, values, spec)))[0]
    return _finish(canvas, image, values, frame_key, spec)


@dataclasses.dataclass(frozen=True)
class _OverVariants:
    """``fn`` over a sweep's variants: vmapped over the arguments marked ``batched``
    (a value, not a closure, so that a program store recognises it)."""

    fn: Callable
    batched: tuple[bool, ...]

    def __call__(self, *args, **statics):
        axes = tuple(0 if b else None for b in self.batched)
        return jax.vmap(functools.partial(self.fn, **statics), in_axes=axes, axis_name=VARIANTS)(*args)


def _program(name: str, fn: Callable, args: tuple, spec: DreamSpec, *, batched: tuple[bool, ...],
             statics: dict | None = None, donate: tuple[int, ...] = (), out_tree) -> program_store.StoredProgram:
    """``fn`` as a stored program for ``args`` on the render's devices, and in a sweep over
    its variants (``batched``: the arguments with a variant axis; the weights and guides
    have none; a program with none is the same for every variant). ``statics`` default
    to ``{"spec": spec}``."""
    sweep = spec.variants > 1 and any(batched)
    return program_store.program(name, _OverVariants(fn, batched) if sweep else fn, args,
                                 statics={"spec": spec} if statics is None else statics, donate=donate,
                                 out_tree=out_tree, layout=devices.layout(spec.devices, batched, sweep))


def _placed(values, spec: DreamSpec):
    """A frame's values where its programs take them: on every device, or a sweep's
    split by variant."""
    return jax.device_put(values, devices.split(spec.devices) if spec.variants > 1 else devices.replicated(spec.devices))


def _whole_program(spec: DreamSpec, args: tuple) -> program_store.StoredProgram:
    """:func:`dream_frame` as one program for ``args`` (params, canvas, values, key, guides)."""
    return _program("frame", dream_frame, args, spec, batched=(False, True, True, True, False), donate=(1,),
                    out_tree=lambda: _PAIR)


_PAIR = jax.tree.structure((0, 0))  # what a frame's last program returns: (next canvas, frame)


# ---- the frame as host-queued steps --------------------------------------------------------


def _enter_octave(canvas, previous, values, *, spec: DreamSpec, octave: int):
    """The picture octave ``octave`` starts from, and its optimiser state."""
    image = _octave_start(_base(canvas, spec), previous, values, spec, octave)
    return image, _optimizer_state(image, values, spec)


def _queued_step(params, backward, image, opt_state, values, guides: tuple, key, octave, step, *, spec: DreamSpec):
    """Ascent step ``step`` of octave ``octave``; ``backward`` from :func:`_backward_kernels`."""
    guide_of = dict(zip(spec.guide_indices, guides))
    stepped = _ascent_step(_ascent_weights(params, backward, spec), image, opt_state, values, guide_of,
                           _step_key(_frame_key(key, values), octave, step), spec)
    if spec.variants == 1:
        return stepped
    # A sweep takes as many steps as its variant with the most; the others stand still.
    return jax.tree.map(lambda new, old: jnp.where(step < values.iterations, new, old), stepped, (image, opt_state))


def _backward_program(spec: DreamSpec, args: tuple) -> program_store.StoredProgram:
    """:func:`_backward_kernels` for ``args`` (the weights)."""
    return _program("backward kernels", _backward_kernels, args, spec, batched=(False,),
                    out_tree=lambda: jax.tree.structure(jax.eval_shape(functools.partial(_backward_kernels, spec=spec), *args)))


def _leave_frame(canvas, dreamed, values, key, *, spec: DreamSpec):
    return _finish(canvas, dreamed, values, _frame_key(key, values), spec)


def _enter_program(spec: DreamSpec, octave: int, args: tuple) -> program_store.StoredProgram:
    """:func:`_enter_octave` for ``args`` (canvas, the octave before's image or None, values)."""
    h, w = spec.octave_shapes[octave]
    image = jax.ShapeDtypeStruct((h, w, 3), jnp.float32)

    def out_tree():
        return jax.tree.structure((image, jax.eval_shape(functools.partial(_optimizer_state, spec=spec), image, args[2])))

    return _program("octave", _enter_octave, args, spec, batched=(True, True, True),
                    statics={"spec": spec, "octave": octave}, out_tree=out_tree)


def _step_program(spec: DreamSpec, args: tuple) -> program_store.StoredProgram:
    """:func:`_queued_step` as one program per octave size, whatever the step, octave
    index or frame (they are data); ``args`` as it takes them. The image and the
    optimiser's state are donated: each step replaces them."""
    return _program("ascent step", _queued_step, args, spec, donate=(2, 3), out_tree=lambda: jax.tree.structure(args[2:4]),
                    batched=(False, False, True, True, True, False, True, False, False))


def _leave_program(spec: DreamSpec, args: tuple) -> program_store.StoredProgram:
    """:func:`_leave_frame` for ``args`` (canvas, dreamed image, values, key); the canvas is donated."""
    return _program("camera", _leave_frame, args, spec, batched=(True, True, True, True), donate=(0,),
                    out_tree=lambda: _PAIR)


def _queued_frame(params, canvas, values, key, guides, spec: DreamSpec):
    """:func:`dream_frame`'s frame as a queue of calls: nothing here waits for the device."""
    steps = int(np.max(values.iterations))  # the plan's values live on the host
    values = _placed(values, spec)  # once, for every call of the frame
    guides = tuple(guides)
    backward = _backward_program(spec, (params,))(params)
    image = None
    for octave in range(len(spec.octave_shapes)):
        args = (canvas, image, values)
        image, opt_state = _enter_program(spec, octave, args)(*args)
        for i in range(steps):
            args = (params, backward, image, opt_state, values, guides, key, np.int32(octave), np.int32(i))
            image, opt_state = _step_program(spec, args)(*args)
    args = (canvas, image, values, key)
    return _leave_program(spec, args)(*args)


# ---- a film's frames ----------------------------------------------------------------------


def film_view(source, values, key, *, spec: DreamSpec):
    """A film's frame (uint8 RGB, the video's size) as a canvas seen through the camera:
    in a film's values the camera's keys are the view's zoom, angle and pan, summed over
    the frames before (see zoomdream.schedule.plan)."""
    return _move_camera(images.rgb_to_canvas(source), values, _frame_key(key, values), spec)


def film_start(view, previous_view, previous_dream, values):
    """What a film's frame dreams from: its view plus the frame before's dream *detail*
    (the dream minus the view it was dreamed on), carried along the film's motion by the
    optical flow from this view to the one before and weighted by ``values.coherence``.
    Pixels that fail the flow's round trip (occluded, uncovered, across motion
    boundaries) get no carried detail and dream afresh. The carried detail's mean is
    taken out, channel by channel, so that what the dream adds cannot pile up into a
    picture growing brighter or darker over hundreds of frames."""
    here, before = flow.luminance(view), flow.luminance(previous_view)
    backward, forward = flow.both_ways(here, before)
    trusted = flow.consistent(forward, backward)[..., None]
    detail = flow.warp(previous_dream - previous_view, backward) * trusted
    mean = jnp.sum(detail, axis=(0, 1)) / jnp.maximum(jnp.sum(trusted), 1.0)
    return view + values.coherence * (detail - mean * trusted)


def _view_program(spec: DreamSpec, args: tuple) -> program_store.StoredProgram:
    """:func:`film_view` for ``args`` (source frame, values, key)."""
    return _program("film view", film_view, args, spec, batched=(False, True, True), out_tree=lambda: _ONE)


def _start_program(spec: DreamSpec, args: tuple) -> program_store.StoredProgram:
    """:func:`film_start` for ``args`` (view, previous view, previous dream, values)."""
    return _program("film start", film_start, args, spec, batched=(True, True, True, True), statics={},
                    out_tree=lambda: _ONE)


_ONE = jax.tree.structure(0)


def film_frame_view(source, values, key, *, spec: DreamSpec):
    """:func:`film_view`, compiled; returns at once."""
    args = (source, values, key)
    return _view_program(spec, args)(*args)


def film_frame_start(source, previous_view, previous_dream, values, key, *, spec: DreamSpec):
    """(the canvas a film's frame dreams from, its view); the first frame of a film
    (``previous_view`` None) dreams from its view alone. Returns at once. (The first
    frame's canvas, too, is a buffer of its own, since the frame step donates it.)"""
    view = film_frame_view(source, values, key, spec=spec)
    if previous_view is None:
        previous_view = previous_dream = view  # no detail to carry
    args = (view, previous_view, previous_dream, values)
    return _start_program(spec, args)(*args), view


# ---- the frame step --------------------------------------------------------------------


def frame_step(params, canvas: jax.Array, values, key: jax.Array, guides: tuple = (), *, spec: DreamSpec):
    """One frame, in the form ``spec`` chooses; arguments and results as
    :func:`dream_frame`. Returns at once: the results are computed asynchronously."""
    if spec.host_steps:
        return _queued_frame(params, canvas, values, key, guides, spec)
    args = (params, canvas, _placed(values, spec), key, tuple(guides))
    return _whole_program(spec, args)(*args)


def move_frame(params, canvas: jax.Array, values, key: jax.Array, guides: tuple = (), *, spec: DreamSpec):
    """A frame that is not dreamed (``dream.cadence`` > 1): the camera moves the last
    dreamed picture on, and the frame shows it as it is. Same arguments and results as
    :func:`dream_frame`."""
    del params, guides
    shown = images.canvas_to_rgb(_base(canvas, spec))
    return _move_camera(canvas, values, _frame_key(key, values), spec), shown


def _move_program(spec: DreamSpec, args: tuple) -> program_store.StoredProgram:
    """:func:`move_frame` for ``args`` (params, canvas, values, key, guides); the canvas is donated."""
    return _program("move", move_frame, args, spec, batched=(False, True, True, True, False), donate=(1,),
                    out_tree=lambda: _PAIR)


def move_step(params, canvas: jax.Array, values, key: jax.Array, guides: tuple = (), *, spec: DreamSpec):
    """:func:`move_frame`, compiled; returns at once, as :func:`frame_step` does."""
    args = (params, canvas, _placed(values, spec), key, tuple(guides))
    return _move_program(spec, args)(*args)


# ---- colour coherence ----------------------------------------------------------------------


def _hold_colour(canvas, tone, values):
    return color.hold(canvas, tone, values.color_coherence)


def _hold_program(spec: DreamSpec, args: tuple) -> program_store.StoredProgram:
    """:func:`zoomdream.dream.color.hold` for ``args`` (canvas, tone, values); the canvas is donated."""
    return _program("color", _hold_colour, args, spec, batched=(True, True, True), statics={}, donate=(0,),
                    out_tree=lambda: _PAIR)


def hold_colour(canvas: jax.Array, tone: jax.Array, values, *, spec: DreamSpec):
    """(the canvas with its colours held towards the tone, the next tone) before a frame
    is dreamed (see :mod:`zoomdream.dream.color`); compiled, returns at once."""
    args = (canvas, tone, _placed(values, spec))
    return _hold_program(spec, args)(*args)


# ---- compiling ahead -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Program:
    """One of the programs a frame runs, for a render's arguments."""

    name: str
    stored: program_store.StoredProgram  # what the frame's calls run
    args: tuple  # arrays or shapes, as the frame passes them
    calls_per_frame: int  # at the render's largest iteration count

    @functools.cached_property
    def lowered(self) -> jax.stages.Lowered:
        return self.stored.lower(*self.args)

    def compile(self) -> jax.stages.Compiled:
        """The program's executable, kept for the frame's calls: the one the store kept,
        or compiled from :attr:`lowered`."""
        return self.stored.compile(*self.args, lowered=None if self.stored.kept else self.lowered)


def frame_programs(params, canvas, values, key, guides: tuple = (), *, spec: DreamSpec,
                   move: bool = False, hold: bool = False) -> Iterator[Program]:
    """Every program a dreamed frame of ``spec`` runs (and, with ``move``, the camera-only
    frame of a cadence; with ``hold``, the colour hold before a frame), for these
    arguments (``canvas`` may be a ``jax.ShapeDtypeStruct``), traced one by one as they
    are asked for."""
    guides = tuple(guides)
    if spec.video:
        source = jax.ShapeDtypeStruct((spec.height, spec.width, 3), jnp.uint8)
        args = (source, values, key)
        yield Program("film view", _view_program(spec, args), args, 1)
        args = (canvas, canvas, canvas, values)
        yield Program("film start", _start_program(spec, args), args, 1)
    if move:
        args = (params, canvas, values, key, guides)
        yield Program("move", _move_program(spec, args), args, 0)
    if hold:
        tone = jax.ShapeDtypeStruct((*canvas.shape[:-3], color.TONE_SIZE), jnp.float32)
        args = (canvas, tone, values)
        yield Program("color", _hold_program(spec, args), args, 1)
    if not spec.host_steps:
        args = (params, canvas, values, key, guides)
        yield Program("frame", _whole_program(spec, args), args, 1)
        return
    values = _placed(values, spec)
    backward_program = _backward_program(spec, (params,))
    yield Program("backward kernels", backward_program, (params,), 1)
    backward = backward_program.result_shapes()
    index = np.int32(0)
    image = None
    for octave, (h, w) in enumerate(spec.octave_shapes):
        args = (canvas, image, values)
        enter = _enter_program(spec, octave, args)
        yield Program(f"octave {w}x{h}", enter, args, 1)
        image, opt_state = enter.result_shapes()
        args = (params, backward, image, opt_state, values, guides, key, index, index)
        yield Program(f"ascent step {w}x{h}", _step_program(spec, args), args, spec.max_iterations)
    args = (canvas, image, values, key)
    yield Program("camera", _leave_program(spec, args), args, 1)


def compile_programs(programs: Iterable[Program], *, defer_stored: bool = False) -> list[tuple[Program, jax.stages.Compiled]]:
    """Compile ``programs`` (traced as they are asked for, as :func:`frame_programs`
    does) and keep each for the frame's calls of it. The next program is traced and
    lowered while XLA compiles the one before: tracing is Python on one core, and XLA
    leaves room beside it (a cold classic-zoom at 256x256: 22.2 -> 17.7 s for all its
    programs, on two cores; compiling two side by side was not faster). On a CPU, the
    memory compiling freed is then handed back (see host_memory).

    With ``defer_stored``, a program read from the store (a warm start, whose executable
    the store or XLA's cache holds) is left to its first call: the frame's first programs
    then run while the main thread loads the later ones, instead of after all of them.
    A kept executable loads without being lowered, here or ahead."""

    def now(program: Program) -> bool:
        return not defer_stored or program.stored.traced

    def lower_ahead(program: Program) -> bool:
        return now(program) and not program.stored.kept

    compiled = [(program, program.compile()) for program in _traced_ahead(programs, lower=lower_ahead) if now(program)]
    host_memory.release_freed_memory()
    return compiled


_DONE = object()


def _traced_ahead(programs: Iterable[Program], lower: Callable[[Program], bool] | None = None) -> Iterator[Program]:
    """``programs`` in order, taken from the iterable (and lowered, where ``lower`` says
    so) by a thread of their own, so that each is traced while the caller compiles the
    one before. An error in tracing is raised here, at the program it stopped; a caller
    that stops taking them (its compiling failed) stops the tracing too."""
    ready: queue.Queue = queue.Queue()
    stopped = threading.Event()
    # JAX's settings made with context managers belong to the thread that made them:
    # the matmul precision in force changes a traced program (TF32 on a GPU).
    precision = jax.config.jax_default_matmul_precision

    def trace() -> None:
        try:
            with jax.default_matmul_precision(precision):
                for program in programs:
                    if stopped.is_set():
                        return
                    if lower is not None and lower(program):
                        program.lowered  # noqa: B018 - lowered here, kept by the program
                    ready.put(program)
        except BaseException as error:  # noqa: BLE001 - handed to the caller, raised there
            ready.put(error)
        ready.put(_DONE)

    threading.Thread(target=trace, name="zoomdream-trace", daemon=True).start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()
