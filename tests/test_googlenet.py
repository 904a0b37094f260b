"""The Flax port against the independent float64 golden computation, and Caffe's layer
arithmetic against naive reference implementations."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoomdream.network import googlenet
from zoomdream.network.googlenet import MEAN_BGR

from conftest import DATA

BLOBS = ["conv2/3x3", "inception_3b/output", "inception_4c/output", "inception_4e/output", "inception_5b/output"]


def network_input(rgb):
    """uint8 RGB HWC -> the network's NHWC BGR mean-subtracted input."""
    return jnp.asarray(rgb[None, :, :, ::-1].astype(np.float32) - MEAN_BGR)


@pytest.mark.parametrize("crop", ["224", "odd"])
def test_activations_match_golden(net, golden, crop):
    step = int(golden["channel_step"])
    acts = jax.jit(lambda x: net.activations(x, BLOBS))(network_input(golden[f"rgb_{crop}"]))
    for blob in BLOBS:
        ref = golden[f"act_{crop}__{blob.replace('/', '__')}"]
        got = np.asarray(acts[blob])[0, :, :, ::step]
        assert got.shape == ref.shape, blob
        err = np.abs(got - ref).max() / np.abs(ref).max()
        assert err <= 1e-4, f"{blob}: max abs error {err:.2e} of the blob's max"


def test_odd_crop_shapes(net, golden):
    acts = net.activations(network_input(golden["rgb_odd"]), BLOBS)
    shapes = {b: acts[b].shape[1:3] for b in BLOBS}
    assert shapes == {
        "conv2/3x3": (60, 71),
        "inception_3b/output": (30, 35),
        "inception_4c/output": (15, 17),
        "inception_4e/output": (15, 17),
        "inception_5b/output": (7, 8),
    }
    assert [googlenet.blob_size(b, 241, 283) for b in BLOBS] == list(shapes.values())


def test_classifier_matches_golden(net, golden):
    logits = np.asarray(net.classify(network_input(golden["rgb_224"])))[0]
    np.testing.assert_array_equal(np.argsort(-logits)[:5], golden["top5_224"])
    assert np.abs(logits - golden["logits_224"]).max() <= 1e-3
    assert net.labels[int(golden["top5_224"][0])] == "espresso"


@pytest.mark.parametrize("crop", ["224", "odd"])
def test_input_gradient_matches_golden(net, golden, crop):
    def loss(x):
        a = net.activations(x, "inception_4c/output")["inception_4c/output"]
        return jnp.mean(jnp.square(a))

    value, grad = jax.jit(jax.value_and_grad(loss))(network_input(golden[f"rgb_{crop}"]))
    grad = np.asarray(grad[0], np.float64)
    ref = golden[f"grad_{crop}"].astype(np.float64)
    cosine = (grad * ref).sum() / np.linalg.norm(grad) / np.linalg.norm(ref)
    assert cosine >= 0.9999
    assert abs(float(value) - float(golden[f"loss_{crop}"])) <= 1e-4 * float(golden[f"loss_{crop}"])


def test_forward_stops_at_deepest_requested_blob(net):
    """Without the parameters of inception_4 and 5 the forward to 3b must still run: it
    never touches them. Asking for 4c without them must fail."""
    shallow = {k: v for k, v in net.params.items() if not k.startswith(("inception_4", "inception_5", "loss3"))}
    x = jnp.zeros((1, 96, 96, 3))
    module = net.module
    out = module.apply({"params": shallow}, x, ("inception_3b/output", "conv2/3x3"))
    assert out["inception_3b/output"].shape == (1, 12, 12, 480)
    with pytest.raises(Exception):  # noqa: B017  (Flax's error for a missing parameter)
        module.apply({"params": shallow}, x, ("inception_4c/output",))


def test_branch_blobs_and_classifier_map(net):
    x = jax.random.normal(jax.random.key(0), (1, 256, 320, 3)) * 50
    acts = net.activations(x, ["inception_4d/5x5_reduce", "inception_4d/output", "pool5/7x7_s1", "loss3/classifier"])
    assert acts["inception_4d/5x5_reduce"].shape == (1, 16, 20, 32)
    assert acts["inception_4d/output"].shape == (1, 16, 20, 528)
    assert acts["pool5/7x7_s1"].shape == (1, 2, 4, 1024)
    assert acts["loss3/classifier"].shape == (1, 2, 4, 1000)
    np.testing.assert_allclose(net.classify(x), acts["loss3/classifier"].mean(axis=(1, 2)), rtol=1e-5, atol=1e-5)


