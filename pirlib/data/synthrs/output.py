"""What a SynthRS generation (retrieval set or scene corpus) may write and replace in its output folder.

A generation replaces only images it wrote itself: those the folder's index of an earlier generation lists
(`dataset.json` of SynthRS, `scenes.json` of the scene corpus), and, after an interrupted generation, the
`SCENE_NNNNN.png` images beside the marker `GENERATING_FILE` it leaves until it completes. An image named like
SynthRS's in a folder without either belongs to the user. Settings are bounded (`check_setting`, `MAX_IMAGES`) and
the disk is checked for room before the first image (`check_free_space`).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from pirlib.data.synthrs.scenes import CLASS_NAMES

IMAGE_DIR = "images"
GENERATING_FILE = ".generating"  # present from the first image a generation writes until its index is written
MAX_IMAGES = 50_000  # bounds the time, memory and disk a mistyped --images could take (the default is 2,300)
INDEX_BYTES_PER_IMAGE = 8_192  # dataset.json + attributes.json + datasheet per image (about 4 KB measured), doubled


def check_setting(what: str, name: str, value: object, low: float, high: float | None, integer: bool = True) -> None:
    """Raise ValueError naming the setting `name` (and its flag) unless `value` is a finite number (an integer when
    `integer`) in [low, high] (`high` None: unbounded)."""
    flag = "--" + name.replace("_", "-")
    number = isinstance(value, int) or (not integer and isinstance(value, float) and math.isfinite(value))
    if isinstance(value, bool) or not number:
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"{what}: {name} ({flag}) must be {kind}, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"[{low:g}, {high:g}]" if high is not None else f">= {low:g}"
        raise ValueError(f"{what}: {name} ({flag}) must be in {bounds}, got {value}")


def is_image_name(name: str) -> bool:
    """SCENE_NNNNN.png of a SynthRS scene, or the temporary file it is written through."""
    stem = name.split(".")[1] if name.startswith(".") else name.removesuffix(".png")
    scene, _, number = stem.rpartition("_")
    return scene in CLASS_NAMES and len(number) == 5 and number.isdigit() and name.endswith((".png", ".tmp"))


def generated_images(out: Path, index_file: str, name: str) -> set[str]:
    """The image files of `out/images/` an earlier generation wrote: those its index `index_file` (of the dataset
    `name`) lists, and every SynthRS-named one when a generation was interrupted there."""
    try:
        index = json.loads((out / index_file).read_text(encoding="utf-8"))
        listed = {item["file"] for item in index["images"]} if index.get("name") == name else set()
        listed = {file for file in listed if isinstance(file, str) and is_image_name(file)}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        listed = set()
    images = out / IMAGE_DIR
    if (out / GENERATING_FILE).is_file() and images.is_dir():
        listed |= {file.name for file in images.iterdir() if is_image_name(file.name)}
    return listed


def check_free_space(out: Path, images: int, size: int) -> None:
    """Raise ValueError when the disk holding `out` has less room than `images` images of `size` px may take (raw RGB
    bytes per image, an upper bound of the PNG's, plus the index files)."""
    needed = images * (3 * size * size + INDEX_BYTES_PER_IMAGE)
    existing = next(folder for folder in (out, *out.parents) if folder.exists())
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise ValueError(
            f"SynthRS: {images} images of {size} px may take {needed / 1e9:.2f} GB, but {existing} has "
            f"{free / 1e9:.2f} GB free"
        )
