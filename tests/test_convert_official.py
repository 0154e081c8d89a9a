"""`python -m pirlib convert-official` on an official-format checkpoint file built from the parity fixture: the
pirlib checkpoint it writes round-trips through `pirlib.checkpoint.load_model` and still reproduces the official
embeddings; bad checkpoints fail with the offending keys named. Skipped when `../shared` is absent."""

from __future__ import annotations

import json

import pytest
import torch

from pirlib.checkpoint import load_model
from pirlib.cli import main
from pirlib.models.weights import WeightsError
from pirlib.official import load_official_checkpoint


@pytest.fixture(scope="module")
def official_file(official_fixture, tmp_path_factory):
    path = tmp_path_factory.mktemp("official") / "checkpoint_best.pth"
    torch.save({"model": official_fixture["state_dict"], "config": official_fixture["config"]}, path)
    return path


@pytest.mark.slow
def test_convert_official_round_trip(official_file, official_fixture, tmp_path, capsys):
    out = tmp_path / "converted"
    assert main(["convert-official", "--checkpoint", str(official_file), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["use_vir"] and summary["use_lca"] and summary["out"] == str(out)
    assert (out / "model.safetensors").is_file() and (out / "checkpoint.json").is_file()
    model, config = load_model(out)
    assert config.text.use_attention_mask is False
    with torch.no_grad():
        image = model.encode_image(official_fixture["images"])
        text = model.encode_text(official_fixture["input_ids"])
    assert (image - official_fixture["img_emb"]).abs().max().item() <= 1e-5
    assert (text - official_fixture["txt_emb"]).abs().max().item() <= 1e-5


def test_missing_checkpoint_fails_cleanly(tmp_path, capsys):
    assert main(["convert-official", "--checkpoint", str(tmp_path / "absent.pth"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_unknown_and_missing_keys_are_named(official_fixture):
    state = dict(official_fixture["state_dict"])
    state["img_sa.0.extra_gate.weight"] = torch.zeros(3)
    with pytest.raises(WeightsError, match=r"img_sa\.0\.extra_gate\.weight"):
        load_official_checkpoint({"model": state, "config": official_fixture["config"]})
    state = dict(official_fixture["state_dict"])
    del state["head_txt.bias"]
    with pytest.raises(WeightsError, match=r"missing keys: language_cycle\.head\.bias"):
        load_official_checkpoint({"model": state, "config": official_fixture["config"]})


def test_shape_mismatch_is_an_error(official_fixture):
    state = dict(official_fixture["state_dict"])
    state["mapping_img.1.bias"] = torch.zeros(7)
    with pytest.raises(WeightsError, match=r"shape mismatches.*vision_instruction\.prior_mapping\.1\.bias"):
        load_official_checkpoint({"model": state, "config": official_fixture["config"]})


def test_bare_state_dict_and_explicit_configs(official_fixture):
    """A bare state dict (no config): the architecture comes from shapes plus the explicit JSON configs."""
    config = official_fixture["config"]
    model, inferred = load_official_checkpoint(
        official_fixture["state_dict"], config["vision_config_dict"], config["text_config_dict"]
    )
    assert inferred.text.num_heads == 2 and inferred.vision.image_size == 224
    assert model.temperature.item() == pytest.approx(official_fixture["state_dict"]["temp"].float().item())
    wrong = {**config["vision_config_dict"], "embed_dim": 96}
    with pytest.raises(WeightsError, match="vision embed_dim is 48 in the weights but 96"):
        load_official_checkpoint(official_fixture["state_dict"], wrong, config["text_config_dict"])