def test_too_small_input_is_refused_with_the_minimum(net):
    size = googlenet.min_input_size("inception_4c/output")
    net.activations(jnp.zeros((1, size, size, 3)), "inception_4c/output")
    with pytest.raises(ValueError, match=f"at least {size} px"):
        net.activations(jnp.zeros((1, size - 1, size - 1, 3)), "inception_4c/output")


def test_layer_table(net):
    table = {layer.name: layer for layer in net.layers}
    assert table["conv2/3x3"].channels == 192 and table["conv2/3x3"].stride == 4
    assert table["inception_4c/output"].channels == 512 and table["inception_4c/output"].stride == 16
    assert table["inception_4d/5x5_reduce"].channels == 32
    assert table["inception_3a/pool"].channels == 192
    assert table["inception_5b/output"].channels == 1024 and table["inception_5b/output"].stride == 32
    assert table["loss3/classifier"].channels == 1000
    assert all(layer.note for layer in net.layers)
    # Channel counts agree with what the network computes.
    x = jnp.zeros((1, 224, 224, 3))
    names = [layer.name for layer in net.layers]
    acts = jax.eval_shape(lambda x: net.activations(x, names), x)
    for layer in net.layers:
        assert acts[layer.name].shape[-1] == layer.channels, layer.name
        assert acts[layer.name].shape[1:3] == googlenet.blob_size(layer.name, 224, 224), layer.name
        if not layer.name.startswith(("pool5", "loss3")):  # pool5's 7x7 window shrinks the map
            assert acts[layer.name].shape[1] == 224 // layer.stride, layer.name


def test_param_shapes_match_the_module():
    abstract = jax.eval_shape(
        lambda: googlenet.GoogLeNetModule().init(jax.random.key(0), jnp.zeros((1, 224, 224, 3)), ("loss3/classifier",))
    )
    shapes = jax.tree_util.tree_map(lambda a: tuple(a.shape), abstract["params"])
    assert shapes == googlenet.param_shapes()


def _prototxt_layers(text):
    """The layers of a prototxt as dicts of their scalar fields (enough for this check)."""
    layers = []
    for block in re.split(r"\nlayer \{", text)[1:]:
        fields = {}
        for key, value in re.findall(r"\b(name|type|num_output|kernel_size|stride|pad|pool): *\"?([\w./]+)\"?", block):
            fields.setdefault(key, value)  # the first is the layer's; fillers have a type too
        layers.append(fields)
    return layers


def test_architecture_follows_deploy_prototxt():
    proto = {layer["name"]: layer for layer in _prototxt_layers((DATA / "deploy.prototxt").read_text())}
    shapes = googlenet.param_shapes()
    convs = [name for name, layer in proto.items() if layer["type"] == "Convolution"]
    assert set(convs) | {"loss3/classifier"} == set(shapes)
    for name in convs:
        k = int(proto[name]["kernel_size"])
        assert shapes[name]["kernel"][:2] == (k, k), name
        assert shapes[name]["kernel"][3] == int(proto[name]["num_output"]), name
    ops = {op.name: op for op in googlenet.ARCHITECTURE}
    for name, layer in proto.items():
        if name in ops and layer["type"] in ("Convolution", "Pooling"):
            assert ops[name].stride == int(layer.get("stride", 1)), name
            assert ops[name].pad == int(layer.get("pad", 0)), name
            assert ops[name].kernel == int(layer["kernel_size"]), name
    main_path_pools = [n for n, layer in proto.items() if layer["type"] == "Pooling" and not n.endswith("/pool")]
    assert main_path_pools == [
        op.name for op in googlenet.ARCHITECTURE if op.kind in ("maxpool", "avgpool")
    ]
    assert [n for n, layer in proto.items() if layer["type"] == "LRN"] == [
        op.name for op in googlenet.ARCHITECTURE if op.kind == "lrn"
    ]


