"""Readers of the three published annotation formats of RSITMD and RSICD (used by `pirlib prepare`).

- "precomp" text files (the form the two benchmarks are distributed in): `{train,test}_filename.txt` and
  `{train,test}_caps.txt`. A filename list without repeats names one image per line and its captions follow in blocks of
  `captions_per_image` (5); a list with repeats names the image of each caption line (the published test files).
- X-VLM / PIR JSON (`*train*.json`, `*test*.json` in one folder): train is a list of
  `{"image", "caption", "image_id", "label"}` (one entry per caption), test a list of `{"image", "caption": [...]}`.
  `image` is relative to the `--images` folder; the JSON `label` is not used (labels come from the class rule).
- The original `dataset_*.json`: `{"images": [{"filename", "sentences": [{"raw"}], "split"}]}`; split "val" is
  merged into train, as in the precomp files (RSICD: 8,734 train + 1,094 val = 9,828 training images).

Readers return raw captions with their location (file and line / entry), so blank ones can be reported precisely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pirlib.data.format import read_json_file

FORMATS = ("auto", "precomp", "xvlm", "dataset_json")
CAPTIONS_PER_IMAGE = 5


class AnnotationError(ValueError):
    """Annotation files are missing, malformed or inconsistent."""


@dataclass
class RawCaption:
    text: str  # as published, before pre_caption
    location: str  # e.g. "train_caps.txt:9631"


@dataclass
class RawImage:
    file: str  # relative to the images folder
    split: str  # "train" or "test"
    captions: list[RawCaption] = field(default_factory=list)


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise AnnotationError(f"{path}: annotation file not found")
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as error:
        raise AnnotationError(f"{path}: not UTF-8 text (byte {error.start}); save the file as UTF-8") from error
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline
    return [line.rstrip("\r") for line in lines]


def _read_precomp_split(directory: Path, split: str, captions_per_image: int) -> list[RawImage]:
    names_path, captions_path = directory / f"{split}_filename.txt", directory / f"{split}_caps.txt"
    names, captions = [name.strip() for name in _lines(names_path)], _lines(captions_path)
    locations = [f"{captions_path.name}:{number}" for number in range(1, len(captions) + 1)]
    if len(set(names)) == len(names):  # one line per image, captions in blocks
        if len(captions) != captions_per_image * len(names):
            raise AnnotationError(
                f"{captions_path}: {len(captions)} captions for {len(names)} images in {names_path.name} "
                f"(expected {captions_per_image} x {len(names)} = {captions_per_image * len(names)})"
            )
        blocks = [range(i * captions_per_image, (i + 1) * captions_per_image) for i in range(len(names))]
        return [
            RawImage(name, split, [RawCaption(captions[k], locations[k]) for k in block])
            for name, block in zip(names, blocks, strict=True)
        ]
    if len(captions) != len(names):  # one filename per caption line
        raise AnnotationError(
            f"{captions_path}: {len(captions)} captions but {names_path.name} names {len(names)} caption lines "
            f"(one filename per caption); the two files must have the same number of lines"
        )
    images: dict[str, RawImage] = {}
    for name, caption, location in zip(names, captions, locations, strict=True):
        images.setdefault(name, RawImage(name, split)).captions.append(RawCaption(caption, location))
    return list(images.values())


def read_precomp(directory: Path, captions_per_image: int = CAPTIONS_PER_IMAGE) -> list[RawImage]:
    return [image for split in ("train", "test") for image in _read_precomp_split(directory, split, captions_per_image)]


def _load_json(path: Path):
    return read_json_file(path, AnnotationError, "save the annotation file as UTF-8 JSON")


def _one_file(directory: Path, pattern: str) -> Path:
    matches = sorted(directory.glob(pattern))
    if len(matches) != 1:
        found = ", ".join(m.name for m in matches) or "none"
        raise AnnotationError(f"{directory}: expected exactly one file matching {pattern}, found {found}")
    return matches[0]


def read_xvlm(directory: Path) -> list[RawImage]:
    images: dict[tuple[str, str], RawImage] = {}
    for split in ("train", "test"):
        path = _one_file(directory, f"*{split}*.json")
        entries = _load_json(path)
        if not isinstance(entries, list):
            raise AnnotationError(f"{path}: expected a list of {{image, caption}} entries")
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict) or "image" not in entry or "caption" not in entry:
                raise AnnotationError(f"{path}: entry [{position}] lacks 'image' or 'caption'")
            texts = entry["caption"] if isinstance(entry["caption"], list) else [entry["caption"]]
            image = images.setdefault((split, entry["image"]), RawImage(str(entry["image"]), split))
            image.captions.extend(RawCaption(str(text), f"{path.name}[{position}]") for text in texts)
    return list(images.values())


def read_dataset_json(path: Path) -> list[RawImage]:
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise AnnotationError(f"{path}: expected {{'images': [...]}}")
    images = []
    for position, entry in enumerate(data["images"]):
        try:
            split = {"train": "train", "val": "train", "test": "test"}[entry["split"]]
            captions = [
                RawCaption(str(sentence["raw"]), f"{path.name} images[{position}].sentences[{k}]")
                for k, sentence in enumerate(entry["sentences"])
            ]
            images.append(RawImage(str(entry["filename"]), split, captions))
        except (KeyError, TypeError) as error:
            raise AnnotationError(
                f"{path}: images[{position}] is malformed (missing or wrong {error}); each image needs "
                f"filename, split (train/val/test) and sentences [{{raw}}]"
            ) from error
    return images


def detect_format(annotations: Path) -> str:
    if annotations.is_file() and annotations.suffix == ".json":
        return "dataset_json"
    if not annotations.is_dir():
        raise AnnotationError(f"{annotations}: no such annotation folder or file")
    if (annotations / "train_caps.txt").is_file():
        return "precomp"
    if list(annotations.glob("dataset_*.json")):
        return "dataset_json"
    if list(annotations.glob("*train*.json")):
        return "xvlm"
    raise AnnotationError(
        f"{annotations}: no known annotation files (train_caps.txt + train_filename.txt, dataset_*.json, or "
        f"*train*.json + *test*.json)"
    )


def read_annotations(
    annotations: str | Path, annotation_format: str = "auto", captions_per_image: int = CAPTIONS_PER_IMAGE
) -> list[RawImage]:
    """All images (train first, then test, each in file order) with their raw captions."""
    annotations = Path(annotations)
    if annotation_format not in FORMATS:
        raise AnnotationError(f"unknown annotation format '{annotation_format}': expected one of {', '.join(FORMATS)}")
    if annotation_format == "auto":
        annotation_format = detect_format(annotations)
    if annotation_format == "precomp":
        images = read_precomp(annotations, captions_per_image)
    elif annotation_format == "xvlm":
        images = read_xvlm(annotations)
    else:
        path = annotations if annotations.is_file() else _one_file(annotations, "dataset_*.json")
        images = read_dataset_json(path)
    splits_of: dict[str, str] = {}
    for image in images:
        if splits_of.setdefault(image.file, image.split) != image.split:
            raise AnnotationError(f"{annotations}: image {image.file} is listed in both the train and test splits")
    train = [image for image in images if image.split == "train"]
    return train + [image for image in images if image.split == "test"]
