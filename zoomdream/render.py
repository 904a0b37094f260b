"""The render loop and its entry points: the one module that touches both the device and
the host.

``render()`` resolves a preset into a config, a plan and the static shape of the frame
step, compiles the step once, and feeds the canvas back frame after frame, handing each
frame to its sinks (:mod:`zoomdream.io.outputs`). Frame k is fetched and written while
frame k+1 is already computing (JAX dispatches asynchronously), so the device does not
wait on ffmpeg. ``resume()`` continues an MP4 render from its checkpoint and
``rerender()`` renders a recorded video again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from zoomdream import timeline
from zoomdream.dream import cache, cost, devices, host_memory, objectives, step
from zoomdream.dream.step import DreamSpec
from zoomdream.errors import ConfigError
from zoomdream.io import clip, images, lock, outputs, parts, video
from zoomdream.network.googlenet import GoogLeNet
from zoomdream.network.weights import load_googlenet
from zoomdream.schedule import config as config_lib
from zoomdream.schedule import settings
from zoomdream.schedule.config import RenderConfig
from zoomdream.schedule.plan import Plan, build_plan

DEFAULT_PRESET = "noise-to-dogs"


@dataclasses.dataclass
class RenderResult:
    """What a render produced."""

    output: Path
    frames: int  # frames written by this run
    first_frame: int  # the first of them (where a resumed render continued)
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


class RenderError(RuntimeError):
    """A render that could not go on (disk full, output folder removed, write error).
    The last checkpoint is kept."""


@dataclasses.dataclass
class _Job:
    """A render ready to run: everything the loop needs."""

    config: RenderConfig
    plan: Plan
    spec: DreamSpec
    canvas: np.ndarray  # what frame `start` starts from
    start: int
    output: Path
    sink: outputs.Sink  # the output file
    frames_dir: Path | None = None
    film: clip.Clip | None = None  # the film dreamed, frame by frame (start.kind: video)


# ---- entry points --------------------------------------------------------------------------


def render(
    preset: str | RenderConfig = DEFAULT_PRESET,
    output: str | Path | None = None,
    *,
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
    **shortcuts: Any,
) -> RenderResult:
    """Render a preset to an MP4 or GIF (or, for a .png/.jpg output, dream one still).

    Args:
      preset: a bundled preset name, a YAML path, or a :class:`RenderConfig`.
      output: .mp4 or .gif for a video, .png/.jpg for a still (default ``<preset>.mp4``).
      overrides: ``{"dotted.key": value}`` as with ``--set``.
      frames_dir: also write every frame as a numbered PNG here.
      overwrite: replace an existing output (and its unfinished parts).
      preview: a fast draft: half size, one octave less, half the iterations.
      audio: a soundtrack (``video.audio``): it goes into the MP4, and values written
        ``{audio: FEATURE}`` follow it; audio_length: render as long as the soundtrack.
      checkpoint_every: frames per segment and checkpoint (default: about a minute of
        rendering, fixed after the first frames).
      progress: show a progress bar with seconds per frame and ETA.
      on_frame: called as ``on_frame(index, rgb_uint8)`` for every finished frame.
      net: a loaded network (default: the bundled BVLC GoogLeNet).
      **shortcuts: the command line's shortcuts (:class:`zoomdream.schedule.settings.Shortcuts`):
        ``frames`` or ``seconds`` (the length), ``size`` (``"WxH"`` or (width, height)),
        ``fps``, ``seed``, ``layer`` (one objective for the whole render) and
        ``input_image`` (start from this picture).

    Returns:
      A :class:`RenderResult`. Ctrl-C stops the render cleanly after the frame in
      progress: the video is assembled from every frame rendered so far and the result
      says ``interrupted=True``; an MP4 render can then be continued with :func:`resume`.
    """
    if audio is not None:
        shortcuts = {**shortcuts, "audio": audio}
    picture = Path(output) if output is not None and outputs.output_kind(Path(output)) == "still" else None
    cfg, film, audio = settings.resolve_render(preset, settings.Shortcuts(**shortcuts), overrides, audio_length, picture)
    output = Path(output if output is not None else f"{cfg.name}{'-preview' if preview else ''}.mp4")
    kind = outputs.output_kind(output)
    # Every value of every frame, checked before anything else is looked at or written.
    sound = settings.soundtrack(cfg, audio)
    plan = build_plan(cfg, frames=1 if kind == "still" else None, still=kind == "still", sound=sound)
    outputs.check_output_folder(output)
    width, height = settings.canvas_size(cfg, kind == "still", shortcuts.get("size") is not None)
    if kind == "mp4" and video.check_video_size(width, height):
        raise ConfigError(video.check_video_size(width, height))
    if kind != "mp4" and sound is None:
        if cfg.video.audio is not None:  # (a GIF or still may follow the sound, but cannot carry it)
            raise ConfigError("--audio needs an .mp4 output")
        audio = None  # a film's own sound
    if frames_dir is not None:
        frames_dir = Path(frames_dir).resolve()
        outputs.check_frames_dir(frames_dir, overwrite)
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ConfigError(f"--checkpoint-every must be at least 1, got {checkpoint_every}")

    if preview:
        cfg, plan, width, height = settings.preview(cfg, plan, width, height)
    spec = _spec(cfg, plan, width, height, progress)
    canvas = images.initial_canvas(cfg.start, spec.canvas_shape[1], spec.canvas_shape[0], cfg.seed)

    if kind == "mp4":
        manifest = parts.Manifest.new(
            config_lib.to_dict(cfg), cfg.seed, plan.frames, (width, height), cfg.video.fps, segment_frames=checkpoint_every,
            quality=cfg.video.quality, audio=str(audio) if audio else None, preview=preview,
            frames_dir=str(frames_dir) if frames_dir else None,
        )
        sink: outputs.Sink = outputs.Mp4Output(output, manifest, 0, _key_data(cfg.seed), replace_parts=overwrite)
    elif kind == "gif":
        sink = outputs.GifOutput(output, width, height, cfg.video.fps)
    else:
        sink = outputs.StillOutput(output)
    with lock.output_lock(output):
        outputs.check_output_free(output, overwrite)
        return _run(_Job(cfg, plan, spec, canvas, 0, output, sink, frames_dir, film), net, progress, on_frame)


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

    The frames are those an uninterrupted render would have made, and they go where the
    render sent them (its ``frames_dir`` too, unless another is given). Only the length
    may change (``frames``/``seconds``, not shorter than before); a different preset or
    any other override is refused with the list of what changed.
    """
    output = Path(output)
    with lock.output_lock(output):
        folder = parts.parts_dir(output)
        manifest = parts.Manifest.load(folder)
        stored = config_lib.from_dict(manifest.config)
        cfg = settings.resolve_config(preset if preset is not None else stored,
                                      settings.Shortcuts(frames=frames, seconds=seconds), overrides)
        changed = parts.differences(manifest.config, config_lib.to_dict(cfg))
        if changed:
            raise ConfigError(f"cannot resume {output.name}: its settings changed ({'; '.join(changed)}); "
                              "only --frames/--seconds may grow")
        plan = build_plan(cfg, sound=settings.soundtrack(cfg, Path(manifest.audio) if manifest.audio else None))
        film = clip.probe(cfg.start.video) if cfg.start.kind == "video" else None
        if film is not None and plan.frames > film.frames:
            raise ConfigError(f"cannot resume {output.name} longer than its film: {film.path.name} has "
                              f"{film.frames} frames")
        if plan.frames < manifest.frames:
            raise ConfigError(f"cannot resume {output.name} shorter: it has {manifest.frames} frames, "
                              f"the new length is {plan.frames}")
        width, height = manifest.size
        if manifest.preview:
            cfg, plan, width, height = settings.preview(cfg, plan, *cfg.video.size)
        spec = _spec(cfg, plan, width, height, progress)
        key_data = _key_data(cfg.seed)
        point = parts.resume_point(folder, manifest, key_data)
        for note in point.notes:
            _say(note, True)
        canvas = point.canvas
        if canvas is None:
            canvas = images.initial_canvas(cfg.start, spec.canvas_shape[1], spec.canvas_shape[0], cfg.seed)
        manifest.frames = plan.frames
        manifest.config = config_lib.to_dict(cfg)
        if frames_dir is not None:
            manifest.frames_dir = str(Path(frames_dir).resolve())
        sink = outputs.Mp4Output(output, manifest, point.start, key_data, keep=point.keep,
                                 checkpoint_floor=point.checkpoint_frame)
        frames_to = Path(manifest.frames_dir) if manifest.frames_dir else None
        return _run(_Job(cfg, plan, spec, canvas, point.start, output, sink, frames_to, film), net, progress,
                    on_frame)