# ---- Caffe arithmetic against naive loops -------------------------------------------------


def caffe_pool_windows(h, w, k, s, p):
    """Each output position (i, j) of a Caffe pool and the input rows y0:y1, columns x0:x1
    its window covers (ceil mode, padding cut off)."""
    for i in range(googlenet.caffe_pool_size(h, k, s, p)):
        for j in range(googlenet.caffe_pool_size(w, k, s, p)):
            y0, x0 = max(i * s - p, 0), max(j * s - p, 0)
            yield i, j, y0, min(i * s - p + k, h), x0, min(j * s - p + k, w)


def naive_max_pool(x, k, s, p):
    n, h, w, c = x.shape
    out = np.empty((n, googlenet.caffe_pool_size(h, k, s, p), googlenet.caffe_pool_size(w, k, s, p), c), x.dtype)
    for i, j, y0, y1, x0, x1 in caffe_pool_windows(h, w, k, s, p):
        out[:, i, j] = x[:, y0:y1, x0:x1].max(axis=(1, 2))
    return out


def naive_avg_pool(x, k, s):
    n, h, w, c = x.shape
    oh, ow = googlenet.caffe_pool_size(h, k, s, 0), googlenet.caffe_pool_size(w, k, s, 0)
    out = np.empty((n, oh, ow, c), x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = x[:, i * s : min(i * s + k, h), j * s : min(j * s + k, w)].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("h,w", [(112, 112), (151, 129), (18, 9), (7, 8)])
@pytest.mark.parametrize("k,s,p", [(3, 2, 0), (3, 1, 1)])
def test_max_pool_is_caffe_ceil_mode(h, w, k, s, p):
    x = np.random.default_rng(h * w).normal(size=(1, h, w, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(googlenet.max_pool_caffe(jnp.asarray(x), k, s, p)), naive_max_pool(x, k, s, p))


def naive_max_pool_gradient(x, g, k, s, p):
    """The max pool's input gradient by Caffe's rule, written out: each window's gradient
    goes to its maximum, the first in raster order among equals (x has no ties here)."""
    n, h, w, c = x.shape
    out = np.zeros_like(x)
    for i, j, y0, y1, x0, x1 in caffe_pool_windows(h, w, k, s, p):
        at = x[:, y0:y1, x0:x1].reshape(n, -1, c).argmax(axis=1)
        for b in range(n):
            for ch in range(c):
                dy, dx = divmod(int(at[b, ch]), x1 - x0)
                out[b, y0 + dy, x0 + dx, ch] += g[b, i, j, ch]
    return out


@pytest.fixture(params=[True, False], ids=["written-out", "jax-derived"])
def gradients(request, monkeypatch):
    """Each form of the gradients: written out (XLA:CPU) and JAX's own (GPUs, TPUs)."""
    monkeypatch.setattr(googlenet, "written_out_gradients", lambda: request.param)
    return request.param


@pytest.mark.parametrize("h,w", [(17, 19), (18, 9), (7, 8)])
@pytest.mark.parametrize("k,s,p", [(3, 2, 0), (3, 1, 1)])
def test_max_pool_gradient_goes_to_each_windows_maximum(h, w, k, s, p, gradients):
    rng = np.random.default_rng(h * w + s)
    x = rng.permutation(h * w * 3).reshape(1, h, w, 3).astype(np.float32)  # no ties
    g = rng.normal(size=(1, googlenet.caffe_pool_size(h, k, s, p), googlenet.caffe_pool_size(w, k, s, p), 3))
    got = jax.grad(lambda x: jnp.sum(googlenet.max_pool_caffe(x, k, s, p) * g))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(got), naive_max_pool_gradient(x, g.astype(np.float32), k, s, p), atol=1e-6)


def test_max_pool_gradient_of_equal_maxima_goes_to_the_first_along_each_pass(gradients):
    x = jnp.zeros((1, 3, 3, 1))  # one window, all nine equal
    got = np.asarray(jax.grad(lambda x: googlenet.max_pool_caffe(x, 3, 1, 0).sum())(x))[0, :, :, 0]
    np.testing.assert_array_equal(got, [[1, 0, 0], [0, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize("size,k,stride,pad", [(13, 7, 2, 3), (12, 7, 2, 3), (9, 3, 1, 1), (8, 5, 1, 2), (6, 1, 1, 0)])
def test_convolution_with_a_backward_kernel_has_the_same_gradients(size, k, stride, pad):
    rng = np.random.default_rng(size * k)
    x = jnp.asarray(rng.normal(size=(1, size, size + 1, 4)).astype(np.float32))
    kernel = jnp.asarray(rng.normal(size=(k, k, 4, 5)).astype(np.float32))
    out = googlenet.conv2d(x, kernel, stride, pad)
    g = jnp.asarray(rng.normal(size=out.shape).astype(np.float32))

    def loss(x, kernel, back=None):
        return jnp.sum(googlenet.conv2d(x, kernel, stride, pad, back) * g)

    back = googlenet.backward_kernel(kernel)
    np.testing.assert_array_equal(np.asarray(googlenet.conv2d(x, kernel, stride, pad, back)), np.asarray(out))
    for plain, given in zip(jax.grad(loss, (0, 1))(x, kernel), jax.grad(loss, (0, 1))(x, kernel, back)):
        np.testing.assert_allclose(np.asarray(given), np.asarray(plain), rtol=1e-5, atol=1e-5)
    # The network's gradient uses the kernel it is given: a wrong one gives a wrong gradient.
    wrong = jax.grad(loss)(x, kernel, back * 0)
    assert not np.allclose(np.asarray(wrong), np.asarray(jax.grad(loss)(x, kernel)))


def test_weights_with_backward_kernels_give_the_networks_gradient(net):
    x = jnp.asarray(np.random.default_rng(5).uniform(-60, 60, (1, 51, 45, 3)).astype(np.float32))

    def loss(params, x):
        a = googlenet.module_for(params).apply({"params": params}, x, ("inception_3a/output",))["inception_3a/output"]
        return jnp.mean(a * a)

    plain = jax.grad(loss, 1)(net.params, x)
    given = jax.grad(loss, 1)(googlenet.with_backward_kernels(net.params), x)
    np.testing.assert_allclose(np.asarray(given), np.asarray(plain), rtol=1e-5, atol=1e-9 * float(jnp.abs(plain).max()))


def test_backward_kernels_leave_xla_fewer_kernels_to_compile(net):
    """Given each convolution's backward kernel, the gradient program no longer copies
    every weight into that layout itself: fewer loop kernels for XLA to compile."""
    x = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)

    def loss(params, x):
        return jnp.sum(googlenet.module_for(params).apply({"params": params}, x, ("inception_3a/output",))["inception_3a/output"])

    def loop_kernels(params):
        return jax.jit(jax.grad(loss, 1)).lower(params, x).compile().as_text().count("kind=kLoop")

    assert loop_kernels(googlenet.with_backward_kernels(net.params)) < loop_kernels(net.params) - 5


def test_caffe_pool_sizes():
    assert googlenet.caffe_pool_size(112, 3, 2, 0) == 56  # floor would give 55
    assert googlenet.caffe_pool_size(121, 3, 2, 0) == 60
    assert googlenet.caffe_pool_size(142, 3, 2, 0) == 71
    assert googlenet.caffe_pool_size(35, 3, 1, 1) == 35


@pytest.mark.parametrize("h,w", [(7, 7), (7, 8), (9, 12)])
def test_avg_pool_is_caffe_ceil_mode(h, w):
    x = np.random.default_rng(0).normal(size=(1, h, w, 3)).astype(np.float32)
    got = np.asarray(googlenet.avg_pool_caffe(jnp.asarray(x), 7, 1))
    np.testing.assert_allclose(got, naive_avg_pool(x, 7, 1), rtol=1e-6, atol=1e-6)


def test_lrn_matches_caffe_formula():
    x = np.random.default_rng(1).uniform(0, 300, size=(1, 3, 4, 11)).astype(np.float64)
    ref = np.empty_like(x)
    for c in range(11):
        window = x[..., max(c - 2, 0) : c + 3]
        ref[..., c] = x[..., c] / (1 + 1e-4 / 5 * (window**2).sum(-1)) ** 0.75
    got = np.asarray(googlenet.local_response_norm(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(got, ref, rtol=2e-6)
