"""Parity with the official PIR code: the fixture `../shared/reference/official_pir_tiny.pt` (made by running the
official PIRBase on CPU) must be reproduced by `load_official_checkpoint`: every output and intermediate within 1e-5 of
the scale its float32 rounding is proportional to (`pirlib.official.forward_parity`: the norm of its row, ‖X_n‖·‖P‖
for a belief logit), the losses to ≤ 1e-5 relative; every key of the full paper-size manifest must be accounted for by
the converter. Skipped when `../shared` is absent."""

from __future__ import annotations

import copy
import json
import re

import pytest
import timm
import torch
from timm.models.swin_transformer import checkpoint_filter_fn

from pirlib import load_official_checkpoint
from pirlib.config import Config
from pirlib.losses import affiliation_loss, contrastive_loss, triplet_loss
from pirlib.models import PIR
from pirlib.official.conversion import (
    DROPPED,
    convert_official_state_dict,
    convert_swin_key,
    official_config,
    official_to_pirlib,
)
from pirlib.official.forward_parity import TOLERANCE, forward_outputs, forward_parity, value_scales

EMBEDDING_TOLERANCE = 1e-5  # absolute: the embeddings are unit vectors (TOLERANCE × their norm)
LOSS_TOLERANCE = 1e-5
BASELINE_PREFIXES = ("conv_encoder.", "conv_proj.", "mapping_", "head_", "img_sa.", "img_ca.", "txt_sa.", "txt_ca.")


def assert_rows_close(ours: torch.Tensor, official: torch.Tensor) -> None:
    """Every value within TOLERANCE × the norm of its official row (the last axis): the scale of float32 rounding
    of a vector, whose values pass through sums over whole rows (a swapped or missing tensor moves them by > 1e-2)."""
    ratio = ((ours.double() - official.double()).abs() / official.double().norm(dim=-1, keepdim=True)).max().item()
    assert ratio <= TOLERANCE, f"max error / row norm {ratio:.3g} > {TOLERANCE}"


def _checkpoint(fixture: dict) -> dict:
    return {"model": fixture["state_dict"], "config": fixture["config"]}


@pytest.fixture(scope="module")
def official_model(official_fixture):
    config = official_fixture["config"]
    return load_official_checkpoint(
        _checkpoint(official_fixture), config["vision_config_dict"], config["text_config_dict"]
    )


@pytest.fixture(scope="module")
def official_outputs(official_model, official_fixture):
    model, _ = official_model
    with torch.no_grad():
        image = model.encode_image(official_fixture["images"], return_details=True)
        text = model.encode_text(official_fixture["input_ids"], return_details=True)
    return image, text


def test_config_is_the_official_architecture(official_model):
    _, config = official_model
    assert config.vision.embed_dim == 48 and config.vision.depths == (1, 1, 2, 1)
    assert config.text.hidden_size == 128 and config.text.num_heads == 2 and config.text.num_layers == 2
    assert config.prior.model_name == "resnet50"
    assert config.model.filter_size == 40 and config.model.num_instruction_layers == 2 and config.model.num_cycles == 3
    assert config.text.use_attention_mask is False


def test_image_embeddings_match(official_outputs, official_fixture):
    image, _ = official_outputs
    error = (image.embedding - official_fixture["img_emb"]).abs().max().item()
    print(f"img_emb max-abs error {error:.3g}")
    assert error <= EMBEDDING_TOLERANCE


def test_text_embeddings_match_without_mask(official_model, official_outputs, official_fixture):
    _, text = official_outputs
    error = (text.embedding - official_fixture["txt_emb"]).abs().max().item()
    print(f"txt_emb max-abs error {error:.3g}")
    assert error <= EMBEDDING_TOLERANCE
    model, _ = official_model
    ids = official_fixture["input_ids"]
    with torch.no_grad():  # use_attention_mask false: a given mask is ignored, as in the official code
        masked = model.encode_text(ids, (ids != 0).long())
    assert torch.equal(masked, text.embedding)


def test_vir_intermediates_match(official_outputs, official_fixture):
    image, _ = official_outputs
    assert torch.equal(image.order, official_fixture["sorted_ind"])
    assert_rows_close(image.tokens, official_fixture["swin_tokens"])
    assert_rows_close(image.prior, official_fixture["conv_feat"])
    # belief = softmax(logits): |Δ belief_n| ≤ 2 max_m |Δ logit_m|, and each logit is bounded by TOLERANCE ‖X_m‖‖P‖
    logit_bound = TOLERANCE * value_scales(official_fixture)["belief_logits"].max(dim=1, keepdim=True).values  # [B, 1]
    assert bool(((image.belief - official_fixture["belief"]).abs() <= 2 * logit_bound).all())
    for step in range(2):
        assert_rows_close(image.self_attention[step], official_fixture["vir_sa_out"][step])
        assert_rows_close(image.cross_attention[step], official_fixture["vir_ca_out"][step])
        assert_rows_close(image.mapped_prior[step], official_fixture["vir_mapped_prior"][step])


def test_lca_intermediates_match(official_outputs, official_fixture):
    _, text = official_outputs
    assert_rows_close(text.tokens, official_fixture["text_tokens"])
    for cycle in range(3):
        assert_rows_close(text.self_attention[cycle], official_fixture["lca_sa_out"][cycle])
        assert_rows_close(text.cross_attention[cycle], official_fixture["lca_ca_out"][cycle])


