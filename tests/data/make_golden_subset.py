"""Make tests/data/golden_subset.npz from the full golden file (run once, by hand).

The full file (../shared/golden/googlenet_coffee.npz, float64 computations of the exact
network stored as float32) is 3.9 MB; the tests need far less to catch a wrong port:

* the two source crops as uint8 RGB (the network input is derived from them exactly);
* every 4th channel of each golden blob, float32 as stored (each inception branch is at
  least 16 channels wide, so every branch and the concatenation order are covered);
* the input gradients as float16 (they are compared by cosine similarity, which float16
  rounding moves by less than 1e-6);
* logits, top-5, losses and the mean.

    python tests/data/make_golden_subset.py ../shared/golden/googlenet_coffee.npz
"""

import sys
from pathlib import Path

import numpy as np

CHANNEL_STEP = 4


def main(source: str) -> None:
    g = np.load(source)
    out = {"mean_bgr": g["mean_bgr"], "logits_224": g["logits_224"], "top5_224": g["top5_224"]}
    for s in ("224", "odd"):
        out[f"rgb_{s}"] = g[f"rgb_{s}"]
        out[f"loss_{s}"] = g[f"loss_{s}"]
        out[f"grad_{s}"] = g[f"grad_{s}"][0].transpose(1, 2, 0).astype(np.float16)
        for key in g.files:
            if key.startswith(f"act_{s}__"):
                # NCHW -> HWC, keeping every CHANNEL_STEP-th channel.
                out[key] = g[key][0, ::CHANNEL_STEP].transpose(1, 2, 0)
    out["channel_step"] = np.array(CHANNEL_STEP)
    np.savez_compressed(Path(__file__).with_name("golden_subset.npz"), **out)


if __name__ == "__main__":
    main(sys.argv[1])
