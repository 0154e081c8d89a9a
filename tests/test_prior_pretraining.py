"""Scene-prior pretraining: trains a timm CNN on scene labels, reports accuracy, saves safetensors + metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

from pirlib.cli import main
from pirlib.config import apply_overrides, load_config
from pirlib.data import write_index
from pirlib.data.format import ImageRecord
from pirlib.training.prior import pretrain_scene_prior

# Every stride-2 1x1 convolution (a ResNet downsample) has at least 8 input channels. With fewer, oneDNN's AVX2 fp32
# backward-weights kernel for channels-last tensors writes out of bounds (a defect reported to oneDNN: its jit_1x1
# AVX2 kernel overruns its workspace below 8 input channels). Measured here with ONEDNN_MAX_CPU_ISA=AVX2: 4 input
# channels gave non-repeatable weights with 2 threads and "corrupted double-linked list" with 1; 8 and more are exact
# and repeatable.
OVERRIDES = [
    "vision.image_size=32",
    "prior.model_name=resnet18",
    "prior.model_kwargs={channels: [8, 8, 8, 8], stem_width: 8}",  # at least 8 input channels: see above
    "data.num_workers=0",
    "train.device=cpu",
]


def _scenes(root: Path) -> Path:
    """Two scene classes that differ by colour (red / blue images with noise): 8 train + 4 test images each."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    records = []
    for label, colour in enumerate(((200, 40, 40), (40, 40, 200))):
        for k in range(12):
            pixels = np.clip(rng.normal(colour, 40, size=(32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "images" / f"{label}_{k}.png")
            records.append(ImageRecord(f"{label}_{k}.png", "test" if k >= 8 else "train", label, ("a scene",)))
    write_index(root, "colours", ["red", "blue"], records)
    return root


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return _scenes(tmp_path_factory.mktemp("scenes"))


def test_pretraining_writes_weights_and_metrics(data_root: Path, tmp_path: Path) -> None:
    config = load_config(None, OVERRIDES)
    out = tmp_path / "prior" / "prior.safetensors"
    metrics = pretrain_scene_prior(
        apply_overrides(config, ["prior_training.epochs=2", "prior_training.batch_size=8"]), data_root, out, log=None
    )
    assert 0.0 <= metrics["accuracy"] <= 100.0 and metrics["test_images"] == 8 and metrics["train_images"] == 16
    assert len(metrics["per_class_accuracy"]) == 2 and sum(map(sum, metrics["confusion"])) == 8
    assert len(metrics["history"]) == 2 and metrics["classes"] == ["red", "blue"]
    state = load_file(out)
    assert state["fc.weight"].shape == (2, 8) and "conv1.weight" in state
    assert json.loads(out.with_suffix(".json").read_text())["accuracy"] == metrics["accuracy"]
    assert {path.name for path in out.parent.iterdir()} == {"prior.safetensors", "prior.json"}  # no temp files


def test_pretraining_is_deterministic_on_cpu(data_root: Path, tmp_path: Path) -> None:
    config = load_config(None, OVERRIDES)
    first = pretrain_scene_prior(
        apply_overrides(config, ["prior_training.epochs=1", "prior_training.batch_size=8"]),
        data_root,
        tmp_path / "a.safetensors",
        log=None,
    )
    second = pretrain_scene_prior(
        apply_overrides(config, ["prior_training.epochs=1", "prior_training.batch_size=8"]),
        data_root,
        tmp_path / "b.safetensors",
        log=None,
    )
    assert first["history"] == second["history"]
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


def test_command_prints_accuracy(data_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "prior.safetensors"
    argv = ["pretrain-prior", "--data", str(data_root), "--out", str(out), "--epochs", "1", "--batch-size", "8"]
    assert main([*argv, *(arg for override in OVERRIDES for arg in ("--set", override))]) == 0
    printed = capsys.readouterr().out
    assert "scene-prior test accuracy" in printed and out.is_file()
    assert main(["pretrain-prior", "--data", str(tmp_path / "nothing"), "--out", str(out)]) == 2


def test_resident_pretraining_is_deterministic_and_learns(data_root: Path, tmp_path: Path) -> None:
    config = load_config(None, [*OVERRIDES, "data.gpu_resident=true"])
    runs = [
        pretrain_scene_prior(
            apply_overrides(config, ["prior_training.epochs=6", "prior_training.batch_size=8"]),
            data_root,
            tmp_path / f"{k}.safetensors",
            log=None,
        )
        for k in range(2)
    ]
    assert runs[0]["gpu_resident"] and runs[0]["train_images"] == 16
    assert [h["loss"] for h in runs[0]["history"]] == [h["loss"] for h in runs[1]["history"]]
    assert (tmp_path / "0.safetensors").read_bytes() == (tmp_path / "1.safetensors").read_bytes()
    first, last = runs[0]["history"][0], runs[0]["history"][-1]  # 3 passes were too few on another kernel path
    assert last["loss"] < first["loss"] and last["test_accuracy"] > first["test_accuracy"]
