"""The SynthRS scene corpus: a labels-only scene-classification set for pretraining the scene prior, the tutorial's
analogue of AID (paper §3.2: the prior is a ResNet-50 pretrained on AID, a scene-classification corpus separate from
RSITMD/RSICD, then frozen).

The images are drawn by the SynthRS generator (same scenes, same semantic noise) from a seed stream disjoint from
the retrieval dataset's: image i of the corpus draws from `SeedSequence([seed, CORPUS_STREAM]).spawn(n)[i]`, while the
retrieval set draws from `SeedSequence(seed).spawn(n)[i]`, so the corpus shares no image with any SynthRS retrieval
set (tests/test_scene_corpus.py checks it pixel by pixel). No captions are made.

Output:

    OUT/scenes.json      {"name": "synthrs_scenes", "classes": [...], "images": [{"file", "label"}, ...]}
    OUT/images/*.png     SCENE_NNNNN.png, size × size RGB
    OUT/datasheet.json   settings, image count, class histogram, semantic noise per image
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pirlib.data.synthrs.generate import (
    DATASHEET_FILE,
    GENERATOR_VERSION,
    IMAGE_DIR,
    _labels,
    _write_json,
    draw_image,
    map_images,
)
from pirlib.data.synthrs.scenes import CLASS_NAMES

CORPUS_NAME = "synthrs_scenes"
CORPUS_FILE = "scenes.json"
CORPUS_STREAM = 1  # second entropy word of the corpus seed stream (the retrieval set uses the seed alone)
MAX_IMAGES = 50_000  # bounds the memory and disk a mistyped size could take


@dataclass(frozen=True)
class SceneCorpusSettings:
    images: int = 8000  # scene-labelled images, balanced over the 16 scenes
    size: int = 112  # image side in pixels (the retrieval set's)
    seed: int = 0  # seeds the corpus stream (disjoint from the retrieval set of any seed)
    noise: float = 0.5  # semantic-noise level, as in the retrieval set

    def validate(self) -> None:
        if not len(CLASS_NAMES) <= self.images <= MAX_IMAGES:
            raise ValueError(f"scene corpus: --images must be in [{len(CLASS_NAMES)}, {MAX_IMAGES}], got {self.images}")
        if self.size < 16:
            raise ValueError(f"scene corpus: --size must be at least 16 pixels, got {self.size}")
        if not 0.0 <= self.noise <= 3.0:
            raise ValueError(f"scene corpus: --noise must be in [0, 3], got {self.noise}")


def corpus_seed_sequence(seed: int) -> np.random.SeedSequence:
    """The root of the corpus stream: entropy (seed, CORPUS_STREAM), never equal to a retrieval set's (seed,)."""
    return np.random.SeedSequence([seed, CORPUS_STREAM])


def _make_scene_image(task: tuple) -> dict:
    """Sample, draw and save one scene image (runs in a worker process when workers > 1)."""
    index, label, seed_sequence, settings, image_dir = task
    plan, file, _ = draw_image(index, label, seed_sequence, settings.noise, settings.size, image_dir)
    return {"file": file, "label": plan.label, "distractors": len(plan.distractors), "patches": len(plan.patches)}


def is_scene_corpus(out: str | os.PathLike) -> bool:
    try:
        return json.loads((Path(out) / CORPUS_FILE).read_text()).get("name") == CORPUS_NAME
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


def corpus_is_generated(out: str | os.PathLike, settings: SceneCorpusSettings) -> bool:
    """True when OUT already holds a complete scene corpus made with these settings by this generator version."""
    out = Path(out)
    try:
        sheet = json.loads((out / DATASHEET_FILE).read_text())
        corpus = json.loads((out / CORPUS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if sheet.get("settings") != {**asdict(settings), "generator_version": GENERATOR_VERSION}:
        return False
    return all((out / IMAGE_DIR / item["file"]).is_file() for item in corpus.get("images", []))


def generate_scene_corpus(
    out: str | os.PathLike,
    settings: SceneCorpusSettings | None = None,
    workers: int = 1,
    progress: str = "auto",
) -> dict:
    """Generate the scene corpus into `out`; returns its datasheet (also written as OUT/datasheet.json). `progress`
    is the mode of the images' progress bar ("auto", "bar", "lines", "off"; `pirlib.progress`)."""
    settings = settings or SceneCorpusSettings()
    settings.validate()
    out = Path(out)
    if (out / "dataset.json").exists():
        raise ValueError(f"{out / 'dataset.json'}: this directory holds a retrieval dataset; choose another --out")
    image_dir = out / IMAGE_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    root = corpus_seed_sequence(settings.seed)
    labels = _labels(np.random.default_rng(root), settings.images)
    children = root.spawn(settings.images)
    tasks = [(i, labels[i], children[i], settings, str(image_dir)) for i in range(settings.images)]
    records = map_images(_make_scene_image, tasks, workers, "scene corpus", progress)
    images = [{"file": r["file"], "label": r["label"]} for r in records]
    _write_json(out / CORPUS_FILE, {"name": CORPUS_NAME, "classes": list(CLASS_NAMES), "images": images})
    histogram = np.bincount([r["label"] for r in records], minlength=len(CLASS_NAMES))
    sheet = {
        "name": CORPUS_NAME,
        "settings": {**asdict(settings), "generator_version": GENERATOR_VERSION},
        "images": settings.images,
        "classes": len(CLASS_NAMES),
        "class_histogram": {name: int(count) for name, count in zip(CLASS_NAMES, histogram, strict=True)},
        "noise_per_image": {
            "distractors": round(float(np.mean([r["distractors"] for r in records])), 3),
            "texture_patches": round(float(np.mean([r["patches"] for r in records])), 3),
        },
    }
    _write_json(out / DATASHEET_FILE, sheet)
    return sheet


def load_scene_corpus(root: str | os.PathLike) -> tuple[list[str], list[tuple[Path, int]]]:
    """(class names, [(image path, label)]) of a scene corpus directory."""
    root = Path(root)
    corpus = json.loads((root / CORPUS_FILE).read_text())
    return list(corpus["classes"]), [(root / IMAGE_DIR / item["file"], int(item["label"])) for item in corpus["images"]]
