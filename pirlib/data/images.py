"""Image decoding for every dataset path: any TIFF / JPEG / PNG (grayscale, palette, RGBA, 16-bit) -> 8-bit RGB.

RSITMD ships 256×256 TIFF files, RSICD 224×224 JPEG, SynthRS PNG. The official code calls
`Image.open(path).convert("RGB")`, which is right for 8-bit images but clips 16-bit grayscale to white; here 16-bit
values are scaled to 8 bits (value / 257, so 65535 -> 255) before the conversion. Alpha channels are dropped (as
`convert("RGB")` does).

`verify_images` decodes every image of a list once, before a command's long work starts, and reports all the bad files
in one error. An image of more than `MAX_PIXELS` pixels (a decompression bomb: a few hundred kilobytes that decode to
gigabytes) is refused from its header, before any pixel is decoded.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
MAX_PIXELS = 64 * 1024 * 1024  # 8192 × 8192: far above any remote-sensing benchmark tile (RSITMD 256², RSICD 224²)
DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


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


class TooManyPixels(ValueError):
    """An image's header declares more than MAX_PIXELS pixels."""


@contextmanager
def open_bounded(path: Path) -> Iterator[Image.Image]:
    """`Image.open(path)`, refused (TooManyPixels) when its header declares more than MAX_PIXELS pixels."""
    bound = f"the bound of {MAX_PIXELS:,} pixels (pirlib.data.images.MAX_PIXELS)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, with our bound
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as error:  # PIL's own limit, above ours
            raise TooManyPixels(f"{error} It exceeds {bound}") from None
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise TooManyPixels(f"{width} × {height} = {width * height:,} pixels exceed {bound}")
        yield image


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode `path` into an 8-bit RGB PIL image, whatever its mode and bit depth."""
    path = Path(path)
    try:
        with open_bounded(path) as image:
            image.load()
            if image.mode in (*SIXTEEN_BIT_MODES, "I", "F"):
                return _to_8bit_gray(image).convert("RGB")
            if image.mode == "P" and "transparency" in image.info:
                return image.convert("RGBA").convert("RGB")
            return image.convert("RGB")
    except FileNotFoundError as error:
        raise ImageLoadError(f"{path}: image file not found") from error
    except DECODE_ERRORS as error:
        raise ImageLoadError(f"{path}: cannot decode the image ({error}); replace the file") from error


def check_image(path: str | os.PathLike) -> str | None:
    """Fast validation without decoding pixels: None if `path` opens as an image, else the reason it does not."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    try:
        with open_bounded(path) as image:
            image.verify()
    except DECODE_ERRORS as error:
        return f"unreadable ({type(error).__name__}: {error})"
    return None


def decode_problem(path: str | os.PathLike) -> str | None:
    """None if `path` decodes completely (pixels included, so truncated files are caught), else the reason."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    try:
        with open_bounded(path) as image:
            image.load()
    except DECODE_ERRORS as error:
        return f"cannot decode: {error}"
    return None


def verify_images(paths: Sequence[Path], what: str, workers: int = 8, progress_from: int = 1000) -> None:
    """Decode every file of `paths` (a tqdm bar from `progress_from` files); raise ImageLoadError listing the bad ones.

    `what` names the set in the messages (e.g. "the training, validation and test images of data/rsitmd")."""
    from tqdm.auto import tqdm

    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = list(
            tqdm(
                pool.map(decode_problem, paths),
                total=len(paths),
                desc=f"checking {len(paths)} images",
                disable=len(paths) < progress_from,
                leave=False,
            )
        )
    bad = [f"{path}: {problem}" for path, problem in zip(paths, problems, strict=True) if problem]
    if bad:
        listing = "; ".join(bad[:10]) + (f"; and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise ImageLoadError(
            f"{len(bad)} of {len(paths)} images cannot be read ({what}: {listing}): replace or restore these files, "
            f"or remove their entries from dataset.json"
        )
