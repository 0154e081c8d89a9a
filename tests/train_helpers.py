"""Helpers of the training-engine tests: a tiny on-disk dataset and a tiny PIR config that trains in seconds on CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pirlib.config import Config, load_config
from pirlib.data.format import ImageRecord, write_index

REPO_ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("farmland", "harbor", "forest")
WORDS = ("green fields", "boats near a pier", "dense trees", "a road", "some buildings", "a river")


def write_tiny_dataset(root: Path, images_per_class: int = 4, test_per_class: int = 2, size: int = 40) -> Path:
    """A dataset directory whose images are class-tinted noise and whose captions name the class."""
    rng = np.random.default_rng(0)
    records = []
    (root / "images").mkdir(parents=True, exist_ok=True)
    for label, name in enumerate(CLASSES):
        for k in range(images_per_class + test_per_class):
            pixels = rng.integers(0, 120, size=(size, size, 3)) + np.eye(3, dtype=int)[label] * 120
            file = f"{name}_{k}.png"
            Image.fromarray(pixels.astype(np.uint8)).save(root / "images" / file)
            captions = tuple(f"{name} with {WORDS[(k + c) % len(WORDS)]}" for c in range(5))
            records.append(ImageRecord(file, "train" if k < images_per_class else "test", label, captions))
    write_index(root, "tiny", CLASSES, records)
    return root


TINY_OVERRIDES = [
    "vision.image_size=56",
    "vision.embed_dim=16",
    "vision.depths=[1, 1]",
    "vision.num_heads=[1, 2]",
    "prior.checkpoint=null",
    "prior.model_kwargs={channels: [8, 8, 16, 16], stem_width: 8}",
    "text.hidden_size=32",
    "text.num_layers=1",
    "text.num_heads=2",
    "text.intermediate_size=64",
    "text.max_position_embeddings=32",
    "text.max_tokens=16",
    "model.embed_dim=32",
    "model.num_attention_heads=2",
    "model.num_instruction_layers=1",
    "model.num_cycles=1",
    "data.validation_fraction=0.25",
    "train.epochs=2",
    "train.batch_size=8",
    "train.eval_batch_size=16",
    "train.learning_rate=1e-3",
]


def tiny_config(data_root: Path, *overrides: str) -> Config:
    """configs/tiny_synthrs.yaml shrunk further (56 px, one block per layer) on the dataset at `data_root`."""
    return load_config(
        REPO_ROOT / "configs" / "tiny_synthrs.yaml", [*TINY_OVERRIDES, f"data.root={data_root}", *overrides]
    )
