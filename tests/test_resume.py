"""Exact resume: a run stopped after N steps (by --max-steps, or by SIGKILL of the process) and resumed ends with
bitwise the same weights, metric history and results as an uninterrupted run (CPU, one thread everywhere)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import REPO_ROOT, TINY_OVERRIDES, make_synthrs, tiny_config

from pirlib.cli import main
from pirlib.official import OFFICIAL_TRAINING_OVERRIDES
from pirlib.training import fit

TIMING_KEYS = {"pairs_per_s", "train_seconds", "wall_seconds_last_session"}


@pytest.fixture(scope="module")
def synthrs(tmp_path_factory) -> Path:
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")


@pytest.fixture(scope="module")
def reference(synthrs, tmp_path_factory) -> Path:
    """The uninterrupted run: 2 epochs of 10 steps."""
    out = tmp_path_factory.mktemp("reference") / "run"
    with one_thread():
        fit(tiny_config(synthrs), out)
    return out


class one_thread:
    def __enter__(self):
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.threads)


def without_timing(value):
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    return value


def assert_same_run(run: Path, reference: Path) -> None:
    weights, expected = (
        load_file(run / "last" / "model.safetensors"),
        load_file(reference / "last" / "model.safetensors"),
    )
    assert weights.keys() == expected.keys()
    different = [name for name in expected if not torch.equal(weights[name], expected[name])]
    assert not different, f"weights differ bitwise: {different[:5]}"
    history = [without_timing(json.loads(line)) for line in (run / "metrics.jsonl").read_text().splitlines()]
    expected_history = [
        without_timing(json.loads(line)) for line in (reference / "metrics.jsonl").read_text().splitlines()
    ]
    assert history == expected_history
    results = without_timing(json.loads((run / "eval.json").read_text()))
    assert results == without_timing(json.loads((reference / "eval.json").read_text()))


@pytest.mark.slow
def test_resume_after_max_steps(synthrs, reference, tmp_path):
    config = tiny_config(synthrs)
    with one_thread():
        stopped = fit(config, tmp_path / "run", max_steps=10)
        assert stopped["steps"] == 10 and stopped["stopped_by_max_steps"]
        fit(config, tmp_path / "run", resume=True)
    assert_same_run(tmp_path / "run", reference)


@pytest.mark.slow
def test_planned_evaluations_in_one_call_equal_stopping_and_resuming(synthrs, tmp_path):
    """`fit(evaluate_at=...)` (how pirlib.tutorial.runs plans a learning curve) is the run that stops at each planned
    step with select_at_stop and resumes: same weights, records and selection, inside an epoch (7, 15) or at its end."""
    config, planned = tiny_config(synthrs, "train.eval_every_epochs=0"), [7, 10, 15]
    with one_thread():
        for stop in planned:
            fit(config, tmp_path / "staged", max_steps=stop, resume=True, select_at_stop=True)
        fit(config, tmp_path / "staged", resume=True, select_at_stop=True)
        fit(config, tmp_path / "one_call", select_at_stop=True, evaluate_at=planned)
    assert_same_run(tmp_path / "one_call", tmp_path / "staged")
    steps = [json.loads(line)["step"] for line in (tmp_path / "one_call" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [*planned, 20]


def last_step(run: Path) -> int:
    for directory in (run / "last", run / ".last.previous"):
        try:
            return json.loads((directory / "checkpoint.json").read_text())["step"]
        except (OSError, ValueError):
            continue
    return 0


@pytest.mark.slow
def test_resume_after_sigkill(synthrs, reference, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "pirlib", "train", "--config", str(REPO_ROOT / "configs" / "tiny_synthrs.yaml")]
    command += ["--data", str(synthrs), "--out", str(run), "--set", *TINY_OVERRIDES, "train.checkpoint_every_steps=1"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while last_step(run) < 13 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, "the training process ended before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    killed_at = last_step(run)
    assert 13 <= killed_at < 20
    with one_thread():
        assert main(["train", "--resume", "--out", str(run)]) == 0
    assert_same_run(run, reference)


@pytest.mark.slow
def test_official_training_set_from_the_command_line_resumes_exactly(synthrs, tmp_path):
    """The documented official-training `--set` list trains (transformers-4 AdamW state included) and resumes
    bitwise: 2 steps + resume to 4 gives the weights of 4 uninterrupted steps."""
    command = ["train", "--config", str(REPO_ROOT / "configs" / "tiny_synthrs.yaml"), "--data", str(synthrs)]
    command += ["--set", *TINY_OVERRIDES, *OFFICIAL_TRAINING_OVERRIDES]
    with one_thread():
        assert main([*command, "--out", str(tmp_path / "whole"), "--max-steps", "4"]) == 0
        assert main([*command, "--out", str(tmp_path / "split"), "--max-steps", "2"]) == 0
        assert main(["train", "--resume", "--out", str(tmp_path / "split"), "--max-steps", "4"]) == 0
    saved = (tmp_path / "split" / "config.yaml").read_text()
    assert "official_adamw: true" in saved and "train_padding_embedding: true" in saved
    weights = load_file(tmp_path / "split" / "last" / "model.safetensors")
    expected = load_file(tmp_path / "whole" / "last" / "model.safetensors")
    different = [name for name in expected if not torch.equal(weights[name], expected[name])]
    assert not different, f"weights differ bitwise: {different[:5]}"
