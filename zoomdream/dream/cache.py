"""JAX's persistent compilation cache, for frame steps.

Compiling a frame step takes from seconds to a minute on a CPU; with the cache, a second
render at the same size and octaves, in another process, starts sooner.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax


def cache_dir() -> Path | None:
    """Where compiled frame steps are kept between runs: $ZOOMDREAM_CACHE_DIR, else
    $XDG_CACHE_HOME/zoomdream/xla (~/.cache/zoomdream/xla). An empty
    ZOOMDREAM_CACHE_DIR turns the cache off."""
    configured = os.environ.get("ZOOMDREAM_CACHE_DIR")
    if configured is not None:
        return Path(configured).expanduser() if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zoomdream" / "xla"


def enable() -> None:
    """Turn on JAX's persistent compilation cache, unless the user configured their own."""
    folder = cache_dir()
    if folder is None or jax.config.jax_compilation_cache_dir:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # an unwritable home only costs compile time
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