def _spec(cfg: RenderConfig, plan: Plan, width: int, height: int, progress: bool) -> DreamSpec:
    """The render's frame step on the devices it may use, saying why if fewer than asked."""
    count, note = settings.device_count(cfg, width, height)
    if note:
        _say(note, True)
    return settings.dream_spec(cfg, plan, width, height, count)


def rerender(source: str | Path, output: str | Path | None = None, **options) -> RenderResult:
    """Render again the video that ``source`` (a zoomdream MP4) records: same config,
    seed and length. ``options`` are those of :func:`render` (overwrite, progress...)."""
    record = parts.read_provenance(source)
    source = Path(source)
    output = output if output is not None else source.with_name(source.stem + "-again" + source.suffix)
    return render(config_lib.from_dict(record.config), output, frames=record.frames, size=record.size, **options)


class _FilmFrames:
    """The film's frames in order, each turned into the canvas its dream starts from.
    A render that resumes at frame k decodes frame k - 1 again for the view the carried
    dream was dreamed on."""

    def __init__(self, job: _Job, key: jax.Array):
        self._job, self._key = job, key
        self._frames = clip.frames(job.film, job.spec.width, job.spec.height, start=max(job.start - 1, 0))
        self._view = None
        if job.start > 0:
            values = job.plan.values.at(job.start - 1)
            self._view = step.film_frame_view(self._next(), values, key, spec=job.spec)

    def _next(self) -> np.ndarray:
        try:
            return next(self._frames)
        except StopIteration:
            raise RenderError(f"{self._job.film.path} ended before the frames it was counted to have") from None
        except (OSError, RuntimeError) as exc:  # imageio-ffmpeg's reader says what ffmpeg said
            raise RenderError(f"reading {self._job.film.path} failed: {video.last_line(str(exc))}") from None

    def start(self, k: int, previous_dream: jax.Array) -> jax.Array:
        """Frame k's starting canvas, given the dream of frame k - 1."""
        values = self._job.plan.values.at(k)
        canvas, self._view = step.film_frame_start(self._next(), self._view, previous_dream, values, self._key,
                                                   spec=self._job.spec)
        return canvas

    def close(self) -> None:
        self._frames.close()


