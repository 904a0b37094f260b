"""``python -m zoomdream``: argv -> config -> render. The only place that parses argv.

User mistakes (a bad preset, key, layer, size or output) end with one line on stderr
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from zoomdream import timeline
from zoomdream.dream import hosts
from zoomdream.errors import ConfigError
from zoomdream.frontends import planview
from zoomdream.frontends.startup import EXIT_INTERRUPTED
from zoomdream.io import lock, outputs
from zoomdream.io.images import ImageError
from zoomdream.network import googlenet
from zoomdream.render import DEFAULT_PRESET, RenderError, render, render_sweep, rerender, resume
from zoomdream.schedule import config as config_lib
from zoomdream.schedule import settings
from zoomdream.schedule.plan import build_plan

EXIT_FAILED = 1
EXIT_USAGE = 2

EPILOG = """\
examples:
  python -m zoomdream --preset noise-to-dogs              noise to dogs, as noise-to-dogs.mp4
  python -m zoomdream --preset classic-zoom --seconds 4 --size 320x180 -o zoom.mp4
  python -m zoomdream --preset classic-zoom --input photo.jpg -o dreamed.png
  python -m zoomdream --preset noise-to-dogs --set dream.step_size=2 --set camera.zoom_per_second=2
  python -m zoomdream --preset spiral --plan spiral.png  the schedule as a table and a plot
  python -m zoomdream --preset music-pulse --audio song.mp3 --audio-length   zoom with the music
  python -m zoomdream --preset classic-zoom --layer class:banana --seconds 2
  python -m zoomdream --resume noise-to-dogs.mp4         continue after Ctrl-C, a kill or a crash
  python -m zoomdream --preset classic-zoom --sweep seed=0..3 -o zoom.mp4   four videos at once: zoom_0.mp4 ...
  python -m zoomdream --list-layers                       which layer draws what
  python -m zoomdream serve                               a web page at http://127.0.0.1:8000/

