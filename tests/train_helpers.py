"""Helpers of the training-engine tests: a tiny SynthRS and a tiny PIR config that trains in seconds on CPU."""

from __future__ import annotations

from pathlib import Path

from pirlib.cli import main
from pirlib.config import Config, load_config

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_synthrs(root: Path) -> Path:
    """A tiny SynthRS (64 images of 56 px, 16 of them for testing), made with the real `pirlib synth` command."""
    code = main(["synth", "--out", str(root), "--images", "64", "--test-images", "16", "--size", "56", "--seed", "0"])
    assert code == 0, "pirlib synth failed"
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
    "data.validation_fraction=0.34",
    "data.num_workers=0",
    "train.epochs=2",
    "train.batch_size=16",
    "train.eval_batch_size=32",
    "train.learning_rate=1e-3",
    "train.device=cpu",  # tests run on the CPU even where CUDA exists; tests/test_gpu.py asks for CUDA explicitly
]


def tiny_config(data_root: Path, *overrides: str) -> Config:
    """configs/tiny_synthrs.yaml shrunk further (56 px, one block per layer) on the dataset at `data_root`."""
    return load_config(
        REPO_ROOT / "configs" / "tiny_synthrs.yaml", [*TINY_OVERRIDES, f"data.root={data_root}", *overrides]
    )
