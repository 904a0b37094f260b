"""Convert Caffe GoogLeNet weights into zoomdream's weights file.

Two sources are understood:

* a folder of raw per-layer files, ``weights/<group>/<name>_filter.bin`` and
  ``_bias.bin`` (little-endian float32, filters as (out, kh, kw, in), the classifier as
  (out, in)), with an optional ``SHA256SUMS`` and ``synset_words.txt`` beside them. The
  bundled ``zoomdream/assets/bvlc_googlenet.npz`` was made from such a folder with::

      python -m zoomdream.network.convert ../shared/weights/bvlc_googlenet \\
          zoomdream/assets/bvlc_googlenet.npz

* an original Caffe ``.caffemodel`` (a binary ``NetParameter`` protobuf), for example
  ``bvlc_googlenet.caffemodel`` or the Places205 GoogLeNet, which has the same layers and
  205 classes::

      python -m zoomdream.network.convert googlenet_places205.caffemodel places.npz --labels places.txt

  The protobuf is decoded by the small wire-format reader below (only the handful of
  fields that hold layer names and blobs are needed, so no Caffe or protobuf install is
  required). Layers that are not on GoogLeNet's deploy path, such as the auxiliary
  classifiers ``loss1/*`` and ``loss2/*`` of the training net, are skipped.

The output is checked with the same strict loader that :func:`zoomdream.load_googlenet`
uses, and its sha256 is written to a ``.sha256`` file beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from zoomdream.network.googlenet import param_shapes
from zoomdream.network.weights import LABELS_KEY, META_KEY, WeightsError, checksum_path, read_weights, sha256_of

# ----------------------------------------------------------------------------------------
# Protobuf wire format (https://protobuf.dev/programming-guides/encoding/)

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WeightsError("truncated protobuf (varint runs past the end)")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview):
    """Yield (field number, wire type, value) for each field of one message. Values are
    ints for varints, memoryviews for length-delimited and fixed-width fields."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _LEN:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == _FIXED32:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == _FIXED64:
            value, pos = buf[pos : pos + 8], pos + 8
        else:
            raise WeightsError(f"unsupported protobuf wire type {wire} (is this a .caffemodel?)")
        if pos > len(buf):
            raise WeightsError("truncated protobuf (a field runs past the end)")
        yield number, wire, value


def _packed_varints(value) -> list[int]:
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(v)
    return out


def _blob(buf: memoryview) -> np.ndarray:
    """Decode a Caffe ``BlobProto``: shape (field 7) or legacy num/channels/height/width
    (fields 1-4), float data (field 5, packed or not) or double data (field 8)."""
    legacy = {1: 1, 2: 1, 3: 1, 4: 1}
    shape: list[int] | None = None
    chunks: list[np.ndarray] = []
    for number, wire, value in _fields(buf):
        if number in legacy and wire == _VARINT:
            legacy[number] = value
        elif number == 7 and wire == _LEN:  # BlobShape { repeated int64 dim = 1 [packed] }
            shape = []
            for n, w, v in _fields(value):
                if n == 1:
                    shape.extend(_packed_varints(v) if w == _LEN else [v])
        elif number == 5:
            chunks.append(np.frombuffer(value, dtype="<f4"))
        elif number == 8:
            chunks.append(np.frombuffer(value, dtype="<f8").astype(np.float32))
    data = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if shape is None:
        shape = [legacy[1], legacy[2], legacy[3], legacy[4]]
    if int(np.prod(shape)) != data.size:
        raise WeightsError(f"blob of shape {shape} holds {data.size} values")
    return data.reshape(shape).astype(np.float32)


def read_caffemodel(path: str | Path) -> dict[str, list[np.ndarray]]:
    """``{layer name: [blobs]}`` from a binary Caffe ``NetParameter``: current-format
    ``layer`` (field 100: name 1, blobs 7) and legacy ``layers`` (field 2: name 4,
    blobs 6) are both read."""
    buf = memoryview(Path(path).read_bytes())
    layers: dict[str, list[np.ndarray]] = {}
    for number, wire, value in _fields(buf):
        if wire != _LEN or number not in (100, 2):
            continue
        name_field, blobs_field = (1, 7) if number == 100 else (4, 6)
        name, blobs = None, []
        for n, w, v in _fields(value):
            if n == name_field and w == _LEN:
                name = bytes(v).decode("utf-8")
            elif n == blobs_field and w == _LEN:
                blobs.append(_blob(v))
        if name is not None and blobs:
            layers[name] = blobs
    if not layers:
        raise WeightsError(f"{path}: no layers with weights found (is it a .caffemodel?)")
    return layers


# ----------------------------------------------------------------------------------------
# Caffe layouts -> Flax layouts


