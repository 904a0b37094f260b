"""Per-frame arrays from a config: layer holds, crossfades, lengths and zoom per frame."""

import numpy as np
import pytest

from zoomdream.schedule import config, values
from zoomdream.schedule import plan as schedule


def cfg(**raw):
    return config.from_dict(raw)


def test_layers_hold_for_their_frames_then_the_last_one_holds():
    c = cfg(layers={"schedule": [{"layer": "conv2/3x3", "frames": 3}, {"layer": "inception_4c/output", "frames": 2}]},
            video={"frames": 8})
    plan = schedule.build_plan(c)
    assert [o.spec for o in plan.objectives] == ["conv2/3x3", "inception_4c/output"]
    np.testing.assert_array_equal(plan.values.weights[:, 0], [1, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(plan.values.weights[:, 1], [0, 0, 0, 1, 1, 1, 1, 1])


def test_default_length_is_the_schedule_and_default_hold_is_100_frames():
    c = cfg(layers={"schedule": ["inception_3b/output", {"layer": "inception_4c/output", "seconds": 2}]}, video={"fps": 10})
    assert schedule.render_frames(c) == 100 + 20
    assert schedule.build_plan(c).frames == 120


def test_crossfade_is_linear_and_centred_on_the_change():
    c = cfg(layers={"schedule": [{"layer": "inception_3a/output", "frames": 10}, {"layer": "inception_4a/output", "frames": 10}],
                    "crossfade_frames": 4}, video={"frames": 20})
    w = schedule.build_plan(c).values.weights
    # Frames 8, 9 before the change at 10 and 10, 11 after it: symmetric about it.
    np.testing.assert_allclose(w[:, 1][6:14], [0, 0, 0.2, 0.4, 0.6, 0.8, 1, 1], atol=1e-6)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)


def test_weighted_mix_entry():
    c = cfg(layers={"schedule": [{"layer": {"inception_4c/output": 1.0, "inception_3b/output": 0.25}}]}, video={"frames": 2})
    plan = schedule.build_plan(c)
    assert [o.spec for o in plan.objectives] == ["inception_3b/output", "inception_4c/output"]
    np.testing.assert_array_equal(plan.values.weights[0], [0.25, 1.0])


@pytest.mark.parametrize("fps", [12, 25, 60])
def test_zoom_per_second_is_the_same_at_any_fps(fps):
    plan = schedule.build_plan(cfg(video={"fps": fps, "seconds": 2}, camera={"zoom_per_second": 3.6}))
    assert plan.frames == 2 * fps
    assert np.prod(plan.values.zoom.astype(np.float64)) == pytest.approx(3.6**2, rel=1e-4)


def test_classic_zoom_is_five_percent_per_frame():
    c = config.load("classic-zoom")
    plan = schedule.build_plan(c)
    assert plan.frames == 100
    assert 1 / plan.values.zoom[0] == pytest.approx(0.95, abs=2e-4)


def test_still_has_no_camera_motion():
    plan = schedule.build_plan(config.load("classic-zoom"), frames=1, still=True)
    assert plan.values.zoom.tolist() == [1.0]


def test_dtypes_are_fixed():
    plan = schedule.build_plan(config.load("noise-to-dogs"))
    assert plan.values.weights.dtype == np.float32 and plan.values.zoom.dtype == np.float32
    assert plan.values.iterations.dtype == np.int32 and plan.values.jitter.dtype == np.int32


# ---- the frame values as one pytree ---------------------------------------------------------


def test_every_scheduled_key_becomes_a_frame_value_with_its_dtype():
    plan = schedule.build_plan(config.load("spiral"))
    for field in values.scheduled_fields():
        array = plan.values[field.frame_name]
        assert array.shape == (plan.frames,), field.key
        assert array.dtype == (np.int32 if field.integer else np.float32), field.key
    assert plan.values.weights.shape == (plan.frames, len(plan.objectives))
    np.testing.assert_array_equal(plan.values.frame_index, np.arange(plan.frames))


def test_a_frame_is_a_slice_of_the_pytree_and_frames_stack_back():
    import jax

    plan = schedule.build_plan(config.load("spiral"))
    frame = plan.values.at(7)
    assert jax.tree.structure(frame) == jax.tree.structure(plan.values)
    for name in plan.values.names:
        np.testing.assert_array_equal(frame[name], plan.values[name][7])
    stacked = jax.tree.map(lambda *a: np.stack(a), *(plan.values.at(k) for k in range(plan.frames)))
    for name in plan.values.names:
        np.testing.assert_array_equal(stacked[name], plan.values[name])


def test_replace_keeps_dtypes_and_refuses_unknown_names():
    v = values.default_values([1.0])
    assert v.replace(iterations=3.0).iterations.dtype == np.int32
    assert v.replace(step_size=2).step_size.dtype == np.float32
    with pytest.raises(TypeError, match="unknown frame values"):
        v.replace(stepsize=2)


def test_default_values_are_the_presets_defaults():
    v = values.default_values([1.0])
    defaults = config.RenderConfig().dream
    assert float(v.step_size) == defaults.step_size.constant and int(v.iterations) == defaults.iterations.constant
    assert float(v.zoom) == 1.0 and float(v.angle) == 0.0


def test_plan_json_shows_every_frame_value():
    from zoomdream.frontends import planview

    plan = schedule.build_plan(config.load("spiral"))
    record = planview.frame_records(plan)[10]
    for field in values.scheduled_fields():
        assert field.frame_name in record, field.key
        if field.per_frame != "sample":
            assert f"{field.frame_name}_step" in record
    # A rate's total is in the preset's units: degrees turned, not radians.
    assert record["angle"] == pytest.approx(plan.total("angle")[10]) and record["angle_step"] == pytest.approx(
        np.degrees(plan.values.angle[10]), rel=1e-5)
