"""Loading converted GoogLeNet weights, strictly.

A converted weights file is an uncompressed ``.npz`` (see :mod:`zoomdream.network.convert`):

* ``<caffe layer>/kernel`` and ``<caffe layer>/bias`` for every layer, kernels in Flax's
  HWIO layout (the classifier's as (in, out));
* ``__labels__``: the class labels, one string per logit;
* ``__meta__``: a JSON string saying where the weights came from and how they were made.

Loading checks every name and shape against the architecture and fails with the full list
of differences. No randomly initialised model is built first: the expected shapes are
derived from :data:`zoomdream.network.googlenet.ARCHITECTURE` directly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jax
import numpy as np

from zoomdream.network.googlenet import GoogLeNet, param_shapes

BUNDLED_NAME = "bvlc_googlenet.npz"
LABELS_KEY = "__labels__"
META_KEY = "__meta__"


class WeightsError(ValueError):
    """A weights file that does not fit the network, or whose checksum is wrong."""


def bundled_path() -> Path:
    """Path of the weights file shipped inside the package."""
    return Path(__file__).resolve().parent / "assets" / BUNDLED_NAME


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verify_checksum(path: Path) -> None:
    """Compare ``path`` with the sha256 in its ``.sha256`` sidecar, if it has one."""
    sidecar = checksum_path(path)
    if not sidecar.exists():
        return
    expected = sidecar.read_text().split()[0]
    actual = sha256_of(path)
    if actual != expected:
        raise WeightsError(
            f"{path}: sha256 {actual} does not match {expected} recorded in {sidecar.name}; "
            "the file is damaged (reinstall zoomdream or re-run the converter)"
        )


def check_params(flat: dict[str, np.ndarray], num_classes: int) -> None:
    """Raise :class:`WeightsError` listing every missing, unexpected or misshapen array."""
    expected = {
        f"{layer}/{kind}": shape
        for layer, kinds in param_shapes(num_classes).items()
        for kind, shape in kinds.items()
    }
    problems = []
    for name in sorted(expected.keys() - flat.keys()):
        problems.append(f"missing {name} {expected[name]}")
    for name in sorted(flat.keys() - expected.keys()):
        problems.append(f"unexpected {name} {tuple(flat[name].shape)}")
    for name in sorted(expected.keys() & flat.keys()):
        if tuple(flat[name].shape) != expected[name]:
            problems.append(f"{name} has shape {tuple(flat[name].shape)}, expected {expected[name]}")
        elif flat[name].dtype != np.float32:
            problems.append(f"{name} has dtype {flat[name].dtype}, expected float32")
    if problems:
        raise WeightsError(f"{len(problems)} parameter(s) do not fit GoogLeNet: " + "; ".join(problems))


def read_weights(path: str | Path) -> tuple[dict[str, np.ndarray], tuple[str, ...], dict]:
    """Read a converted file into (flat params, labels, meta) and check it strictly."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights file {path} does not exist")
    verify_checksum(path)
    with np.load(path, allow_pickle=False) as data:
        flat = {k: data[k] for k in data.files if k not in (LABELS_KEY, META_KEY)}
        labels = tuple(str(s) for s in data[LABELS_KEY]) if LABELS_KEY in data.files else ()
        meta = json.loads(str(data[META_KEY])) if META_KEY in data.files else {}
    bias = flat.get("loss3/classifier/bias")
    num_classes = int(bias.shape[0]) if bias is not None and bias.ndim == 1 else 1000
    check_params(flat, num_classes)
    if labels and len(labels) != num_classes:
        raise WeightsError(f"{path}: {len(labels)} labels for {num_classes} classes")
    return flat, labels, meta


def nest(flat: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """``{"a/b/kernel": x}`` -> ``{"a/b": {"kernel": x}}`` (Flax's parameter tree)."""
    tree: dict[str, dict[str, np.ndarray]] = {}
    for key, value in flat.items():
        layer, kind = key.rsplit("/", 1)
        tree.setdefault(layer, {})[kind] = value
    return tree


def load_googlenet(path: str | Path | None = None) -> GoogLeNet:
    """Load pretrained GoogLeNet.

    Args:
      path: a weights file made by ``python -m zoomdream.network.convert``; by default the BVLC
        ImageNet weights bundled with zoomdream. Works offline.

    Returns:
      A :class:`~zoomdream.network.googlenet.GoogLeNet` with ``activations``, ``classify`` and
      ``layers``.
    """
    flat, labels, _ = read_weights(bundled_path() if path is None else path)
    # One transfer for the whole tree (jnp.asarray would stage a copy program per array).
    params = jax.device_put(nest(flat))
    return GoogLeNet(params=params, labels=labels)
