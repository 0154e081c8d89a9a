"""`pirlib prepare`: turn RSITMD / RSICD annotations + images into a pirlib dataset directory (dataset.json).

Steps, all before anything is written:
1. read the annotations (`readers.py`: precomp text, X-VLM JSON, dataset_*.json);
2. normalise captions with `pre_caption`; blank captions are dropped, the image keeps its other captions, and their
   locations are reported (warning, datasheet) — the policy of `data/README.md`; a training image whose captions are
   all blank stays in the dataset with no caption (it gives no training pair but is still a scene-prior sample and
   is counted, so RSITMD keeps its 4,291 training images; 4 of them have no caption) and is named in a warning and
   the datasheet; a test image without any caption cannot be a retrieval query and fails the command;
3. scene labels: the filename prefix for RSITMD (`boat_0.tif` -> `boat`), a `filename,class` CSV for RSICD
   (`--classes`), optionally restricted and ordered by a class-name list (`--class-names`);
4. every image is checked (exists, opens as an image); missing or unreadable ones fail the command with their count
   and the first few paths.
Images are not copied: `image_root` in dataset.json is the absolute `--images` folder.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pirlib.data.captions import MAX_WORDS, BlankCaptionError, pre_caption
from pirlib.data.format import ImageRecord, confined_file, write_index
from pirlib.data.images import check_image
from pirlib.data.readers import CAPTIONS_PER_IMAGE, AnnotationError, RawImage, read_annotations
from pirlib.io import atomic_write_json

DATASETS = ("rsitmd", "rsicd")
DATASHEET_FILE = "datasheet.json"
SHOWN = 5  # how many offending paths an error message lists


class PrepareError(ValueError):
    """The annotations and images cannot make a valid dataset; the message says what to fix.

    `summary` is the summary dict when the failure is only the images (its `missing_images` counts them)."""

    def __init__(self, message: str, summary: dict | None = None) -> None:
        super().__init__(message)
        self.summary = summary


def _first(items: list[str]) -> str:
    more = f" ... (+{len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def read_class_csv(path: Path) -> dict[str, str]:
    """`filename,class` rows (header required, as in rsicd_classes.csv) -> {filename: class}."""
    if not path.is_file():
        raise PrepareError(f"{path}: class file not found")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"filename", "class"} <= set(reader.fieldnames):
            raise PrepareError(f"{path}: expected a CSV with the header 'filename,class', got {reader.fieldnames}")
        return {row["filename"].strip(): row["class"].strip() for row in reader}


def filename_prefix_class(file: str) -> str:
    """RSITMD's rule: the class is the file name before its last underscore (`baseballfield_452.tif`)."""
    stem = Path(file).stem
    if "_" not in stem:
        raise PrepareError(f"image {file}: no '_' in its name, cannot take the class from the filename prefix")
    return stem.rsplit("_", 1)[0]


def assign_classes(
    images: list[RawImage], class_of_file: dict[str, str] | None, class_names: list[str] | None
) -> tuple[list[str], list[int]]:
    """The class list (given order, else sorted) and each image's label."""
    if class_of_file is None:
        names = [filename_prefix_class(image.file) for image in images]
    else:
        unlisted = [image.file for image in images if Path(image.file).name not in class_of_file]
        if unlisted:
            raise PrepareError(f"{len(unlisted)} images are not in the class file: {_first(unlisted)}")
        names = [class_of_file[Path(image.file).name] for image in images]
    classes = list(class_names) if class_names is not None else sorted(set(names))
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise PrepareError(f"unknown classes {_first(unknown)}: not in the class-name list {_first(classes)}")
    position = {name: k for k, name in enumerate(classes)}
    return classes, [position[name] for name in names]


def confine_files(images: list[RawImage]) -> list[RawImage]:
    """The images with their file names normalised (`./x.png` -> `x.png`); a name that leaves the --images folder
    (absolute, or with `..`) or names an image twice is refused, with the annotation entry that holds it."""
    seen: dict[str, str] = {}
    for image in images:
        where = image.captions[0].location if image.captions else image.file
        file = confined_file(image.file)
        if file is None:
            raise PrepareError(
                f"image {image.file!r} lies outside the --images folder ({where}): an annotation may name only files "
                f"inside --images (no absolute path, no '..'); fix the entry (nothing was written)"
            )
        if file in seen:
            raise PrepareError(
                f"image {file!r} is listed twice ({seen[file]} and {where}): keep one entry per image (nothing was "
                f"written)"
            )
        seen[file] = where
        image.file = file
    return images


def normalise_captions(images: list[RawImage], max_words: int) -> tuple[list[tuple[str, ...]], list[str]]:
    """Each image's normalised captions (empty when all are blank), and the locations of the blank ones."""
    captions, blank = [], []
    for image in images:
        kept = []
        for caption in image.captions:
            try:
                kept.append(pre_caption(caption.text, max_words))
            except BlankCaptionError:
                blank.append(caption.location)
        captions.append(tuple(kept))
    return captions, blank