Presets are YAML files; --list-keys prints every key with its default and meaning.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        self.exit(EXIT_USAGE, f"zoomdream: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m zoomdream",
        description="Infinite-zoom DeepDream videos: start from noise or a picture, dream a frame "
        "with BVLC GoogLeNet, zoom into it, feed it back, and move through the network's layers "
        "over time. Writes an MP4 (checkpointed: --resume continues it after any crash) or a GIF, "
        "or a single dreamed picture for a .png/.jpg output.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", metavar="NAME|PATH",
                   help="a bundled preset (see --list-presets) or a YAML file (default: noise-to-dogs)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output file: .mp4 or .gif for a video, .png/.jpg for one dreamed still (default: PRESET.mp4)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--frames", type=int, metavar="N", help="render N frames")
    length.add_argument("--seconds", type=float, metavar="S", help="render S seconds of video")
    p.add_argument("--size", metavar="WxH", help="canvas size, e.g. 640x360 (even numbers for MP4)")
    p.add_argument("--fps", type=float, metavar="F", help="frames per second (motion per second stays the same)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (same seed, same video on the same backend)")
    p.add_argument("--layer", metavar="OBJECTIVE",
                   help="dream this for the whole render: a layer (inception_4c/output), channels "
                   "(inception_4d/output:97), class:banana or guide:picture.jpg")
    p.add_argument("--input", metavar="FILE", help="start from this picture (any size; cropped to fill the canvas), or "
                   "dream this video (.mp4, .mov, .mkv...) frame by frame, keeping its frame rate, length and sound")
    p.add_argument("--devices", metavar="N|all", help="dream each frame on N devices, or all that JAX sees (dream.devices; "
                   "default auto: all, when the canvas has tiles enough to share)")
    p.add_argument("--distributed", nargs="?", const="auto", metavar="ADDRESS:PORT,PROCESSES,ID",
                   help="render on several hosts (jax.distributed): run the same command on each; alone, JAX finds "
                   "the cluster (automatic on a TPU pod slice); else the first process's address, the number of "
                   "processes and this one's number. Each process writes the outputs its devices dream")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset key, e.g. --set dream.iterations=5 (repeatable)")
    p.add_argument("--sweep", action="append", default=[], metavar="KEY=VALUES",
                   help="render one video per value, side by side in one program: seed=0..3 (a range), "
                   "dream.step_size=1,1.5,2 (a list), or layer=...; repeat for every combination. Writes "
                   "OUT_0.mp4, OUT_1.mp4 ... and OUT_sweep.json with each one's values")
    p.add_argument("--frames-dir", metavar="DIR", help="also write every frame as DIR/frame_00001.png ...")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file or frames")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--resume", metavar="OUT", help="continue the interrupted or killed render of OUT (an .mp4); "
                   "with a larger --frames/--seconds, lengthen a finished one")
    p.add_argument("--from", dest="from_video", metavar="VIDEO", help="render again the video that VIDEO (a zoomdream "
                   "MP4) records: same settings, seed and length (to -o, default VIDEO-again.mp4)")
    p.add_argument("--assemble", metavar="OUT", help="join the finished segments of OUT's render into a playable OUT now")
    p.add_argument("--preview", action="store_true", help="a fast draft of the same schedule: half size, one octave "
                   "less, half the iterations (default output PRESET-preview.mp4)")
    p.add_argument("--audio", metavar="FILE", help="a soundtrack (any format ffmpeg reads, or 'demo'): it goes into the "
                   "MP4 (the video keeps its length), and values written {audio: onsets, ...} follow it")
    p.add_argument("--audio-length", action="store_true", help="render exactly as long as the soundtrack")
    p.add_argument("--checkpoint-every", type=int, metavar="N", help="frames between checkpoints (default: about a "
                   "minute of rendering)")
    p.add_argument("--plan", nargs="?", const="", metavar="FILE",
                   help="render nothing: print the schedule at its keyframes and layer changes; with FILE, "
                   "write every per-frame value as JSON (FILE.json), or a plot of the curves and the JSON "
                   "beside it (FILE.png)")
    p.add_argument("--timeline", metavar="FILE", help="also write where the render's time went to FILE as JSON: "
                   "compiling, and for every frame queueing, waiting, encoding, PNG files and checkpoints, with "
                   "the CPU time of each thread and of ffmpeg")
    p.add_argument("--list-presets", action="store_true", help="list the bundled presets and exit")
    p.add_argument("--list-layers", action="store_true", help="print the layer table and exit")
    p.add_argument("--list-keys", action="store_true", help="print every preset key with its default and exit")
    return p


def layer_table_text() -> str:
    rows = [("layer", "channels", "stride", "what it tends to draw")]
    rows += [(layer.name, str(layer.channels), str(layer.stride), layer.note) for layer in googlenet.LAYERS]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows)


def presets_text() -> str:
    lines = []
    for name in config_lib.available_presets():
        raw = config_lib.read_yaml(config_lib.preset_path(name))
        lines.append(f"{name:<16} {raw.get('description', '')}")
    return "\n".join(lines)


def keys_text() -> str:
    rows = config_lib.key_docs()
    width = max(len(k) for k, _, _ in rows)
    dwidth = max(len(d) for _, d, _ in rows)
    return "\n".join(f"{k:<{width}}  {d:<{dwidth}}  {doc}" for k, d, doc in rows)


def _shortcuts(args: argparse.Namespace) -> settings.Shortcuts:
    return settings.Shortcuts(frames=args.frames, seconds=args.seconds, size=args.size, fps=args.fps, seed=args.seed,
                              layer=args.layer, input_image=args.input, audio=args.audio, devices=args.devices)


