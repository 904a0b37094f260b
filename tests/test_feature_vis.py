"""Feature visualisation's tools in the dream: the Fourier parameterisation, Adam, and the
robustness transformations; and that the defaults still dream the 2015 step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoomdream.dream import ascent, objectives, parameterization, transforms
from zoomdream.dream import step as dream_step
from zoomdream.dream.step import DreamSpec
from zoomdream.errors import ConfigError
from zoomdream.io import images
from zoomdream.schedule import config
from zoomdream.schedule.values import default_values

LAYER = "inception_3b/output"


def noise(h=64, w=72, amplitude=20, seed=0):
    return jnp.asarray(images.noise_canvas(w, h, amplitude, seed))


@pytest.mark.parametrize(("h", "w"), [(64, 72), (37, 50), (31, 31)])
def test_the_fourier_parameterization_round_trips_a_picture(h, w):
    picture = noise(h, w, 60)
    coefficients = parameterization.encode(picture)
    assert coefficients.shape == parameterization.coefficient_shape(h, w)
    np.testing.assert_allclose(parameterization.decode(coefficients, h, w), picture, atol=2e-3)


def test_the_pixel_space_is_the_picture_itself():
    picture = noise()
    space = parameterization.space("pixel", 64, 72)
    assert space.encode(picture) is picture and space.decode(picture) is picture and space.to_picture is None


def test_the_fourier_gradient_is_the_transpose_of_decoding():
    h, w = 40, 46
    space = parameterization.space("fourier", h, w)
    rng = np.random.default_rng(1)
    c = jnp.asarray(rng.normal(size=parameterization.coefficient_shape(h, w)).astype(np.float32))
    g = jnp.asarray(rng.normal(size=(h, w, 3)).astype(np.float32))
    np.testing.assert_allclose(jnp.vdot(space.decode(c), g), jnp.vdot(c, space.pull_back(g)), rtol=1e-4)


def test_fourier_steps_are_smooth_pictures():
    # One unit step on every coefficient changes coarse structure more than fine: the
    # decoded picture's spectrum falls off with frequency, unlike white pixel noise.
    h = w = 64
    rng = np.random.default_rng(2)
    c = jnp.asarray(rng.normal(size=parameterization.coefficient_shape(h, w)).astype(np.float32))
    picture = np.asarray(parameterization.decode(c, h, w))
    power = np.abs(np.fft.fft2(picture, axes=(0, 1))).mean(axis=-1)
    low, high = power[1:4, 1:4].mean(), power[28:36, 28:36].mean()
    assert low > 10 * high


def test_transforms_with_no_range_pad_only():
    picture = noise(32, 40)
    view = transforms.random_view(picture, jax.random.key(0), 6, 0, 0.0, 0.0)
    assert view.shape == (44, 52, 3)
    np.testing.assert_array_equal(view[6:-6, 6:-6], picture)
    assert float(jnp.abs(view[:6]).max()) == 0.0


def test_transforms_move_the_picture_and_pass_the_gradient_back():
    picture = noise(32, 40)
    views = [transforms.random_view(picture, jax.random.key(k), 4, 3, 0.1, np.deg2rad(10)) for k in range(3)]
    assert all(v.shape == (40, 48, 3) for v in views)
    assert not np.allclose(views[0], views[1])
    gradient = jax.grad(lambda x: transforms.random_view(x, jax.random.key(0), 4, 3, 0.1, 0.2)[20, 24].sum())(picture)
    assert float(jnp.abs(gradient).sum()) > 0.5  # the centre pixel's weight came back


def spec_for(objective_list, **options):
    return DreamSpec.create(64, 72, 1, 1.4, objective_list, max_iterations=8, host_steps=False, **options)


def dream(net, spec, canvas, weights, iterations=8, **values):
    values = default_values(weights, iterations=iterations, jitter=4, **values)
    out, _ = dream_step.frame_step(net.params, jnp.array(canvas), values, jax.random.key(3), spec=spec)  # it donates
    return np.asarray(out)


def l2(net, canvas, layer=LAYER):
    return float(objectives.layer_l2(net.activations(jnp.asarray(canvas)[None], layer)[layer]))


@pytest.mark.parametrize(("form", "options"), [
    ("adam on pixels", {"optimizer": "adam"}),
    ("ascent in Fourier space", {"parameterization": "fourier"}),
    ("adam in Fourier space, transformed", {"parameterization": "fourier", "optimizer": "adam", "transforms": True,
                                            "transform_pad": 8}),
])
def test_each_form_raises_the_objective_and_dreams_another_picture(net, form, options):
    start = noise()
    plain = dream(net, spec_for([LAYER]), start, [1.0])
    other = dream(net, spec_for([LAYER], **options), start, [1.0], learning_rate=0.01, transform_jitter=3,
                  transform_scale=0.05, transform_rotate=0.1)
    assert l2(net, other) > 1.5 * l2(net, start), form
    assert np.abs(other - plain).mean() > 1.0, form
    low, high = images.canvas_bounds()
    assert (other >= low - 1e-3).all() and (other <= high + 1e-3).all()


def test_every_objective_kind_dreams_in_fourier_space(net, tmp_path):
    guide = tmp_path / "stripes.png"
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[::8] = 255
    images.save_image(guide, stripes)
    kinds = [objectives.parse(s, "test") for s in (LAYER, "inception_4a/output:97", "class:banana", f"guide:{guide}")]
    # Host-stepped (the CPU's form): quick to compile with the whole network in it.
    spec = DreamSpec.create(64, 72, 1, 1.4, kinds, max_iterations=6, host_steps=True, parameterization="fourier",
                            transforms=True, transform_pad=4)
    guides = {i: jnp.asarray(objectives.guide_features(net, o)) for i, o in enumerate(spec.objectives) if o.kind == "guide"}
    start = noise()

    # Every objective's value in one forward pass to the deepest layer.
    layers = tuple(dict.fromkeys(o.layer for o in spec.objectives))
    activations = jax.jit(lambda c: net.activations(c[None], layers))

    def score(canvas, column):
        objective = spec.objectives[column]
        return float(objectives.value(objective, activations(jnp.asarray(canvas))[objective.layer], guides.get(column)))

    for column, objective in enumerate(spec.objectives):
        weights = np.eye(len(spec.objectives), dtype=np.float32)[column]
        values = default_values(weights, iterations=6, jitter=4, transform_scale=0.05)
        out, _ = dream_step.frame_step(net.params, jnp.array(start), values, jax.random.key(0), tuple(guides.values()),
                                       spec=spec)
        assert score(out, column) > score(start, column), objective.spec


def test_the_default_step_is_the_2015_step(net):
    # roll by the jitter, the gradient, roll back, g / mean|g| times the step, clip.
    spec = spec_for(["conv2/3x3"])  # a shallow layer: this runs op by op
    image, key = noise(), jax.random.key(5)
    values = default_values([1.0], step_size=1.5, jitter=8)
    state = dream_step._optimizer_state(image, values, spec)
    got, _ = dream_step._ascent_step(net.params, image, state, values, {}, key, spec)
    shift = jax.random.randint(key, (2,), -8, 9)
    g = dream_step._gradient(net.params, jnp.roll(image, shift, axis=(0, 1)), values.weights, {}, spec)
    g = jnp.roll(g, -shift, axis=(0, 1))
    low, high = images.canvas_bounds()
    want = jnp.clip(image + 1.5 * g / (jnp.mean(jnp.abs(g)) + ascent.GRAD_EPSILON), low, high)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_fourier_ascent_moves_the_picture_by_the_step_size_on_average(net):
    spec = spec_for(["conv2/3x3"], parameterization="fourier")
    image = noise()
    values = default_values([1.0], step_size=2.0, jitter=0)
    state = dream_step._optimizer_state(image, values, spec)
    moved, _ = dream_step._ascent_step(net.params, image, state, values, {}, jax.random.key(0), spec)
    assert float(jnp.mean(jnp.abs(moved - image))) == pytest.approx(2.0, rel=0.05)


def test_a_preset_without_the_new_keys_has_the_2015_defaults():
    dream_config = config.load("classic-zoom").dream
    assert (dream_config.parameterization, dream_config.optimizer, dream_config.transforms.pad) == ("pixel", "ascent", 0)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("dream.parameterization", "wavelet", "dream.parameterization: 'wavelet' is not one of pixel, fourier"),
    ("dream.optimizer", "sgd", "dream.optimizer: 'sgd' is not one of ascent, adam"),
    ("dream.transforms.scale", 0.9, "dream.transforms.scale: must be at most 0.5"),
    ("dream.transforms.pad", -1, "dream.transforms.pad: must be at least 0"),
    ("dream.transforms.spin", 3, "unknown key 'dream.transforms.spin'"),
    ("dream.learning_rate", 0, "dream.learning_rate: must be greater than 0"),
])
def test_bad_feature_visualisation_keys_get_one_line(key, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        config.load("banana", {key: value})


def test_the_class_gallery_draws_each_class_in_each_form(net):
    from zoomdream.frontends import explore

    pictures, captions = explore.class_gallery(["banana"], size=64, steps=3, net=net)
    assert captions == ["banana, pixel", "banana, fourier"]
    assert all(p.shape == (64, 64, 3) and p.dtype == np.uint8 for p in pictures)
    assert np.abs(pictures[0].astype(int) - pictures[1]).mean() > 5
