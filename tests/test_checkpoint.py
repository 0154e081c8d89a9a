"""Checkpoint I/O: model round trip, training state with weights_only, checksums naming a corrupted file, atomic
directory swaps that survive an interruption, RNG states."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import tiny_config

from pirlib.checkpoint import (
    WEIGHTS_FILE,
    CheckpointError,
    atomic_directory,
    existing_checkpoint,
    load_model,
    load_training_state,
    save_model,
    save_training_state,
)
from pirlib.models import PIR
from pirlib.training.rng import capture_rng_state, restore_rng_state
from pirlib.training.state import save_checkpoint


@pytest.fixture(scope="module")
def tiny_model():
    config = tiny_config(Path("unused"))
    torch.manual_seed(0)
    return PIR(config, vocab_size=64).eval(), config


def test_model_round_trip(tmp_path, tiny_model):
    model, config = tiny_model
    save_model(model, config, tmp_path / "ckpt", metadata={"epoch": 3})
    loaded, loaded_config = load_model(tmp_path / "ckpt")
    images, ids = torch.randn(2, 3, 56, 56), torch.randint(5, 60, (2, 7))
    with torch.no_grad():
        for expected, actual in zip(model(images, ids), loaded(images, ids), strict=True):
            torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    assert loaded_config.model == config.model


def flip_one_byte(path: Path, offset_from_end: int = 5) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupted_weights_are_named(tmp_path, tiny_model):
    model, config = tiny_model
    directory = save_model(model, config, tmp_path / "ckpt")
    flip_one_byte(directory / WEIGHTS_FILE)  # tensor bytes: still parses, checksum catches it
    with pytest.raises(CheckpointError, match=rf"{WEIGHTS_FILE}: corrupted"):
        load_model(directory)
    (directory / WEIGHTS_FILE).write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match=WEIGHTS_FILE):
        load_model(directory)


def test_training_state_loads_with_weights_only_and_detects_corruption(tmp_path, tiny_model):
    model, config = copy.deepcopy(tiny_model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 3, 56, 56), torch.randint(5, 60, (2, 7)))[0].sum().backward()
    optimizer.step()
    state = {"optimizer": optimizer.state_dict(), "step": 7, "rng": [capture_rng_state()], "note": None}
    save_checkpoint(tmp_path / "last", model, config, None, {"step": 7}, state)
    loaded = load_training_state(tmp_path / "last")  # torch.load(weights_only=True) inside
    assert loaded["step"] == 7 and loaded["note"] is None
    first = next(iter(state["optimizer"]["state"]))
    torch.testing.assert_close(loaded["optimizer"]["state"][first], state["optimizer"]["state"][first])
    flip_one_byte(tmp_path / "last" / "training_state.pt", 200)
    with pytest.raises(CheckpointError, match="training_state.pt: corrupted"):
        load_training_state(tmp_path / "last")
    save_training_state(tmp_path / "bare", state)  # no checkpoint.json: torch.load itself must complain
    (tmp_path / "bare" / "training_state.pt").write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="training_state.pt: .*corrupt, truncated"):
        load_training_state(tmp_path / "bare")


def test_atomic_directory_keeps_a_complete_copy(tmp_path):
    target = tmp_path / "last"
    with atomic_directory(target) as staging:
        (staging / "a.txt").write_text("one")
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "a.txt").write_text("half")
        raise RuntimeError("killed while writing")
    assert (target / "a.txt").read_text() == "one"
    assert not (tmp_path / ".last.partial").exists()
    (tmp_path / "last").rename(tmp_path / ".last.previous")  # as if killed between the two renames of a swap
    assert existing_checkpoint(target) == tmp_path / ".last.previous"
    with atomic_directory(target) as staging:
        (staging / "a.txt").write_text("two")
    assert existing_checkpoint(target) == target and (target / "a.txt").read_text() == "two"
    assert not (tmp_path / ".last.previous").exists()


def test_rng_state_round_trip():
    state = capture_rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()
    restore_rng_state(state)
    actual = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(actual[0], expected[0]) and np.array_equal(actual[1], expected[1])
    assert actual[2] == expected[2]
