"""The whole PIR model on the tiny CPU profile: shapes, unit norm, batch size 1, gradients (every trainable parameter
gets one, the frozen prior none, its BatchNorm statistics do not move), no NaN, baseline/ablation flags, clamped
temperatures and the text mask flag."""

from __future__ import annotations

import pytest
import torch

from pirlib.config import Config, ConfigError, load_config
from pirlib.losses import RetrievalObjective
from pirlib.models import PIR

VOCAB = 300


def tiny_config(*overrides: str) -> Config:
    """The notebooks' tiny profile, without the prior checkpoint file (random prior weights)."""
    return load_config("configs/tiny_synthrs.yaml", ["prior.checkpoint=null", *overrides])


def _batch(batch_size: int, length: int = 9):
    generator = torch.Generator().manual_seed(batch_size)
    images = torch.randn(batch_size, 3, 112, 112, generator=generator)
    input_ids = torch.randint(5, VOCAB, (batch_size, length), generator=generator)
    input_ids[:, 0] = 2
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, length - 3 :] = 0  # the first caption is padded
    input_ids[attention_mask == 0] = 0
    return images, input_ids, attention_mask


@pytest.mark.parametrize(("use_vir", "use_lca"), [(True, True), (True, False), (False, True), (False, False)])
def test_shapes_unit_norm_and_batch_size_one(use_vir, use_lca):
    model = PIR(tiny_config(f"model.use_vir={use_vir}", f"model.use_lca={use_lca}"), vocab_size=VOCAB).eval()
    assert (model.scene_prior is not None) == use_vir and (model.language_cycle is not None) == use_lca
    for batch_size in (3, 1):
        images, input_ids, attention_mask = _batch(batch_size)
        with torch.no_grad():
            image_feat, text_feat = model(images, input_ids, attention_mask)
        assert image_feat.shape == text_feat.shape == (batch_size, model.config.model.embed_dim)
        torch.testing.assert_close(image_feat.norm(dim=-1), torch.ones(batch_size))
        torch.testing.assert_close(text_feat.norm(dim=-1), torch.ones(batch_size))
    images, input_ids, attention_mask = _batch(3)
    with torch.no_grad():  # batch size 1 gives the same embedding as inside a batch
        torch.testing.assert_close(model.encode_image(images[1:2]), model.encode_image(images)[1:2], atol=1e-5, rtol=0)


def test_baseline_has_no_instruction_modules():
    model = PIR(tiny_config("model.use_vir=false", "model.use_lca=false"), vocab_size=VOCAB)
    top_level = {name.split(".")[0] for name in model.state_dict()}
    assert top_level == {
        "vision_encoder",
        "text_encoder",
        "vision_projection",
        "text_projection",
        "raw_temperature",
        "raw_affiliation_temperature",
    }


def test_training_step_gradients_and_frozen_prior():
    model = PIR(tiny_config(), vocab_size=VOCAB).train()
    assert model.scene_prior is not None and not model.scene_prior.training
    statistics = {k: v.clone() for k, v in model.scene_prior.state_dict().items()}
    images, input_ids, attention_mask = _batch(4)
    image_feat, text_feat = model(images, input_ids, attention_mask)
    objective = RetrievalObjective(model.config.loss)
    terms = objective(model, image_feat, text_feat, torch.tensor([0, 0, 1, 2]), torch.tensor([1, 1, 0, 1]))
    assert torch.isfinite(terms["loss"])
    terms["loss"].backward()
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    missing = [name for name, p in trainable if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no (finite) gradient for {missing}"
    zero = [name for name, p in trainable if p.grad.abs().sum() == 0]
    assert not zero, f"zero gradient for {zero}"
    assert all(not p.requires_grad and p.grad is None for p in model.scene_prior.parameters())
    after = model.scene_prior.state_dict()
    assert all(torch.equal(statistics[k], after[k]) for k in statistics), "prior BatchNorm statistics moved"


def test_official_batchnorm_drift_behind_flag():
    model = PIR(tiny_config("prior.batchnorm_train_mode=true"), vocab_size=VOCAB).train()
    before = model.scene_prior.backbone.bn1.running_mean.clone()
    model.encode_image(_batch(2)[0])
    assert not torch.equal(before, model.scene_prior.backbone.bn1.running_mean)


def test_temperatures_are_clamped_and_named_for_no_decay():
    model = PIR(tiny_config("model.min_temperature=0.02", "model.max_temperature=0.5"), vocab_size=VOCAB)
    names = [name for name, _ in model.named_parameters() if "temperature" in name]
    assert names == ["raw_temperature", "raw_affiliation_temperature"]
    assert model.temperature.item() == pytest.approx(0.07)
    with torch.no_grad():
        model.raw_temperature.fill_(0.001)
        model.raw_affiliation_temperature.fill_(3.0)
    assert model.temperature.item() == pytest.approx(0.02)
    assert model.affiliation_temperature.item() == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="min_temperature"):
        PIR(tiny_config("model.min_temperature=0"), vocab_size=VOCAB)


