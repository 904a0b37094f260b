"""Pictures in and out: files, the canvas's colour space, and the first frame.

The canvas is what the network reads: float32 HWC, BGR, 0..255 minus the ImageNet mean
(:data:`zoomdream.network.googlenet.MEAN_BGR`). Frames are uint8 RGB.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np

from zoomdream.network.googlenet import MEAN_BGR


class ImageError(ValueError):
    """An input picture that cannot be read."""


def rgb_to_canvas(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB HWC -> float32 canvas (BGR, mean subtracted). Works inside jit."""
    return rgb[..., ::-1].astype(np.float32) - MEAN_BGR


def canvas_to_rgb(canvas: jax.Array) -> jax.Array:
    """Canvas -> uint8 RGB frame (rounded, clipped to 0..255). Works inside jit."""
    bgr = jnp.clip(jnp.round(canvas + MEAN_BGR), 0, 255)
    return bgr[..., ::-1].astype(jnp.uint8)


def canvas_bounds() -> tuple[np.ndarray, np.ndarray]:
    """The canvas values that map to pixel values 0 and 255, per channel."""
    return -MEAN_BGR, 255.0 - MEAN_BGR


def load_image(path: str | Path) -> np.ndarray:
    """Read any image file imageio can, as uint8 RGB HWC (grey is expanded, alpha dropped)."""
    try:
        image = np.asarray(iio.imread(path))
    except FileNotFoundError:
        raise ImageError(f"image file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ImageError(f"image {str(path)!r} is a folder, not a picture") from None
    except Exception:  # imageio raises many kinds, with hints over several lines
        raise ImageError(f"{str(path)!r} is not a picture zoomdream can read (PNG, JPEG, ...)") from None
    if image.ndim == 4:  # animated: take the first frame
        image = image[0]
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ImageError(f"image {str(path)!r} has an unsupported shape {image.shape}")
    image = image[..., :3]
    if image.dtype != np.uint8:
        scale = 255.0 / (65535.0 if image.dtype == np.uint16 else max(float(image.max()), 1.0))
        image = np.clip(image.astype(np.float64) * scale, 0, 255).round().astype(np.uint8)
    return image


def fit_image(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``rgb`` to cover width x height, keeping its aspect, and crop the centre."""
    h, w = rgb.shape[:2]
    scale = max(width / w, height / h)
    new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    resized = jax.image.resize(jnp.asarray(rgb, jnp.float32), (new_h, new_w, 3), method="lanczos3", antialias=True)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    out = np.asarray(resized[top : top + height, left : left + width])
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def noise_canvas(width: int, height: int, amplitude: float, seed: int) -> np.ndarray:
    """Uniform noise around mid-grey. Drawn with NumPy's generator on the host, so the
    same seed gives the same start on every backend."""
    rng = np.random.default_rng(seed)
    rgb = 127.5 + rng.uniform(-amplitude, amplitude, size=(height, width, 3))
    return rgb_to_canvas(np.clip(rgb, 0, 255))


def initial_canvas(start, width: int, height: int, seed: int) -> np.ndarray:
    """The first canvas of a render from a :class:`zoomdream.schedule.config.StartConfig`."""
    if start.kind == "image":
        return rgb_to_canvas(fit_image(load_image(start.image), width, height))
    if start.kind == "color":
        rgb = np.broadcast_to(np.array(start.color, np.float32), (height, width, 3))
        return rgb_to_canvas(rgb)
    return noise_canvas(width, height, start.noise_amplitude, seed)


def save_image(path: str | Path, frame: np.ndarray) -> None:
    """Write a picture, its format from the suffix. Encoded in memory and then written
    with plain file I/O, so that a full disk raises here, once, and leaves no open file
    behind for the garbage collector to fail on again."""
    encoded = iio.imwrite("<bytes>", np.ascontiguousarray(frame), extension=Path(path).suffix.lower() or ".png")
    with open(path, "wb") as file:
        file.write(encoded)
