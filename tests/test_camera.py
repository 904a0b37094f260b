"""The zoom: a known pattern lands where the geometry says, and the shape never changes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoomdream import camera


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