def _say(line: str, progress: bool) -> None:
    """A line for the user about what the render does, unless it is quiet."""
    if progress:
        tqdm.write(f"zoomdream: {line}", file=sys.stderr)


def _key_data(seed: int) -> np.ndarray:
    return np.asarray(jax.random.key_data(jax.random.key(seed)))


# ---- Ctrl-C --------------------------------------------------------------------------------


class _StopRequest:
    """Ctrl-C as a request: the loop stops after the frame in progress, whether the
    request came while compiling, between frames or while a frame was being written, so
    that every frame written is whole and counted. A second Ctrl-C interrupts at once."""

    requested = False

    @contextlib.contextmanager
    def on_sigint(self):
        if threading.current_thread() is not threading.main_thread():
            yield  # only the main thread may handle signals (a web server's worker, say)
            return

        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


# ---- the loop ------------------------------------------------------------------------------


def _compile(job: _Job, example: tuple, progress: bool) -> float:
    """Compile the frame step for ``example`` arguments before the loop, so that the
    progress bar measures frames; JAX keeps the program, and the loop's calls find it.
    A large canvas has its cost said first. Returns the seconds compiling took."""
    large = cost.is_large(job.spec)
    if large:
        _say(cost.frame_cost_line(job.spec, example, job.plan.frames - job.start), True)
    octaves = " -> ".join(f"{w}x{h}" for h, w in job.spec.octave_shapes)
    where = f"; {job.sink.where()}" if job.sink.where() else ""
    _say(f"compiling the frame step once for this render (octaves {octaves}){where} ...", progress)
    cache.enable()
    began = time.perf_counter()
    # (dream.cadence > 1: the frames between only move, with a program of their own.)
    with timeline.span("trace and compile"):
        compiled = step.compile_programs(step.frame_programs(*example, spec=job.spec, move=not job.plan.dreamed.all()))
    if large:
        _say(cost.memory_line([c for _, c in compiled]), True)
    return time.perf_counter() - began


