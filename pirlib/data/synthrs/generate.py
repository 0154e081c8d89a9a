"""SynthRS orchestration: sample, draw and caption every image, then write the dataset directory.

Output (the format `pirlib prepare` also writes, so one loader reads both; see docs/ARCHITECTURE.md):

    OUT/dataset.json      classes, and per image: file, split, scene label, 5 captions (train images first)
    OUT/images/*.png      SCENE_NNNNN.png, size × size RGB
    OUT/attributes.json   what each image shows: scene, key objects (shape, colour, size, count, positions),
                          relation, landmarks, distractors, noise; and what each caption mentions
    OUT/datasheet.json    counts, class histogram, caption lengths, vocabulary, attribute and noise statistics
    OUT/.generating       present only while a generation runs (what a generation may replace: output.py)

Determinism: image i draws everything from `numpy.random.default_rng(SeedSequence(seed).spawn(n)[i])`, so the files
are byte-identical for the same arguments, whatever the number of worker processes. Captions that repeat a caption of
an earlier image are redrawn from a generator seeded by (seed, image, attempt) until unique.
"""

from __future__ import annotations

import contextlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pirlib.data.captions import pre_caption
from pirlib.data.format import INDEX_FILE, ImageRecord, write_index
from pirlib.data.synthrs.captions import caption, describe
from pirlib.data.synthrs.datasheet import build_datasheet
from pirlib.data.synthrs.layout import ImagePlan, sample_plan
from pirlib.data.synthrs.output import GENERATING_FILE, IMAGE_DIR, MAX_IMAGES, check_setting, generated_images
from pirlib.data.synthrs.render import render
from pirlib.data.synthrs.scenes import CLASS_NAMES, SIZES
from pirlib.io import atomic_write, atomic_write_json
from pirlib.progress import progress_bar

GENERATOR_VERSION = 1  # bump when the same arguments would produce different files
NAME = "synthrs"
ATTRIBUTES_FILE = "attributes.json"
DATASHEET_FILE = "datasheet.json"
CAPTIONS_PER_IMAGE = 5
PNG_COMPRESS_LEVEL = 1  # lossless at any level; 1 encodes 4x faster than 6 for 15% larger files (docs/benchmarks.md)


@dataclass(frozen=True)
class SynthSettings:
    images: int = 2300  # total number of images (train + test)
    test_images: int = 300  # of which held out for testing
    size: int = 112  # image side in pixels (112: a 7×7 Swin grid with 3 stages; 224 for the full model)
    seed: int = 0  # everything is drawn from this seed
    noise: float = 0.5  # semantic-noise level in [0, 3]: 0 none (distractors, texture patches, shadows, clouds)

    def validate(self) -> None:
        """Raise ValueError naming the first setting (and its `pirlib synth` flag) of a wrong type or out of range."""
        check_setting("SynthRS", "images", self.images, 2, MAX_IMAGES)
        check_setting("SynthRS", "test_images", self.test_images, 1, self.images - 1)
        check_setting("SynthRS", "size", self.size, 16, None)
        check_setting("SynthRS", "seed", self.seed, 0, None)
        check_setting("SynthRS", "noise", self.noise, 0, 3, integer=False)


def _labels(rng: np.random.Generator, count: int) -> list[int]:
    """Balanced scene labels in a random order."""
    return [int(v) for v in rng.permutation(np.arange(count) % len(CLASS_NAMES))]


def _plan_attributes(plan: ImagePlan) -> dict:
    def obj(o):
        return {
            "shape": o.shape,
            "colour": o.colour,
            "size": o.size,
            "x": round(o.x, 4),
            "y": round(o.y, 4),
            "length": SIZES[o.size],
            "angle": round(o.angle, 4),
        }

    def geometry(landmark):
        return {
            "name": landmark.name,
            "geometry": landmark.geometry,
            "center": [round(v, 4) for v in landmark.center],
            "angle": round(landmark.angle, 4),
            "half_width": round(landmark.half_width, 4),
            "radii": [round(v, 4) for v in landmark.radii],
            "meander": [round(v, 4) for v in landmark.meander],
        }

    return {
        "scene": plan.scene,
        "label": plan.label,
        "group": plan.group,
        "ground": plan.ground,
        "landmark": plan.landmarks[0].name,
        "landmarks": [lm.name for lm in plan.landmarks],
        "landmark_geometry": [geometry(lm) for lm in plan.landmarks],
        "relation": plan.relation,
        "key": {
            "shape": plan.key_shape,
            "colour": plan.key_colour,
            "size": plan.key_size,
            "count": plan.key_count,
            "objects": [obj(o) for o in plan.key_objects],
        },
        "distractors": [obj(o) for o in plan.distractors],
        "trees": len(plan.tree_positions),
        "tree_positions": [[round(v, 4) for v in tree] for tree in plan.tree_positions],
        "patches": [p[0] for p in plan.patches],
        "shadows": len(plan.shadows),
        "clouds": len(plan.clouds),
    }


