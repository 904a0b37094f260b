"""Colour coherence (``color.*``): the hold moves colours towards the reference, leaves
them alone at strength 0, and a resumed render holding colours is the uninterrupted one."""

from pathlib import Path

import imageio.v3 as iio
import jax.numpy as jnp
import numpy as np
import pytest

import zoomdream
from zoomdream.dream import color
from zoomdream.errors import ConfigError
from zoomdream.io import images
from zoomdream.schedule import config as config_lib


def picture(seed=0, tint=(0, 0, 0)):
    rng = np.random.default_rng(seed)
    rgb = np.clip(rng.normal(128, 40, (48, 64, 3)) + np.array(tint), 0, 255)
    return rgb.astype(np.uint8)


def mean_lab(canvas):
    return np.asarray(color.canvas_to_lab(jnp.asarray(canvas))).mean(axis=(0, 1))


def test_lab_round_trip_keeps_the_picture():
    canvas = images.rgb_to_canvas(picture())
    back = np.asarray(color.lab_to_canvas(color.canvas_to_lab(jnp.asarray(canvas))))
    assert np.abs(back - canvas).max() < 0.05
    # grey is L* 53.4 (sRGB 128) with no chroma
    grey = mean_lab(images.rgb_to_canvas(np.full((4, 4, 3), 128, np.uint8)))
    assert abs(grey[0] - 53.59) < 0.1 and np.abs(grey[1:]).max() < 0.01


@pytest.mark.parametrize("strength, left", [(0.5, 0.5), (1.0, 0.0)])
def test_a_tinted_frame_moves_towards_the_reference(strength, left):
    reference = color.picture_tone(picture(1))
    tinted = images.rgb_to_canvas(picture(2, tint=(60, -20, -30)))
    before = float(np.linalg.norm(mean_lab(tinted) - reference[:3]))
    held, tone = color.hold(jnp.asarray(tinted), jnp.asarray(reference), strength)
    after = np.linalg.norm(mean_lab(np.asarray(held)) - reference[:3])
    assert before > 10 and after == pytest.approx(left * before, abs=0.15 * before + 0.5)
    assert np.array_equal(np.asarray(tone), reference)  # a reference that stays


def vividness(canvas):
    return float(color.colourfulness(jnp.asarray(images.canvas_to_rgb(np.asarray(canvas)), jnp.float32)))


@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_colourfulness_moves_towards_the_reference_with_the_mean_colour_kept(strength):
    # Opposite hues in one picture: each channel's spread is what the reference's is, yet
    # the picture is far more colourful. The hold brings its colourfulness the asked part
    # of the way and leaves its mean colour where the moments put it.
    reference = color.picture_tone(picture(5))
    rgb = picture(6).astype(np.int16)
    rgb[:, :32] += np.array([50, -20, -40], np.int16)
    rgb[:, 32:] -= np.array([50, -20, -40], np.int16)
    vivid = images.rgb_to_canvas(np.clip(rgb, 0, 255).astype(np.uint8))
    before = vividness(vivid)
    held, _ = color.hold(jnp.asarray(vivid), jnp.asarray(reference), strength)
    wanted = before + strength * (reference[8] - before)
    assert before > 1.5 * reference[8]
    assert vividness(held) == pytest.approx(wanted, rel=0.08)
    apart = float(np.linalg.norm(mean_lab(vivid) - reference[:3]))
    assert np.linalg.norm(mean_lab(np.asarray(held)) - reference[:3]) == pytest.approx((1 - strength) * apart,
                                                                                         abs=0.15 * apart + 0.5)


def test_a_tone_saved_before_colourfulness_was_held_takes_it_from_the_next_frame():
    old = color.picture_tone(picture(7))[:8]
    tone = color.saved_tone(old)
    assert tone.shape == (color.TONE_SIZE,) and np.array_equal(tone[:8], old) and tone[8] == 0
    canvas = jnp.asarray(images.rgb_to_canvas(picture(8)))
    _, after = color.hold(canvas, jnp.asarray(tone), 1.0)
    assert np.asarray(after)[8] == pytest.approx(vividness(canvas), rel=0.05)


def test_strength_zero_leaves_the_canvas_and_the_first_hold_sets_the_tone():
    canvas = jnp.asarray(images.rgb_to_canvas(picture(3)))
    held, tone = color.hold(canvas, jnp.asarray(color.unset_tone(0.25)), 0.0)
    assert np.array_equal(np.asarray(held), np.asarray(canvas))
    assert np.asarray(tone)[6] == 1 and np.allclose(np.asarray(tone)[:3], mean_lab(canvas), atol=1e-3)
    # a window tone moves by its rate towards what it sees
    other = jnp.asarray(images.rgb_to_canvas(picture(4, tint=(0, 0, 60))))
    _, moved = color.hold(other, tone, 0.0)
    expected = np.asarray(tone)[:3] + 0.25 * (mean_lab(other) - np.asarray(tone)[:3])
    assert np.allclose(np.asarray(moved)[:3], expected, atol=1e-3)
    assert color.window_rate(25, 4) == pytest.approx(1 - np.exp(-1 / 100))


