"""Presets: YAML files loaded into frozen, validated dataclasses.

A preset is validated once, here, at the boundary: numbers are coerced (YAML's ``1`` is an
int, ``1.5`` a float), ranges are checked, unknown keys and layer names are refused with
the list of valid ones. Everything after this module can trust a :class:`RenderConfig`.

Every key, its default and its meaning is listed by :func:`key_docs` (printed by
``python -m zoomdream --list-keys``) and in the README.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from pathlib import Path
from typing import Any

import numpy as np

from zoomdream.dream import objectives
from zoomdream.errors import ConfigError
from zoomdream.schedule import keyframes, yamltext


def _field(default, doc: str, **checks):
    """A dataclass field with its documentation and validation rules in the metadata.

    checks: ``min``/``max`` (inclusive), ``above`` (exclusive lower bound), ``choices``,
    ``parse`` (a function ``(value, key) -> value`` for values of a special form).
    """
    # Sections (dataclass types) and lambdas are factories; anything else is the value.
    kwargs = {"default_factory": default} if callable(default) else {"default": default}
    return dataclasses.field(**kwargs, metadata={"doc": doc, **checks})


def _scheduled(default: float, doc: str, *, integer: bool = False, per_frame: str = "sample", frame_name: str | None = None,
               scale: float = 1.0, **checks):
    """A scheduled value: it takes a constant, a formula of time or keyframes (a
    keyframes.Curve), is evaluated into one number per frame before the render, and
    reaches the frame step as ``values.<frame_name>`` (see zoomdream.schedule.values).
    Declaring the field here is all the schedule needs; the step then reads it.

    per_frame: ``sample`` (the value at the frame's time), ``rate`` (a per-second rate,
      integrated over the frame's interval: the camera's move after the frame) or
      ``log_rate`` (a per-second factor, compounded over the interval).
    frame_name: the name in the frame's values (default: the key's own name).
    scale: the unit conversion into the step's units (degrees -> radians, say).
    """
    return dataclasses.field(
        default_factory=lambda: keyframes.Curve.of(default),
        metadata={"doc": doc, "parse": keyframes.parse_curve, "integer": integer, "scheduled": True,
                  "per_frame": per_frame, "frame_name": frame_name, "scale": scale, **checks},
    )


# ---- special value forms ------------------------------------------------------------------


def parse_size(value: Any, key: str) -> tuple[int, int]:
    """``"256x144"``, ``[256, 144]`` -> (width, height)."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", value)
        if not match:
            raise ConfigError(f"{key}: expected WIDTHxHEIGHT such as 256x256, got {value!r}")
        w, h = int(match[1]), int(match[2])
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_int(v) for v in value):
        w, h = int(value[0]), int(value[1])
    else:
        raise ConfigError(f"{key}: expected WIDTHxHEIGHT such as 256x256, got {value!r}")
    if w < 16 or h < 16 or w > 16384 or h > 16384:
        raise ConfigError(f"{key}: {w}x{h} is outside 16..16384 pixels per side")
    return w, h


