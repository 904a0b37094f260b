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

    from common import compiled_step, one_frame

    net, spec, canvas, fp, key = one_frame(256, 256, 4, 10)
    step = compiled_step(spec, net, canvas, fp, key)[0]
    for _ in range(2):  # warm up
        canvas, frame = step(net.params, canvas, fp, key)
    np.asarray(frame)
    folder = tempfile.mkdtemp(prefix="zoomdream-profile-")
    with jax.profiler.trace(folder, create_perfetto_trace=True):
        for _ in range(FRAMES):
            canvas, frame = step(net.params, canvas, fp, key)
            np.asarray(frame)
    with gzip.open(glob.glob(f"{folder}/**/*.trace.json.gz", recursive=True)[-1]) as file:
        trace = json.load(file)
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
