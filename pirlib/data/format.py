"""The on-disk dataset format shared by SynthRS (`pirlib synth`) and the real benchmarks (`pirlib prepare`).

A dataset directory holds `dataset.json`:

    {"name": str, "classes": [str, ...], "image_root": str (relative to the directory, or absolute),
     "images": [{"file": str, "split": "train" | "test", "label": int, "captions": [str, ...]}, ...]}

Captions are stored already normalised (`pirlib.data.captions.pre_caption`). Image order is the dataset's own order;
an image's position in `images` is its image id everywhere in pirlib.

Confinement: every `file` is a relative path inside `image_root` (`confined_file`: no absolute path, no `..`
component; `./x.png` and `x.png` are the same file, stored as `x.png`), so no entry makes a command read outside the
dataset's image folder. Symbolic links inside `image_root` are followed: placing one there is the dataset owner's
choice (e.g. a folder of links to a shared image store).
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pirlib.data.captions import is_blank
from pirlib.io import atomic_write_json

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


def confined_file(file: str) -> str | None:
    """`file` normalised (`./x.png` -> `x.png`), or None when it is absolute or leaves its folder (`..`)."""
    normalised = posixpath.normpath(file.replace("\\", "/"))
    if posixpath.isabs(normalised) or normalised == ".." or normalised.startswith("../") or normalised == ".":
        return None
    return normalised


def read_json_file(path: Path, error: type[Exception], advice: str) -> object:
    """The JSON document in `path` (UTF-8); `error` naming the file when it is not UTF-8 or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as problem:
        raise error(f"not UTF-8 text (byte {problem.start}) ({path}): {advice}") from problem
    except json.JSONDecodeError as problem:
        raise error(f"not valid JSON ({problem}) ({path}): {advice}") from problem


def load_index(root: str | os.PathLike) -> DatasetIndex:
    """Read and validate `root/dataset.json`."""
    root = Path(root)
    path = root / INDEX_FILE
    if not path.is_file():
        raise DatasetFormatError(
            f"{path}: not found. Generate SynthRS with `python -m pirlib synth --out {root}` or prepare a real "
            f"dataset with `python -m pirlib prepare --dataset rsitmd ... --out {root}`"
        )
    data = read_json_file(path, DatasetFormatError, "regenerate or re-prepare the dataset")
    if not isinstance(data, dict):
        raise DatasetFormatError(f"not a JSON object ({path}): regenerate or re-prepare the dataset")
    for key, kind in (("name", str), ("classes", list), ("image_root", str), ("images", list)):
        if key not in data:
            raise DatasetFormatError(f"missing key '{key}' ({path}): regenerate or re-prepare the dataset")
        if not isinstance(data[key], kind):
            raise DatasetFormatError(
                f"'{key}' must be a {'string' if kind is str else 'list'}, got {type(data[key]).__name__} ({path})"
                f": fix the file, or regenerate or re-prepare the dataset"
            )
    classes = tuple(data["classes"])
    if not all(isinstance(name, str) and name.strip() for name in classes) or len(set(classes)) != len(classes):
        raise DatasetFormatError(f"'classes' must be distinct non-blank strings ({path}): fix the class list")
    images, seen = [], {}
    for position, item in enumerate(data["images"]):
        record = _image_record(item, f"{path}: images[{position}]", len(classes))
        if record.file in seen:
            raise DatasetFormatError(
                f"duplicate image entry '{record.file}' ({path}: images[{position}] and images[{seen[record.file]}])"
                f": keep one entry per image file"
            )
        seen[record.file] = position
        images.append(record)
    image_root = Path(data["image_root"])
    if not image_root.is_absolute():
        image_root = root / image_root
    return DatasetIndex(root, str(data["name"]), classes, image_root, tuple(images))


def _image_record(item: object, where: str, num_classes: int) -> ImageRecord:
    """Validate one entry of dataset.json's `images` (types, split, label, non-blank captions)."""

    def bad(what: str) -> DatasetFormatError:
        return DatasetFormatError(f"{what} ({where}): fix the entry, or regenerate or re-prepare the dataset")

    if not isinstance(item, dict):
        raise bad(f"an image entry must be an object, got {type(item).__name__}")
    for key in ("file", "split", "label", "captions"):
        if key not in item:
            raise bad(f"missing key '{key}'")
    file, split, label, captions = item["file"], item["split"], item["label"], item["captions"]
    if not isinstance(file, str) or not file.strip():
        raise bad(f"'file' must be a non-blank string, got {file!r}")
    if confined_file(file) is None:
        raise bad(f"'file' {file!r} leaves the image folder (an absolute path or '..'): name a file inside image_root")
    file = confined_file(file)
    if split not in SPLITS:
        raise bad(f"'split' is {split!r}, expected one of {', '.join(SPLITS)}")
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < num_classes:
        raise bad(f"'label' {label!r} is not a class index in [0, {num_classes - 1}]")
    if not isinstance(captions, list):
        raise bad(f"'captions' must be a list of strings, got {type(captions).__name__}")
    for number, caption in enumerate(captions):
        if not isinstance(caption, str) or is_blank(caption):
            raise bad(f"caption {number} of {file} is {caption!r}, not a caption with a word once normalised")
    if not captions and split == "test":
        raise bad(f"test image {file} has no caption (a test image must be a retrieval target)")
    return ImageRecord(file, split, label, tuple(captions))


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
    return atomic_write_json(root / INDEX_FILE, data, indent=1)
