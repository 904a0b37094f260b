"""The render loop: the one module that touches both the device and the host.

``render()`` resolves a preset into a config and a plan, compiles the frame step once, and
feeds the canvas back frame after frame. Frame k is fetched and encoded while frame k+1 is
already computing (JAX dispatches asynchronously), so the device does not wait on ffmpeg.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np
from tqdm.auto import tqdm

from zoomdream import config as config_lib
from zoomdream import dream, images, objectives, schedule, video
from zoomdream.config import ConfigError, RenderConfig
from zoomdream.googlenet import GoogLeNet
from zoomdream.weights import load_googlenet

DEFAULT_PRESET = "noise-to-dogs"


@dataclasses.dataclass
class RenderResult:
    """What a render produced."""

    output: Path
    frames: int  # frames written
    total_frames: int  # frames planned
    seconds: float  # wall time of the frame loop
    compile_seconds: float
    config: RenderConfig
    interrupted: bool = False


def compilation_cache_dir() -> Path | None:
    """Where compiled frame steps are kept between runs: $ZOOMDREAM_CACHE_DIR, else
    $XDG_CACHE_HOME/zoomdream/xla (~/.cache/zoomdream/xla). An empty
    ZOOMDREAM_CACHE_DIR turns the cache off."""
    configured = os.environ.get("ZOOMDREAM_CACHE_DIR")
    if configured is not None:
        return Path(configured).expanduser() if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zoomdream" / "xla"


def enable_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache, unless the user configured their own.

    Compiling a frame step takes from seconds to a minute on a CPU; with the cache, a
    second render at the same size and octaves starts at once.
    """
    folder = compilation_cache_dir()
    if folder is None or jax.config.jax_compilation_cache_dir:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # an unwritable home only costs compile time
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def resolve_config(
    preset: str | RenderConfig = DEFAULT_PRESET,
    *,
    frames: int | None = None,
    seconds: float | None = None,
    size: str | tuple[int, int] | None = None,
    fps: float | None = None,
    seed: int | None = None,
    layer: str | None = None,
    input_image: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> RenderConfig:
    """A preset with the command line's shortcuts applied on top, validated."""
    if frames is not None and seconds is not None:
        raise ConfigError("give --frames or --seconds, not both")
    shortcuts: dict[str, Any] = {}
    if frames is not None:
        shortcuts["video.frames"] = frames
    if seconds is not None:
        shortcuts["video.seconds"] = seconds
    if size is not None:
        shortcuts["video.size"] = size
    if fps is not None:
        shortcuts["video.fps"] = fps
    if seed is not None:
        shortcuts["seed"] = seed
    if layer is not None:
        objectives.parse(layer, "--layer")
        shortcuts["layers.schedule"] = [layer]
    if input_image is not None:
        shortcuts.update({"start.kind": "image", "start.image": str(input_image)})
    shortcuts.update(overrides or {})
    if isinstance(preset, RenderConfig):
        raw = config_lib.to_dict(preset)
        for key, value in shortcuts.items():
            config_lib.set_value(raw, key, value)
        return config_lib.from_dict(raw)
    return config_lib.load(preset, shortcuts)


def is_still(output: Path) -> bool:
    return output.suffix.lower() in video.STILL_SUFFIXES


def check_output(output: Path, overwrite: bool) -> None:
    """Refuse, before any work, an output that cannot or should not be written."""
    suffix = output.suffix.lower()
    if suffix not in video.VIDEO_SUFFIXES + video.STILL_SUFFIXES:
        raise ConfigError(f"output {str(output)!r}: zoomdream writes .mp4 videos or .png/.jpg stills")
    if output.is_dir():
        raise ConfigError(f"output {str(output)!r} is a folder; name a file")
    if output.exists() and not overwrite:
        raise ConfigError(f"output {str(output)!r} already exists; pass --overwrite to replace it")
    folder = output.parent
    if not folder.is_dir():
        raise ConfigError(f"output folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"output folder {str(folder)!r} is not writable")


def check_frames_dir(frames_dir: Path, overwrite: bool) -> None:
    if frames_dir.exists() and not frames_dir.is_dir():
        raise ConfigError(f"--frames-dir {str(frames_dir)!r} is a file, not a folder")
    if frames_dir.is_dir() and any(frames_dir.glob("frame_*.png")) and not overwrite:
        raise ConfigError(f"--frames-dir {str(frames_dir)!r} already holds frames; pass --overwrite to replace them")
    parent = frames_dir if frames_dir.is_dir() else frames_dir.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"--frames-dir {str(frames_dir)!r} cannot be created or written")


def frame_params(plan: schedule.Plan, k: int) -> dream.FrameParams:
    """The traced inputs of frame ``k``, always with the same dtypes (a Python int one
    frame and a float the next would recompile)."""
    return dream.FrameParams(
        weights=plan.weights[k],
        step_size=plan.step_size[k],
        octave_scale=plan.octave_scale[k],
        iterations=plan.iterations[k],
        jitter=plan.jitter[k],
        zoom=plan.zoom[k],
        angle=plan.angle[k],
        pan=plan.pan[k],
        center=plan.center[k],
        frame_index=np.int32(k),
    )


def make_spec(cfg: RenderConfig, plan: schedule.Plan, width: int, height: int) -> dream.DreamSpec:
    """The static shape of this render's frame step."""
    return dream.DreamSpec.create(
        height, width, cfg.dream.octaves, float(plan.octave_scale.min()), plan.objectives,
        scheduled_octave_scale=not cfg.dream.octave_scale.is_constant,
        max_iterations=int(plan.iterations.max()),
        gradient_norm=cfg.dream.gradient_norm,
        laplacian_levels=cfg.dream.laplacian_levels,
        supersample=cfg.camera.supersample,
        border=cfg.camera.border,
        noise_amplitude=cfg.start.noise_amplitude,
    )


def still_size(cfg: RenderConfig, size_given: bool) -> tuple[int, int]:
    """A still from a photo keeps the photo's size unless a size was asked for."""
    if cfg.start.kind == "image" and not size_given:
        rgb = images.load_image(cfg.start.image)
        return rgb.shape[1], rgb.shape[0]
    return cfg.video.size


def render(
    preset: str | RenderConfig = DEFAULT_PRESET,
    output: str | Path | None = None,
    *,
    frames: int | None = None,
    seconds: float | None = None,
    size: str | tuple[int, int] | None = None,
    fps: float | None = None,
    seed: int | None = None,
    layer: str | None = None,
    input_image: str | None = None,
    overrides: dict[str, Any] | None = None,
    frames_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
    net: GoogLeNet | None = None,
) -> RenderResult:
    """Render a preset to an MP4 (or, for a .png/.jpg output, dream one still image).

    Args:
      preset: a bundled preset name, a YAML path, or a :class:`RenderConfig`.
      output: .mp4 for a video, .png/.jpg for a still (default ``<preset name>.mp4``).
      frames, seconds: the length, overriding the preset's.
      size: ``"WxH"`` or (width, height); fps, seed: override the preset's.
      layer: dream this one layer for the whole render.
      input_image: start from this picture instead of the preset's start.
      overrides: ``{"dotted.key": value}`` as with ``--set``.
      frames_dir: also write every frame as a numbered PNG here.
      overwrite: replace an existing output.
      progress: show a progress bar with seconds per frame and ETA.
      on_frame: called as ``on_frame(index, rgb_uint8)`` for every finished frame.
      net: a loaded network (default: the bundled BVLC GoogLeNet).

    Returns:
      A :class:`RenderResult`. A Ctrl-C stops the render cleanly: the file is closed and
      playable, and the result says ``interrupted=True``.
    """
    cfg = resolve_config(
        preset, frames=frames, seconds=seconds, size=size, fps=fps, seed=seed, layer=layer,
        input_image=input_image, overrides=overrides,
    )
    output = Path(output if output is not None else f"{cfg.name}.mp4")
    check_output(output, overwrite)
    still = is_still(output)
    width, height = still_size(cfg, size is not None) if still else cfg.video.size
    if not still:
        problem = video.check_video_size(width, height)
        if problem:
            raise ConfigError(problem)
    if frames_dir is not None:
        frames_dir = Path(frames_dir)
        check_frames_dir(frames_dir, overwrite)

    plan = schedule.build_plan(cfg, frames=1 if still else None, still=still)
    spec = make_spec(cfg, plan, width, height)
    canvas = images.initial_canvas(cfg.start, spec.canvas_shape[1], spec.canvas_shape[0], cfg.seed)
    net = net if net is not None else load_googlenet()
    guides = tuple(objectives.guide_features(net, spec.objectives[i]) for i in spec.guide_indices)
    key = jax.random.key(cfg.seed)

    if progress:
        octaves = " -> ".join(f"{w}x{h}" for h, w in spec.octave_shapes)
        tqdm.write(f"zoomdream: compiling the frame step once for this render (octaves {octaves}) ...", file=sys.stderr)
    enable_compilation_cache()
    start = time.perf_counter()
    step = dream.compiled_frame_step(spec, net.params, canvas, frame_params(plan, 0), key, guides)
    compile_seconds = time.perf_counter() - start

    bar = tqdm(total=plan.frames, unit="frame", desc=cfg.name, disable=not progress, dynamic_ncols=True)
    written = 0
    interrupted = False
    loop_start = last = time.perf_counter()
    writer = video.Mp4Writer(output, width, height, cfg.video.fps, cfg.video.quality) if not still else None
    frame_files = video.FrameDirWriter(frames_dir, plan.frames) if frames_dir is not None else None

    def emit(k: int, frame_on_device) -> None:
        nonlocal written, last
        frame = np.asarray(frame_on_device)  # waits for frame k only; k+1 is already queued
        if still:
            images.save_image(output, frame)
        else:
            writer.write(frame)
        if frame_files is not None:
            frame_files.write(frame)
        written += 1
        now = time.perf_counter()
        bar.set_postfix_str(f"layer {plan.layer_label(k)}, {now - last:.2f} s/frame", refresh=False)
        bar.update(1)
        last = now
        if on_frame is not None:
            on_frame(k, frame)

    try:
        pending = None
        for k in range(plan.frames):
            canvas, frame = step(net.params, canvas, frame_params(plan, k), key, guides)
            if pending is not None:
                emit(*pending)
            pending = (k, frame)
        if pending is not None:
            emit(*pending)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return RenderResult(
        output=output,
        frames=written,
        total_frames=plan.frames,
        seconds=time.perf_counter() - loop_start,
        compile_seconds=compile_seconds,
        config=cfg,
        interrupted=interrupted,
    )
