"""The oracle ladder: retrieval mR on SynthRS when the matcher knows only some attributes (paper §4.1 metrics).

A calibration yardstick for the data, not a model. The oracle scores an (image, caption) pair by how many of the
known attributes agree: the scene (always known, the label of the caption's image, i.e. what a perfect scene prior or
affiliation loss would give), then the key objects' colour, shape, count, and finally everything a caption can say
(size, relation, landmark too). An attribute the caption does not mention cannot be used. Ties are broken at random
with a seeded generator. If "scene only" is already high, scenes alone solve retrieval and fine attributes teach
nothing; the gap between the rungs is what a model can gain by seeing the small key objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

LADDER: dict[str, tuple[str, ...]] = {
    "scene": ("scene",),
    "scene+colour": ("scene", "colour"),
    "scene+colour+shape": ("scene", "colour", "shape"),
    "scene+colour+shape+count": ("scene", "colour", "shape", "count"),
    "everything": ("scene", "colour", "shape", "count", "size", "relation", "landmark"),
}


def _image_value(record: dict, attribute: str):
    if attribute == "scene":
        return record["label"]
    if attribute in ("relation", "landmark"):
        return record[attribute]
    return record["key"][attribute]


def _caption_value(record: dict, mentions: dict, attribute: str):
    return record["label"] if attribute == "scene" else mentions[attribute]


def oracle_similarity(records: list[dict], known: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    """[n_images, n_captions] number of known attributes that agree, plus a tie-breaking random fraction < 1."""
    captions = [(record, c["mentions"]) for record in records for c in record["captions"]]
    score = np.zeros((len(records), len(captions)), dtype=np.float64)
    for attribute in known:
        images = [_image_value(r, attribute) for r in records]
        texts = [_caption_value(r, m, attribute) for r, m in captions]
        vocabulary = {value: k for k, value in enumerate(sorted({str(v) for v in images + texts if v is not None}))}
        image_codes = np.array([vocabulary[str(v)] for v in images])  # [n_images]
        text_codes = np.array([-1 if v is None else vocabulary[str(v)] for v in texts])  # [n_captions], -1 unknown
        score += (image_codes[:, None] == text_codes[None, :]) & (text_codes[None, :] >= 0)
    return score + 0.5 * rng.random(score.shape)


def _load_test(out_dir: str | os.PathLike, split: str) -> list[dict]:
    path = Path(out_dir) / "attributes.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: not found; the oracle ladder needs a SynthRS directory (python -m pirlib synth --out {out_dir})"
        )
    records = [r for r in json.loads(path.read_text())["images"] if r["split"] == split]
    if not records:
        raise ValueError(f"{path}: no image in split '{split}'")
    return records


def oracle_ladder(out_dir: str | os.PathLike, seed: int = 0, split: str = "test") -> dict[str, dict[str, float]]:
    """Retrieval metrics (R@1/5/10 both ways, mR, in %) of random ranking ("chance") and of each rung of LADDER."""
    from pirlib.metrics import retrieval_metrics  # imported on use: generating SynthRS does not need torch

    records = _load_test(out_dir, split)
    img2txt, txt2img, position = [], [], 0
    for image_id, record in enumerate(records):
        img2txt.append(list(range(position, position + len(record["captions"]))))
        txt2img += [image_id] * len(record["captions"])
        position += len(record["captions"])
    rng = np.random.default_rng(seed)
    ladder = {"chance": oracle_similarity(records, (), rng)}
    ladder.update({name: oracle_similarity(records, known, rng) for name, known in LADDER.items()})
    return {
        name: {key: round(float(value), 2) for key, value in retrieval_metrics(similarity, img2txt, txt2img).items()}
        for name, similarity in ladder.items()
    }
