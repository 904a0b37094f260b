"""Feature visualisation from noise: does the picture show the class, or only excite it?

    python benchmarks/features.py [--classes banana,dumbbell,...] [--steps 256] [--size 224]

For each class, a 224x224 still is dreamed from noise with the same budget of network
steps in each form:

* ``pixel``: the bundled ``banana`` preset's dream as it was before feature visualisation
  (2015 ascent on pixels, Laplacian-normalised gradient, three octaves), the class swapped;
* ``fourier``: the bundled ``banana`` preset as it is (Fourier parameterisation, Adam,
  robustness transformations), the class swapped.

Each picture is scored by the same network, independently of how it was made:

* the class's probability as drawn, and averaged over random views (shift up to 8 px,
  scale 0.9-1.1, rotation up to 10 degrees, each followed by a Gaussian blur of 2 px): a
  picture whose class survives a blur is drawn in shapes a person can see;
* high-frequency energy: the mean absolute Laplacian of the picture (0..255 levels).

Writes benchmarks/results/features-<platform>.json and a gallery image,
benchmarks/results/features-gallery.jpg (a column per class: pixel above, Fourier below).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

import zoomdream
from zoomdream.frontends import explore
from zoomdream.io import images
from zoomdream.schedule import config as config_lib

from common import environment, write_result

HERE = Path(__file__).resolve().parent
CLASSES = ("banana", "dumbbell", "goldfish", "volcano", "lighthouse")
VIEWS = 16  # random views a probability is averaged over
BLUR_PX = 2.0
# The banana preset's dream before feature visualisation (its keys as they were), as the
# class gallery's pixel form draws it.
PIXEL_FORM = {"dream.parameterization": "pixel", "dream.optimizer": "ascent", "dream.octaves": explore.PIXEL_FORM["octaves"],
              "dream.octave_scale": 1.4, "dream.step_size": explore.PIXEL_FORM["step_size"],
              "dream.jitter": explore.PIXEL_FORM["jitter"], "dream.gradient_norm": "laplacian", "dream.transforms": {},
              "start.noise_amplitude": explore.PIXEL_FORM["noise_amplitude"]}


def random_view(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``picture`` (H, W, 3 float) shifted, scaled and rotated at random about its centre."""
    h, w = picture.shape[:2]
    angle = np.deg2rad(rng.uniform(-10, 10))
    scale = rng.uniform(0.9, 1.1)
    shift = rng.uniform(-8, 8, size=2)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / scale
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    offset = centre - rotation @ (centre + shift)
    return np.stack([ndimage.affine_transform(picture[..., c], rotation, offset, order=1, mode="reflect")
                     for c in range(3)], axis=-1)


def blurred(picture: np.ndarray) -> np.ndarray:
    return ndimage.gaussian_filter(picture, (BLUR_PX, BLUR_PX, 0), mode="reflect")


def probabilities(net, pictures: list[np.ndarray], index: int) -> np.ndarray:
    """The network's probability of class ``index`` for each uint8-range RGB picture."""
    batch = jnp.stack([jnp.asarray(images.rgb_to_canvas(np.clip(p, 0, 255).astype(np.float32))) for p in pictures])
    return np.asarray(jax.nn.softmax(net.classify(batch), axis=-1)[:, index])


def score(net, picture: np.ndarray, index: int, seed: int = 0) -> dict:
    """The figures of one picture (uint8 RGB)."""
    x = picture.astype(np.float32)
    rng = np.random.default_rng(seed)
    views = [blurred(random_view(x, rng)) for _ in range(VIEWS)]
    return {
        "probability": float(probabilities(net, [x], index)[0]),
        "blurred_probability": float(probabilities(net, [blurred(x)], index)[0]),
        "robust_probability": float(probabilities(net, views, index).mean()),
        "high_frequency": float(np.mean(np.abs(np.stack([ndimage.laplace(x[..., c]) for c in range(3)])))),
    }


def dream(net, name: str, form: dict, size: int, steps: int, seed: int, folder: Path) -> np.ndarray:
    """A still of class ``name`` from noise: the banana preset with ``form``'s keys."""
    octaves = int(form.get("dream.octaves", config_lib.load("banana").dream.octaves))
    overrides = {**form, "dream.iterations": steps // octaves, "video.size": f"{size}x{size}", "seed": seed,
                 "layers.schedule": [{"class": name}]}
    out = folder / f"{name}-{'pixel' if form else 'fourier'}.png"
    zoomdream.render("banana", out, overrides=overrides, overwrite=True, progress=False, net=net)
    return images.load_image(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default=",".join(CLASSES))
    parser.add_argument("--steps", type=int, default=126, help="network steps per picture (a multiple of the pixel "
                        "form's 3 octaves)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="", help="a suffix for the result files (experiments)")
    args = parser.parse_args()
    net = zoomdream.load_googlenet()
    steps = args.steps
    folder = Path(tempfile.mkdtemp(prefix="zoomdream-features-"))  # the stills; the gallery keeps them
    rows, gallery = [], []
    for name in args.classes.split(","):
        index = net.class_index(name)
        row = {"class": name, "index": index}
        pictures = []
        for form_name, form in (("pixel", PIXEL_FORM), ("fourier", {})):
            began = time.perf_counter()
            picture = dream(net, name, form, args.size, steps, args.seed, folder)
            row[form_name] = {**score(net, picture, index), "seconds": time.perf_counter() - began}
            pictures.append(picture)
            print(name, form_name, {k: round(v, 3) for k, v in row[form_name].items()}, flush=True)
        rows.append(row)
        gallery.append(pictures)
    summary = {}
    for form_name in ("pixel", "fourier"):
        for key in ("probability", "blurred_probability", "robust_probability", "high_frequency"):
            summary[f"{form_name}_{key}"] = float(np.mean([r[form_name][key] for r in rows]))
    summary["robust_probability_ratio"] = summary["fourier_robust_probability"] / max(summary["pixel_robust_probability"], 1e-9)
    summary["high_frequency_ratio"] = summary["fourier_high_frequency"] / summary["pixel_high_frequency"]
    for key, value in summary.items():
        print(f"{key}: {value:.3f}")
    import imageio.v3 as iio

    # A column per class: the pixel form above, the Fourier form below.
    grid = np.concatenate([np.concatenate([pair[k] for pair in gallery], axis=1) for k in range(2)], axis=0)
    iio.imwrite(HERE / "results" / f"features{args.name}-gallery.jpg", grid, quality=90)
    write_result(f"features{args.name}", {
        "benchmark": f"python benchmarks/features.py --steps {steps} --size {args.size}: {args.size}x{args.size} stills "
                     f"from noise, {steps} network steps each, pixel (2015 ascent) against Fourier (Adam, transforms)",
        **environment(), "views": VIEWS, "blur_px": BLUR_PX, "summary": summary, "classes": rows,
    })


if __name__ == "__main__":
    main()
