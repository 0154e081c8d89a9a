"""The on-disk dataset format shared by SynthRS (`pirlib synth`) and the real benchmarks (`pirlib prepare`).

A dataset directory holds `dataset.json`:

    {"name": str, "classes": [str, ...], "image_root": str (relative to the directory, or absolute),
     "images": [{"file": str, "split": "train" | "test", "label": int, "captions": [str, ...]}, ...]}

Captions are stored already normalised (`pirlib.data.captions.pre_caption`). Image order is the dataset's own order;
an image's position in `images` is its image id everywhere in pirlib.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

INDEX_FILE = "dataset.json"
SPLITS = ("train", "test")


class DatasetFormatError(ValueError):
    """A dataset directory or its dataset.json is missing or malformed."""


@dataclass(frozen=True)
class ImageRecord:
    file: str  # path relative to the dataset's image_root
    split: str  # "train" or "test"
    label: int  # scene class index into DatasetIndex.classes
    captions: tuple[str, ...]  # normalised captions (5 per image; a training image may have none: no training pair)


@dataclass(frozen=True)
class DatasetIndex:
    root: Path  # the dataset directory
    name: str
    classes: tuple[str, ...]
    image_root: Path  # resolved directory the image files are relative to
    images: tuple[ImageRecord, ...]

    def image_path(self, image_id: int) -> Path:
        return self.image_root / self.images[image_id].file

    def split_ids(self, split: str) -> list[int]:
        if split not in SPLITS:
            raise DatasetFormatError(f"unknown split '{split}': expected one of {', '.join(SPLITS)}")
        return [i for i, record in enumerate(self.images) if record.split == split]

    def labels(self, image_ids: Sequence[int]) -> list[int]:
        return [self.images[i].label for i in image_ids]


def load_index(root: str | os.PathLike) -> DatasetIndex:
    """Read and validate `root/dataset.json`."""
    root = Path(root)
    path = root / INDEX_FILE
    if not path.is_file():
        raise DatasetFormatError(
            f"{path}: not found. Generate SynthRS with `python -m pirlib synth --out {root}` or prepare a real "
            f"dataset with `python -m pirlib prepare --dataset rsitmd ... --out {root}`"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetFormatError(f"{path}: not valid JSON ({error}); regenerate the dataset") from error
    for key in ("name", "classes", "image_root", "images"):
        if key not in data:
            raise DatasetFormatError(f"{path}: missing key '{key}'")
    classes = tuple(data["classes"])
    images = []
    for position, item in enumerate(data["images"]):
        try:
            record = ImageRecord(str(item["file"]), str(item["split"]), int(item["label"]), tuple(item["captions"]))
        except (KeyError, TypeError, ValueError) as error:
            raise DatasetFormatError(f"{path}: images[{position}] is malformed ({error!r})") from error
        if record.split not in SPLITS:
            raise DatasetFormatError(f"{path}: images[{position}].split is '{record.split}', expected train/test")
        if not 0 <= record.label < len(classes):
            raise DatasetFormatError(f"{path}: images[{position}].label {record.label} is not a class index")
        if not record.captions and record.split == "test":
            raise DatasetFormatError(f"{path}: test image images[{position}] ({record.file}) has no caption")
        images.append(record)
    image_root = Path(data["image_root"])
    if not image_root.is_absolute():
        image_root = root / image_root
    return DatasetIndex(root, str(data["name"]), classes, image_root, tuple(images))


def write_index(
    root: str | os.PathLike,
    name: str,
    classes: Sequence[str],
    images: Sequence[ImageRecord],
    image_root: str = "images",
) -> Path:
    """Write `root/dataset.json` atomically; returns its path."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    data = {
        "name": name,
        "classes": list(classes),
        "image_root": str(image_root),
        "images": [{**asdict(record), "captions": list(record.captions)} for record in images],
    }
    path = root / INDEX_FILE
    with tempfile.NamedTemporaryFile("w", dir=root, suffix=".tmp", delete=False) as handle:
        json.dump(data, handle, indent=1)
        handle.write("\n")
    os.replace(handle.name, path)
    return path