@pytest.mark.parametrize("tone, damaged", [(np.arange(8, dtype=np.float32), False),
                                           (np.arange(9, dtype=np.float32), False),
                                           (np.full(9, np.nan, np.float32), True),
                                           (np.zeros(12, np.float32), True)])
def test_a_checkpoint_keeps_a_tone_of_either_length_and_a_bad_one_is_damage(tmp_path, tone, damaged):
    from zoomdream.io import parts

    saved = parts.Checkpoint(canvas=np.zeros((4, 4, 3), np.float32), next_frame=3, config_hash="x",
                             key_data=np.zeros(2, np.uint32), tone=tone)
    parts.save_checkpoint(tmp_path, saved)
    if damaged:
        with pytest.raises(parts.CheckpointDamaged, match="cannot be read"):
            parts.load_checkpoint(tmp_path)
    else:
        assert np.array_equal(parts.load_checkpoint(tmp_path).tone, tone)


def frames_in(folder):
    return [iio.imread(p) for p in sorted(Path(folder).glob("frame_*.png"))]


QUICK = {"dream.octaves": 2, "dream.iterations": 2, "camera.zoom_per_second": 2}


def render(tmp_path, name, net, **options):
    options = {"frames": 10, "size": "64x64", "layer": "conv2/3x3", "progress": False, "net": net, **options}
    overrides = {**QUICK, **options.pop("overrides", {})}
    return zoomdream.render("classic-zoom", tmp_path / f"{name}.mp4", frames_dir=tmp_path / name, overrides=overrides,
                            **options)


def test_coherence_zero_is_todays_render_and_a_resume_holding_colours_is_bit_identical(tmp_path, net):
    render(tmp_path, "today", net)
    render(tmp_path, "off", net, overrides={"color.coherence": 0, "color.reference": "first"})
    assert all(np.array_equal(a, b) for a, b in zip(frames_in(tmp_path / "today"), frames_in(tmp_path / "off")))

    held = {"color.coherence": 0.7}
    render(tmp_path, "whole", net, overrides=held)

    def stop(k, frame):
        if k == 6:
            raise KeyboardInterrupt

    cut = render(tmp_path, "cut", net, overrides=held, checkpoint_every=4, on_frame=stop)
    assert cut.interrupted
    again = zoomdream.resume(tmp_path / "cut.mp4", progress=False, net=net)
    assert again.first_frame == 4  # from the checkpoint, with its tone
    whole, resumed = frames_in(tmp_path / "whole"), frames_in(tmp_path / "cut")
    assert len(whole) == len(resumed) == 10
    assert all(np.array_equal(a, b) for a, b in zip(whole, resumed))
    today = frames_in(tmp_path / "today")
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(whole, today)) > 5  # (and the hold did something)

    # A sweep of the two in one batch: each variant holds its colours, or not, as alone (over
    # the first frames: float rounding of another batch size grows through the feedback loop)
    zoomdream.render_sweep("classic-zoom", tmp_path / "sweep.mp4", ["color.coherence=0,0.7"], frames=10, size="64x64",
                           layer="conv2/3x3", overrides=QUICK, frames_dir=tmp_path / "sweep", progress=False, net=net)
    for n, alone in enumerate((today, whole)):
        batched = frames_in(tmp_path / "sweep" / f"sweep_{n}")
        assert max(np.abs(a.astype(int) - b).max() for a, b in zip(batched[:5], alone[:5])) <= 2


def test_a_picture_reference_pulls_a_render_towards_its_palette(tmp_path, net):
    palette = tmp_path / "blue.png"
    iio.imwrite(palette, picture(5, tint=(-60, -20, 90)))
    target = color.picture_tone(iio.imread(palette))[:3]
    render(tmp_path, "plain", net, frames=4)
    render(tmp_path, "blue", net, frames=4, overrides={"color.coherence": 1, "color.reference": str(palette)})
    distance = {name: np.linalg.norm(mean_lab(images.rgb_to_canvas(frames_in(tmp_path / name)[-1])) - target)
                for name in ("plain", "blue")}
    assert distance["blue"] < 0.5 * distance["plain"]


def test_colour_mistakes_get_one_line(tmp_path):
    with pytest.raises(ConfigError, match="color.reference: 'nowhere.png' is neither window, first nor a picture"):
        config_lib.load("classic-zoom", {"color.reference": "nowhere.png"})
    with pytest.raises(ConfigError, match="color.coherence"):
        config_lib.load("classic-zoom", {"color.coherence": 1.5})
    (tmp_path / "palette.png").write_text("not a picture")
    with pytest.raises(ConfigError, match="color.reference: .*is not a picture"):
        zoomdream.render("classic-zoom", tmp_path / "x.mp4", frames=1, size="64x64", progress=False,
                         overrides={"color.coherence": 0.5, "color.reference": str(tmp_path / "palette.png")})
    from films import panning_frames, write_clip

    from zoomdream.frontends import cli

    clip = write_clip(tmp_path / "clip.mp4", panning_frames(64, 3, (1, 0)), 12)
    assert cli.main(["--input", str(clip), "--set", "color.coherence=0.5", "-o", str(tmp_path / "o.mp4")]) == 2
    assert not (tmp_path / "o.mp4").exists()