def parse_color(value: Any, key: str) -> tuple[int, int, int]:
    """``"#80a0ff"`` or ``[128, 160, 255]`` -> (r, g, b) in 0..255."""
    if isinstance(value, str) and re.fullmatch(r"#?[0-9a-fA-F]{6}", value.strip()):
        hexa = value.strip().lstrip("#")
        return tuple(int(hexa[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(_is_int(v) and 0 <= v <= 255 for v in value):
        return tuple(int(v) for v in value)  # type: ignore[return-value]
    raise ConfigError(f"{key}: expected a colour as '#rrggbb' or [r, g, b] in 0..255, got {value!r}")


def parse_devices(value: Any, key: str) -> str | int:
    """``auto``, ``all`` or a number of devices (at least 1)."""
    if value in ("auto", "all"):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if _is_int(value) and value >= 1:
        return int(value)
    raise ConfigError(f"{key}: expected a number of devices (1 or more), all or auto, got {value!r}")


def parse_color_reference(value: Any, key: str) -> str:
    """``window``, ``first``, or the path of a picture whose palette is held."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: expected window, first or a picture's path, got {value!r}")
    value = value.strip()
    if value not in ("window", "first") and not Path(value).expanduser().is_file():
        raise ConfigError(f"{key}: {value!r} is neither window, first nor a picture file")
    return value


Mix = tuple[tuple[objectives.Objective, keyframes.Curve], ...]

# The longest render, in frames: 11 hours at 25 fps. Every per-frame value is an array of
# this length, so a typo of a few extra digits is refused rather than exhausting memory.
MAX_FRAMES = 1_000_000


def _parse_mix(value: Any, key: str) -> Mix:
    """An objective (see zoomdream.dream.objectives), or ``{objective: weight, ...}`` for a
    weighted set; weights may be scheduled like any number."""
    if isinstance(value, str):
        return ((objectives.parse(value, key), keyframes.Curve.of(1.0)),)
    if isinstance(value, dict) and value:
        mix = []
        for spec, weight in value.items():
            where = f"{key}.{spec}"
            curve = keyframes.parse_curve(weight, where)
            for number in curve.numbers():
                if number < 0:
                    raise ConfigError(f"{where}: a weight must be at least 0, got {number:g}")
            mix.append((objectives.parse(spec, key), curve))
        return tuple(mix)
    raise ConfigError(f"{key}: expected an objective such as inception_4c/output or a mapping {{objective: weight}}, "
                      f"got {value!r}")


@dataclasses.dataclass(frozen=True)
class LayerStep:
    """One entry of the layer schedule: what to dream of, and for how long."""

    layer: Mix = _field(
        (),
        "what to dream of: a layer (inception_4c/output), channels (inception_4d/output:97), "
        "class:banana, guide:picture.jpg[@layer], or {objective: weight, ...}",
        parse=_parse_mix,
    )
    frames: int | None = _field(None, "how many frames this entry lasts (default 100 when seconds is not given)", min=1,
                                max=MAX_FRAMES)
    seconds: float | None = _field(None, "how long this entry lasts in seconds (keeps its length when fps changes)", above=0)

    def __post_init__(self):
        if not self.layer:
            raise ConfigError("layers.schedule: every entry needs a 'layer' (or 'class' or 'guide')")
        if self.frames is not None and self.seconds is not None:
            raise ConfigError("layers.schedule: give an entry 'frames' or 'seconds', not both")


def _entry_objective(entry: dict, where: str) -> dict:
    """Spell the entry shorthands ``class: banana``, ``guide: pic.jpg`` (with an optional
    ``layer``) and ``channels: [97]`` (with ``layer``) as objective strings."""
    entry = dict(entry)
    if "class" in entry:
        if "layer" in entry:
            raise ConfigError(f"{where}: give 'class' or 'layer', not both")
        entry["layer"] = f"class:{entry.pop('class')}"
    elif "guide" in entry:
        layer = entry.pop("layer", objectives.DEFAULT_GUIDE_LAYER)
        entry["layer"] = f"guide:{entry.pop('guide')}@{layer}"
    elif "channels" in entry:
        channels = entry.pop("channels")
        channels = channels if isinstance(channels, list) else [channels]
        if not isinstance(entry.get("layer"), str):
            raise ConfigError(f"{where}.channels: needs a single 'layer' beside it")
        entry["layer"] = f"{entry['layer']}:{','.join(str(c) for c in channels)}"
    return entry


def _parse_schedule(value: Any, key: str) -> tuple[LayerStep, ...]:
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key}: expected a list of layers, got {value!r}")
    steps = []
    for i, entry in enumerate(value):
        where = f"{key}[{i}]"
        if isinstance(entry, str):
            entry = {"layer": entry}
        elif isinstance(entry, dict) and not set(entry) & {"layer", "class", "guide", "channels", "frames", "seconds"}:
            entry = {"layer": entry}  # a bare {objective: weight} mix
        elif isinstance(entry, dict):
            entry = _entry_objective(entry, where)
        steps.append(build(LayerStep, entry, where))
    return tuple(steps)


# ---- the sections -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VideoConfig:
    size: tuple[int, int] = _field((256, 256), "canvas and video size as WIDTHxHEIGHT (even numbers for MP4)", parse=parse_size)
    fps: float = _field(25.0, "frames per second of the video; motion is given per second", above=0, max=240)
    frames: int | None = _field(None, "length in frames (default: the layer schedule's length)", min=1, max=MAX_FRAMES)
    seconds: float | None = _field(None, "length in seconds, instead of frames", above=0)
    quality: float = _field(8.0, "H.264 quality from 1 (smallest file) to 10 (best)", min=1, max=10)
    audio: str | None = _field(None, "soundtrack (--audio): a sound file ffmpeg reads, or 'demo' (a track zoomdream "
                               "synthesises); it goes into the MP4, and values written {audio: FEATURE} follow it")

    def __post_init__(self):
        if self.frames is not None and self.seconds is not None:
            raise ConfigError("video: give 'frames' or 'seconds', not both")


@dataclasses.dataclass(frozen=True)
class StartConfig:
    kind: str = _field("noise", "what the first frame starts from: noise, image, color, or video (every frame dreams "
                       "the film's frame)", choices=("noise", "image", "color", "video"))
    image: str | None = _field(None, "image file for kind: image (any size; it is scaled and cropped to fill the canvas)")
    video: str | None = _field(None, "video file for kind: video; the output keeps its frame count, frame rate, size "
                               "(unless --size) and sound")
    color: tuple[int, int, int] = _field((128, 128, 128), "colour for kind: color, as '#rrggbb' or [r, g, b]", parse=parse_color)
    noise_amplitude: float = _field(48.0, "for kind: noise, how far pixels stray from mid-grey (0..127)", min=0, max=127)

    def __post_init__(self):
        if self.kind == "image" and not self.image:
            raise ConfigError("start.image: kind is 'image' but no image file is given")
        if self.kind == "video" and not self.video:
            raise ConfigError("start.video: kind is 'video' but no video file is given")


@dataclasses.dataclass(frozen=True)
class TransformsConfig:
    """Random transformations of the picture before each step's gradient, so that what
    the dream draws must hold under them ("transformation robustness", Olah et al. 2017).
    dream.jitter's roll happens in any case; these come on top of it."""

    pad: int = _field(0, "pixels of the mean colour (about mid-grey) added around the picture before it is "
                      "transformed (the network sees the larger picture; edges then get no special treatment)",
                      min=0, max=256)
    jitter: keyframes.Curve = _scheduled(0, "largest random shift in pixels after scaling and rotating", integer=True,
                                         min=0, max=256, frame_name="transform_jitter")
    scale: keyframes.Curve = _scheduled(0.0, "largest random change of size, as a fraction (0.1: 0.9x to 1.1x)", min=0,
                                        max=0.5, frame_name="transform_scale")
    rotate: keyframes.Curve = _scheduled(0.0, "largest random rotation in degrees, either way", min=0, max=180,
                                         frame_name="transform_rotate", scale=math.pi / 180)


@dataclasses.dataclass(frozen=True)
class DreamConfig:
    octaves: int = _field(4, "number of scales the image is dreamed at, smallest first", min=1, max=12)
    octave_scale: keyframes.Curve = _scheduled(1.4, "size ratio between consecutive octaves", above=1.0, max=4.0)
    iterations: keyframes.Curve = _scheduled(10, "gradient-ascent steps per octave", integer=True, min=0, max=1000)
    step_size: keyframes.Curve = _scheduled(1.5, "ascent step, in units of the gradient's mean absolute value", min=0)
    jitter: keyframes.Curve = _scheduled(32, "largest random shift in pixels before each step (hides the network's grid)",
                                         integer=True, min=0, max=1024)
    blend: keyframes.Curve = _scheduled(
        1.0, "share of the frame's dreamed change that is kept: 1 keeps all of it (2015), less lets the picture show "
        "through; keyframe it to fade the dream in or out", min=0, max=1,
    )
    coherence: keyframes.Curve = _scheduled(
        0.9, "video input: share of the frame before's dream detail carried onto this frame along the film's motion "
        "(0 dreams every frame on its own)", min=0, max=1,
    )
    video_iterations: keyframes.Curve = _scheduled(
        4, "video input: steps per octave for every frame after the first, which starts from the carried dream; "
        "a frame carrying less dreams more, up to dream.iterations when dream.coherence is 0",
        integer=True, min=0, max=1000,
    )
    gradient_norm: str = _field(
        "mean", "how the gradient is normalised: mean (divide by mean |g|, 2015) or laplacian (per pyramid level, smoother)",
        choices=("mean", "laplacian"),
    )
    laplacian_levels: int = _field(4, "pyramid levels for gradient_norm: laplacian", min=1, max=8)
    parameterization: str = _field(
        "pixel", "the space the picture is changed in: pixel (2015), or fourier (decorrelated colours and 1/f-scaled "
        "Fourier coefficients, Olah et al. 2017: clearer objects, fewer high-frequency patterns)",
        choices=("pixel", "fourier"),
    )
    optimizer: str = _field(
        "ascent", "how a gradient becomes a step: ascent (the 2015 step: step_size over the mean |g|) or adam (Adam "
        "with learning_rate, as feature visualisation uses)", choices=("ascent", "adam"),
    )
    learning_rate: keyframes.Curve = _scheduled(
        0.01, "optimizer: adam, its step per parameter, where 1 is the whole pixel range (0.01: 2.5 levels per pixel "
        "step)", above=0, max=10,
    )
    transforms: TransformsConfig = _field(TransformsConfig, "robustness transformations before each step's gradient")
    precision: str = _field(
        "float32", "arithmetic of the network: float32, or bfloat16 (activations and weights; the picture "
        "and its steps stay float32) for GPUs and TPUs", choices=("float32", "bfloat16"),
    )
    cadence: int = _field(
        1, "dream every Nth frame only; the frames between are the camera's motion alone (faster "
        "drafts and renders, at some cost in detail)", min=1, max=100,
    )
    tile_size: int = _field(
        1024, "octaves wider or taller than this take their gradient tile by tile (bounded memory for big "
        "canvases; the random jitter hides the seams); 0 never tiles", min=0, max=16384,
    )
    devices: str | int = _field(
        "auto", "devices a frame is dreamed on: a number, all, or auto (every local device when the canvas has tiles "
        "enough to share; the tiles of a tiled octave are shared out)", parse=parse_devices,
    )


@dataclasses.dataclass(frozen=True)
class CameraConfig:
    zoom_per_second: keyframes.Curve = _scheduled(
        1.0, "zoom factor per second: >1 zooms in, <1 out (3.6 = 5%/frame at 25 fps)", above=0, per_frame="log_rate",
        frame_name="zoom",
    )
    rotation: keyframes.Curve = _scheduled(
        0.0, "rotation in degrees per second, counter-clockwise", per_frame="rate", frame_name="angle", scale=math.pi / 180,
    )
    pan_x: keyframes.Curve = _scheduled(0.0, "camera motion to the right, in canvas pixels per second", per_frame="rate")
    pan_y: keyframes.Curve = _scheduled(0.0, "camera motion downwards, in canvas pixels per second", per_frame="rate")
    center_x: keyframes.Curve = _scheduled(0.5, "zoom and rotation centre, as a fraction of the width (0 left, 1 right)",
                                           min=0, max=1)
    center_y: keyframes.Curve = _scheduled(0.5, "zoom and rotation centre, as a fraction of the height (0 top, 1 bottom)",
                                           min=0, max=1)
    border: str = _field(
        "reflect", "what a zoom-out, rotation or pan reveals at the edges: reflect, wrap, edge or noise",
        choices=("reflect", "wrap", "edge", "noise"),
    )
    supersample: int = _field(
        1, "keep the camera's picture at this many times the video's resolution, so that hundreds of "
        "resamplings do not blur it (2 costs little; the dream itself runs at the video's size)", min=1, max=4,
    )


@dataclasses.dataclass(frozen=True)
class ColorConfig:
    coherence: keyframes.Curve = _scheduled(
        0.0, "how far each frame's colours (the mean and spread of L*, a*, b*, and its colourfulness) are pulled towards "
        "the reference before it is dreamed, so that a long zoom does not drift: 0 (off) to 1; 0.75 holds thousands "
        "of frames",
        min=0, max=1, frame_name="color_coherence",
    )
    reference: str = _field(
        "window", "what colours are held to: window (the frames of the last window_seconds: the palette may wander "
        "slowly, never jump), first (the first dreamed frame), or a picture's path (its palette)",
        parse=parse_color_reference,
    )
    window_seconds: float = _field(20.0, "for reference: window, the time over which the reference follows the picture",
                                   above=0, max=3600)


@dataclasses.dataclass(frozen=True)
class LayersConfig:
    schedule: tuple[LayerStep, ...] = _field(
        lambda: (LayerStep(layer=((objectives.Objective("l2", "inception_4c/output"), keyframes.Curve.of(1.0)),)),),
        "list of what to dream of, in order; each entry is an objective or {layer: ..., frames: N | seconds: S}",
        parse=_parse_schedule,
    )
    crossfade_frames: int | None = _field(None, "frames over which consecutive entries blend (centred on the change)", min=0)
    crossfade_seconds: float | None = _field(None, "the crossfade in seconds, instead of frames", min=0)

    def __post_init__(self):
        if self.crossfade_frames is not None and self.crossfade_seconds is not None:
            raise ConfigError("layers: give 'crossfade_frames' or 'crossfade_seconds', not both")


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    name: str = _field("custom", "the preset's name")
    description: str = _field("", "one line saying what the preset makes")
    seed: int = _field(0, "random seed: the same seed gives the same video on the same backend", min=0, max=2**31 - 1)
    video: VideoConfig = _field(VideoConfig, "output video")
    start: StartConfig = _field(StartConfig, "the first frame")
    dream: DreamConfig = _field(DreamConfig, "the DeepDream algorithm's settings")
    camera: CameraConfig = _field(CameraConfig, "camera motion between frames")
    color: ColorConfig = _field(ColorConfig, "colour coherence: long renders without drift")
    layers: LayersConfig = _field(LayersConfig, "what the network dreams of, over time")


# ---- generic building and validation -------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _coerce_number(value: Any, key: str, kind: type) -> int | float:
    if kind is int:
        if _is_int(value):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected a whole number, got {value!r}")
    if _is_number(value):
        return float(value)
    raise ConfigError(f"{key}: expected a number, got {value!r}")


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if tp in (int, float):
        return _coerce_number(value, key, tp)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected text, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    raise TypeError(f"no coercion for {tp} at {key}")  # a programming error, not a user's


_BOUNDS = (("min", np.less, "at least"), ("max", np.greater, "at most"), ("above", np.less_equal, "greater than"))


def check_numbers(meta: dict, values: Any, key: str) -> None:
    """Check numbers against a field's declared bounds (``min``, ``max``, ``above``).

    ``values`` is one number as the user wrote it, or the array a scheduled value takes
    over a render (then the message says what it reaches). This is the only range check:
    the bounds are written once, in the field's declaration.
    """
    array = np.asarray(values, np.float64)
    written = array.ndim == 0
    if not np.isfinite(array).all():
        bad = array[~np.isfinite(array)].flat[0]
        raise ConfigError(f"{key}: must be a finite number, got {values}" if written else f"{key}: reaches {bad:g}, not a number")
    for bound, fails, words in _BOUNDS:
        if bound in meta and fails(array, meta[bound]).any():
            bad = array[fails(array, meta[bound])].flat[0]
            got = f"got {values}" if written else f"but reaches {bad:g}"
            raise ConfigError(f"{key}: must be {words} {meta[bound]}, {got}")


def _check(meta: dict, value: Any, key: str) -> None:
    if isinstance(value, keyframes.Curve):
        for number in value.numbers():
            if meta.get("integer") and not float(number).is_integer():
                raise ConfigError(f"{key}: expected a whole number, got {number:g}")
            check_numbers(meta, number, key)
        return
    if value is None or not _is_number(value):
        if "choices" in meta and value not in meta["choices"]:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(meta['choices'])}")
        return
    check_numbers(meta, value, key)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def build(cls: type, raw: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, coercing and checking every value."""
    if isinstance(raw, cls):
        return raw
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'preset'}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in raw:
        if name not in fields:
            close = difflib.get_close_matches(str(name), fields, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"unknown key {_join(where, str(name))!r}{hint}; valid keys here: {', '.join(fields)}")
    kwargs = {}
    for name, value in raw.items():
        meta, key = fields[name].metadata, _join(where, name)
        value = meta["parse"](value, key) if "parse" in meta else _coerce(hints[name], value, key)
        _check(meta, value, key)
        kwargs[name] = value
    return cls(**kwargs)


# ---- documentation of every key -------------------------------------------------------------


def key_docs(cls: type = RenderConfig, where: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, meaning) for every key of a preset, for --list-keys and docs."""
    rows = []
    instance = cls() if cls is not LayerStep else None
    for f in dataclasses.fields(cls):
        key = _join(where, f.name)
        hint = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(hint) and "parse" not in f.metadata:  # a section
            rows.extend(key_docs(hint, key))
            continue
        default = getattr(instance, f.name) if instance is not None else None
        rows.append((key, _show_default(f.name, default), f.metadata["doc"]))
        if f.name == "schedule":
            rows.extend(key_docs(LayerStep, key + "[]"))
            rows.extend((f"{key}[].{name}", "", doc) for name, doc in SCHEDULE_SHORTHANDS)
    return rows


# Entry keys that spell an objective more readably than the objective string.
SCHEDULE_SHORTHANDS = (
    ("class", "instead of layer: a class to draw, by ImageNet label word or index (class: banana)"),
    ("guide", "instead of layer: a picture whose features to dream (with layer: the layer, default inception_3b/output)"),
    ("channels", "with a single layer: dream only these channels of it (channels: [97])"),
)


def _show_default(name: str, value: Any) -> str:
    if name == "size" and value:
        return f"{value[0]}x{value[1]}"
    if name == "schedule":
        return ", ".join(step.layer[0][0].spec for step in value)
    if name == "color":
        return "#" + "".join(f"{c:02x}" for c in value)
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return ""
    return "" if value is None else str(value)


# ---- presets --------------------------------------------------------------------------------

PRESET_SUFFIX = ".yaml"


def presets_dir() -> Path:
    """The bundled presets: installed as the package folder ``zoomdream/presets``; in a
    source checkout, the repository's ``presets/`` folder beside the package."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "presets"
    return installed if installed.is_dir() else package.parent / "presets"


def available_presets() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob(f"*{PRESET_SUFFIX}"))


def preset_path(name_or_path: str) -> Path:
    """A bundled preset's file by name, or a preset file by path."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in name_or_path:
        if path.is_dir():
            raise ConfigError(f"preset {name_or_path!r} is a folder, not a preset file")
        if not path.is_file():
            raise ConfigError(f"preset file {name_or_path!r} does not exist")
        return path
    bundled = presets_dir() / f"{name_or_path}{PRESET_SUFFIX}"
    if not bundled.is_file():
        raise ConfigError(f"unknown preset {name_or_path!r}; available presets: {', '.join(available_presets())}")
    return bundled


def read_yaml(path: Path) -> dict:
    """Parse a preset file; a syntax error names the file and line."""
    data = yamltext.read_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of keys, got {type(data).__name__}")
    return data


def parse_assignment(assignment: str) -> tuple[str, Any]:
    """``"dream.step_size=2"`` (as given to ``--set``) -> ("dream.step_size", 2); the value
    is read as YAML, so numbers, lists and mappings come out typed."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key=value, e.g. dream.step_size=2")
    key, text = assignment.split("=", 1)
    return key.strip(), yamltext.parse(text, f"--set {key.strip()}") if text.strip() else None


# Keys that say the same thing in other units: setting one drops the other, so that an
# override such as --set video.frames=10 wins over the preset's video.seconds.
ALTERNATIVES = {
    "video.frames": "seconds",
    "video.seconds": "frames",
    "layers.crossfade_frames": "crossfade_seconds",
    "layers.crossfade_seconds": "crossfade_frames",
}


def set_value(raw: dict, key: str, value: Any) -> None:
    """Set dotted ``key`` in a raw preset mapping, creating sections as needed."""
    parts = [p for p in key.split(".") if p]
    if not parts:
        raise ConfigError(f"override {key!r}: empty key")
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key!r}: {'.'.join(parts[: i + 1])} is not a section")
        node = child
    node[parts[-1]] = value
    if ".".join(parts) in ALTERNATIVES:
        node.pop(ALTERNATIVES[".".join(parts)], None)


def load(preset: str, overrides: dict[str, Any] | None = None) -> RenderConfig:
    """Load a preset by name or path, apply overrides, and validate.

    Args:
      preset: bundled preset name (``noise-to-dogs``) or a YAML file path.
      overrides: ``{"dream.step_size": 2.0, ...}`` by dotted key, applied after the file.
    """
    path = preset_path(preset)
    raw = read_yaml(path)
    raw.setdefault("name", path.stem)
    for key, value in (overrides or {}).items():
        set_value(raw, key, value)
    return from_dict(raw)


def from_yaml(text: str, name: str = "custom") -> RenderConfig:
    """A preset written as YAML text (a notebook cell, say), validated."""
    raw = yamltext.parse(text, "the preset text") or {}
    if not isinstance(raw, dict):
        raise ConfigError("a preset must be a mapping of keys")
    raw.setdefault("name", name)
    return from_dict(raw)


def from_dict(raw: dict) -> RenderConfig:
    return build(RenderConfig, raw)


def to_dict(config: Any) -> Any:
    """The resolved config as plain YAML-able data (the inverse of :func:`from_dict`)."""
    if isinstance(config, keyframes.Curve):
        return config.raw()
    if isinstance(config, LayerStep):
        (first, weight), single = config.layer[0], len(config.layer) == 1
        if single and weight.is_constant and weight.constant == 1.0:
            out: dict[str, Any] = {"layer": first.spec}
        else:
            out = {"layer": {objective.spec: curve.raw() for objective, curve in config.layer}}
        if config.frames is not None:
            out["frames"] = config.frames
        if config.seconds is not None:
            out["seconds"] = config.seconds
        return out
    if dataclasses.is_dataclass(config):
        out = {}
        for f in dataclasses.fields(config):
            value = getattr(config, f.name)
            if f.name == "size":
                value = f"{value[0]}x{value[1]}"
            out[f.name] = to_dict(value)
        return out
    if isinstance(config, tuple):
        return [to_dict(v) for v in config]
    return config