def _to_flax(layer: str, kernel: np.ndarray, bias: np.ndarray) -> dict[str, np.ndarray]:
    """Caffe conv weights are (out, in, kh, kw), cross-correlation like Flax's; the
    InnerProduct is (out, in). Flax wants HWIO and (in, out)."""
    if kernel.ndim == 4:
        kernel = kernel.transpose(2, 3, 1, 0)
    else:
        kernel = kernel.reshape(kernel.shape[0], -1).T
    return {f"{layer}/kernel": np.ascontiguousarray(kernel, np.float32), f"{layer}/bias": bias.reshape(-1).astype(np.float32)}


def params_from_caffemodel(path: str | Path) -> dict[str, np.ndarray]:
    layers = read_caffemodel(path)
    classifier = layers.get("loss3/classifier")
    num_classes = int(classifier[1].size) if classifier and len(classifier) > 1 else 1000
    flat: dict[str, np.ndarray] = {}
    missing = []
    for layer in param_shapes(num_classes):
        if layer not in layers or len(layers[layer]) < 2:
            missing.append(layer)
            continue
        kernel, bias = layers[layer][:2]
        flat.update(_to_flax(layer, kernel, bias))
    if missing:
        raise WeightsError(f"{path}: layer(s) missing from the caffemodel: {', '.join(missing)}")
    return flat


def _check_sums(folder: Path) -> None:
    sums = folder / "SHA256SUMS"
    if not sums.exists():
        return
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        name = name.lstrip("*")
        if sha256_of(folder / name) != digest:
            raise WeightsError(f"{folder / name}: sha256 does not match SHA256SUMS")


def params_from_bin_folder(folder: str | Path) -> dict[str, np.ndarray]:
    folder = Path(folder)
    _check_sums(folder)
    shapes = param_shapes(1000)
    flat: dict[str, np.ndarray] = {}
    for layer, kinds in shapes.items():
        group, name = layer.split("/", 1)
        base = folder / "weights" / group / name
        kernel = np.fromfile(f"{base}_filter.bin", dtype="<f4")
        bias = np.fromfile(f"{base}_bias.bin", dtype="<f4")
        hwio = kinds["kernel"]
        if len(hwio) == 4:
            kh, kw, cin, cout = hwio
            kernel = kernel.reshape(cout, kh, kw, cin).transpose(1, 2, 3, 0)  # (out,kh,kw,in)
        else:
            cin, cout = hwio
            kernel = kernel.reshape(cout, cin).T
        flat[f"{layer}/kernel"] = np.ascontiguousarray(kernel, np.float32)
        flat[f"{layer}/bias"] = bias.astype(np.float32)
    return flat


def read_labels(path: str | Path) -> list[str]:
    """One label per line; a leading WordNet id (``n07753592 banana``) is dropped."""
    labels = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        head, _, rest = line.partition(" ")
        labels.append(rest if head[:1] == "n" and head[1:].isdigit() and rest else line)
    return labels


def convert(source: str | Path, out: str | Path, labels: str | Path | None = None) -> Path:
    """Convert ``source`` (a folder of .bin files or a .caffemodel) to the npz ``out``."""
    source, out = Path(source), Path(out)
    if source.is_dir():
        flat = params_from_bin_folder(source)
        labels = labels or (source / "synset_words.txt" if (source / "synset_words.txt").exists() else None)
        kind = "per-layer float32 .bin folder"
    else:
        flat = params_from_caffemodel(source)
        kind = "Caffe NetParameter protobuf"
    label_list = read_labels(labels) if labels else []
    meta = {
        "architecture": "BVLC GoogLeNet (Inception v1), Caffe deploy.prototxt",
        "source": source.name,
        "source_kind": kind,
        "source_sha256": None if source.is_dir() else sha256_of(source),
        "layout": "kernels HWIO (Flax), classifier (in, out), float32",
        "made_by": "python -m zoomdream.network.convert",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    arrays = dict(flat)
    if label_list:
        arrays[LABELS_KEY] = np.array(label_list)
    arrays[META_KEY] = np.array(json.dumps(meta))
    # Sorted keys and no compression: the same source always gives the same bytes.
    np.savez(tmp, **dict(sorted(arrays.items())))
    tmp.replace(out)
    checksum_path(out).write_text(f"{sha256_of(out)}  {out.name}\n")
    read_weights(out)  # the strict loader must accept what was written
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zoomdream.network.convert",
        description="Convert Caffe GoogLeNet weights (a folder of .bin files or a .caffemodel) "
        "into a zoomdream weights file for zoomdream.load_googlenet(path).",
    )
    parser.add_argument("source", help="folder with weights/<group>/<name>_filter.bin, or a .caffemodel")
    parser.add_argument("out", help="the .npz file to write (a .sha256 file is written beside it)")
    parser.add_argument("--labels", help="class labels, one per line (default: synset_words.txt of the folder)")
    args = parser.parse_args(argv)
    try:
        out = convert(args.source, args.out, args.labels)
    except (WeightsError, OSError) as exc:
        print(f"zoomdream.network.convert: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB), sha256 {checksum_path(out).read_text().split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
