"""zoomdream's cache folder: JAX's persistent compilation cache and the traced programs of
:mod:`zoomdream.dream.program_store`.

Compiling a frame step takes from seconds to a minute on a CPU, and tracing it a few
seconds more; with the cache, a second render at the same size and octaves, in another
process, starts sooner.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax


def cache_dir() -> Path | None:
    """Where zoomdream keeps compiled and traced programs between runs:
    $ZOOMDREAM_CACHE_DIR, else $XDG_CACHE_HOME/zoomdream (~/.cache/zoomdream). An empty
    ZOOMDREAM_CACHE_DIR turns the cache off."""
    configured = os.environ.get("ZOOMDREAM_CACHE_DIR")
    if configured is not None:
        return Path(configured).expanduser() if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zoomdream"


def programs_dir() -> Path | None:
    """Where traced programs are kept, or None with the cache off."""
    folder = cache_dir()
    return None if folder is None else folder / "programs"


def enable() -> None:
    """Turn on JAX's persistent compilation cache, unless the user configured their own."""
    folder = cache_dir()
    if folder is None or jax.config.jax_compilation_cache_dir:
        return
    try:
        (folder / "xla").mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # an unwritable home only costs compile time
    jax.config.update("jax_compilation_cache_dir", str(folder / "xla"))
    # Every program, however quick to compile: the small ones (entering an octave, the
    # camera) are many, and a warm start would otherwise compile them all again.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