def _run(job: _Job, net: GoogLeNet | None, progress: bool, on_frame: Callable | None) -> RenderResult:
    """Compile once, then dream frames ``job.start .. plan.frames - 1`` into the sinks."""
    plan, spec = job.plan, job.spec
    with timeline.span("load network"):
        net = net if net is not None else load_googlenet()
    objectives.check_against(net, spec.objectives)
    host_memory.keep_freed_memory()
    # On several devices, everything a frame takes is on each of them (see dream/devices.py).
    guides = devices.place(tuple(objectives.guide_features(net, spec.objectives[i]) for i in spec.guide_indices),
                           spec.devices)
    key = devices.place(jax.random.key(job.config.seed), spec.devices)
    canvas = devices.place(jnp.asarray(job.canvas), spec.devices)
    params = devices.place(net.params, spec.devices)
    sinks = [job.sink]
    if job.frames_dir is not None:
        sinks.append(outputs.FrameFiles(job.frames_dir, plan.frames))

    stop = _StopRequest()
    with stop.on_sigint():
        # (A resume of a finished render has no frame left to compile for: it assembles.)
        compile_seconds = (_compile(job, (params, canvas, plan.values.at(job.start), key, guides), progress)
                           if job.start < plan.frames else 0.0)
        bar = tqdm(total=plan.frames, initial=job.start, unit="frame", desc=job.config.name, disable=not progress,
                   dynamic_ncols=True)
        done = job.start  # frames of the video finished, counted from its frame 0
        interrupted = False
        host_seconds, device_waits = 0.0, 0
        loop_start = last = time.perf_counter()

        def emit(k: int, frame_on_device, next_canvas) -> None:
            nonlocal done, last, host_seconds
            with timeline.span("wait for frame", k):
                frame = np.asarray(frame_on_device)  # waits for frame k only; k+1 is already queued
            began_host = time.perf_counter()
            for sink in sinks:
                with timeline.span(f"write {sink.name}", k):
                    sink.write(k, frame)
            if next_canvas is not None:
                with timeline.span("checkpoint", k):
                    for sink in sinks:
                        sink.checkpoint(k + 1, next_canvas)
            done = k + 1
            now = time.perf_counter()
            bar.set_postfix_str(f"layer {plan.layer_label(k)}, {now - last:.2f} s/frame", refresh=False)
            bar.update(1)
            last = now
            if on_frame is not None:
                on_frame(k, frame)
            host_seconds += time.perf_counter() - began_host

        film = _FilmFrames(job, key) if job.film is not None else None
        try:
            try:
                pending = None
                for k in range(job.start, plan.frames):
                    if stop.requested:
                        interrupted = True
                        break
                    run = step.frame_step if plan.dreamed[k] else step.move_step
                    with timeline.span("queue frame", k):
                        if film is not None:
                            canvas = film.start(k, canvas)
                        canvas, frame = run(params, canvas, plan.values.at(k), key, guides, spec=spec)
                    # The next call donates this canvas, so a checkpoint copies it out now.
                    if any(s.checkpoint_due(k + 1) for s in sinks):
                        with timeline.span("copy canvas for checkpoint", k):
                            saved = np.asarray(canvas)
                    else:
                        saved = None
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
                if film is not None:
                    film.close()
            for sink in sinks:
                sink.finish(done, interrupted)
        except OSError as exc:
            for sink in sinks:
                sink.abandon()
            if isinstance(exc, outputs.SegmentsDamaged):
                raise RenderError(f"{job.output} was not assembled: {exc}") from None
            raise RenderError(f"writing {exc.filename or job.output} failed after frame {done}: {exc.strerror or exc}"
                              f"{job.sink.kept()}") from None
        return RenderResult(
            output=job.output,
            frames=done - job.start,
            first_frame=job.start,
            total_frames=plan.frames,
            seconds=time.perf_counter() - loop_start,
            compile_seconds=compile_seconds,
            config=job.config,
            interrupted=interrupted,
            host_seconds=host_seconds,
            device_waits=device_waits,
        )