def draw_image(index: int, label: int, seed_sequence, noise: float, size: int, image_dir: str):
    """Sample and draw image `index` of scene `label` from its seed sequence, save it atomically as
    SCENE_NNNNN.png; returns (its plan, its file name, the generator, which goes on to draw its captions)."""
    rng = np.random.default_rng(seed_sequence)
    plan = sample_plan(rng, label, noise)
    image = render(plan, size, rng)
    file = f"{plan.scene}_{index:05d}.png"
    atomic_write(
        Path(image_dir) / file, lambda temporary: image.save(temporary, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    )
    return plan, file, rng


def map_images(function, tasks: list, workers: int, description: str, progress: str) -> list:
    """`function` over `tasks` in `workers` processes (in order), behind a progress bar."""
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else contextlib.nullcontext() as pool:
        made = pool.map(function, tasks, chunksize=16) if workers > 1 else map(function, tasks)
        return list(progress_bar(made, total=len(tasks), desc=description, unit="image", mode=progress))


def _make_image(task: tuple) -> dict:
    """Sample, draw, save and caption one image (runs in a worker process when workers > 1)."""
    index, label, split, seed_sequence, settings, image_dir = task
    plan, file, rng = draw_image(index, label, seed_sequence, settings.noise, settings.size, image_dir)
    captions = [{"text": pre_caption(text), "mentions": mentions} for text, mentions in describe(plan, rng)]
    return {"file": file, "split": split, **_plan_attributes(plan), "captions": captions, "_plan": plan}


def _make_unique(records: list[dict], seed: int) -> int:
    """Redraw captions that repeat one of an earlier image (deterministically); returns how many were redrawn."""
    seen: set[str] = set()
    redrawn = 0
    for index, record in enumerate(records):
        own = {c["text"] for c in record["captions"]}
        for slot, entry in enumerate(record["captions"]):
            attempt = 0
            while entry["text"] in seen:
                rng = np.random.default_rng([seed, index, slot, attempt])
                text, mentions = caption(record["_plan"], rng)
                text = pre_caption(text)
                if text not in own:
                    entry = {"text": text, "mentions": mentions}
                attempt += 1
                if attempt > 1000:
                    raise RuntimeError(f"SynthRS: cannot find a unique caption for image {record['file']}")
            if entry is not record["captions"][slot]:
                redrawn += 1
                own.add(entry["text"])
                record["captions"][slot] = entry
        seen.update(c["text"] for c in record["captions"])
    return redrawn


def _check_not_another_dataset(out: Path) -> None:
    """Refuse to write SynthRS over a directory that holds another dataset (e.g. a prepared RSITMD)."""
    try:
        name = json.loads((out / INDEX_FILE).read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        return
    if name != NAME:
        raise ValueError(
            f"{out / INDEX_FILE}: this directory holds the dataset '{name}', not SynthRS; "
            "choose another --out for SynthRS"
        )


def is_generated(out: str | os.PathLike, settings: SynthSettings) -> bool:
    """True when OUT already holds a complete SynthRS dataset made with these settings by this generator version."""
    out = Path(out)
    try:
        sheet = json.loads((out / DATASHEET_FILE).read_text(encoding="utf-8"))
        index = json.loads((out / INDEX_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    expected = {**asdict(settings), "generator_version": GENERATOR_VERSION}
    if sheet.get("settings") != expected or not (out / ATTRIBUTES_FILE).is_file():
        return False
    return all((out / IMAGE_DIR / item["file"]).is_file() for item in index.get("images", []))


def generate_synthrs(
    out: str | os.PathLike,
    settings: SynthSettings | None = None,
    workers: int = 1,
    progress: str = "auto",
) -> dict:
    """Generate SynthRS into `out`; returns the datasheet (also written as OUT/datasheet.json). `progress` is the mode
    of the images' progress bar ("auto", "bar", "lines", "off"; `pirlib.progress`)."""
    settings = settings or SynthSettings()
    settings.validate()
    out = Path(out)
    _check_not_another_dataset(out)
    previous = generated_images(out, INDEX_FILE, NAME)
    image_dir = out / IMAGE_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out / GENERATING_FILE, lambda temporary: None)
    rng = np.random.default_rng(settings.seed)
    train_count = settings.images - settings.test_images
    labels = _labels(rng, train_count) + _labels(rng, settings.test_images)
    splits = ["train"] * train_count + ["test"] * settings.test_images
    children = np.random.SeedSequence(settings.seed).spawn(settings.images)
    tasks = [(i, labels[i], splits[i], children[i], settings, str(image_dir)) for i in range(settings.images)]

    records = map_images(_make_image, tasks, workers, "SynthRS images", progress)
    redrawn = _make_unique(records, settings.seed)
    for record in records:
        del record["_plan"]

    for stale in previous - {record["file"] for record in records}:  # images of an earlier, larger run
        (image_dir / stale).unlink(missing_ok=True)
    index_records = [
        ImageRecord(r["file"], r["split"], r["label"], tuple(c["text"] for c in r["captions"])) for r in records
    ]
    write_index(out, NAME, CLASS_NAMES, index_records, image_root=IMAGE_DIR)
    atomic_write_json(
        out / ATTRIBUTES_FILE, {"name": NAME, "settings": asdict(settings), "images": records}, indent=1, sort_keys=True
    )
    sheet = build_datasheet(NAME, CLASS_NAMES, records)
    sheet["settings"] = {**asdict(settings), "generator_version": GENERATOR_VERSION}
    sheet["captions"]["redrawn_duplicates"] = redrawn
    atomic_write_json(out / DATASHEET_FILE, sheet, indent=1, sort_keys=True)
    (out / GENERATING_FILE).unlink()
    return sheet