def test_every_output_within_its_bound_in_float32_and_float64(shared_dir, official_fixture):
    """The notebook's check: every value of every output, none left out; in float64 too (the official run's own
    float32 rounding, which the bound must allow)."""
    parity = forward_parity(shared_dir / "reference")
    print(parity.errors.to_string())
    assert parity.same_order and parity.images == len(official_fixture["images"])
    assert list(parity.errors.index)[-1] == "belief logits" and parity.errors["passed"].all()
    assert parity.passed


def test_the_logit_bound_sees_a_change_of_the_prior_of_one_part_in_ten_thousand(official_model, official_fixture):
    model = copy.deepcopy(official_model[0])
    projection = model.vision_instruction.prior_projection
    with torch.no_grad():  # P → (1 + 1e-4) P
        projection.weight.mul_(1 + 1e-4)
        projection.bias.mul_(1 + 1e-4)
    logits = forward_outputs(model, official_fixture)["belief_logits"]
    error = (logits - official_fixture["belief_logits"]).abs() / value_scales(official_fixture)["belief_logits"]
    assert error.max().item() > TOLERANCE


def test_baseline_embeddings_match(official_fixture):
    """The official baseline has no VIR/LCA modules: drop their keys, load, compare with the baseline outputs."""
    state = {k: v for k, v in official_fixture["state_dict"].items() if not k.startswith(BASELINE_PREFIXES)}
    model, config = load_official_checkpoint({"model": state, "config": {**official_fixture["config"]}})
    assert not config.model.use_vir and not config.model.use_lca and model.scene_prior is None
    with torch.no_grad():
        image = model.encode_image(official_fixture["images"])
        text = model.encode_text(official_fixture["input_ids"])
    image_error = (image - official_fixture["baseline_img_emb"]).abs().max().item()
    text_error = (text - official_fixture["baseline_txt_emb"]).abs().max().item()
    print(f"baseline max-abs errors: image {image_error:.3g}, text {text_error:.3g}")
    assert image_error <= EMBEDDING_TOLERANCE and text_error <= EMBEDDING_TOLERANCE


@pytest.mark.parametrize("outputs_key", ["loss_outputs", "loss_outputs_state_dict_temp"])
def test_losses_match(official_fixture, official_model, outputs_key):
    inputs, expected = official_fixture["loss_inputs"], official_fixture[outputs_key]
    if outputs_key == "loss_outputs":
        temperature = affiliation_temperature = torch.tensor(inputs["temp"], dtype=torch.float32)
    else:  # the float16-rounded values stored in the state dict, read through the model's clamped properties
        model, _ = official_model
        temperature, affiliation_temperature = model.temperature, model.affiliation_temperature
    image, text = inputs["image_feat"], inputs["text_feat"]
    values = {
        "contr_idx": contrastive_loss(image, text, temperature, inputs["idx"]),
        "contr_noidx": contrastive_loss(image, text, temperature),
        "affil": affiliation_loss(image, text, inputs["label"], affiliation_temperature),
        "triplet": triplet_loss(image, text, margin=0.2),
        "triplet_maxviol": triplet_loss(image, text, margin=0.2, max_violation=True),
    }
    for name, value in values.items():
        relative = abs(value.item() - expected[name]) / abs(expected[name])
        print(f"{outputs_key}[{name}] relative error {relative:.3g}")
        assert relative <= LOSS_TOLERANCE, name


def test_swin_rule_equals_timm_filter(official_fixture):
    """The explicit downsample-shift rule gives exactly what timm's own checkpoint_filter_fn gives."""
    swin = {
        k.removeprefix("vision_encoder."): v
        for k, v in official_fixture["state_dict"].items()
        if k.startswith("vision_encoder.")
    }
    backbone = timm.create_model(
        "swin_tiny_patch4_window7_224", embed_dim=48, depths=(1, 1, 2, 1), num_heads=(3, 6, 12, 24), num_classes=0
    )
    filtered = checkpoint_filter_fn({"model": swin}, backbone)
    ours = {
        convert_swin_key(k): v for k, v in swin.items() if "relative_position_index" not in k and "attn_mask" not in k
    }
    assert filtered.keys() == ours.keys()
    assert all(torch.equal(filtered[k], ours[k]) for k in ours)


def test_full_manifest_is_accounted_for(shared_dir):
    """Every key of the paper-size official model converts (or is an allowed dropped buffer) onto a PIR built from
    the paper Config, with matching shapes; built on the meta device (no memory)."""
    manifest = json.loads((shared_dir / "reference" / "official_pir_full_manifest.json").read_text())
    dtypes = {"float32": torch.float32, "float16": torch.float16, "int64": torch.int64}
    state = {
        key: torch.empty(entry["shape"], dtype=dtypes[entry["dtype"]], device="meta")
        if entry["shape"]
        else torch.tensor(0.07)  # the temperatures are read for their values
        for key, entry in manifest.items()
    }
    converted, dropped = convert_official_state_dict(state)
    assert len(converted) + len(dropped) == len(manifest)
    assert all(any(re.match(pattern, key) for pattern in DROPPED) for key in dropped)
    inferred = official_config(state)
    paper = Config()
    assert (inferred.vision, inferred.prior) == (paper.vision, paper.prior)
    assert inferred.text.hidden_size == paper.text.hidden_size and inferred.text.num_layers == paper.text.num_layers
    with torch.device("meta"):
        model = PIR(paper)
    official_to_pirlib(state, model.state_dict(), paper)  # raises on any missing / unexpected / mis-shaped key
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters == sum(torch.Size(e["shape"]).numel() for e in manifest.values() if e["kind"] == "param")
