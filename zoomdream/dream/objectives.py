"""What the dream maximises: objectives, and pure functions from activations to a scalar.

An objective is written as a short string, in presets and on the command line:

* ``inception_4c/output``: the classic, the layer's mean squared activation (L2);
* ``inception_4d/output:97`` or ``inception_4d/output:97,12``: the mean activation of
  those channels of the layer;
* ``class:banana`` or ``class:954``: the classifier's logit for that class, which makes the
  network draw it (the "banana from noise" of the 2015 blog post);
* ``guide:flower.jpg`` or ``guide:flower.jpg@inception_3b/output``: the features of a guide
  picture at a layer (default ``inception_3b/output``), as the 2015 notebook's guided
  dreaming: every position moves towards the guide feature it already matches best.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from zoomdream.errors import ConfigError
from zoomdream.io import images
from zoomdream.network import googlenet

DEFAULT_GUIDE_LAYER = "inception_3b/output"
# The guide picture is fitted to this square before its features are taken.
GUIDE_SIZE = 224


@dataclasses.dataclass(frozen=True, order=True)
class Objective:
    """One term of the dream's objective. ``kind`` is l2, channels, class or guide."""

    kind: str
    layer: str
    channels: tuple[int, ...] = ()
    class_index: int = -1
    guide: str = ""

    @property
    def spec(self) -> str:
        """The objective written as in a preset."""
        if self.kind == "channels":
            return f"{self.layer}:{','.join(map(str, self.channels))}"
        if self.kind == "class":
            return f"class:{self.class_index}"
        if self.kind == "guide":
            return f"guide:{self.guide}@{self.layer}"
        return self.layer

    @property
    def depth(self) -> int:
        return googlenet.depth(self.layer)

    @property
    def label(self) -> str:
        """Short name for progress bars and plans."""
        if self.kind == "class":
            labels = bundled_labels()
            name = labels[self.class_index].split(",")[0] if self.class_index < len(labels) else str(self.class_index)
            return f"class {name}"
        if self.kind == "guide":
            return f"guide {Path(self.guide).name}"
        return self.spec.replace("/output", "")


@functools.lru_cache(maxsize=1)
def bundled_labels() -> tuple[str, ...]:
    """The class labels of the bundled network (read without loading the weights): what
    class names in presets are looked up in, since a preset is checked before any network
    is loaded."""
    from zoomdream.network.weights import LABELS_KEY, bundled_path

    with np.load(bundled_path(), allow_pickle=False) as data:
        return tuple(str(s) for s in data[LABELS_KEY]) if LABELS_KEY in data.files else ()


def class_index(name: str, key: str) -> int:
    """A class of the bundled network by index or by one of its label words."""
    try:
        return googlenet.find_class(bundled_labels(), name)
    except KeyError as exc:
        raise ConfigError(f"{key}: {exc.args[0]}") from None


def check_against(net: googlenet.GoogLeNet, objectives: Sequence[Objective]) -> None:
    """Refuse class objectives beyond the class count of the network that will dream them
    (a converted Places205 GoogLeNet has 205 classes, not the bundled network's 1000)."""
    for objective in objectives:
        if objective.kind == "class" and objective.class_index >= net.num_classes:
            raise ConfigError(f"{objective.spec}: class index {objective.class_index} is outside this network's "
                              f"0..{net.num_classes - 1}")


def _layer(name: str, key: str) -> str:
    if name not in googlenet.LAYER_NAMES:
        raise ConfigError(f"{key}: {googlenet.unknown_layer_message(name)}")
    return name


def parse(spec: str, key: str) -> Objective:
    """An objective from its string form; mistakes raise :class:`ConfigError` naming
    ``key``."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"{key}: expected an objective such as inception_4c/output, got {spec!r}")
    spec = spec.strip()
    if spec.startswith("class:"):
        return Objective("class", googlenet.CLASSIFIER, class_index=class_index(spec[len("class:") :], key))
    if spec.startswith("guide:"):
        path, _, layer = spec[len("guide:") :].partition("@")
        if not path:
            raise ConfigError(f"{key}: a guide objective names a picture: guide:PATH[@LAYER]")
        if not Path(path).expanduser().is_file():
            raise ConfigError(f"{key}: guide picture {path!r} does not exist")
        return Objective("guide", _layer(layer or DEFAULT_GUIDE_LAYER, key), guide=path)
    layer, _, channels = spec.partition(":")
    _layer(layer, key)
    if not channels:
        return Objective("l2", layer)
    depth = googlenet.layer_info(layer).channels
    picked = []
    for part in channels.split(","):
        if not part.strip().isdigit():
            raise ConfigError(f"{key}: channels are whole numbers separated by commas, got {channels!r}")
        index = int(part)
        if index >= depth:
            raise ConfigError(f"{key}: channel {index} is beyond {layer}'s {depth} channels (0..{depth - 1})")
        picked.append(index)
    return Objective("channels", layer, channels=tuple(picked))


# ---- the functions the dream step differentiates ------------------------------------------


def layer_l2(acts: jax.Array) -> jax.Array:
    """The mean squared activation. The 2015 objective is 0.5 * sum(a^2); the mean keeps
    layers of different sizes on comparable scales when several are blended, and the ascent
    step is normalised by the gradient's mean magnitude anyway."""
    return jnp.mean(jnp.square(acts))


def guide_match(acts: jax.Array, guide: jax.Array) -> jax.Array:
    """Mean over positions of the best dot product with any guide feature: its gradient at
    each position is the guide feature it matches best (the 2015 notebook's objective)."""
    x = acts.reshape(-1, acts.shape[-1])
    return jnp.mean(jnp.max(x @ guide.T, axis=1))


def value(objective: Objective, acts: jax.Array, guide: jax.Array | None = None) -> jax.Array:
    """The scalar of one objective from its layer's activations (NHWC)."""
    if objective.kind == "l2":
        return layer_l2(acts)
    if objective.kind == "channels":
        return jnp.mean(acts[..., list(objective.channels)])
    if objective.kind == "class":
        return jnp.mean(acts[..., objective.class_index])  # logit, averaged over positions
    return guide_match(acts, guide)


def weighted_sum(objectives: Sequence[Objective], acts: dict, weights: jax.Array, guides: dict) -> jax.Array:
    """``sum_i weights[i] * value(objectives[i])``; ``guides`` maps a guide objective's
    index to its features."""
    return sum(weights[i] * value(o, acts[o.layer], guides.get(i)) for i, o in enumerate(objectives))


def guide_features(net: googlenet.GoogLeNet, objective: Objective) -> np.ndarray:
    """(positions, channels) features of a guide picture at the objective's layer."""
    rgb = images.fit_image(images.load_image(objective.guide), GUIDE_SIZE, GUIDE_SIZE)
    acts = net.activations(jnp.asarray(images.rgb_to_canvas(rgb))[None], objective.layer)[objective.layer]
    return np.asarray(acts).reshape(-1, acts.shape[-1])
