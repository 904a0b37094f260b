"""The render loop: the one module that touches both the device and the host.

``render()`` resolves a preset into a config and a plan, compiles the frame step once, and
feeds the canvas back frame after frame. Frame k is fetched and encoded while frame k+1 is
already computing (JAX dispatches asynchronously), so the device does not wait on ffmpeg.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np
from tqdm.auto import tqdm

from zoomdream import config as config_lib
from zoomdream import checkpoint, dream, images, objectives, outputs, schedule, video
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
    # Host work (copy out, encode, frame files, checkpoints) overlaps the next frame's
    # computation. These say how well: seconds the host spent on finished frames, and
    # how many frames had finished computing before the host was done with the one
    # before (the device then sat idle; 0 means it never waited on the encoder).
    host_seconds: float = 0.0
    device_waits: int = 0


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
        raise ConfigError(f"output {str(output)!r}: zoomdream writes .mp4 or .gif videos, or .png/.jpg stills")
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
        tile_size=cfg.dream.tile_size,
        precision=cfg.dream.precision,
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


def _even(n: float) -> int:
    return max(16, int(round(n / 2)) * 2)


def preview_settings(cfg: RenderConfig, plan: schedule.Plan, width: int, height: int):
    """A fast draft of the same schedule: half the size, one octave less, half the
    iterations. Pan speeds are in pixels, so they halve with the size."""
    w, h = _even(width / 2), _even(height / 2)
    cfg = config_lib.from_dict({**config_lib.to_dict(cfg), "dream": {**config_lib.to_dict(cfg.dream), "octaves": max(1, cfg.dream.octaves - 1)}})
    plan = dataclasses.replace(plan, iterations=np.maximum(1, (plan.iterations + 1) // 2).astype(np.int32),
                               pan=(plan.pan * (w / width)).astype(np.float32))
    return cfg, plan, w, h


class RenderError(RuntimeError):
    """A render that could not go on (disk full, output folder removed, write error).
    The last checkpoint is kept."""


def _check_audio(audio: str | Path | None) -> Path | None:
    if audio is None:
        return None
    path = Path(audio).expanduser()
    if not path.is_file():
        raise ConfigError(f"--audio: {str(audio)!r} does not exist")
    try:
        video.media_seconds(path, "a")
    except OSError:
        raise ConfigError(f"--audio: {str(audio)!r} has no sound ffmpeg can read") from None
    return path


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
    preview: bool = False,
    audio: str | Path | None = None,
    audio_length: bool = False,
    checkpoint_every: int | None = None,
    progress: bool = True,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
    net: GoogLeNet | None = None,
) -> RenderResult:
    """Render a preset to an MP4 or GIF (or, for a .png/.jpg output, dream one still).

    Args:
      preset: a bundled preset name, a YAML path, or a :class:`RenderConfig`.
      output: .mp4 or .gif for a video, .png/.jpg for a still (default ``<preset>.mp4``).
      frames, seconds: the length, overriding the preset's.
      size: ``"WxH"`` or (width, height); fps, seed: override the preset's.
      layer: dream this one objective for the whole render.
      input_image: start from this picture instead of the preset's start.
      overrides: ``{"dotted.key": value}`` as with ``--set``.
      frames_dir: also write every frame as a numbered PNG here.
      overwrite: replace an existing output (and its unfinished parts).
      preview: a fast draft: half size, one octave less, half the iterations.
      audio: a soundtrack for the MP4; audio_length: render as long as the soundtrack.
      checkpoint_every: frames per segment and checkpoint (default: about a minute of
        rendering, fixed after the first frames).
      progress: show a progress bar with seconds per frame and ETA.
      on_frame: called as ``on_frame(index, rgb_uint8)`` for every finished frame.
      net: a loaded network (default: the bundled BVLC GoogLeNet).

    Returns:
      A :class:`RenderResult`. A Ctrl-C stops the render cleanly: the video is assembled
      from every frame rendered so far and the result says ``interrupted=True``; an MP4
      render can then be continued with :func:`resume`.
    """
    audio = _check_audio(audio)
    if audio_length:
        if audio is None:
            raise ConfigError("--audio-length needs --audio")
        seconds, frames = video.media_seconds(audio, "a"), None
    cfg = resolve_config(
        preset, frames=frames, seconds=seconds, size=size, fps=fps, seed=seed, layer=layer,
        input_image=input_image, overrides=overrides,
    )
    output = Path(output if output is not None else f"{cfg.name}{'-preview' if preview else ''}.mp4")
    check_output(output, overwrite)
    kind = "still" if is_still(output) else output.suffix.lower()[1:]
    width, height = still_size(cfg, size is not None) if kind == "still" else cfg.video.size
    if kind == "mp4":
        problem = video.check_video_size(width, height)
        if problem:
            raise ConfigError(problem)
        parts = checkpoint.parts_dir(output)
        if parts.exists() and not overwrite:
            raise ConfigError(f"{parts} holds an unfinished render of {output.name}; "
                              f"--resume {output} continues it, --overwrite starts again")
    if audio is not None and kind != "mp4":
        raise ConfigError("--audio needs an .mp4 output")
    if frames_dir is not None:
        check_frames_dir(Path(frames_dir), overwrite)
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ConfigError(f"--checkpoint-every must be at least 1, got {checkpoint_every}")

    plan = schedule.build_plan(cfg, frames=1 if kind == "still" else None, still=kind == "still")
    if preview:
        cfg, plan, width, height = preview_settings(cfg, plan, width, height)
    spec = make_spec(cfg, plan, width, height)
    canvas = images.initial_canvas(cfg.start, spec.canvas_shape[1], spec.canvas_shape[0], cfg.seed)

    if kind == "mp4":
        if parts.exists():
            shutil.rmtree(parts)
        parts.mkdir()
        extra = {"audio": str(audio.resolve()) if audio else None, "preview": preview, "quality": cfg.video.quality}
        manifest = checkpoint.make_manifest(cfg, plan.frames, checkpoint_every, width, height, extra)
        checkpoint.write_manifest(parts, manifest)
        sink = outputs.VideoOutput(output, manifest, 0, cfg.video.quality, audio)
    elif kind == "gif":
        sink = outputs.GifOutput(output, width, height, cfg.video.fps)
    else:
        sink = outputs.StillOutput(output)
    return _run(cfg, plan, spec, sink, canvas, 0, output, frames_dir, progress, on_frame, net)


def resume(
    output: str | Path,
    *,
    frames: int | None = None,
    seconds: float | None = None,
    preset: str | RenderConfig | None = None,
    overrides: dict[str, Any] | None = None,
    frames_dir: str | Path | None = None,
    progress: bool = True,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
    net: GoogLeNet | None = None,
) -> RenderResult:
    """Continue an MP4 render that was interrupted or killed, or lengthen a finished one.

    The frames are those an uninterrupted render would have made. Only the length may
    change (``frames``/``seconds``, not shorter than before); a different preset or any
    other override is refused with the list of what changed.
    """
    output = Path(output)
    parts = checkpoint.parts_dir(output)
    manifest = checkpoint.read_manifest(parts)
    stored = manifest["config"]
    cfg = resolve_config(preset if preset is not None else config_lib.from_dict(stored),
                         frames=frames, seconds=seconds, overrides=overrides)
    changed = [d for d in checkpoint.differences(stored, config_lib.to_dict(cfg)) if not d.startswith(checkpoint.LENGTH_KEYS)]
    if changed:
        raise ConfigError(f"cannot resume {output.name}: its settings changed ({'; '.join(changed)}); "
                          "only --frames/--seconds may grow")
    plan = schedule.build_plan(cfg)
    if plan.frames < manifest["frames"]:
        raise ConfigError(f"cannot resume {output.name} shorter: it has {manifest['frames']} frames, "
                          f"the new length is {plan.frames}")
    width, height = manifest["size"]
    if manifest.get("preview"):
        cfg, plan, width, height = preview_settings(cfg, plan, *cfg.video.size)
    spec = make_spec(cfg, plan, width, height)
    saved = checkpoint.load(parts)
    if saved is not None and saved["config_hash"] != manifest["config_hash"]:
        raise ConfigError(f"{parts / checkpoint.CHECKPOINT} belongs to another render")
    start = saved["next_frame"] if saved is not None else 0
    if saved is not None and not np.array_equal(saved["key_data"], np.asarray(jax.random.key_data(jax.random.key(cfg.seed)))):
        raise ConfigError(f"{parts / checkpoint.CHECKPOINT}: its random key does not match the seed")
    canvas = saved["canvas"] if saved is not None else images.initial_canvas(cfg.start, spec.canvas_shape[1], spec.canvas_shape[0], cfg.seed)
    checkpoint.completed_segments(parts, start, manifest["segment_frames"] or max(start, 1))
    manifest["frames"] = plan.frames
    manifest["config"] = config_lib.to_dict(cfg)
    checkpoint.write_manifest(parts, manifest)
    audio = Path(manifest["audio"]) if manifest.get("audio") else None
    sink = outputs.VideoOutput(output, manifest, start, manifest.get("quality", cfg.video.quality), audio)
    return _run(cfg, plan, spec, sink, canvas, start, output, frames_dir, progress, on_frame, net)


def provenance_of(video_path: str | Path) -> dict:
    """The render record of a zoomdream video: from its metadata, else the JSON beside it."""
    path = Path(video_path)
    if not path.is_file():
        raise ConfigError(f"--from: {str(video_path)!r} does not exist")
    try:
        record = video.read_metadata(path)
    except OSError:
        record = {}
    if "config" not in record:
        beside = checkpoint.record_path(path)
        if not beside.exists():
            raise ConfigError(f"--from: {path.name} carries no zoomdream render record, and there is no {beside.name}")
        record = json.loads(beside.read_text())
    return record


def rerender(source: str | Path, output: str | Path | None = None, **options) -> RenderResult:
    """Render again the video that ``source`` (a zoomdream MP4) records: same config,
    seed and length. ``options`` are those of :func:`render` (output, overwrite, ...)."""
    record = provenance_of(source)
    cfg = config_lib.from_dict(record["config"])
    source = Path(source)
    output = output if output is not None else source.with_name(source.stem + "-again" + source.suffix)
    return render(cfg, output, frames=record["frames"], size=tuple(record["size"]), **options)


def _run(cfg, plan, spec, sink, canvas, start, output, frames_dir, progress, on_frame, net) -> RenderResult:
    """Compile once, then dream frames ``start..plan.frames-1`` into ``sink``."""
    net = net if net is not None else load_googlenet()
    guides = tuple(objectives.guide_features(net, spec.objectives[i]) for i in spec.guide_indices)
    key = jax.random.key(cfg.seed)
    key_data = np.asarray(jax.random.key_data(key))
    canvas = jax.numpy.asarray(canvas)

    if progress:
        octaves = " -> ".join(f"{w}x{h}" for h, w in spec.octave_shapes)
        where = f"; parts in {sink.parts}" if isinstance(sink, outputs.VideoOutput) else ""
        tqdm.write(f"zoomdream: compiling the frame step once for this render (octaves {octaves}){where} ...", file=sys.stderr)
    enable_compilation_cache()
    began = time.perf_counter()
    step = dream.compiled_frame_step(spec, net.params, canvas, frame_params(plan, 0), key, guides)
    # With dream.cadence > 1, the frames between dreams only move: a second, small program.
    move = (dream.compiled_frame_step(spec, net.params, canvas, frame_params(plan, 0), key, guides, move_only=True)
            if not plan.dreamed.all() else step)
    compile_seconds = time.perf_counter() - began

    bar = tqdm(total=plan.frames, initial=start, unit="frame", desc=cfg.name, disable=not progress, dynamic_ncols=True)
    frame_files = video.FrameDirWriter(frames_dir, plan.frames, first=start + 1) if frames_dir is not None else None
    latest = outputs.LatestPicture(sink.parts / "latest.png") if isinstance(sink, outputs.VideoOutput) else None
    done = start  # frames finished, counted from the first frame of the render
    interrupted = False
    host_seconds, device_waits = 0.0, 0
    loop_start = last = time.perf_counter()

    def emit(k: int, frame_on_device, canvas_for_checkpoint) -> None:
        nonlocal done, last, host_seconds
        frame = np.asarray(frame_on_device)  # waits for frame k only; k+1 is already queued
        began_host = time.perf_counter()
        sink.write(k, frame)
        if frame_files is not None:
            frame_files.write(frame)
        if latest is not None:
            latest.offer(frame)
        if canvas_for_checkpoint is not None:
            sink.boundary(k + 1, canvas_for_checkpoint, key_data)
        done = k + 1
        now = time.perf_counter()
        bar.set_postfix_str(f"layer {plan.layer_label(k)}, {now - last:.2f} s/frame", refresh=False)
        bar.update(1)
        last = now
        if on_frame is not None:
            on_frame(k, frame)
        host_seconds += time.perf_counter() - began_host

    try:
        try:
            pending = None
            for k in range(start, plan.frames):
                run = step if plan.dreamed[k] else move
                canvas, frame = run(net.params, canvas, frame_params(plan, k), key, guides)
                # The next call donates this canvas, so a checkpoint copies it out now.
                saved = np.asarray(canvas) if sink.is_boundary(k + 1) else None
                if pending is not None:
                    emit(*pending)
                    device_waits += bool(frame.is_ready())  # frame k done before the host finished k-1
                pending = (k, frame, saved)
            if pending is not None:
                emit(*pending)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
        sink.finish(done, interrupted)
    except OSError as exc:
        saved = checkpoint.load(sink.parts) if isinstance(sink, outputs.VideoOutput) and sink.parts.exists() else None
        kept = f"; the checkpoint at frame {saved['next_frame']} is kept: --resume {output} continues" if saved else ""
        raise RenderError(f"writing {output} failed after frame {done}: {exc.strerror or exc}{kept}") from None
    return RenderResult(
        output=output,
        frames=done - start,
        total_frames=plan.frames,
        seconds=time.perf_counter() - loop_start,
        compile_seconds=compile_seconds,
        config=cfg,
        interrupted=interrupted,
        host_seconds=host_seconds,
        device_waits=device_waits,
    )
