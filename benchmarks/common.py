"""Helpers shared by the benchmarks: environment record, timing, peak memory, JSON output."""

from __future__ import annotations

import functools
import json
import platform
import resource
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import jax

RESULTS = Path(__file__).parent / "results"


def environment() -> dict:
    import flax

    import zoomdream

    device = jax.devices()[0]
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": f"{device.platform}: {getattr(device, 'device_kind', '')}",
        "cpu_count": __import__("os").cpu_count(),
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "zoomdream": zoomdream.__version__,
    }


def cpu_model() -> str:
    """The CPU's model name and its widest vector instructions (machines of one kind
    differ: AVX-512 Xeons and AVX2 EPYCs are 30-50% apart)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    widest = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model} ({widest})"


def one_frame(width: int, height: int, octaves: int, iterations: int, layer: str = "inception_4c/output",
              zoom: float = 1.0526, **spec_options):
    """What the frame benchmarks time: (net, spec, noise canvas, one frame's values, key)
    for a frame of ``octaves`` x ``iterations`` at ``layer`` followed by a ``zoom``, with
    the presets' other defaults."""
    import zoomdream
    from zoomdream.dream.step import DreamSpec
    from zoomdream.io import images
    from zoomdream.schedule.values import default_values

    values = default_values([1.0], iterations=iterations, zoom=zoom)
    spec = DreamSpec.create(height, width, octaves, float(values.octave_scale), (layer,), max_iterations=iterations,
                            **spec_options)
    canvas = jax.numpy.asarray(images.noise_canvas(width, height, 48.0, 0))
    return zoomdream.load_googlenet(), spec, canvas, values, jax.random.key(0)


def compiled_step(spec, net, canvas, values, key):
    """The frame step compiled for these arguments as the render compiles it: (the frame
    step to call without ``spec``, its compiled programs, XLA's FLOPs per frame or None)."""
    from zoomdream.dream import cost, host_memory, step

    host_memory.keep_freed_memory()
    compiled = step.compile_programs(step.frame_programs(net.params, canvas, values, key, spec=spec))
    # (XLA counts a loop's body once: the compiled-loop form and tiles are counted apart.)
    flops = cost.frame_flops(compiled) if spec.host_steps and not spec.tile_size else \
        cost.flops_per_frame(spec, net.params, values, key)
    return functools.partial(step.frame_step, spec=spec), [c for _, c in compiled], flops


def timed(fn, *args):
    """Run ``fn(*args)`` and block on its result; return (result, seconds)."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def steady_seconds(fn, args, repeats: int) -> dict:
    times = [timed(fn, *args)[1] for _ in range(repeats)]
    return {"median_s": statistics.median(times), "min_s": min(times), "repeats": repeats}


def _host_peak_mb() -> float:
    """Peak resident memory of this process. Linux's VmHWM, because getrusage's maxrss
    survives exec and would report a larger parent's peak for a child process."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory() -> dict:
    """Peak host memory of this process (CPU backend allocations live there) and, on an
    accelerator, the device allocator's peak."""
    out = {"host_peak_rss_mb": _host_peak_mb()}
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        out["device_peak_mb"] = stats["peak_bytes_in_use"] / 2**20
    return out


def write_result(name: str, record: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    platform_name = jax.devices()[0].platform
    path = RESULTS / f"{name}-{platform_name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    return path
