"""Scheduled values: interpolation modes, formulas and their whitelist, and the errors."""

import numpy as np
import pytest

from zoomdream.errors import ConfigError
from zoomdream.schedule import expressions, keyframes


def curve(value):
    return keyframes.parse_curve(value, "dream.step_size")


@pytest.mark.parametrize("interp", keyframes.INTERPOLATIONS)
def test_every_interpolation_hits_its_keyframes(interp):
    c = curve({"keyframes": [[0, 1.0], [2, 3.0], [5, 2.0], [6, 2.0]], "interp": interp})
    np.testing.assert_allclose(c.at(np.array([0.0, 2.0, 5.0, 6.0]), fps=25), [1.0, 3.0, 2.0, 2.0])


def test_interpolation_shapes():
    t = np.array([0.5, 1.0, 1.5])
    assert curve([{"t": 0, "value": 0, "interp": "hold"}, {"t": 2, "value": 4}]).at(t, 25).tolist() == [0, 0, 0]
    np.testing.assert_allclose(curve([[0, 0], [2, 4]]).at(t, 25), [1, 2, 3])
    smooth = curve([[0, 0, "smooth"], [2, 4]]).at(t, 25)
    assert smooth[0] < 1 and smooth[1] == pytest.approx(2) and smooth[2] > 3  # eases in and out


def test_monotone_cubic_does_not_overshoot():
    keys = [[0, 0.0], [1, 1.0], [2, 1.0], [3, 5.0], [4, 5.2], [5, 0.0]]
    t = np.linspace(0, 5, 2001)
    values = curve({"keyframes": keys, "interp": "cubic"}).at(t, 25)
    for (t0, v0), (t1, v1) in zip(keys, keys[1:]):
        inside = values[(t >= t0) & (t <= t1)]
        assert inside.min() >= min(v0, v1) - 1e-9 and inside.max() <= max(v0, v1) + 1e-9
    # A linear interpolation would not be smooth: the cubic's slope is continuous.
    slope = np.diff(values) / np.diff(t)
    assert np.abs(np.diff(slope)).max() < 1.0


def test_before_and_after_the_keyframes_values_hold():
    c = curve([[1, 2.0], [2, 3.0]])
    np.testing.assert_allclose(c.at(np.array([0.0, 0.9, 2.5, 100.0]), 25), [2, 2, 3, 3])


def test_keyframes_in_frames_follow_the_frame_rate():
    c = curve([{"frame": 0, "value": 0}, {"frame": 50, "value": 1}])
    assert c.at(np.array([1.0]), fps=50)[0] == pytest.approx(1.0)
    assert c.at(np.array([1.0]), fps=25)[0] == pytest.approx(0.5)


def test_per_frame_and_constant():
    np.testing.assert_allclose(curve(2).per_frame(4, 10), [2, 2, 2, 2])
    np.testing.assert_allclose(curve("t * fps").per_frame(4, 10), [0, 1, 2, 3])


def test_formula_values_and_keyframe_values_may_be_formulas():
    c = curve("1.2 + 0.1*sin(2*pi*t/8)")
    np.testing.assert_allclose(c.at(np.array([0.0, 2.0]), 25), [1.2, 1.3])
    c = curve([[0, "2*pi"], [1, "max(1, frame)"]])
    np.testing.assert_allclose(c.at(np.array([0.0, 1.0]), 25), [2 * np.pi, 25.0])
    assert curve("min(abs(-3), cos(0)) ** 2 - -1").at(np.array([0.0]), 25)[0] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "text",
    ["__import__('os').system('true')", "t.real", "open('x')", "[1, 2]", "t if t else 1", "lambda: 1",
     "sin(t, t)", "'text'", "x + 1", "exp(t)", "t[0]", "(1).__class__", "True", "t < 1"],
)
def test_the_parser_refuses_anything_else(text):
    with pytest.raises(expressions.ExpressionError):
        expressions.parse(text)


def test_formula_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"dream.step_size: unknown name 'x'"):
        curve("x + 1")
    with pytest.raises(ConfigError, match="not a finite number"):
        expressions.parse("1/t").evaluate(np.array([0.0]), np.array([0.0]), 25)


@pytest.mark.parametrize(
    "value, message",
    [
        ([[0, 1], [4, 2], [3, 1]], r"dream.step_size\[2\]: keyframes must be in time order, but t=3 comes after t=4"),
        ([{"t": 0, "value": 1, "interp": "bouncy"}], r"dream.step_size\[0\]: unknown interpolation 'bouncy'"),
        ([{"t": 0}], "needs a 'value'"),
        ([{"t": 0, "frame": 3, "value": 1}], "exactly one of 't'"),
        ([{"t": 0, "valu": 1}], "unknown keyframe key 'valu'"),
        ([], "empty"),
        ({"keyframes": [[0, 1]], "interp": "wobbly"}, "unknown interpolation 'wobbly'"),
        ([[-1, 1]], "must be a number >= 0"),
        (True, "expected a number or a formula"),
    ],
)
def test_bad_keyframes_name_the_key(value, message):
    with pytest.raises(ConfigError, match=message):
        curve(value)


def test_mixed_units_are_checked_once_the_fps_is_known():
    c = curve([{"t": 1, "value": 1}, {"frame": 10, "value": 2}])
    keyframes.check_order(c, "k", fps=5)  # frame 10 = 2 s
    with pytest.raises(ConfigError, match=r"k\[1\]: keyframes must be in time order"):
        keyframes.check_order(c, "k", fps=25)  # frame 10 = 0.4 s
