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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from zoomdream import timeline
from zoomdream.dream import cache, color, cost, devices, host_memory, objectives, step, warm_start
from zoomdream.dream.step import DreamSpec
from zoomdream.errors import ConfigError
from zoomdream.io import clip, images, lock, outputs, parts, video
from zoomdream.network.googlenet import GoogLeNet
from zoomdream.network.weights import load_googlenet
from zoomdream.schedule import config as config_lib
from zoomdream.schedule import settings
from zoomdream.schedule import sweep as sweep_lib
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
    # False in the processes of a render on several hosts that did not write this output
    # (another process did).
    written: bool = True


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
    # Colour coherence: the tone frame `start` is held to, or None when no frame holds its
    # colours (see dream/color.py).
    tone: np.ndarray | None = None


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
    job = _new_job(preset, output, overrides, frames_dir, overwrite, preview, audio_length, checkpoint_every, progress,
                   shortcuts)
    with _claimed(_Batch([job]).outputs(), overwrite):
        return _run([job], net, progress, on_frame)[0]


@contextlib.contextmanager
def _claimed(paths: list[Path], overwrite: bool):
    """Hold the locks of the outputs this process writes, each checked free, for the
    render."""
    with contextlib.ExitStack() as held:
        for path in paths:
            held.enter_context(lock.output_lock(path))
            outputs.check_output_free(path, overwrite)
        yield


def _new_job(preset, output, overrides, frames_dir, overwrite: bool, preview: bool, audio_length: bool,
             checkpoint_every: int | None, progress: bool, shortcuts: dict, sweep: bool = False) -> _Job:
    """A new render of ``preset`` to ``output``, checked and ready to run (nothing
    written yet). ``sweep``: a variant of a sweep, whose devices the sweep chooses."""
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
        if not sweep or frames_dir.parent.is_dir():  # (a sweep's folder of them was checked, and is made later)
            outputs.check_frames_dir(frames_dir, overwrite)
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ConfigError(f"--checkpoint-every must be at least 1, got {checkpoint_every}")

    if preview:
        cfg, plan, width, height = settings.preview(cfg, plan, width, height)
    spec = settings.dream_spec(cfg, plan, width, height) if sweep else _spec(cfg, plan, width, height, progress)
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
    return _Job(cfg, plan, spec, canvas, 0, output, sink, frames_dir, film, settings.color_tone(cfg, plan))


