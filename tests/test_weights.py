"""Strict loading of converted weights, and the converter for both Caffe sources."""

import json

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from zoomdream.network import convert, googlenet, weights
from zoomdream.network.weights import WeightsError

from conftest import SHARED


def flat_params(net):
    return {f"{layer}/{kind}": np.asarray(v) for layer, kinds in net.params.items() for kind, v in kinds.items()}


def write_npz(path, flat, labels=None):
    arrays = dict(flat)
    if labels is not None:
        arrays[weights.LABELS_KEY] = np.array(labels)
    np.savez(path, **arrays)
    return path


def test_bundled_weights_load_offline_with_labels(net):
    assert weights.bundled_path().exists()
    assert len(net.labels) == 1000 and net.labels[954] == "banana"
    assert net.class_index("banana") == 954 and net.class_index("tabby") == 281


def test_loading_does_not_build_a_random_model(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("init called")

    monkeypatch.setattr(googlenet.GoogLeNetModule, "init", forbidden)
    assert weights.load_googlenet().num_classes == 1000


def test_strict_loading_lists_every_difference(net, tmp_path):
    flat = flat_params(net)
    del flat["inception_4c/3x3/kernel"]
    flat["inception_4c/1x1/bias"] = np.zeros(7, np.float32)
    flat["extra/thing/kernel"] = np.zeros(3, np.float32)
    with pytest.raises(WeightsError) as err:
        weights.load_googlenet(write_npz(tmp_path / "bad.npz", flat))
    message = str(err.value)
    assert "missing inception_4c/3x3/kernel (3, 3, 128, 256)" in message
    assert "inception_4c/1x1/bias has shape (7,), expected (128,)" in message
    assert "unexpected extra/thing/kernel" in message
    assert message.startswith("3 parameter(s)")


def test_damaged_file_fails_its_checksum(tmp_path):
    src = weights.bundled_path()
    copy = tmp_path / src.name
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    weights.checksum_path(copy).write_text(weights.checksum_path(src).read_text())
    with pytest.raises(WeightsError, match="sha256"):
        weights.load_googlenet(copy)


@pytest.mark.skipif(not (SHARED / "weights/bvlc_googlenet").exists(), reason="needs ../shared/weights")
def test_bin_folder_conversion_reproduces_the_bundled_file(tmp_path):
    out = convert.convert(SHARED / "weights/bvlc_googlenet", tmp_path / "w.npz")
    made, bundled = np.load(out), np.load(weights.bundled_path())
    assert made.files == bundled.files
    for name in made.files:
        if name != weights.META_KEY:
            assert made[name].tobytes() == bundled[name].tobytes() and made[name].dtype == bundled[name].dtype, name
    # The bundled file names the converter by the module path it had when it was made.
    meta = lambda data: {k: v for k, v in json.loads(str(data[weights.META_KEY])).items() if k != "made_by"}
    assert meta(made) == meta(bundled)


# ---- .caffemodel ----------------------------------------------------------------------------
# The test writes Caffe NetParameter files with the protobuf library itself (a schema with
# caffe.proto's field numbers), so the converter's own wire reader is checked against an
# independent encoder.


def caffe_messages(packed=True):
    f = descriptor_pb2.FileDescriptorProto(name=f"caffe_subset_{packed}.proto", package=f"caffe{int(packed)}")
    T = L = descriptor_pb2.FieldDescriptorProto

    def message(name, fields):
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = f".{f.package}.{type_name}"
            if label == L.LABEL_REPEATED and ftype != T.TYPE_MESSAGE and ftype != T.TYPE_STRING:
                field.options.packed = packed

    opt, rep = L.LABEL_OPTIONAL, L.LABEL_REPEATED
    message("BlobShape", [("dim", 1, T.TYPE_INT64, rep, None)])
    message("BlobProto", [
        ("num", 1, T.TYPE_INT32, opt, None), ("channels", 2, T.TYPE_INT32, opt, None),
        ("height", 3, T.TYPE_INT32, opt, None), ("width", 4, T.TYPE_INT32, opt, None),
        ("data", 5, T.TYPE_FLOAT, rep, None), ("shape", 7, T.TYPE_MESSAGE, opt, "BlobShape"),
    ])
    message("LayerParameter", [
        ("name", 1, T.TYPE_STRING, opt, None), ("type", 2, T.TYPE_STRING, opt, None),
        ("blobs", 7, T.TYPE_MESSAGE, rep, "BlobProto"),
    ])
    message("V1LayerParameter", [("name", 4, T.TYPE_STRING, opt, None), ("blobs", 6, T.TYPE_MESSAGE, rep, "BlobProto")])
    message("NetParameter", [
        ("name", 1, T.TYPE_STRING, opt, None), ("layers", 2, T.TYPE_MESSAGE, rep, "V1LayerParameter"),
        ("layer", 100, T.TYPE_MESSAGE, rep, "LayerParameter"),
    ])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{f.package}.NetParameter"))


def add_blob(layer, array, legacy=False):
    blob = layer.blobs.add()
    if legacy:  # V1 files store 4 dims as num/channels/height/width
        dims = (1,) * (4 - array.ndim) + array.shape
        blob.num, blob.channels, blob.height, blob.width = dims
    else:
        blob.shape.dim.extend(array.shape)
    blob.data.extend(array.ravel().tolist())


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("legacy", [False, True])
def test_caffemodel_reader_on_a_small_file(tmp_path, packed, legacy):
    NetParameter = caffe_messages(packed)
    rng = np.random.default_rng(0)
    conv = rng.normal(size=(4, 3, 2, 2)).astype(np.float32)
    bias = rng.normal(size=(4,)).astype(np.float32)
    fc = rng.normal(size=(5, 6)).astype(np.float32)
    fc_bias = rng.normal(size=(5,)).astype(np.float32)
    net = NetParameter(name="tiny")
    for name, blobs in (("conv", [conv, bias]), ("fc", [fc, fc_bias])):
        layer = net.layers.add(name=name) if legacy else net.layer.add(name=name, type="Convolution")
        for blob in blobs:
            add_blob(layer, blob, legacy)
    path = tmp_path / "tiny.caffemodel"
    path.write_bytes(net.SerializeToString())
    layers = convert.read_caffemodel(path)
    assert set(layers) == {"conv", "fc"}
    np.testing.assert_array_equal(layers["conv"][0], conv)
    np.testing.assert_array_equal(layers["conv"][1].ravel(), bias)
    np.testing.assert_array_equal(layers["fc"][0].reshape(5, 6), fc)
    np.testing.assert_array_equal(layers["fc"][1].ravel(), fc_bias)


def test_caffemodel_with_other_class_count_converts_and_loads(net, tmp_path):
    """A Places205-style model: GoogLeNet's layers with another classifier width, plus
    training-only layers (auxiliary classifiers) that the converter must skip."""
    NetParameter = caffe_messages(packed=True)
    model = NetParameter(name="GoogleNet")
    classes = 5
    rng = np.random.default_rng(1)
    expected = {}
    for layer_name, kinds in googlenet.param_shapes(classes).items():
        layer = model.layer.add(name=layer_name)
        if layer_name == "loss3/classifier":
            kernel_caffe = rng.normal(size=(classes, 1024)).astype(np.float32)
            expected[f"{layer_name}/kernel"] = kernel_caffe.T
        else:
            kernel_caffe = np.asarray(net.params[layer_name]["kernel"]).transpose(3, 2, 0, 1)  # HWIO -> OIHW
            expected[f"{layer_name}/kernel"] = np.asarray(net.params[layer_name]["kernel"])
        bias = rng.normal(size=kinds["bias"]).astype(np.float32)
        expected[f"{layer_name}/bias"] = bias
        add_blob(layer, kernel_caffe)
        add_blob(layer, bias)
    aux = model.layer.add(name="loss1/fc")
    add_blob(aux, np.ones((3, 2), np.float32))
    source = tmp_path / "places_like.caffemodel"
    source.write_bytes(model.SerializeToString())
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"/a/place_{i}\n" for i in range(classes)))

    out = convert.convert(source, tmp_path / "places_like.npz", labels)
    flat, got_labels, meta = weights.read_weights(out)
    assert set(flat) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(flat[key], value, err_msg=key)
    assert got_labels == tuple(f"/a/place_{i}" for i in range(classes))
    assert meta["source_kind"] == "Caffe NetParameter protobuf"
    loaded = weights.load_googlenet(out)
    assert loaded.num_classes == classes
    assert loaded.classify(np.zeros((1, 224, 224, 3), np.float32)).shape == (1, classes)


def test_converter_cli_reports_bad_source(tmp_path, capsys):
    bad = tmp_path / "nonsense.caffemodel"
    bad.write_bytes(b"\xff\xff\xff")
    assert convert.main([str(bad), str(tmp_path / "o.npz")]) == 2
    assert "error" in capsys.readouterr().err
