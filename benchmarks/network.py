"""Forward+backward time of GoogLeNet for one dream step.

One step is the input gradient of the classic L2 objective at inception_4c/output,
jitted; compile time is measured apart from the steady state.

    python benchmarks/network.py [--sizes 224 512 1024] [--repeats 5]

Writes benchmarks/results/network-<platform>.json.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

import zoomdream

from common import environment, steady_seconds, timed, write_result

LAYER = "inception_4c/output"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 512, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    net = zoomdream.load_googlenet()

    def loss(net, x):
        return jnp.mean(jnp.square(net.activations(x, LAYER)[LAYER]))

    rows = []
    for size in args.sizes:
        step = jax.jit(jax.grad(loss, argnums=1))
        x = jax.random.normal(jax.random.key(0), (1, size, size, 3)) * 40
        compiled, compile_s = timed(lambda step=step, x=x: step.lower(net, x).compile())
        flops = (compiled.cost_analysis() or {}).get("flops")
        timing = steady_seconds(compiled, (net, x), args.repeats)
        row = {"size": size, "compile_s": compile_s, **timing, "gflop": flops / 1e9 if flops else None}
        if flops:
            row["gflop_per_s"] = flops / 1e9 / timing["median_s"]
        rows.append(row)
        print(row)
    write_result("network", {"benchmark": "googlenet forward+backward to " + LAYER, **environment(), "results": rows})


if __name__ == "__main__":
    main()
