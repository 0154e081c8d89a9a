"""`train.weight_average_decay`: the exponential moving average of the weights is what a run evaluates and saves as
best/, and a resumed run continues it bitwise (CPU, one thread)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_resume import assert_same_run, one_thread
from train_helpers import make_synthrs, tiny_config

from pirlib.training import fit


@pytest.fixture(scope="module")
def synthrs(tmp_path_factory) -> Path:
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")


def _distance(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> float:
    """‖first − second‖ / ‖second‖ over all floating-point tensors of `second`, as one vector."""
    names = [name for name in second if second[name].is_floating_point()]
    difference = sum(float((first[name] - second[name]).square().sum()) for name in names)
    return (difference / sum(float(second[name].square().sum()) for name in names)) ** 0.5


@pytest.mark.slow
def test_the_weight_average_is_evaluated_and_saved_as_best(synthrs, tmp_path):
    # With a decay this close to 1 the average stays at the weights after the first step (its first update copies
    # them), while the trained weights move on: best/ must hold the former.
    with one_thread():
        fit(tiny_config(synthrs), tmp_path / "one_step", max_steps=1)
        fit(tiny_config(synthrs, "train.weight_average_decay=0.9999999"), tmp_path / "averaged")
    after_first_step = load_file(tmp_path / "one_step" / "last" / "model.safetensors")
    best = load_file(tmp_path / "averaged" / "best" / "model.safetensors")
    trained = load_file(tmp_path / "averaged" / "last" / "model.safetensors")
    assert _distance(best, after_first_step) < 1e-6 < 1e-3 < _distance(trained, after_first_step)
    results = json.loads((tmp_path / "averaged" / "eval.json").read_text())
    assert results["steps"] == 20


@pytest.mark.slow
def test_a_resumed_run_continues_the_weight_average_bitwise(synthrs, tmp_path):
    config = tiny_config(synthrs, "train.weight_average_decay=0.8")
    with one_thread():
        fit(config, tmp_path / "reference")
        fit(config, tmp_path / "run", max_steps=10)
        fit(config, tmp_path / "run", resume=True)
    assert_same_run(tmp_path / "run", tmp_path / "reference")
    best = load_file(tmp_path / "run" / "best" / "model.safetensors")
    expected = load_file(tmp_path / "reference" / "best" / "model.safetensors")
    assert all(torch.equal(best[name], expected[name]) for name in expected)


def test_the_decay_must_lie_in_zero_one(tmp_path):
    from pirlib.config import ConfigError, check_ranges, load_config

    with pytest.raises(ConfigError, match="weight_average_decay"):
        check_ranges(load_config(None, ["train.weight_average_decay=1.0"]))
