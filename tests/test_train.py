"""The real entry points on a tiny SynthRS: `train` -> `evaluate` -> `embed` from the CLI, clear errors on bad
input, and a NaN loss that stops the run while keeping the last good checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import REPO_ROOT, TINY_OVERRIDES, make_synthrs, tiny_config

from pirlib.cli import main
from pirlib.losses import RetrievalObjective
from pirlib.metrics import METRIC_KEYS
from pirlib.training import TrainingDiverged, fit, loop
from pirlib.training.selection import NO_SELECTION

PROFILE = str(REPO_ROOT / "configs" / "tiny_synthrs.yaml")


@pytest.fixture(scope="module")
def synthrs(tmp_path_factory) -> Path:
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--config", PROFILE, "--data", str(data), "--out", str(out), "--set", *TINY_OVERRIDES, *extra]


def test_cli_train_evaluate_embed(synthrs, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(synthrs, run, "--max-steps", "3")) == 0
    results = json.loads((run / "eval.json").read_text())
    assert results["steps"] == 3 and results["stopped_by_max_steps"]
    assert results["selection"]["criterion"] == NO_SELECTION  # a stop by --max-steps is not a scheduled evaluation
    assert "TEST set" in results["official_protocol"]["description"]
    assert set(results["test"]) == set(METRIC_KEYS) and results["pairs_per_s"] > 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3] and records[0]["partial_epoch"]
    assert records[0]["selection_candidate"] is False and not (run / "best").exists()
    assert (run / "metrics.csv").read_text().startswith("epoch,step")
    assert (run / "last" / "training_state.pt").is_file()

    assert main(["evaluate", "--checkpoint", str(run), "--data", str(synthrs)]) == 0
    evaluated = json.loads((run / "last" / "eval_test.json").read_text())
    assert {key: evaluated[key] for key in METRIC_KEYS} == results["test"]  # the saved checkpoint reproduces
    assert '"mR"' in capsys.readouterr().out

    out = tmp_path / "embeddings.npz"
    assert main(["embed", "--checkpoint", str(run / "last"), "--data", str(synthrs), "--out", str(out)]) == 0
    arrays = np.load(out)
    assert arrays["image_embeddings"].shape == (16, 32) and arrays["text_embeddings"].shape == (80, 32)
    assert np.allclose(np.linalg.norm(arrays["image_embeddings"], axis=1), 1, atol=1e-5)
    assert arrays["caption_labels"].shape == (80,) and len(arrays["class_names"]) == 16
    assert set(arrays["caption_image_ids"]) == set(arrays["image_ids"])


def test_cli_trains_and_evaluates_the_prior_fusion_control(synthrs, tmp_path, capsys):
    """The scene-knowledge control is a config switch of `pirlib train` (the variant `baseline_prior_fusion`)."""
    from pirlib.tutorial.runs import VARIANTS

    run = tmp_path / "fusion"
    assert main(train_args(synthrs, run, *VARIANTS["baseline_prior_fusion"], "--max-steps", "2")) == 0
    weights = (run / "last" / "model.safetensors").read_bytes()
    assert b"prior_fusion.weight" in weights and b"scene_prior." in weights and b"vision_instruction" not in weights
    assert main(["evaluate", "--checkpoint", str(run), "--data", str(synthrs)]) == 0
    evaluated = json.loads((run / "last" / "eval_test.json").read_text())
    assert evaluated["mR"] == json.loads((run / "eval.json").read_text())["test"]["mR"]  # the saved control reproduces


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--config", "configs/nope.yaml", "--out", "x"], "config file not found"),
        (["train", "--config", PROFILE, "--set", "train.epoch=3"], "did you mean 'epochs'"),
        (["train", "--config", PROFILE, "--data", "/nonexistent/data"], "dataset.json: not found"),
        (["train", "--config", PROFILE, "--max-steps", "0"], "--max-steps must be >= 1"),
        (["evaluate", "--checkpoint", "/nonexistent/run"], "no model.safetensors"),
    ],
)
def test_bad_input_gives_one_clear_error(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_run_specific_errors(synthrs, tmp_path, capsys):
    assert main(train_args(synthrs, tmp_path / "big", "train.batch_size=4096")) == 2
    assert "exceeds the 160 training pairs" in capsys.readouterr().err
    assert main(train_args(synthrs, tmp_path / "run", "--max-steps", "1")) == 0
    assert main(train_args(synthrs, tmp_path / "run", "--max-steps", "2")) == 2
    assert "the run directory is not empty" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(tmp_path / "run"), "--set", "model.embed_dim=64"]) == 2
    assert "differs from its config.yaml in ['model.embed_dim']" in capsys.readouterr().err


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(synthrs, tmp_path, monkeypatch):
    calls = []
    original = RetrievalObjective.__call__

    def poisoned(self, *args):
        terms = original(self, *args)
        calls.append(1)
        if len(calls) == 3:
            terms["loss"] = terms["loss"] * torch.tensor(float("nan"))
        return terms

    monkeypatch.setattr(RetrievalObjective, "__call__", poisoned)
    config = tiny_config(synthrs, "train.checkpoint_every_steps=1")
    with pytest.raises(TrainingDiverged, match=r"non-finite loss at step 3 .*last good checkpoint is .*last"):
        fit(config, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "last" / "checkpoint.json").read_text())["step"] == 2


@pytest.mark.slow
def test_last_is_saved_on_its_period_and_where_training_stops(synthrs, tmp_path, monkeypatch):
    saved = []
    original = loop.Trainer._save_last

    def recording(self):
        saved.append(self.step)
        original(self)

    monkeypatch.setattr(loop.Trainer, "_save_last", recording)
    periods = ["train.save_last_every_epochs=2", "train.eval_every_epochs=2"]
    config = tiny_config(synthrs, "train.epochs=3", "train.batch_size=32", *periods)  # 5 steps per epoch
    results = fit(config, tmp_path / "run")
    assert saved == [10, 15]  # epoch 2, then the last epoch
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], "test" in r) for r in records] == [(5, False), (10, True), (15, True)]
    assert results["selection"]["step"] in (10, 15)
    saved.clear()
    fit(config, tmp_path / "stopped", max_steps=7)
    assert saved == [7]  # a stop always saves, to resume from


def test_gpu_resident_batches_train(synthrs, tmp_path):
    results = fit(tiny_config(synthrs, "data.gpu_resident=true"), tmp_path / "run", max_steps=2)
    assert results["steps"] == 2 and set(results["test"]) == set(METRIC_KEYS)