def test_temperature_clamp_can_be_switched_off():
    model = PIR(tiny_config("model.clamp_temperatures=false"), vocab_size=VOCAB)
    with torch.no_grad():
        model.raw_temperature.fill_(0.001)
        model.raw_affiliation_temperature.fill_(3.0)
    assert model.temperature.item() == pytest.approx(0.001)  # official: never clamped
    assert model.affiliation_temperature.item() == pytest.approx(3.0)


def test_unused_temperatures_are_frozen():
    triplet = PIR(tiny_config("loss.objective=triplet"), vocab_size=VOCAB)
    assert not triplet.raw_temperature.requires_grad and not triplet.raw_affiliation_temperature.requires_grad
    plain = PIR(tiny_config("loss.affiliation_weight=0"), vocab_size=VOCAB)
    assert plain.raw_temperature.requires_grad and not plain.raw_affiliation_temperature.requires_grad


def test_vocab_size_is_recorded_in_the_config():
    config = tiny_config()
    model = PIR(config, vocab_size=VOCAB)
    assert config.text.vocab_size == VOCAB
    assert model.text_encoder.bert.embeddings.word_embeddings.num_embeddings == VOCAB


def test_text_mask_flag():
    images, input_ids, attention_mask = _batch(2)
    masked = PIR(tiny_config(), vocab_size=VOCAB).eval()
    unmasked = PIR(tiny_config("text.use_attention_mask=false"), vocab_size=VOCAB).eval()
    unmasked.load_state_dict(masked.state_dict())
    with torch.no_grad():
        short = masked.encode_text(input_ids[:1, :6])  # caption 0 without its [PAD] positions
        torch.testing.assert_close(masked.encode_text(input_ids[:1], attention_mask[:1]), short, atol=1e-5, rtol=0)
        official = unmasked.encode_text(input_ids[:1], attention_mask[:1])  # the mask is ignored: [PAD] attended
    assert not torch.allclose(official, short, atol=1e-4)


def test_details_expose_vir_and_lca():
    model = PIR(tiny_config(), vocab_size=VOCAB).eval()
    images, input_ids, attention_mask = _batch(2)
    with torch.no_grad():
        image = model.encode_image(images, return_details=True)
        text = model.encode_text(input_ids, attention_mask, return_details=True)
    assert image.kept.shape == (2, 40) and image.order.shape == (2, 50)
    assert len(image.self_attention) == 2 and len(text.cross_attention) == 3
    with pytest.raises(ValueError, match="use_vir"):
        PIR(tiny_config("model.use_vir=false"), vocab_size=VOCAB).encode_image(images, return_details=True)


def test_filter_size_larger_than_tokens_is_a_config_error():
    with pytest.raises(ConfigError, match="filter_size = 51"):
        PIR(tiny_config("model.filter_size=51"), vocab_size=VOCAB)


def test_prior_fusion_control_starts_as_the_baseline_and_learns_from_the_prior():
    """`model.prior_fusion`: the baseline's modules, plus the frozen prior and one zero-initialised linear layer whose
    output is added to the image embedding: at initialisation it embeds exactly as the baseline built from the same
    seed, and the fusion layer gets a gradient (the prior none)."""
    torch.manual_seed(0)
    baseline = PIR(tiny_config("model.use_vir=false", "model.use_lca=false"), vocab_size=VOCAB).eval()
    torch.manual_seed(0)
    fusion = PIR(tiny_config("model.use_vir=false", "model.use_lca=false", "model.prior_fusion=true"), VOCAB).eval()
    extra = {name.split(".")[0] for name in fusion.state_dict()} - {
        name.split(".")[0] for name in baseline.state_dict()
    }
    assert extra == {"scene_prior", "prior_fusion"}
    images, input_ids, attention_mask = _batch(3)
    with torch.no_grad():
        assert torch.equal(fusion.encode_image(images), baseline.encode_image(images))
    fusion.train()
    image_feat, text_feat = fusion(images, input_ids, attention_mask)
    terms = RetrievalObjective(fusion.config.loss)(
        fusion, image_feat, text_feat, torch.arange(3), torch.tensor([0, 1, 1])
    )
    terms["loss"].backward()
    assert fusion.prior_fusion.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in fusion.scene_prior.parameters())


def test_prior_fusion_replaces_vir():
    with pytest.raises(ConfigError, match="replaces VIR"):
        PIR(tiny_config("model.prior_fusion=true"), vocab_size=VOCAB)
