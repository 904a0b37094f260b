"""How many devices dream one frame, and how they share it.

One render: a frame's large octaves take their gradient tile by tile
(``dream.tile_size``): the tiles are independent, so each device can take its share of
them (a batch sharded over a one-axis device mesh, ``jax.shard_map``), while everything
else in the frame (a few element-wise operations on the picture) runs on every device
alike, the picture replicated. Chosen over spatial sharding of the whole canvas by XLA's
partitioner, whose strided, padded convolutions across shard borders JAX handles less
reliably; tiles need no communication but the gradient's gather.

A sweep (several variants of a render side by side): the variants are a batch axis of
every array but the network's weights, and each device takes whole variants (the batch
axis sharded over the same mesh); their frames need no communication at all.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "devices"


def tile_grid(height: int, width: int, tile_size: int) -> tuple[int, int]:
    """(rows, columns) of the tiles an octave of this size is cut into (1, 1: untiled)."""
    if not tile_size or max(height, width) <= tile_size:
        return 1, 1
    return -(-height // tile_size), -(-width // tile_size)


def choose(asked: str | int, height: int, width: int, tile_size: int) -> tuple[int, str | None]:
    """(devices to use, a note saying why fewer than asked, or None). ``asked``: a
    number, ``all``, or ``auto`` (every local device when the full-size octave has
    tiles enough to share; else one)."""
    available = len(jax.devices())
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


def for_variants(asked: str | int, variants: int) -> tuple[int, str | None]:
    """(devices a sweep of ``variants`` uses, a note saying why fewer than asked, or
    None): each device takes the same number of whole variants, so the count divides
    ``variants``. ``asked`` as in :func:`choose` (``auto``: as many as can, silently)."""
    available = len(jax.devices())
    wanted = available if asked in ("auto", "all") else int(asked)
    count = max(d for d in range(1, min(wanted, available) + 1) if variants % d == 0)
    if asked == "auto" or count == wanted:
        return count, None
    seen = f" (JAX sees {available})" if wanted > available else ""
    return count, (f"dream.devices: {variants} variants cannot be shared evenly over {wanted} devices{seen}; "
                   f"dreaming them on {count}")


@functools.cache
def mesh(count: int) -> Mesh:
    """The first ``count`` devices as a one-axis mesh (on several hosts, all hosts'
    devices: ``jax.devices()`` lists them in process order)."""
    return Mesh(np.array(jax.devices()[:count]), (AXIS,))


def replicated(count: int) -> NamedSharding | None:
    """Every device holds all of it (None on one device: no sharding at all)."""
    return NamedSharding(mesh(count), PartitionSpec()) if count > 1 else None


def split(count: int) -> NamedSharding | None:
    """Each device its share of the leading (variant) axis (None on one device)."""
    return NamedSharding(mesh(count), PartitionSpec(AXIS)) if count > 1 else None


def place(tree, count: int, variants: bool = False):
    """``tree`` on every one of ``count`` devices (as it is on one), or with
    ``variants``, its leading axis shared out over them."""
    if count == 1:
        return jax.device_put(tree)
    if jax.process_count() > 1:  # each process gives its copy of host data (arrays of one device cannot go)
        tree = jax.tree.map(np.asarray, tree)
    return jax.device_put(tree, split(count) if variants else replicated(count))


def layout(count: int, batched: tuple[bool, ...], sweep: bool):
    """(each argument's sharding, the results' sharding) of a program on ``count``
    devices, or (None, None) on one. In a sweep the ``batched`` arguments and every
    result are split by variant, the rest (the weights) replicated; otherwise all is
    replicated."""
    if count == 1:
        return None, None
    whole = replicated(count)
    if not sweep:
        return (whole,) * len(batched), whole
    return tuple(split(count) if b else whole for b in batched), split(count)


def map_sharded(fn, batch: jax.Array, count: int, *shared) -> jax.Array:
    """``lax.map(lambda x: fn(x, *shared), batch)`` with the batch shared out over
    ``count`` devices (padded with copies of its items to a multiple of it, their
    results dropped); ``shared`` goes to every device whole."""
    n = batch.shape[0]
    per = -(-n // count)
    if per * count > n:  # (more devices than items: copies of them over again)
        batch = jax.numpy.concatenate([batch, batch[np.arange(per * count - n) % n]])

    def on_device(items, *shared):
        return jax.lax.map(lambda item: fn(item, *shared), items)

    spec = PartitionSpec(AXIS)
    run = jax.shard_map(on_device, mesh=mesh(count), in_specs=(spec, *(PartitionSpec(),) * len(shared)), out_specs=spec)
    return run(batch, *shared)[:n]
