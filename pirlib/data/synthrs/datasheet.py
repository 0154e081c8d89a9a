"""Datasheets: what a dataset holds, as a JSON-ready dict and as text (counts, classes, captions, vocabulary).

`caption_datasheet` describes any dataset in the pirlib format (SynthRS, RSITMD, RSICD); `build_datasheet` adds what
only SynthRS knows: the key-object attributes and the amount of semantic noise per image.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from pirlib.data.format import SPLITS, DatasetIndex


def _histogram(values) -> dict:
    counts = Counter(values)
    return {str(key): counts[key] for key in sorted(counts)}


def caption_datasheet(name: str, classes: Sequence[str], items: Sequence[tuple[str, int, Sequence[str]]]) -> dict:
    """Datasheet of (split, label, captions) items: counts, class histogram, caption lengths, vocabulary."""
    sheet: dict = {"name": name, "classes": len(classes), "images": {}, "captions": {}, "class_histogram": {}}
    for split in SPLITS:
        chosen = [item for item in items if item[0] == split]
        sheet["images"][split] = len(chosen)
        sheet["captions"][split] = sum(len(item[2]) for item in chosen)
        labels = Counter(item[1] for item in chosen)
        sheet["class_histogram"][split] = {classes[k]: labels[k] for k in range(len(classes))}
    sheet["images"]["total"] = len(items)
    all_captions = [c for item in items for c in item[2]]
    sheet["captions"]["total"] = len(all_captions)
    sheet["captions"]["distinct"] = len(set(all_captions))
    lengths = np.array([len(c.split()) for c in all_captions] or [0])
    sheet["caption_length_words"] = {
        "mean": round(float(lengths.mean()), 3),
        "std": round(float(lengths.std()), 3),
        "min": int(lengths.min()),
        "p50": int(np.percentile(lengths, 50)),
        "p95": int(np.percentile(lengths, 95)),
        "max": int(lengths.max()),
    }
    train_words = {w for item in items if item[0] == "train" for c in item[2] for w in c.split()}
    all_words = {w for c in all_captions for w in c.split()}
    sheet["vocabulary_size"] = {
        "train": len(train_words),
        "all": len(all_words),
        "test_only": len(all_words - train_words),
    }
    return sheet


def index_datasheet(index: DatasetIndex) -> dict:
    """Datasheet of a loaded dataset directory."""
    return caption_datasheet(index.name, index.classes, [(r.split, r.label, r.captions) for r in index.images])


def build_datasheet(name: str, classes: Sequence[str], records: Sequence[dict]) -> dict:
    """SynthRS datasheet from the per-image attribute records of generate.py."""
    items = [(r["split"], r["label"], [c["text"] for c in r["captions"]]) for r in records]
    sheet = caption_datasheet(name, classes, items)
    sheet["captions"]["per_image"] = sorted({len(r["captions"]) for r in records})
    sheet["key_objects"] = {
        attribute: _histogram(r["key"][attribute] for r in records)
        for attribute in ("shape", "colour", "size", "count")
    }
    sheet["key_objects"]["relation"] = _histogram(r["relation"] for r in records)
    sheet["key_objects"]["landmark"] = _histogram(r["landmark"] for r in records)
    sheet["groups"] = _histogram(r["group"] for r in records)
    mentions = [c["mentions"] for r in records for c in r["captions"]]
    sheet["captions"]["mention_rate"] = {
        key: round(sum(m[key] not in (None, False) for m in mentions) / max(len(mentions), 1), 3)
        for key in ("scene", "colour", "shape", "count", "size", "relation", "landmark")
    }
    per_image = len(records) or 1
    sheet["noise_per_image"] = {
        "distractors": round(sum(len(r["distractors"]) for r in records) / per_image, 3),
        "distractors_in_key_colour": round(
            sum(d["colour"] == r["key"]["colour"] for r in records for d in r["distractors"]) / per_image, 3
        ),
        "texture_patches": round(sum(len(r["patches"]) for r in records) / per_image, 3),
        "shadows": round(sum(r["shadows"] for r in records) / per_image, 3),
        "clouds": round(sum(r["clouds"] for r in records) / per_image, 3),
    }
    return sheet


def format_datasheet(sheet: dict) -> str:
    """A few readable lines for the terminal."""
    images, captions, lengths = sheet["images"], sheet["captions"], sheet["caption_length_words"]
    lines = [
        f"{sheet['name']}: {images['total']} images ({images['train']} train / {images['test']} test), "
        f"{captions['total']} captions ({captions['distinct']} distinct), {sheet['classes']} classes",
        f"caption length (words): mean {lengths['mean']:.1f} ± {lengths['std']:.1f}, "
        f"min {lengths['min']}, median {lengths['p50']}, p95 {lengths['p95']}, max {lengths['max']}",
        f"vocabulary: {sheet['vocabulary_size']['train']} words in train captions, "
        f"{sheet['vocabulary_size']['all']} overall",
        "classes (train/test): "
        + ", ".join(
            f"{name} {count}/{sheet['class_histogram']['test'][name]}"
            for name, count in sheet["class_histogram"]["train"].items()
        ),
    ]
    if "noise_per_image" in sheet:
        noise = sheet["noise_per_image"]
        lines.append(
            "semantic noise per image: "
            + ", ".join(f"{key.replace('_', ' ')} {value:.2f}" for key, value in noise.items())
        )
    return "\n".join(lines)
