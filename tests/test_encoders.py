"""Encoder wrappers: the Swin token sequence, loading local weight files in every supported layout (files made
here), the really-frozen scene prior, and clear errors for missing files."""

from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import save_file
from transformers import BertModel

from pirlib.config import PriorConfig, TextConfig, VisionConfig
from pirlib.models.encoders import ScenePrior, TextEncoder, VisionEncoder, bert_config
from pirlib.models.weights import WeightsError

TINY_VISION = dict(image_size=112, embed_dim=16, depths=(1, 1, 2), num_heads=(1, 2, 4), drop_path_rate=0.0)
TINY_PRIOR = dict(model_name="resnet18", model_kwargs={"channels": [8, 16, 32, 64], "stem_width": 8})
TINY_TEXT = dict(vocab_size=200, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)


def _microsoft_layout(timm_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm Swin keys → Microsoft keys (downsample at the end of the previous stage) plus the buffers it stores."""
    state = {
        re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m[1]) - 1}.downsample.", k): v
        for k, v in timm_state.items()
    }
    state["layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(49, 49, dtype=torch.long)
    return state


def test_vision_tokens_are_mean_then_grid_row_major():
    encoder = VisionEncoder(VisionConfig(**TINY_VISION)).eval()
    images = torch.randn(2, 3, 112, 112)
    tokens = encoder(images)
    assert encoder.num_tokens == 50 and tokens.shape == (2, 50, encoder.width)
    grid = encoder.backbone.forward_features(images)  # [B, 7, 7, C]
    torch.testing.assert_close(tokens[:, 1 + 7 * 3 + 5], grid[:, 3, 5])
    torch.testing.assert_close(tokens[:, 0], grid.mean(dim=(1, 2)))


@pytest.mark.parametrize("layout", ["microsoft", "timm"])
def test_swin_pretrained_file_loads(tmp_path, layout):
    source = VisionEncoder(VisionConfig(**TINY_VISION)).eval()
    state = source.backbone.state_dict()
    if layout == "microsoft":
        path = tmp_path / "swin.pth"
        torch.save({"model": _microsoft_layout(state)}, path)
    else:
        path = tmp_path / "swin.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    loaded = VisionEncoder(VisionConfig(**TINY_VISION, pretrained=str(path))).eval()
    images = torch.randn(1, 3, 112, 112)
    torch.testing.assert_close(loaded(images), source(images))


def test_swin_missing_file_says_what_to_download(tmp_path):
    with pytest.raises(WeightsError, match="swin_tiny_patch4_window7_224_22k.pth"):
        VisionEncoder(VisionConfig(**TINY_VISION, pretrained=str(tmp_path / "absent.pth")))


def test_swin_unexpected_key_is_named(tmp_path):
    state = VisionEncoder(VisionConfig(**TINY_VISION)).backbone.state_dict()
    state["layers.0.blocks.0.extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "swin.pth")
    with pytest.raises(WeightsError, match=r"unexpected keys: layers\.0\.blocks\.0\.extra\.weight"):
        VisionEncoder(VisionConfig(**TINY_VISION, pretrained=str(tmp_path / "swin.pth")))


@pytest.mark.parametrize("layout", ["official", "torchvision", "pirlib"])
def test_prior_checkpoint_layouts(tmp_path, layout):
    source = ScenePrior(PriorConfig(**TINY_PRIOR))
    for module in source.modules():  # non-trivial statistics, so a swapped tensor would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    state = source.backbone.state_dict()
    classifier = {"fc.weight": torch.randn(30, source.width), "fc.bias": torch.randn(30)}
    if layout == "official":
        index = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}
        state = {f"conv_encoder.{index[k.split('.')[0]]}.{k.split('.', 1)[1]}": v for k, v in state.items()}
        path = tmp_path / "prior.pth"
        torch.save(state, path)
    elif layout == "torchvision":  # a classification checkpoint with head and no BatchNorm step counters
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")} | classifier
        path = tmp_path / "prior.pth"
        torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, path)
    else:
        path = tmp_path / "prior.safetensors"
        save_file({k: v.contiguous() for k, v in (state | classifier).items()}, str(path))
    loaded = ScenePrior(PriorConfig(**TINY_PRIOR, checkpoint=str(path)))
    images = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(loaded(images), source(images))


def test_prior_missing_file_says_what_to_download(tmp_path):
    with pytest.raises(WeightsError, match="aid_28-rsp-resnet-50-ckpt.pth"):
        ScenePrior(PriorConfig(**TINY_PRIOR, checkpoint=str(tmp_path / "prior.pth")))


def test_prior_is_frozen_and_stays_in_eval():
    prior = ScenePrior(PriorConfig(**TINY_PRIOR))
    assert not any(p.requires_grad for p in prior.parameters())
    prior.train()
    assert not prior.training and not any(m.training for m in prior.modules())
    output = prior(torch.randn(2, 3, 64, 64))
    assert not output.requires_grad

    drifting = ScenePrior(PriorConfig(**TINY_PRIOR, batchnorm_train_mode=True)).train()
    before = drifting.backbone.bn1.running_mean.clone()
    drifting(torch.randn(2, 3, 64, 64))
    assert drifting.training and not torch.equal(before, drifting.backbone.bn1.running_mean)


def test_text_encoder_from_pretrained_directory(tmp_path):
    source = BertModel(bert_config(TextConfig(**TINY_TEXT), 200), add_pooling_layer=False).eval()
    source.save_pretrained(tmp_path / "bert")
    encoder = TextEncoder(TextConfig(pretrained=str(tmp_path / "bert"))).eval()
    ids = torch.randint(1, 200, (2, 6))
    torch.testing.assert_close(encoder(ids), source(input_ids=ids).last_hidden_state)
    with pytest.raises(WeightsError, match="tokenizer has 300 tokens"):
        TextEncoder(TextConfig(pretrained=str(tmp_path / "bert")), vocab_size=300)


def test_text_missing_directory_says_what_to_download(tmp_path):
    with pytest.raises(WeightsError, match="bert-base-uncased"):
        TextEncoder(TextConfig(pretrained=str(tmp_path / "bert")))


def test_text_mask_changes_padded_outputs():
    encoder = TextEncoder(TextConfig(**TINY_TEXT)).eval()
    ids = torch.tensor([[101, 7, 8, 102, 0, 0]])
    mask = (ids != 0).long()
    masked = encoder(ids, mask)[:, :4]
    torch.testing.assert_close(masked, encoder(ids[:, :4])[:, :4], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(encoder(ids)[:, :4], masked, atol=1e-4)