def render_sweep(
    preset: str | RenderConfig = DEFAULT_PRESET,
    output: str | Path | None = None,
    sweep: Sequence[str] = (),
    *,
    overrides: dict[str, Any] | None = None,
    frames_dir: str | Path | None = None,
    overwrite: bool = False,
    preview: bool = False,
    audio_length: bool = False,
    checkpoint_every: int | None = None,
    progress: bool = True,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
    net: GoogLeNet | None = None,
    **shortcuts: Any,
) -> list[RenderResult]:
    """Render variants of a preset side by side: one output per variant,
    ``<stem>_<n><suffix>``, and ``<stem>_sweep.json`` listing each variant's values.

    ``sweep``: ``--sweep`` options (``["seed=0..3"]``, ``["dream.step_size=1,1.5,2"]``,
    several for every combination; see :mod:`zoomdream.schedule.sweep`). Variants whose
    frame step has the same static shape (they differ in data only: seed, scheduled
    values, layers) are dreamed as one batch by one compiled program, shared out over
    the devices; others are rendered one after another, which a line says. Each
    variant's output is an ordinary render of its settings (``--resume`` continues it).
    Other arguments as :func:`render`'s, for every variant (a variant's
    ``frames_dir`` is ``frames_dir/<stem>_<n>``; ``on_frame`` sees the first variant's
    frames).
    """
    variants = sweep_lib.parse(sweep)
    base = settings.resolve_config(preset, settings.Shortcuts(**shortcuts), overrides)
    output = Path(output if output is not None else f"{base.name}{'-preview' if preview else ''}.mp4")
    if frames_dir is not None:  # the variants' folders go in it (made with their first frames)
        frames_dir = Path(frames_dir).resolve()
        outputs.check_frames_dir(frames_dir, overwrite)
    jobs = [_new_job(preset, v.output(output), {**(overrides or {}), **v.overrides},
                     frames_dir / v.output(output).stem if frames_dir is not None else None, overwrite, preview,
                     audio_length, checkpoint_every, progress, shortcuts, sweep=True) for v in variants]
    batch, why = sweep_lib.batch_spec([j.spec for j in jobs], [j.plan for j in jobs])
    if batch is not None:
        count, note = devices.for_variants(jobs[0].config.dream.devices, len(jobs))
        batch = dataclasses.replace(batch, devices=count)
        jobs = [dataclasses.replace(j, spec=batch, plan=sweep_lib.over_objectives(j.plan, batch.objectives)) for j in jobs]
        mine = _Batch(jobs).outputs()
    else:  # one render after another, each on the devices it can use
        note = f"{why}: rendering the {len(jobs)} variants one after another"
        jobs = [dataclasses.replace(j, spec=dataclasses.replace(
            j.spec, devices=settings.device_count(j.config, j.spec.width, j.spec.height)[0])) for j in jobs]
        mine = [j.output for j in jobs] if jax.process_index() == 0 else []
    with _claimed(mine, overwrite):
        if jax.process_index() == 0:
            sweep_lib.write_record(sweep_lib.record_path(output), variants, [j.output for j in jobs], batch)
        for variant, job in zip(variants, jobs):
            _say(f"variant {variant.index}: {variant.label} -> {job.output}", progress)
        if note:
            _say(note, True)
        if batch is not None:
            return _run(jobs, net, progress, on_frame)
        results = []
        for job in jobs:
            results += _run([job], net, progress, on_frame if job is jobs[0] else None)
            if results[-1].interrupted:
                break
        return results


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
    # (On several hosts the first process writes a single render; the others only dream.)
    with lock.output_lock(output) if jax.process_index() == 0 else contextlib.nullcontext():
        folder = parts.parts_dir(output)
        manifest = parts.Manifest.load(folder)
        stored = config_lib.from_dict(manifest.config)
        cfg = settings.resolve_config(preset if preset is not None else stored,
                                      settings.Shortcuts(frames=frames, seconds=seconds), overrides)
        # (Stored settings read back with today's defaults: a key added since is no change.)
        changed = parts.differences(config_lib.to_dict(stored), config_lib.to_dict(cfg))
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
        canvas, tone = point.canvas, settings.color_tone(cfg, plan)
        if canvas is None:
            canvas = images.initial_canvas(cfg.start, spec.canvas_shape[1], spec.canvas_shape[0], cfg.seed)
        elif tone is not None and point.tone is not None:  # the tone the render had reached
            tone = color.saved_tone(point.tone)
        manifest.frames = plan.frames
        manifest.config = config_lib.to_dict(cfg)
        if frames_dir is not None:
            manifest.frames_dir = str(Path(frames_dir).resolve())
        sink = outputs.Mp4Output(output, manifest, point.start, key_data, keep=point.keep,
                                 checkpoint_floor=point.checkpoint_frame)
        frames_to = Path(manifest.frames_dir) if manifest.frames_dir else None
        return _run([_Job(cfg, plan, spec, canvas, point.start, output, sink, frames_to, film, tone)], net, progress,
                    on_frame)[0]


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


def _compile(job: _Job, example: tuple, progress: bool, hold: bool) -> float:
    """Compile the frame step for ``example`` arguments before the loop, so that the
    progress bar measures frames; JAX keeps the program, and the loop's calls find it.
    (Programs a warm start reads from the store load at their first call instead, the
    first running while the later load.) A large canvas has its cost said first.
    ``hold``: colours are held before frames. Returns the seconds compiling took."""
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
        # (A large canvas compiles all before its first frame, to say its memory first.)
        compiled = step.compile_programs(step.frame_programs(*example, spec=job.spec, move=not job.plan.dreamed.all(),
                                                             hold=hold), defer_stored=not large)
    if large:
        _say(cost.memory_line([c for _, c in compiled]), True)
    return time.perf_counter() - began


