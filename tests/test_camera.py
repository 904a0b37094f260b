"""The zoom: a known pattern lands where the geometry says, and the shape never changes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoomdream.dream import camera


def ramp(h, w):
    """Values that bilinear sampling reproduces exactly: v = y + 1000 x (+ channel)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return jnp.asarray(np.stack([y + 1000 * x + c for c in range(3)], axis=-1))


@pytest.mark.parametrize("factor", [1.0, 1.0526, 2.0, 0.8])
def test_zoom_keeps_shape(factor):
    image = ramp(37, 50)
    assert camera.zoom(image, jnp.float32(factor)).shape == (37, 50, 3)


def test_zoom_by_two_maps_pixels_towards_the_centre():
    h, w = 41, 61  # odd sizes: the centre is a pixel, (20, 30)
    out = np.asarray(camera.zoom(ramp(h, w), jnp.float32(2.0)))
    cy, cx = 20, 30
    for y, x in [(0, 0), (cy, cx), (40, 60), (10, 45)]:
        sy, sx = cy + (y - cy) / 2, cx + (x - cx) / 2
        assert out[y, x, 0] == pytest.approx(sy + 1000 * sx, abs=1e-2)
    # The centre does not move; the corners show what was halfway out.
    assert out[cy, cx, 0] == pytest.approx(cy + 1000 * cx)


def test_zoom_one_is_identity():
    image = jax.random.uniform(jax.random.key(0), (16, 24, 3))
    np.testing.assert_allclose(camera.zoom(image, jnp.float32(1.0)), image, atol=1e-5)


def test_zoom_in_enlarges_a_centred_square():
    image = np.zeros((64, 64, 3), np.float32)
    image[24:40, 24:40] = 1.0  # a 16 px square in the middle
    out = np.asarray(camera.zoom(jnp.asarray(image), jnp.float32(2.0)))
    lit = np.argwhere(out[..., 0] > 0.5)
    side = lit.max(0) - lit.min(0) + 1
    assert tuple(side) == (32, 32)


# ---- the general move: rotation, centres, pan, borders -----------------------------------


def move(image, zoom=1.0, angle_deg=0.0, pan=(0.0, 0.0), center=None, border="edge", key=None):
    h, w = image.shape[:2]
    center = jnp.array([(w - 1) / 2, (h - 1) / 2] if center is None else center, jnp.float32)
    return np.asarray(camera.move(jnp.asarray(image), jnp.float32(zoom), jnp.float32(np.radians(angle_deg)),
                                  jnp.asarray(pan, jnp.float32), center, border, key))


def marker(h=33, w=33, at=(16, 30)):
    image = np.zeros((h, w, 3), np.float32)
    image[at] = 1.0
    return image


def test_rotation_by_90_degrees_turns_the_picture_counter_clockwise():
    out = move(marker(at=(16, 30)), angle_deg=90)  # right of the centre (16, 16)
    assert np.unravel_index(out[..., 0].argmax(), out.shape[:2]) == (2, 16)  # now above it
    out = move(marker(at=(16, 30)), angle_deg=-90)
    assert np.unravel_index(out[..., 0].argmax(), out.shape[:2]) == (30, 16)


def test_rotation_by_90_degrees_of_a_pattern_is_a_transpose_flip():
    image = np.random.default_rng(0).uniform(size=(21, 21, 3)).astype(np.float32)
    np.testing.assert_allclose(move(image, angle_deg=90), np.rot90(image, 1, axes=(0, 1)), atol=1e-4)


def test_zoom_about_another_centre_keeps_that_centre_fixed():
    image = np.asarray(ramp(41, 61))
    out = move(image, zoom=2.0, center=(10.0, 30.0))  # centre at x=10, y=30
    assert out[30, 10, 0] == pytest.approx(image[30, 10, 0])
    # A pixel 8 to the right of the centre shows what was 4 to the right.
    assert out[30, 18, 0] == pytest.approx(image[30, 14, 0], abs=1e-2)


def test_pan_moves_the_camera():
    image = np.asarray(ramp(20, 30))
    out = move(image, pan=(3.0, -2.0))  # camera 3 right, 2 up: the picture moves left, down
    assert out[10, 10, 0] == pytest.approx(image[8, 13, 0])


@pytest.mark.parametrize("border", ["reflect", "wrap", "edge", "noise"])
def test_zoom_out_fills_the_border(border):
    image = np.full((32, 32, 3), 50.0, np.float32)
    image[:, :16] = -50.0  # left half dark
    out = move(image, zoom=0.5, border=border, key=jax.random.key(0))
    corner = out[2, 2, 0]  # shows x = -11.5: mirrored 10.5 (dark), wrapped 20.5 (bright)
    expected = {"reflect": -50.0, "edge": -50.0, "wrap": 50.0}
    if border == "noise":
        assert abs(corner) <= 48.0 and np.std(out[:4, :4, 0]) > 5  # noise around mid-grey
    else:
        assert corner == pytest.approx(expected[border], abs=1e-3)
    assert out[16, 10, 0] == pytest.approx(-50.0, abs=1e-3)  # the picture itself, shrunk


def test_supersampling_keeps_a_fine_pattern_sharper_over_many_zooms(net):
    """Zoom a fine grating 60 times by 2% with no dreaming: with supersample 2 the result
    is much closer to the exact zoom of the pattern than with plain resampling."""
    from zoomdream.dream.step import DreamSpec, frame_step
    from zoomdream.schedule.values import default_values

    h = w = 64
    period, frames, step = 5.0, 60, 1.02
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    c = (h - 1) / 2

    def grating(scale, size):
        s = size / h  # pattern coordinates in video pixels
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
        u = ((xx + 0.5) / s - 0.5 - c) / scale + c
        v = ((yy + 0.5) / s - 0.5 - c) / scale + c
        return (40 * np.sin(2 * np.pi * u / period) * np.sin(2 * np.pi * v / period))[..., None].repeat(3, -1).astype(np.float32)

    truth = grating(step**frames, h)
    errors = {}
    for supersample in (1, 2):
        spec = DreamSpec.create(h, w, 1, 1.4, ("conv2/3x3",), max_iterations=1, supersample=supersample, border="edge")
        canvas = jnp.asarray(grating(1.0, h * supersample))
        fp = default_values([0.0], step_size=0, iterations=0, jitter=0, zoom=step)
        for _ in range(frames):
            canvas, frame = frame_step(net.params, canvas, fp, jax.random.key(0), spec=spec)
        shown = np.asarray(camera.zoom(canvas, jnp.float32(1.0))) if supersample == 1 else np.asarray(
            jax.image.resize(canvas, (h, w, 3), "linear"))
        errors[supersample] = np.abs(shown - truth)[8:-8, 8:-8].mean()
    print("mean error against the exact zoom", errors)
    assert errors[2] < 0.6 * errors[1], errors
