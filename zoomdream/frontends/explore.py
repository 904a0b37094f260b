"""Which layer draws what: the same picture dreamed with many objectives, side by side.

Every objective of a gallery shares one compiled frame step (the objectives are the
candidates of one :class:`zoomdream.dream.step.DreamSpec`, each picture a one-hot weight), so a
gallery of ten layers compiles once.
"""

from __future__ import annotations

import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from zoomdream.dream import objectives, step
from zoomdream.io import images
from zoomdream.network import googlenet
from zoomdream.network.weights import load_googlenet
from zoomdream.schedule import config as config_lib
from zoomdream.schedule.values import default_values

# The layers a first look should show: one per stage of the network.
MAIN_LAYERS = (
    "conv2/3x3",
    "inception_3a/output",
    "inception_3b/output",
    "inception_4a/output",
    "inception_4b/output",
    "inception_4c/output",
    "inception_4d/output",
    "inception_4e/output",
    "inception_5b/output",
)


def channels_of(layer: str, count: int = 4, seed: int = 0) -> list[str]:
    """``count`` channel objectives of ``layer``, picked at random but reproducibly."""
    depth = googlenet.layer_info(layer).channels
    picked = np.random.default_rng(seed).choice(depth, size=min(count, depth), replace=False)
    return [f"{layer}:{int(c)}" for c in sorted(picked)]


def dream_gallery(
    objective_specs: list[str],
    start: np.ndarray | None = None,
    size: tuple[int, int] = (160, 160),
    octaves: int = 3,
    iterations: int = 10,
    frames: int = 1,
    zoom_per_frame: float = 1.05,
    noise_amplitude: float = 8.0,
    seed: int = 0,
    net: googlenet.GoogLeNet | None = None,
    *,
    step_size: float = 1.5,
    jitter: int = 32,
    parameterization: str = "pixel",
    transforms: dict | None = None,
) -> list[np.ndarray]:
    """Dream the same start picture once per objective.

    Args:
      objective_specs: objectives as in presets (``inception_4c/output``, ``...:97``,
        ``class:banana``; guide pictures are not supported here).
      start: uint8 RGB picture (fitted to ``size``); default: faint seeded noise on grey
        (faint, so that what appears is the layer's, not the noise's).
      size: (width, height) of every picture.
      octaves, iterations: the dream's settings (octave scale 1.4, step 1.5).
      frames: zoom frames per objective; 1 dreams a still, more shows what a zoom becomes.
      zoom_per_frame: the zoom between those frames.
      noise_amplitude: of the default start, in pixel levels.
      seed: noise and jitter seed.
      net: a loaded network (default: the bundled one).
      step_size, jitter: the ascent's step (pixel levels) and random shift.
      parameterization: ``pixel`` (2015) or ``fourier`` (as ``dream.parameterization``).
      transforms: robustness transformations as ``dream.transforms`` takes them
        (``{"pad": 12, "jitter": 4, "scale": 0.1, "rotate": 10}``); default none.

    Returns:
      One uint8 RGB picture per objective, in the given order.
    """
    net = net if net is not None else load_googlenet()
    width, height = size
    parsed = [objectives.parse(spec, "objective") for spec in objective_specs]
    if any(o.kind == "guide" for o in parsed):
        raise ValueError("dream_gallery does not take guide objectives")
    # The whole-frame form with depth pruning: a gallery's layers range from conv2 to
    # inception_4e, and this form runs each picture's network no deeper than its layer.
    octave_scale = float(default_values([]).octave_scale)  # the presets' default
    moves = {"pad": 0, "jitter": 0, "scale": 0.0, "rotate": 0.0, **(transforms or {})}
    spec = step.DreamSpec.create(height, width, octaves, octave_scale, parsed, max_iterations=iterations, host_steps=False,
                                 prune_depth=True, parameterization=parameterization,
                                 transforms=any(v != 0 for v in moves.values()), transform_pad=int(moves["pad"]))
    column = {o: i for i, o in enumerate(spec.objectives)}
    if start is None:
        canvas0 = images.noise_canvas(width, height, noise_amplitude, seed)
    else:
        canvas0 = images.rgb_to_canvas(images.fit_image(start, width, height))
    key = jax.random.key(seed)
    pictures = []
    for objective in parsed:
        weights = np.zeros(len(spec.objectives), np.float32)
        weights[column[objective]] = 1.0
        canvas = jnp.asarray(canvas0)
        for k in range(frames):
            values = default_values(weights, iterations=iterations, zoom=zoom_per_frame, frame_index=k, step_size=step_size,
                                    jitter=jitter, transform_jitter=moves["jitter"], transform_scale=moves["scale"],
                                    transform_rotate=np.deg2rad(moves["rotate"]))
            canvas, frame = step.frame_step(net.params, canvas, values, key, spec=spec)
        pictures.append(np.asarray(frame))
    return pictures


# The 2015 form of a class gallery (the banana preset's dream before feature visualisation).
PIXEL_FORM = {"octaves": 3, "step_size": 1.5, "jitter": 16, "noise_amplitude": 30.0}


def class_forms() -> dict[str, dict]:
    """The forms a class gallery draws in: ``pixel`` (:data:`PIXEL_FORM`) and ``fourier``,
    feature visualisation's as the bundled banana preset sets it."""
    banana = config_lib.load("banana")
    dream, moves = banana.dream, banana.dream.transforms
    fourier = {"octaves": dream.octaves, "step_size": float(dream.step_size.numbers()[0]),
               "jitter": int(dream.jitter.numbers()[0]), "noise_amplitude": banana.start.noise_amplitude,
               "parameterization": dream.parameterization,
               "transforms": {"pad": moves.pad, **{name: float(getattr(moves, name).numbers()[0])
                                                   for name in ("jitter", "scale", "rotate")}}}
    return {"pixel": PIXEL_FORM, "fourier": fourier}


def class_gallery(
    classes: list[str],
    forms: tuple[str, ...] = ("pixel", "fourier"),
    size: int = 224,
    steps: int = 126,
    seed: int = 0,
    net: googlenet.GoogLeNet | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """ImageNet classes drawn from noise, each in every form of :func:`class_forms`, with
    the same number of network steps: (pictures, captions), class by class, a form each.
    Shown with ``gallery_figure(pictures, captions, columns=len(forms))``: a row per class."""
    net = net if net is not None else load_googlenet()
    drawn, known = {}, class_forms()
    for form in forms:
        options = dict(known[form])
        octaves = options.pop("octaves")
        drawn[form] = dream_gallery([f"class:{c}" for c in classes], size=(size, size), octaves=octaves,
                                    iterations=steps // octaves, seed=seed, net=net, **options)
    pictures = [drawn[form][i] for i in range(len(classes)) for form in forms]
    captions = [f"{name}, {form}" for name in classes for form in forms]
    return pictures, captions


def labels_for(objective_specs: list[str]) -> list[str]:
    """Captions: the objective and what its layer tends to draw."""
    out = []
    for spec in objective_specs:
        objective = objectives.parse(spec, "objective")
        note = googlenet.layer_info(objective.layer).note if objective.kind != "class" else ""
        out.append("\n".join([objective.label, *textwrap.wrap(note, 34)]))
    return out


def gallery_figure(pictures: list[np.ndarray], labels: list[str], columns: int = 4):
    """A matplotlib figure of the pictures in a labelled grid."""
    import matplotlib.pyplot as plt

    rows = -(-len(pictures) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, picture, label in zip(axes.ravel(), pictures, labels):
        ax.imshow(picture)
        ax.set_title(label, fontsize=8)
    fig.tight_layout()
    return fig
