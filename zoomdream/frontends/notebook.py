"""Helpers for notebooks (Colab, Jupyter): what devices JAX sees, a live preview, showing
and downloading the result, and a render that resumes itself after a disconnect.

Nothing here is needed outside a notebook; IPython and Colab are imported only when used.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from zoomdream.dream import devices
from zoomdream.io import parts
from zoomdream.render import RenderResult, render, resume
from zoomdream.schedule import settings
from zoomdream.schedule import sweep as sweep_lib


def device_report() -> str:
    """Which accelerators JAX sees, with a warning when it is only the CPU."""
    devices = jax.devices()
    kinds = sorted({getattr(d, "device_kind", d.platform) for d in devices})
    text = f"JAX {jax.__version__} on {jax.default_backend().upper()}: {len(devices)} x {', '.join(kinds)}"
    if jax.default_backend() == "cpu":
        text += ("\nWARNING: no GPU or TPU: renders will take about a second per 256x256 frame. "
                 "In Colab: Runtime > Change runtime type > GPU or TPU.")
    elif len(devices) > 1:
        text += (f"\nEach frame feeds the next, so zoomdream uses the {len(devices)} cores within a frame: the tiles "
                 "of octaves larger than dream.tile_size (1024 px) are shared out over them (dream.devices: auto). "
                 f"The notebook's sweep = \"auto\" renders {len(devices)} seeds side by side instead, one per core, "
                 "in about the time of one.")
    return text


def auto_sweep() -> list[str]:
    """The notebook's ``sweep = "auto"``: with several devices (a TPU's cores), one seed per
    device side by side, so that every device dreams; with one, a single render."""
    count = len(jax.devices())
    return [f"seed=0..{count - 1}"] if count > 1 else []


def sharing(preset: Any, width: int, height: int, overrides: dict | None = None, sweep: Sequence[str] = ()) -> str:
    """How a render of ``preset`` at this size (or a sweep of it) will use the devices
    JAX sees, in a line."""
    count = len(jax.devices())
    if count == 1:
        return "one device: every frame is dreamed on it"
    config = settings.resolve_config(preset, settings.Shortcuts(size=(width, height)), overrides)
    if sweep:
        variants = len(sweep_lib.parse(sweep))
        used, note = devices.for_variants(config.dream.devices, variants)
        return note or f"{variants} variants side by side: {variants // used} on each of {used} of the {count} devices"
    used, note = devices.choose(config.dream.devices, height, width, config.dream.tile_size)
    if note or used == count:
        return note or f"each frame's tiles are shared over all {count} devices"
    return (f"a {width}x{height} frame has {used} tile{'s' if used > 1 else ''} of dream.tile_size "
            f"{config.dream.tile_size} to share, so {used} of the {count} devices dream it; to use all of them, "
            f"set sweep = [\"seed=0..{count - 1}\"] (a variant per device) or a smaller dream.tile_size")


class LivePreview:
    """An ``on_frame`` callback that shows the latest frame in the notebook, refreshed at
    most every ``every_seconds``."""

    def __init__(self, every_seconds: float = 2.0):
        self.every = every_seconds
        self._last = -np.inf
        self._handle = None

    def __call__(self, index: int, frame: np.ndarray) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        try:
            from IPython.display import Image, display
        except ImportError:
            return
        picture = Image(data=_png_bytes(frame), format="png")
        if self._handle is None:
            self._handle = display(picture, display_id=True)
        else:
            self._handle.update(picture)


def _png_bytes(frame: np.ndarray) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", frame, extension=".png")


def show_video(path: str | Path, width: int = 512):
    """The video, playing in the notebook (embedded, so it also shows in saved notebooks)."""
    from IPython.display import Video

    return Video(str(path), embed=True, width=width, html_attributes="controls loop autoplay muted")


def offer_download(path: str | Path) -> None:
    """In Colab, download the file to this computer; elsewhere, say where it is."""
    try:
        from google.colab import files  # type: ignore[import-not-found]
    except ImportError:
        print(f"the video is at {Path(path).resolve()}")
        return
    files.download(str(path))


def render_or_resume(preset: Any, output: str | Path, **options) -> RenderResult:
    """Render ``preset`` to ``output``; if a render of ``output`` was cut off (a Colab
    disconnect, say), continue it instead. Put ``output`` on a mounted drive so that its
    checkpoints outlive the runtime. ``options`` are those of :func:`zoomdream.render`."""
    output = Path(output)
    if parts.parts_dir(output).exists():
        keep = {k: options[k] for k in ("frames", "seconds", "frames_dir", "progress", "on_frame", "net") if k in options}
        return resume(output, **keep)
    return render(preset, output, **options)
