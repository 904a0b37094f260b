"""Per-frame arrays from a config: layer holds, crossfades, lengths and zoom per frame."""

import numpy as np
import pytest

from zoomdream import config, schedule


def cfg(**raw):
    return config.from_dict(raw)


def test_layers_hold_for_their_frames_then_the_last_one_holds():
    c = cfg(layers={"schedule": [{"layer": "conv2/3x3", "frames": 3}, {"layer": "inception_4c/output", "frames": 2}]},
            video={"frames": 8})
    plan = schedule.build_plan(c)
    assert [o.spec for o in plan.objectives] == ["conv2/3x3", "inception_4c/output"]
    np.testing.assert_array_equal(plan.weights[:, 0], [1, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(plan.weights[:, 1], [0, 0, 0, 1, 1, 1, 1, 1])


def test_default_length_is_the_schedule_and_default_hold_is_100_frames():
    c = cfg(layers={"schedule": ["inception_3b/output", {"layer": "inception_4c/output", "seconds": 2}]}, video={"fps": 10})
    assert schedule.render_frames(c) == 100 + 20
    assert schedule.build_plan(c).frames == 120


def test_crossfade_is_linear_and_centred_on_the_change():
    c = cfg(layers={"schedule": [{"layer": "inception_3a/output", "frames": 10}, {"layer": "inception_4a/output", "frames": 10}],
                    "crossfade_frames": 4}, video={"frames": 20})
    w = schedule.build_plan(c).weights
    # Frames 8, 9 before the change at 10 and 10, 11 after it: symmetric about it.
    np.testing.assert_allclose(w[:, 1][6:14], [0, 0, 0.2, 0.4, 0.6, 0.8, 1, 1], atol=1e-6)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)


def test_weighted_mix_entry():
    c = cfg(layers={"schedule": [{"layer": {"inception_4c/output": 1.0, "inception_3b/output": 0.25}}]}, video={"frames": 2})
    plan = schedule.build_plan(c)
    assert [o.spec for o in plan.objectives] == ["inception_3b/output", "inception_4c/output"]
    np.testing.assert_array_equal(plan.weights[0], [0.25, 1.0])


@pytest.mark.parametrize("fps", [12, 25, 60])
def test_zoom_per_second_is_the_same_at_any_fps(fps):
    plan = schedule.build_plan(cfg(video={"fps": fps, "seconds": 2}, camera={"zoom_per_second": 3.6}))
    assert plan.frames == 2 * fps
    assert np.prod(plan.zoom.astype(np.float64)) == pytest.approx(3.6**2, rel=1e-4)


def test_classic_zoom_is_five_percent_per_frame():
    c = config.load("classic-zoom")
    plan = schedule.build_plan(c)
    assert plan.frames == 100
    assert 1 / plan.zoom[0] == pytest.approx(0.95, abs=2e-4)


def test_still_has_no_camera_motion():
    plan = schedule.build_plan(config.load("classic-zoom"), frames=1, still=True)
    assert plan.zoom.tolist() == [1.0]


def test_dtypes_are_fixed():
    plan = schedule.build_plan(config.load("noise-to-dogs"))
    assert plan.weights.dtype == np.float32 and plan.zoom.dtype == np.float32
    assert plan.iterations.dtype == np.int32 and plan.jitter.dtype == np.int32