def _plan(args: argparse.Namespace, overrides: dict) -> int:
    cfg, _, audio = settings.resolve_render(args.preset or DEFAULT_PRESET, _shortcuts(args), overrides, args.audio_length)
    sound = settings.soundtrack(cfg, audio)
    plan = build_plan(cfg, sound=sound)
    print(planview.plan_table(cfg, plan))
    for path in planview.write_plan(cfg, plan, args.plan or None, sound):
        print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:  # the web page: its own options (python -m zoomdream serve --help)
        from zoomdream.web.serve import main as serve

        return serve(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.list_layers:
            print(layer_table_text())
            return 0
        if args.list_presets:
            print(presets_text())
            return 0
        if args.list_keys:
            print(keys_text())
            return 0
        return _render(args)
    except ConfigError as exc:
        print(f"zoomdream: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RenderError as exc:
        print(f"zoomdream: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # a second Ctrl-C, while the video was being finished
        print("zoomdream: interrupted; the finished parts are kept: --assemble or --resume uses them", file=sys.stderr)
        return EXIT_INTERRUPTED


def _check_timeline_path(path: Path) -> None:
    """Refuse, before rendering, a --timeline that could not be written at the end."""
    folder = path.resolve().parent
    if path.is_dir():
        raise ConfigError(f"--timeline {str(path)!r} is a folder; name a file")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ConfigError(f"--timeline {str(path)!r}: its folder does not exist or cannot be written")


def _write_timeline(path: str | None) -> None:
    if not path:
        return
    try:
        timeline.write(path)
    except OSError as exc:
        print(f"zoomdream: could not write the timeline {path}: {exc.strerror or exc}", file=sys.stderr)


def _render(args: argparse.Namespace) -> int:
    overrides = dict(config_lib.parse_assignment(s) for s in args.set)
    if args.plan is not None:
        if args.sweep:
            raise ConfigError("--plan shows one render's schedule; give one variant's values with --set instead of --sweep")
        return _plan(args, overrides)
    if args.distributed or (args.distributed is None and hosts.on_tpu_pod_slice()):
        print(f"zoomdream: {hosts.join(args.distributed or 'auto')}", file=sys.stderr)
    progress = not args.quiet
    if args.timeline:
        _check_timeline_path(Path(args.timeline))
        timeline.start()
    try:
        if args.assemble:
            with lock.output_lock(Path(args.assemble)):
                print(f"wrote {outputs.assemble(Path(args.assemble))}")
            return 0
        if args.sweep and (args.resume or args.from_video):
            raise ConfigError("--sweep makes new renders; --resume continues one of its outputs (OUT_n.mp4) by itself")
        if args.sweep:
            return _report(render_sweep(
                args.preset or DEFAULT_PRESET, args.output, args.sweep, overrides=overrides, overwrite=args.overwrite,
                preview=args.preview, audio_length=args.audio_length, checkpoint_every=args.checkpoint_every,
                frames_dir=args.frames_dir, progress=progress, **dataclasses.asdict(_shortcuts(args))))
        if args.resume:
            # A --preset given with --resume is compared with the stored settings.
            result = resume(args.resume, frames=args.frames, seconds=args.seconds, preset=args.preset, overrides=overrides,
                            frames_dir=args.frames_dir, progress=progress)
        elif args.from_video:
            result = rerender(args.from_video, args.output, overwrite=args.overwrite, frames_dir=args.frames_dir,
                              progress=progress)
        else:
            result = render(
                args.preset or DEFAULT_PRESET, args.output, overrides=overrides, overwrite=args.overwrite,
                preview=args.preview, audio_length=args.audio_length,
                checkpoint_every=args.checkpoint_every, frames_dir=args.frames_dir, progress=progress,
                **dataclasses.asdict(_shortcuts(args)),
            )
    except ImageError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:  # outside a render loop, e.g. --assemble on a damaged folder
        raise RenderError(str(exc)) from None
    finally:
        _write_timeline(args.timeline)
    return _report([result])


def _report(results: list) -> int:
    """Say what the render (or each output of a sweep) wrote; the exit status."""
    results = [r for r in results if r.written]  # (on several hosts, each says its own)
    first = results[0] if results else None
    if first is not None and first.interrupted and first.frames == 0 and first.first_frame == 0:
        print("zoomdream: interrupted before the first frame; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    for result in results:
        if result.interrupted:
            again = f"; --resume {result.output} continues" if result.output.suffix.lower() == ".mp4" else ""
            print(f"zoomdream: interrupted; {result.output} holds the frames rendered so far{again}", file=sys.stderr)
        else:
            # (A warm start compiles nothing ahead: its programs load with the first frame.)
            compiling = f", after {result.compile_seconds:.0f} s of compiling" if result.compile_seconds >= 0.5 else ""
            print(f"wrote {result.output} ({result.frames} frames in {result.seconds:.0f} s{compiling})")
    return EXIT_INTERRUPTED if any(r.interrupted for r in results) else 0