def _run(jobs: list[_Job], net: GoogLeNet | None, progress: bool, on_frame: Callable | None) -> list[RenderResult]:
    """Compile once, then dream frames ``start .. plan.frames - 1`` into the sinks: of one
    job, or of a sweep's variants as one batch (``spec.variants`` jobs of one spec,
    length and start). On several hosts, each process writes the variants its devices
    dream (a single render: the first process writes it)."""
    job, spec = jobs[0], jobs[0].spec
    plan, batch = job.plan, _Batch(jobs)
    with timeline.span("load network"):
        net = net if net is not None else load_googlenet()
    objectives.check_against(net, spec.objectives)
    host_memory.keep_freed_memory()
    # On several devices, everything a frame takes is on each of them, or a sweep's
    # variants are shared out (see dream/devices.py).
    guides = devices.place(tuple(objectives.guide_features(net, spec.objectives[i]) for i in spec.guide_indices),
                           spec.devices)
    key, canvas, tone = batch.keys(), batch.canvases(), batch.tones()
    params = devices.place(net.params, spec.devices)
    owned = batch.owned()
    sinks = {v: [jobs[v].sink] + ([outputs.FrameFiles(jobs[v].frames_dir, plan.frames)] if jobs[v].frames_dir else [])
             for v in owned}
    every_sink = [sink for group in sinks.values() for sink in group]

    stop = _StopRequest()
    with stop.on_sigint():
        # (A resume of a finished render has no frame left to compile for: it assembles.)
        compile_seconds = (_compile(job, (params, canvas, batch.values(job.start), key, guides), progress,
                                    tone is not None)
                           if job.start < plan.frames else 0.0)
        label = job.config.name if len(jobs) == 1 else f"{job.config.name} x{len(jobs)}"
        bar = tqdm(total=plan.frames, initial=job.start, unit="frame", desc=label, disable=not progress,
                   dynamic_ncols=True)
        done = job.start  # frames of the video finished, counted from its frame 0
        interrupted = False
        host_seconds, device_waits = 0.0, 0
        loop_start = last = time.perf_counter()

        def emit(k: int, frame_on_device, next_canvas) -> None:
            nonlocal done, last, host_seconds
            with timeline.span("wait for frame", k):
                frames = batch.local(frame_on_device)  # waits for frame k only; k+1 is already queued
            began_host = time.perf_counter()
            for v, group in sinks.items():
                for sink in group:
                    with timeline.span(f"write {sink.name}", k):
                        sink.write(k, frames[v])
            if next_canvas is not None:
                with timeline.span("checkpoint", k):
                    next_canvas, next_tone = next_canvas
                    for v, group in sinks.items():
                        for sink in group:
                            if sink.checkpoint_due(k + 1):  # (a sweep's MP4s each keep their own segments)
                                sink.checkpoint(k + 1, next_canvas[v], None if next_tone is None else next_tone[v])
            done = k + 1
            warm_start.after_frame()  # the programs called so far: the next start loads them first
            now = time.perf_counter()
            bar.set_postfix_str(f"layer {plan.layer_label(k)}, {now - last:.2f} s/frame", refresh=False)
            bar.update(1)
            last = now
            if on_frame is not None and 0 in frames:
                on_frame(k, frames[0])
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
                        values = batch.values(k)
                        if film is not None:
                            canvas = film.start(k, canvas)
                        if tone is not None and k > 0:  # (a dreamed canvas: the first frame's is not)
                            canvas, tone = step.hold_colour(canvas, tone, values, spec=spec)
                        canvas, frame = run(params, canvas, values, key, guides, spec=spec)
                    # The next call donates this canvas, so a checkpoint copies it out now.
                    if any(s.checkpoint_due(k + 1) for s in every_sink):
                        with timeline.span("copy canvas for checkpoint", k):
                            saved = batch.local(canvas), None if tone is None else batch.local(tone)
                    else:
                        saved = None
                    if pending is not None:
                        emit(*pending)
                        device_waits += bool(frame.is_ready())  # frame k done before the host finished k-1
                    pending = (k, frame, saved)
                    if k == job.start:
                        # The first frame is written as soon as it is done, not once the next
                        # is queued (queueing waits on the device: 0.7 s later at 256x256 on
                        # two cores); the device pauses for that one write.
                        emit(*pending)
                        pending = None
                if pending is not None:
                    emit(*pending)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                bar.close()
                if film is not None:
                    film.close()
            for sink in every_sink:
                sink.finish(done, interrupted)
        except OSError as exc:
            for sink in every_sink:
                sink.abandon()
            if isinstance(exc, outputs.SegmentsDamaged):
                raise RenderError(f"{job.output} was not assembled: {exc}") from None
            failed = next((j for j in jobs if j.output == Path(exc.filename or "")), job)
            raise RenderError(f"writing {exc.filename or failed.output} failed after frame {done}: {exc.strerror or exc}"
                              f"{failed.sink.kept()}") from None
        seconds = time.perf_counter() - loop_start
        return [RenderResult(
            output=jobs[v].output,
            frames=done - job.start,
            first_frame=job.start,
            total_frames=plan.frames,
            seconds=seconds,
            compile_seconds=compile_seconds,
            config=jobs[v].config,
            interrupted=interrupted,
            host_seconds=host_seconds,
            device_waits=device_waits,
            written=v in sinks,
        ) for v in range(len(jobs))]


