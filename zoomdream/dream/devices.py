"""How many devices dream one frame, and how they share it.

A frame's large octaves take their gradient tile by tile (``dream.tile_size``): the
tiles are independent, so each device can take its share of them (a batch sharded over a
one-axis device mesh, ``jax.shard_map``), while everything else in the frame (a few
element-wise operations on the picture) runs on every device alike, the picture
replicated. Chosen over spatial sharding of the whole canvas by XLA's partitioner, whose
strided, padded convolutions across shard borders JAX handles less reliably; tiles need
no communication but the gradient's gather.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "tiles"


def tile_grid(height: int, width: int, tile_size: int) -> tuple[int, int]:
    """(rows, columns) of the tiles an octave of this size is cut into (1, 1: untiled)."""
    if not tile_size or max(height, width) <= tile_size:
        return 1, 1
    return -(-height // tile_size), -(-width // tile_size)


def choose(asked: str | int, height: int, width: int, tile_size: int) -> tuple[int, str | None]:
    """(devices to use, a note saying why fewer than asked, or None). ``asked``: a
    number, ``all``, or ``auto`` (every local device when the full-size octave has
    tiles enough to share; else one)."""
    available = len(jax.local_devices())
    rows, cols = tile_grid(height, width, tile_size)
    tiles = rows * cols
    if asked == "auto":
        return min(available, tiles), None
    wanted = available if asked == "all" else int(asked)
    if wanted > available:
        return min(available, tiles), (f"dream.devices: {wanted} asked for, but JAX sees {available} here; "
                                       f"dreaming on {min(available, tiles)}")
    if wanted > tiles:
        why = "no tiles" if tiles == 1 else f"only {tiles} tiles"
        return tiles, (f"dream.devices: a {width}x{height} canvas has {why} of dream.tile_size {tile_size} to share; "
                       f"dreaming on {tiles} device{'s' if tiles > 1 else ''}")
    return wanted, None


@functools.cache
def mesh(count: int) -> Mesh:
    """The first ``count`` local devices as a one-axis mesh."""
    return Mesh(np.array(jax.local_devices()[:count]), (AXIS,))


def replicated(count: int) -> NamedSharding | None:
    """Every device holds all of it (None on one device: no sharding at all)."""
    return NamedSharding(mesh(count), PartitionSpec()) if count > 1 else None


def place(tree, count: int):
    """``tree`` on every one of ``count`` devices (as it is on one)."""
    return jax.device_put(tree, replicated(count)) if count > 1 else tree


def map_sharded(fn, batch: jax.Array, count: int, *shared) -> jax.Array:
    """``lax.map(lambda x: fn(x, *shared), batch)`` with the batch shared out over
    ``count`` devices (padded with copies of its first items to a multiple of it, their
    results dropped); ``shared`` goes to every device whole."""
    n = batch.shape[0]
    per = -(-n // count)
    if per * count > n:
        batch = jax.numpy.concatenate([batch, batch[: per * count - n]])

    def on_device(items, *shared):
        return jax.lax.map(lambda item: fn(item, *shared), items)

    spec = PartitionSpec(AXIS)
    run = jax.shard_map(on_device, mesh=mesh(count), in_specs=(spec, *(PartitionSpec(),) * len(shared)), out_specs=spec)
    return run(batch, *shared)[:n]
