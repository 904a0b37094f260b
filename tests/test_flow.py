"""Optical flow against known motion on a real photograph, and the occlusion test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoomdream.dream import flow
from zoomdream.io import images

SIZE = 128
# One compiled flow for every test (SIZE x SIZE pictures): compiled once, not per test.
FLOW = jax.jit(flow.flow)


def photo() -> np.ndarray:
    """A real photograph (the coffee cup of the golden crops), as a canvas."""
    with np.load(__import__("pathlib").Path(__file__).parent / "data" / "golden_subset.npz") as g:
        return images.rgb_to_canvas(g["rgb_odd"].astype(np.float32))


def view(canvas, shift=(0.0, 0.0), zoom=1.0):
    """A SIZE x SIZE view of the middle of ``canvas``, moved by ``shift`` (dy, dx) and
    magnified by ``zoom`` about the view's centre; and the true flow from the unmoved view
    to this one (where each pixel of the unmoved view is found in this one)."""
    h, w = canvas.shape[:2]
    centre = (SIZE - 1) / 2
    gy, gx = np.meshgrid(np.arange(SIZE, dtype=np.float32), np.arange(SIZE, dtype=np.float32), indexing="ij")
    # the moved view's pixel p shows the picture at c + (p - centre) / zoom - shift
    src_y = (h - 1) / 2 + (gy - centre) / zoom - shift[0]
    src_x = (w - 1) / 2 + (gx - centre) / zoom - shift[1]
    moved = np.asarray(flow.sample(jnp.asarray(canvas), jnp.asarray(src_y), jnp.asarray(src_x)))
    # a pixel p of the unmoved view (picture at c + p - centre) is at p' in the moved one:
    # p' = centre + zoom * (p - centre + shift)
    true = np.stack([centre + zoom * (gy - centre + shift[0]) - gy, centre + zoom * (gx - centre + shift[1]) - gx], -1)
    return moved, true


@pytest.mark.parametrize("shift, zoom", [((1.3, -2.1), 1.0), ((0.4, 0.7), 1.03), ((-3.2, 2.5), 0.98)])
def test_flow_of_a_shifted_and_zoomed_photograph_is_within_a_third_of_a_pixel(shift, zoom):
    canvas = photo()
    still, _ = view(canvas)
    moved, true = view(canvas, shift, zoom)
    found = np.asarray(FLOW(flow.luminance(jnp.asarray(still)), flow.luminance(jnp.asarray(moved))))
    inner = slice(16, SIZE - 16)
    error = np.linalg.norm(found[inner, inner] - true[inner, inner], axis=-1)
    assert error.mean() <= 0.3, f"mean end-point error {error.mean():.3f} px"
    # and warping the moved view back by the flow gives the still one
    back = np.asarray(flow.warp(jnp.asarray(moved), jnp.asarray(found)))
    assert np.abs(back - still)[inner, inner].mean() < 0.25 * np.abs(moved - still)[inner, inner].mean()


def test_no_motion_is_no_flow():
    still, _ = view(photo())
    found = np.asarray(FLOW(flow.luminance(jnp.asarray(still)), flow.luminance(jnp.asarray(still))))
    assert np.abs(found).max() < 1e-3


def test_occluded_pixels_fail_the_round_trip():
    """A square that moves over a still background: the background it uncovers has no
    match in the frame before, and the round trip there fails; the still background far
    from it passes."""
    canvas = photo()
    a, _ = view(canvas)
    b = a.copy()
    patch = a[40:72, 40:72].copy()
    b[40:72, 48:80] = patch  # the square moved 8 px right, uncovering columns 40-47
    ga, gb = flow.luminance(jnp.asarray(a)), flow.luminance(jnp.asarray(b))
    backward, forward = jax.jit(flow.both_ways)(gb, ga)
    trusted = np.asarray(flow.consistent(forward, backward))
    assert trusted[100:120, 100:120].mean() > 0.9
    assert trusted[44:68, 40:46].mean() < 0.5
