"""Image decoding for every dataset path: any TIFF / JPEG / PNG (grayscale, palette, RGBA, 16-bit) -> 8-bit RGB.

RSITMD ships 256×256 TIFF files, RSICD 224×224 JPEG, SynthRS PNG. The official code calls
`Image.open(path).convert("RGB")`, which is right for 8-bit images but clips 16-bit grayscale to white; here 16-bit
values are scaled to 8 bits (value / 257, so 65535 -> 255) before the conversion. Alpha channels are dropped (as
`convert("RGB")` does).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageLoadError(OSError):
    """An image file is missing, truncated or not an image."""


def _to_8bit_gray(image: Image.Image) -> Image.Image:
    """Scale a 16-bit / 32-bit integer or float single-channel image to mode "L"."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode in SIXTEEN_BIT_MODES or (image.mode == "I" and values.max(initial=0) > 255):
        values = values / 257.0  # full 16-bit range -> full 8-bit range
    elif image.mode == "F" and values.max(initial=0) <= 1.0:
        values = values * 255.0  # float images in [0, 1]
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode `path` into an 8-bit RGB PIL image, whatever its mode and bit depth."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in (*SIXTEEN_BIT_MODES, "I", "F"):
                return _to_8bit_gray(image).convert("RGB")
            if image.mode == "P" and "transparency" in image.info:
                return image.convert("RGBA").convert("RGB")
            return image.convert("RGB")
    except FileNotFoundError as error:
        raise ImageLoadError(f"{path}: image file not found") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageLoadError(f"{path}: cannot decode the image ({error}); replace the file") from error


def check_image(path: str | os.PathLike) -> str | None:
    """Fast validation without decoding pixels: None if `path` opens as an image, else the reason it does not."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return f"unreadable ({type(error).__name__}: {error})"
    return None
