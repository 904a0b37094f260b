"""Presets load into validated dataclasses; mistakes name the key or value at fault."""

import dataclasses
from pathlib import Path

import pytest

from zoomdream.errors import ConfigError
from zoomdream.schedule import config

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("name", config.available_presets())
def test_every_bundled_preset_loads(name):
    c = config.load(name)
    assert c.name == name and c.description
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.seed = 3


def test_required_presets_are_bundled():
    assert {"noise-to-dogs", "classic-zoom"} <= set(config.available_presets())
    assert len(config.available_presets()) >= 3


def test_classic_zoom_has_the_2015_parameters():
    c = config.load("classic-zoom")
    [(objective, weight)] = c.layers.schedule[0].layer
    assert objective.spec == "inception_4c/output" and weight.constant == 1.0
    d = c.dream
    got = (d.octaves, d.octave_scale.constant, d.iterations.constant, d.step_size.constant, d.jitter.constant)
    assert got == (4, 1.4, 10, 1.5, 32)


def test_noise_to_dogs_walks_up_to_a_long_dog_section():
    c = config.load("noise-to-dogs")
    assert c.start.kind == "noise" and c.video.fps == 25
    layers = [step.layer[0][0].layer for step in c.layers.schedule]
    from zoomdream.network import googlenet

    assert [googlenet.depth(n) for n in layers] == sorted(googlenet.depth(n) for n in layers)
    assert all(s.seconds * c.video.fps == 100 for s in c.layers.schedule[:-1])
    assert c.layers.schedule[-1].seconds > c.layers.schedule[0].seconds
    assert layers[0].startswith("conv") and layers[-1].startswith("inception_4")


def test_numbers_are_coerced():
    c = config.from_dict({"dream": {"step_size": 2, "octaves": 3.0}, "video": {"fps": 30}})
    assert isinstance(c.dream.step_size.constant, float) and c.dream.step_size.constant == 2.0
    assert isinstance(c.dream.octaves, int) and c.dream.octaves == 3
    assert isinstance(c.video.fps, float)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"dream": {"stepsize": 2}}, "unknown key 'dream.stepsize' (did you mean step_size?)"),
        ({"drem": {}}, "unknown key 'drem'"),
        ({"dream": {"octaves": 2.5}}, "dream.octaves: expected a whole number, got 2.5"),
        ({"dream": {"octave_scale": 1.0}}, "dream.octave_scale: must be greater than 1.0"),
        ({"dream": {"iterations": "ten"}}, "dream.iterations: unknown name 'ten'"),
        ({"dream": {"iterations": 2.5}}, "dream.iterations: expected a whole number, got 2.5"),
        ({"dream": {"jitter": True}}, "dream.jitter: expected a number or a formula"),
        ({"video": {"size": "256by256"}}, "video.size: expected WIDTHxHEIGHT"),
        ({"video": {"quality": 11}}, "video.quality: must be at most 10"),
        ({"start": {"kind": "photo"}}, "start.kind: 'photo' is not one of noise, image, color"),
        ({"start": {"kind": "image"}}, "start.image"),
        ({"start": {"color": "#12345"}}, "start.color"),
        ({"layers": {"schedule": ["inception_4z/output"]}}, "layers.schedule[0].layer: unknown layer 'inception_4z/output'"),
        ({"layers": {"schedule": [{"layer": "conv2/3x3", "frame": 3}]}}, "unknown key 'layers.schedule[0].frame'"),
        ({"layers": {"schedule": [{"layer": {"inception_4c/output": "lots"}}]}},
         "layers.schedule[0].layer.inception_4c/output: unknown name 'lots'"),
        ({"video": "big"}, "video: expected a mapping"),
    ],
)
def test_mistakes_name_the_key(raw, message):
    with pytest.raises(ConfigError) as err:
        config.from_dict(raw)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_layer_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        config.from_dict({"layers": {"schedule": ["inception_4c/outptu"]}})
    assert "did you mean inception_4c/output" in str(err.value)
    assert "inception_5b/output" in str(err.value)


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ConfigError, match="unknown preset 'no-such'; available presets: .*noise-to-dogs"):
        config.load("no-such")


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dream:\n  octaves: 3\n  step_size: [1, 2\nseed: 1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: malformed YAML"):
        config.load(str(bad))


def test_overrides_and_alternative_units():
    c = config.load("classic-zoom", {"video.frames": 7, "dream.step_size": 2})
    assert c.video.frames == 7 and c.video.seconds is None and c.dream.step_size.constant == 2.0
    key, value = config.parse_assignment("layers.schedule=[conv2/3x3, {layer: inception_3a/output, frames: 2}]")
    c = config.load("noise-to-dogs", {key: value})
    assert [s.layer[0][0].spec for s in c.layers.schedule] == ["conv2/3x3", "inception_3a/output"]
    with pytest.raises(ConfigError, match="expected key=value"):
        config.parse_assignment("dream.step_size")


def test_to_dict_round_trips():
    for name in config.available_presets():
        c = config.load(name)
        assert config.from_dict(config.to_dict(c)) == c


def test_every_key_is_documented_in_the_readme():
    text = README.read_text()
    for key, _, doc in config.key_docs():
        assert doc
        assert f"`{key}`" in text, f"{key} is not in the README's key table"
