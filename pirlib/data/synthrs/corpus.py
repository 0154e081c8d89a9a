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
    OUT/.generating      present only while a generation runs (what a generation may replace: output.py)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pirlib.data.format import DatasetFormatError, confined_file, read_json_file
from pirlib.data.synthrs.generate import DATASHEET_FILE, GENERATOR_VERSION, _labels, draw_image, map_images
from pirlib.data.synthrs.output import GENERATING_FILE, IMAGE_DIR, MAX_IMAGES, check_setting, generated_images
from pirlib.data.synthrs.scenes import CLASS_NAMES
from pirlib.io import atomic_write, atomic_write_json

CORPUS_NAME = "synthrs_scenes"
CORPUS_FILE = "scenes.json"
CORPUS_STREAM = 1  # second entropy word of the corpus seed stream (the retrieval set uses the seed alone)


@dataclass(frozen=True)
class SceneCorpusSettings:
    images: int = 8000  # scene-labelled images, balanced over the 16 scenes
    size: int = 112  # image side in pixels (the retrieval set's)
    seed: int = 0  # seeds the corpus stream (disjoint from the retrieval set of any seed)
    noise: float = 0.5  # semantic-noise level, as in the retrieval set

    def validate(self) -> None:
        """Raise ValueError naming the first setting (and its `pirlib synth` flag) of a wrong type or out of range."""
        check_setting("scene corpus", "images", self.images, len(CLASS_NAMES), MAX_IMAGES)
        check_setting("scene corpus", "size", self.size, 16, None)
        check_setting("scene corpus", "seed", self.seed, 0, None)
        check_setting("scene corpus", "noise", self.noise, 0, 3, integer=False)


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
        return json.loads((Path(out) / CORPUS_FILE).read_text(encoding="utf-8")).get("name") == CORPUS_NAME
    except (OSError, ValueError, AttributeError):
        return False


def corpus_is_generated(out: str | os.PathLike, settings: SceneCorpusSettings) -> bool:
    """True when OUT already holds a complete scene corpus made with these settings by this generator version."""
    out = Path(out)
    try:
        sheet = json.loads((out / DATASHEET_FILE).read_text(encoding="utf-8"))
        corpus = json.loads((out / CORPUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
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
    previous = generated_images(out, CORPUS_FILE, CORPUS_NAME)
    image_dir = out / IMAGE_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out / GENERATING_FILE, lambda temporary: None)
    root = corpus_seed_sequence(settings.seed)
    labels = _labels(np.random.default_rng(root), settings.images)
    children = root.spawn(settings.images)
    tasks = [(i, labels[i], children[i], settings, str(image_dir)) for i in range(settings.images)]
    records = map_images(_make_scene_image, tasks, workers, "scene corpus", progress)
    images = [{"file": r["file"], "label": r["label"]} for r in records]
    for stale in previous - {image["file"] for image in images}:  # images of an earlier, larger corpus
        (image_dir / stale).unlink(missing_ok=True)
    atomic_write_json(
        out / CORPUS_FILE,
        {"name": CORPUS_NAME, "classes": list(CLASS_NAMES), "images": images},
        indent=1,
        sort_keys=True,
    )
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
    atomic_write_json(out / DATASHEET_FILE, sheet, indent=1, sort_keys=True)
    (out / GENERATING_FILE).unlink()
    return sheet


def load_scene_corpus(root: str | os.PathLike) -> tuple[list[str], list[tuple[Path, int]]]:
    """(class names, [(image path, label)]) of a scene corpus directory; DatasetFormatError naming the file when
    `root` holds no corpus or a malformed one (its image files must lie in its images/ folder)."""
    root = Path(root)
    path = root / CORPUS_FILE
    advice = "pass a folder written by `pirlib synth --scene-corpus` (--corpus)"
    if not path.is_file():
        raise DatasetFormatError(f"not a scene corpus: {CORPUS_FILE} not found ({path}): {advice}")
    corpus = read_json_file(path, DatasetFormatError, advice)
    try:
        classes, images = list(corpus["classes"]), corpus["images"]
        items = [(item["file"], int(item["label"])) for item in images]
    except (TypeError, KeyError, ValueError) as error:
        raise DatasetFormatError(f"malformed scene corpus ({error!r} in {path}): {advice}") from error
    for file, label in items:
        if not isinstance(file, str) or confined_file(file) is None or not 0 <= label < len(classes):
            raise DatasetFormatError(f"bad image entry {file!r} (label {label}) in {path}: {advice}")
    return classes, [(root / IMAGE_DIR / confined_file(file), label) for file, label in items]
