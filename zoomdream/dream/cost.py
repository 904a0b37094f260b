"""What a frame will cost, said before a large render starts.

Time comes from XLA's count of the frame's floating-point operations. Loop bodies (tiles,
compiled ascent loops) are counted once by that analysis, so the count is taken on the
host-stepped programs of the same frame at a small size, where nothing is tiled, and
scaled by the area; the time is
that count over a rough throughput for the device. Memory comes from XLA's buffer
assignment of the compiled step (its temporaries, arguments and results), plus what the
process itself holds. Both are estimates, and printed as such.
"""

from __future__ import annotations

import dataclasses
import os

import jax

# Canvases from this many pixels on get their cost said before the render starts.
LARGE_PIXELS = 2_000_000
# The side of the small step whose operations are counted.
PROBE_SIDE = 256
# Rough sustained float32 throughput of one CPU core in the frame step (the project's
# 2-core machines run it at 60-120 GFLOP/s, see the README's Speed section), and how much
# slower tiled gradients run there (a loop body: 68 vs 39 s for a 1920x1080 frame).
CPU_FLOPS_PER_CORE = 35e9
TILED_SLOWDOWN = 1.75
# What the process holds besides the step's buffers: the network, the compiled code,
# Python and the host's copies of frames (measured: ~1.5 GB at 256x256).
PROCESS_BYTES = 1.5e9


def is_large(spec) -> bool:
    height, width, _ = spec.canvas_shape
    return height * width >= LARGE_PIXELS


def flops_per_frame(spec, params, values, key, guides=()) -> float | None:
    """A frame's floating-point operations at ``spec``'s size, or None if XLA cannot say.
    Counted on the host-stepped programs of the same frame at a small size (where
    nothing is tiled), each times its calls per frame, and scaled by the area."""
    from zoomdream.dream.step import DreamSpec, frame_programs

    scale = PROBE_SIDE / max(spec.height, spec.width)
    fixed = ("height", "width", "octave_shapes", "objectives", "max_iterations")
    options = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name not in fixed}
    small = DreamSpec.create(max(round(spec.height * scale), 32), max(round(spec.width * scale), 32),
                             len(spec.octave_shapes), _octave_scale(spec), spec.objectives, spec.max_iterations,
                             **{**options, "tile_size": 0, "host_steps": True})
    canvas = jax.ShapeDtypeStruct(small.canvas_shape, jax.numpy.float32)
    flops = frame_flops([(p, p.lowered) for p in frame_programs(params, canvas, values, key, guides, spec=small)])
    return flops * (spec.height * spec.width) / (small.height * small.width) if flops else None


def frame_flops(programs: list) -> float | None:
    """A frame's operations from ``(Program, lowered or compiled)`` pairs: each program's
    count times its calls per frame; None if XLA cannot count them."""
    flops = 0.0
    for program, analysable in programs:
        analysis = analysable.cost_analysis()
        if analysis is None:
            return None
        # (A program that does nothing, such as entering an octave at the canvas's own
        # size, has an empty analysis: no operations.)
        flops += float(analysis.get("flops", 0.0)) * program.calls_per_frame
    return flops or None


def _octave_scale(spec) -> float:
    """The octave scale that spec's octave sizes were made with."""
    shapes = spec.octave_shapes
    return shapes[-1][0] / shapes[-2][0] if len(shapes) > 1 else 1.4


def seconds_per_frame(spec, flops: float) -> float | None:
    """A rough time for a frame of ``flops`` on this machine's CPU (None on
    accelerators, whose speed varies too much to guess)."""
    if jax.default_backend() != "cpu":
        return None
    tiled = spec.tile_size and max(spec.height, spec.width) > spec.tile_size
    return flops / (CPU_FLOPS_PER_CORE * (os.cpu_count() or 1)) * (TILED_SLOWDOWN if tiled else 1.0)


def memory_bytes(compiled: list) -> float | None:
    """Peak memory of a frame's compiled programs (the largest one's buffers, since they
    run one after another) plus the process's own."""
    analyses = [program.memory_analysis() for program in compiled]
    if not analyses or None in analyses:
        return None
    buffers = max(a.temp_size_in_bytes + a.argument_size_in_bytes + a.output_size_in_bytes for a in analyses)
    return buffers + (PROCESS_BYTES if jax.default_backend() == "cpu" else 0)


def available_bytes() -> float | None:
    """Memory the step can use: the device's limit on an accelerator, the host's
    available memory on a CPU."""
    if jax.default_backend() != "cpu":
        return (jax.devices()[0].memory_stats() or {}).get("bytes_limit")
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def frame_cost_line(spec, example: tuple, frames: int) -> str:
    """What to say before a large render compiles: its size and a rough time per frame.
    ``example``: the frame step's arguments (params, canvas, values, key, guides)."""
    height, width, _ = spec.canvas_shape
    params, _, values, key, guides = example
    flops = flops_per_frame(spec, params, values, key, guides)
    line = f"{width}x{height} is a large canvas ({width * height / 1e6:.1f} megapixels)"
    seconds = seconds_per_frame(spec, flops) if flops else None
    if flops:
        line += f": {flops / 1e12:.1f} TFLOP per frame"
    if seconds:
        line += f", roughly {duration(seconds)} per frame on this CPU"
        line += f" ({duration(seconds * frames)} for {frames} frames)" if frames > 1 else ""
    return line


def memory_line(compiled: list) -> str:
    """What to say once a large render has compiled, before its first frame."""
    need, have = memory_bytes(compiled), available_bytes()
    if need is None:
        return "XLA cannot say how much memory the frame step needs"
    line = f"the frame step needs about {need / 1e9:.1f} GB of memory"
    if have and need > have:
        line += (f", more than the {have / 1e9:.1f} GB available: the render may be stopped for lack of memory "
                 "(a smaller dream.tile_size needs less)")
    elif have:
        line += f" ({have / 1e9:.1f} GB available)"
    return line


def duration(seconds: float) -> str:
    """``40 s``, ``3 min``, ``2.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
