"""Rendering on several hosts: JAX's multi-process runtime (``jax.distributed``).

Every process runs the same render; ``jax.devices()`` then lists all hosts' devices, a
render's frame is shared over all of them (see :mod:`zoomdream.dream.devices`), and each
process writes the outputs its own devices dream: a sweep's variants, or for a single
render the first process. Must be joined before JAX does anything else.
"""

from __future__ import annotations

import os

import jax

from zoomdream.errors import ConfigError


def on_tpu_pod_slice() -> bool:
    """Whether this is one host of a TPU pod slice (the TPU runtime names its hosts),
    where a render joins the others without being asked."""
    hosts = os.environ.get("TPU_PROCESS_ADDRESSES") or os.environ.get("TPU_WORKER_HOSTNAMES") or ""
    return len([h for h in hosts.split(",") if h.strip()]) > 1


def join(how: str) -> str:
    """Start the multi-process runtime. ``how``: ``auto`` (JAX finds the cluster: a TPU
    pod slice, SLURM, Open MPI, Kubernetes) or ``ADDRESS:PORT,PROCESSES,ID`` (the first
    process's address, the number of processes and this one's number). Returns a line
    saying which process this is."""
    options = {}
    if how != "auto":
        fields = how.split(",")
        try:
            address, count, index = fields
            options = {"coordinator_address": address.strip(), "num_processes": int(count), "process_id": int(index)}
        except ValueError:
            raise ConfigError(f"--distributed {how!r}: expected auto or ADDRESS:PORT,PROCESSES,ID, "
                              "e.g. 10.0.0.1:1234,2,0") from None
        if not 0 <= options["process_id"] < options["num_processes"]:
            raise ConfigError(f"--distributed {how!r}: the process ID must be from 0 to {options['num_processes'] - 1}")
    # CPU devices of several processes talk through Gloo (GPUs and TPUs have their own).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(**options)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"--distributed: the processes could not join: {str(exc).splitlines()[0]}") from None
    return (f"process {jax.process_index()} of {jax.process_count()}: {len(jax.local_devices())} of "
            f"{len(jax.devices())} devices here")
