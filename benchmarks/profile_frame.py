"""Where a frame's time goes: a jax.profiler trace of frames of the 256x256, 4 octave x 10
iteration step, its XLA operations summed by kind (the number suffixes of fused ops are
dropped, so ``ynn_fusion.12`` counts as ``ynn_fusion``)."""

from __future__ import annotations

import collections
import glob
import gzip
import json
import re
import tempfile

import numpy as np

FRAMES = 3


def profile() -> dict:
    import jax

    import zoomdream
    from zoomdream import dream, images

    net = zoomdream.load_googlenet()
    spec = dream.DreamSpec.create(256, 256, 4, 1.4, ("inception_4c/output",), max_iterations=10)
    step = dream.compile_frame_step(spec)
    canvas = jax.numpy.asarray(images.noise_canvas(256, 256, 48.0, 0))
    fp = dream.frame_values([1.0], zoom=1.0526)
    for _ in range(2):  # compile and warm up
        canvas, frame = step(net.params, canvas, fp, jax.random.key(0))
    np.asarray(frame)
    folder = tempfile.mkdtemp(prefix="zoomdream-profile-")
    with jax.profiler.trace(folder, create_perfetto_trace=True):
        for _ in range(FRAMES):
            canvas, frame = step(net.params, canvas, fp, jax.random.key(0))
            np.asarray(frame)
    trace = json.load(gzip.open(glob.glob(f"{folder}/**/*.trace.json.gz", recursive=True)[-1]))
    totals: collections.Counter = collections.Counter()
    skip = ("$", "Thunk", "Slinky", "Pjit", "CommonPjRt", "end:")
    for event in trace["traceEvents"]:
        if event.get("ph") == "X" and not event["name"].startswith(skip):
            totals[re.sub(r"\.\d+$", "", event["name"])] += event["dur"]
    total = sum(totals.values())
    ops = [{"op": name, "ms_per_frame": round(us / FRAMES / 1000, 1), "share": round(us / total, 3)}
           for name, us in totals.most_common(15)]
    for row in ops:
        print(f"{row['ms_per_frame']:8.1f} ms  {100 * row['share']:5.1f}%  {row['op']}")
    return {"frames": FRAMES, "op_ms_per_frame": round(total / FRAMES / 1000, 1), "ops": ops}