def validate_images(image_root: Path, files: list[str], summary: dict, workers: int = 8) -> None:
    """Fail with the count and first paths of missing or unreadable images (counted in `summary`)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = list(pool.map(lambda file: check_image(image_root / file), files))
    missing = [str(image_root / f) for f, problem in zip(files, problems, strict=True) if problem == "missing"]
    broken = [f"{image_root / f} ({p})" for f, p in zip(files, problems, strict=True) if p and p != "missing"]
    if missing or broken:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing images: {_first(missing)}")
        if broken:
            parts.append(f"{len(broken)} unreadable images: {_first(broken)}")
        summary = {**summary, "missing_images": len(missing) + len(broken)}
        raise PrepareError("; ".join(parts) + f". Check --images {image_root} (nothing was written)", summary)


def datasheet(
    name: str, classes: list[str], records: list[ImageRecord], blank: list[str], captionless: list[str]
) -> dict:
    """Counts, class histogram, caption-length statistics and vocabulary size of a dataset."""
    lengths = sorted(len(caption.split()) for record in records for caption in record.captions)
    words = Counter(word for record in records for caption in record.captions for word in caption.split())
    sheet: dict = {"name": name, "classes": len(classes), "splits": {}}
    for split in ("train", "test"):
        chosen = [record for record in records if record.split == split]
        histogram = Counter(classes[record.label] for record in chosen)
        sheet["splits"][split] = {
            "images": len(chosen),
            "captions": sum(len(record.captions) for record in chosen),
            "class_histogram": {name: histogram.get(name, 0) for name in classes},
        }
    sheet["caption_words"] = {
        "min": lengths[0],
        "max": lengths[-1],
        "mean": round(sum(lengths) / len(lengths), 3),
        "median": lengths[len(lengths) // 2],
    }
    sheet["vocabulary_size"] = len(words)
    sheet["blank_captions"] = blank
    sheet["images_without_captions"] = captionless
    return sheet


def prepare_dataset(
    dataset: str,
    annotations: str | os.PathLike,
    images: str | os.PathLike,
    out: str | os.PathLike,
    classes_file: str | os.PathLike | None = None,
    class_names_file: str | os.PathLike | None = None,
    annotation_format: str = "auto",
    captions_per_image: int = CAPTIONS_PER_IMAGE,
    max_words: int = MAX_WORDS,
) -> dict:
    """Validate and write `out/dataset.json` + `out/datasheet.json`; returns the summary `pirlib prepare` prints."""
    if dataset not in DATASETS:
        raise PrepareError(f"unknown dataset '{dataset}': expected one of {', '.join(DATASETS)}")
    if dataset == "rsicd" and classes_file is None:
        raise PrepareError("RSICD has no class in its filenames: pass --classes rsicd_classes.csv (filename,class)")
    image_root = Path(images).resolve()
    if not image_root.is_dir():
        raise PrepareError(f"--images {images}: no such folder")
    try:
        raw = read_annotations(annotations, annotation_format, captions_per_image)
    except AnnotationError as error:
        raise PrepareError(str(error)) from error
    raw = confine_files(raw)
    captions, blank = normalise_captions(raw, max_words)
    class_of_file = read_class_csv(Path(classes_file)) if classes_file is not None else None
    class_names = None
    if class_names_file is not None:
        class_names = [line.strip() for line in Path(class_names_file).read_text().splitlines() if line.strip()]
    classes, labels = assign_classes(raw, class_of_file, class_names)
    records = [
        ImageRecord(image.file, image.split, label, caption)
        for image, label, caption in zip(raw, labels, captions, strict=True)
    ]
    captionless = [record.file for record in records if not record.captions]
    untestable = [record.file for record in records if not record.captions and record.split == "test"]
    if untestable:
        raise PrepareError(
            f"{len(untestable)} test images have only blank captions ({_first(untestable)}): a test image needs at "
            f"least one caption; fix the annotation files (nothing was written)"
        )
    sheet = datasheet(dataset, classes, records, blank, captionless)
    summary = {
        "dataset": dataset,
        "train_images": sheet["splits"]["train"]["images"],
        "train_captions": sheet["splits"]["train"]["captions"],
        "test_images": sheet["splits"]["test"]["images"],
        "test_captions": sheet["splits"]["test"]["captions"],
        "classes": len(classes),
        "blank_captions": len(blank),
        "missing_images": 0,
    }
    validate_images(image_root, [record.file for record in records], summary)
    if blank:
        warnings.warn(
            f"{len(blank)} blank captions dropped: {', '.join(blank)}",
            stacklevel=2,
        )
    if captionless:
        warnings.warn(
            f"{len(captionless)} training images have only blank captions (kept, no training pair): "
            f"{', '.join(captionless)}",
            stacklevel=2,
        )
    write_index(out, dataset, classes, records, image_root=str(image_root))
    atomic_write_json(Path(out) / DATASHEET_FILE, sheet, indent=1)
    return summary