class _Batch:
    """The arrays of one render, or of a sweep's variants stacked on a leading axis, and
    the variants this process holds."""

    def __init__(self, jobs: list[_Job]):
        self.jobs, self.spec = jobs, jobs[0].spec
        self.sweep = self.spec.variants > 1

    def keys(self) -> jax.Array:
        data = [_key_data(j.config.seed) for j in self.jobs]
        return jax.random.wrap_key_data(devices.place(np.stack(data) if self.sweep else data[0], self.spec.devices,
                                                      variants=self.sweep))

    def canvases(self) -> jax.Array:
        if not self.sweep:
            return devices.place(jnp.asarray(self.jobs[0].canvas), self.spec.devices)
        return devices.place(np.stack([j.canvas for j in self.jobs]), self.spec.devices, variants=True)

    def tones(self) -> jax.Array | None:
        """The colour tones the first frame is held to (None: colours are not held)."""
        if all(j.tone is None for j in self.jobs):
            return None
        # (in a sweep, a variant that holds no colours has strength 0 at every frame)
        tones = [j.tone if j.tone is not None else color.unset_tone() for j in self.jobs]
        return devices.place(np.stack(tones) if self.sweep else tones[0], self.spec.devices, variants=self.sweep)

    def values(self, k: int):
        """Frame ``k``'s values (host arrays)."""
        if not self.sweep:
            return self.jobs[0].plan.values.at(k)
        return sweep_lib.stack([j.plan.values.at(k) for j in self.jobs])

    def owned(self) -> list[int]:
        """The variants (0 for a single render) whose frames this process writes."""
        if not self.sweep:
            return [0] if jax.process_index() == 0 else []
        sharding = devices.split(self.spec.devices)
        if sharding is None:
            return list(range(len(self.jobs)))
        held = sharding.addressable_devices_indices_map((len(self.jobs),)).values()
        return sorted({v for (index,) in held for v in range(len(self.jobs))[index]})

    def outputs(self) -> list[Path]:
        """The outputs this process writes."""
        return [self.jobs[v].output for v in self.owned()]

    def local(self, array: jax.Array) -> dict[int, np.ndarray]:
        """A result on the host, by variant, as far as this process holds it."""
        if not self.sweep:
            return {0: np.asarray(array if array.is_fully_addressable else array.addressable_data(0))}
        if array.is_fully_addressable:
            return dict(enumerate(np.asarray(array)))
        out = {}
        for shard in array.addressable_shards:
            first = shard.index[0].start or 0
            out.update({first + i: item for i, item in enumerate(np.asarray(shard.data))})
        return out
