"""`python -m pirlib prepare`: build data/NAME/dataset.json from RSITMD / RSICD annotations and images.

Prints one final line of JSON: {"dataset", "train_images", "train_captions", "test_images", "test_captions",
"classes", "blank_captions", "missing_images"}. Bad input (missing or unreadable images, count mismatches, unknown
classes) prints the reason to stderr and returns 2 without writing anything. An --out that already holds a
dataset.json or datasheet.json is refused unless --overwrite (other files there, e.g. the images, are never touched).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from pirlib.data.captions import MAX_WORDS
from pirlib.data.prepare import DATASETS, PrepareError, prepare_dataset
from pirlib.data.readers import CAPTIONS_PER_IMAGE, FORMATS
from pirlib.output_folders import claim_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=DATASETS, required=True, help="which benchmark")
    parser.add_argument("--annotations", required=True, help="folder (precomp .txt or X-VLM .json) or dataset_*.json")
    parser.add_argument("--images", required=True, help="folder holding the image files (not copied)")
    parser.add_argument("--out", type=Path, required=True, help="output dataset directory, e.g. data/rsitmd")
    parser.add_argument("--overwrite", action="store_true", help="replace the dataset.json already in --out")
    parser.add_argument("--classes", help="CSV 'filename,class' (required for RSICD: rsicd_classes.csv)")
    parser.add_argument("--class-names", help="optional text file, one class per line: the allowed classes, in order")
    parser.add_argument("--format", default="auto", choices=FORMATS, help="annotation format (default: detect)")
    parser.add_argument("--captions-per-image", type=int, default=CAPTIONS_PER_IMAGE, help="precomp caption blocks")
    parser.add_argument("--max-words", type=int, default=MAX_WORDS, help="pre_caption truncation (paper: 30)")


def run(args: argparse.Namespace) -> int:
    written = [args.out / "dataset.json", args.out / "datasheet.json"]
    with claim_output(args.out, written, args.overwrite), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = _prepare(args)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if summary is None:
        return 2
    print(json.dumps(summary))
    return 0 if summary["missing_images"] == 0 else 2


def _prepare(args: argparse.Namespace) -> dict | None:
    """The summary (also when images are missing), or None after printing why nothing could be prepared."""
    try:
        summary = prepare_dataset(
            args.dataset,
            args.annotations,
            args.images,
            args.out,
            classes_file=args.classes,
            class_names_file=args.class_names,
            annotation_format=args.format,
            captions_per_image=args.captions_per_image,
            max_words=args.max_words,
        )
    except PrepareError as error:
        print(f"pirlib prepare: {error}", file=sys.stderr)
        return error.summary
    print(f"wrote {args.out}/dataset.json and datasheet.json", file=sys.stderr)
    return summary
