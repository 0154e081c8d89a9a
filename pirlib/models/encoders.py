"""The three pretrained encoders of PIR (paper §3.1), as thin wrappers around timm and transformers.

- `VisionEncoder`: a timm Swin Transformer. Its output is the official X-VLM token sequence
  [mean of the final-normed grid tokens, grid tokens row-major] → [B, 1 + H*W, C] (docs/official_behaviour.md §2.1,
  §4.6).
- `ScenePrior`: a timm ResNet (paper: ResNet-50 pretrained on AID scene classification) → pooled feature [B, C].
  **Frozen for real**: its parameters never require gradients and it stays in eval mode when the model trains.
  Deviation: the official code lets the prior's BatchNorm statistics drift in train mode
  (docs/official_behaviour.md §4.3); `config.prior.batchnorm_train_mode: true` restores that behaviour (still
  without gradients).
- `TextEncoder`: a transformers `BertModel` without pooler → last hidden state [B, L, H]. transformers gives the
  word embedding a `padding_idx`, so the [PAD] row never receives a gradient; the official BERT has none and trains
  that row (attended everywhere, since no mask is passed): `config.text.train_padding_embedding: true` restores it.

Pretrained weights are local files (no download at run time); a missing file is an error saying what to download
and where to put it. Weight layouts: Microsoft/official Swin or timm Swin (converted by timm's own
`checkpoint_filter_fn`), official `conv_encoder.N.*`, torchvision or timm ResNet names, and a pirlib prior file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import timm
import torch
from timm.models.swin_transformer import checkpoint_filter_fn
from torch import nn
from transformers import BertConfig, BertModel

from pirlib.config import PriorConfig, TextConfig, VisionConfig
from pirlib.models.weights import WeightsError, load_strict, read_state_dict

SWIN_DOWNLOAD_HINT = (
    "Download the ImageNet-22k Swin-T weights `swin_tiny_patch4_window7_224_22k.pth` from the Swin Transformer "
    "release (github.com/microsoft/Swin-Transformer, 'ImageNet-22K pretrained models') or a timm Swin checkpoint."
)
PRIOR_DOWNLOAD_HINT = (
    "The paper's prior is a ResNet-50 pretrained on AID scene classification (`aid_28-rsp-resnet-50-ckpt.pth` from "
    "the RSP release, github.com/ViTAE-Transformer/ViTAE-Transformer-Remote-Sensing); the CPU profile uses "
    "the file written by `python -m pirlib pretrain-prior`."
)
BERT_DOWNLOAD_HINT = (
    "Download bert-base-uncased (config.json, vocab.txt, tokenizer files and model.safetensors from "
    "huggingface.co/bert-base-uncased) into that directory."
)

# Official prior: nn.Sequential(conv1, bn1, relu, maxpool, layer1, layer2, layer3, layer4, avgpool)
# (docs/official_behaviour.md §5.2)
OFFICIAL_PRIOR_INDICES = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}


def convert_swin_state_dict(state: dict[str, torch.Tensor], backbone: nn.Module) -> dict[str, torch.Tensor]:
    """Microsoft/official Swin keys (or timm keys) → timm `SwinTransformer` keys, by timm's own filter.

    The filter moves `layers.i.downsample` to `layers.{i+1}.downsample`, drops the non-persistent buffers
    `relative_position_index` / `attn_mask`, and resizes relative-position tables to the model's window.
    Classifier weights (`head.*`) are dropped: the encoder is headless.
    """
    converted = checkpoint_filter_fn({"model": dict(state)}, backbone)
    return {key: value for key, value in converted.items() if not key.startswith("head.")}


def convert_prior_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official `conv_encoder.N.*` (or torchvision/timm ResNet) keys → timm ResNet keys, classifier `fc.*` dropped."""
    converted = {}
    for key, value in state.items():
        match = re.match(r"(?:conv_encoder\.)(\d+)\.(.*)", key)
        if match:
            if match.group(1) not in OFFICIAL_PRIOR_INDICES:
                raise WeightsError(f"prior weights: key {key} has no ResNet counterpart (expected indices 0,1,4-7)")
            key = f"{OFFICIAL_PRIOR_INDICES[match.group(1)]}.{match.group(2)}"
        if key.startswith("fc."):
            continue
        converted[key] = value
    return converted


class VisionEncoder(nn.Module):
    """Swin Transformer → tokens [B, 1 + H*W, C]; token 0 is the mean of the final-normed grid tokens."""

    def __init__(self, config: VisionConfig):
        super().__init__()
        self.backbone = timm.create_model(
            config.model_name,
            pretrained=False,
            img_size=config.image_size,
            patch_size=config.patch_size,
            embed_dim=config.embed_dim,
            depths=tuple(config.depths),
            num_heads=tuple(config.num_heads),
            window_size=config.window_size,
            drop_path_rate=config.drop_path_rate,
            num_classes=0,
        )
        self.width = self.backbone.num_features
        grid_side = config.image_size // self.backbone.feature_info[-1]["reduction"]
        self.num_tokens = 1 + grid_side * grid_side
        if config.pretrained:
            state = read_state_dict(config.pretrained, "Swin vision encoder (vision.pretrained)", SWIN_DOWNLOAD_HINT)
            load_strict(self.backbone, convert_swin_state_dict(state, self.backbone), str(config.pretrained))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        grid = self.backbone.forward_features(images)  # [B, H, W, C], final LayerNorm applied
        grid = grid.flatten(1, 2)  # [B, H*W, C], row-major (index = W*h + w)
        return torch.cat([grid.mean(dim=1, keepdim=True), grid], dim=1)  # [B, 1 + H*W, C]


class ScenePrior(nn.Module):
    """Frozen scene-recognition CNN → pooled prior feature [B, C_prior]; never receives gradients."""

    def __init__(self, config: PriorConfig):
        super().__init__()
        self.backbone = timm.create_model(config.model_name, pretrained=False, num_classes=0, **config.model_kwargs)
        self.width = self.backbone.num_features
        self.batchnorm_train_mode = config.batchnorm_train_mode
        if config.checkpoint:
            self.load_checkpoint(config.checkpoint)
        self.requires_grad_(False)
        self.eval()

    def load_checkpoint(self, path: str | Path) -> None:
        state = convert_prior_state_dict(read_state_dict(path, "scene prior (prior.checkpoint)", PRIOR_DOWNLOAD_HINT))
        own = self.backbone.state_dict()
        for key in own:  # older torchvision files have no BatchNorm step counters; they are not used in eval mode
            if key.endswith("num_batches_tracked") and key not in state:
                state[key] = own[key]
        load_strict(self.backbone, state, str(path))

    def train(self, mode: bool = True) -> ScenePrior:
        """Stay in eval mode (frozen BatchNorm statistics) unless the official drifting behaviour is asked for."""
        return super().train(mode and self.batchnorm_train_mode)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.backbone(images)  # [B, C_prior]


def bert_config(config: TextConfig, vocab_size: int) -> BertConfig:
    """The BERT architecture of `config`, with the official fixed choices (exact GELU, LayerNorm eps 1e-12)."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        type_vocab_size=2,
        pad_token_id=0,
    )


def load_pretrained_bert(path: str, vocab_size: int | None) -> BertModel:
    """`BertModel.from_pretrained(path)` (no pooler), failing loudly when weights are missing or do not fit.

    `path` is a local directory, or a hub name (no path separator) resolved by transformers' cache / the hub.
    """
    if ("/" in path or os.sep in path or path.startswith(".")) and not Path(path).is_dir():
        raise WeightsError(f"BERT text encoder (text.pretrained) not found: {path}. {BERT_DOWNLOAD_HINT}")
    try:
        bert, info = BertModel.from_pretrained(path, add_pooling_layer=False, output_loading_info=True)
    except OSError as error:
        raise WeightsError(
            f"BERT text encoder (text.pretrained) not found or unreadable: {path} ({error}). {BERT_DOWNLOAD_HINT}"
        ) from error
    if info.get("missing_keys"):
        raise WeightsError(f"{path}: BERT weights missing from the file: {sorted(info['missing_keys'])[:10]}")
    if info.get("mismatched_keys"):
        raise WeightsError(f"{path}: BERT weights with the wrong shape: {info['mismatched_keys'][:10]}")
    if vocab_size is not None and vocab_size != bert.config.vocab_size:
        raise WeightsError(
            f"{path}: the pretrained BERT has {bert.config.vocab_size} token embeddings but the tokenizer has "
            f"{vocab_size} tokens; use the tokenizer that comes with the weights (text.tokenizer = {path})"
        )
    return bert


def record_text_architecture(config: TextConfig, bert: BertModel) -> None:
    """Write the built BERT's architecture back into `config`, so a checkpoint rebuilds it without the files."""
    config.vocab_size = bert.config.vocab_size
    config.hidden_size = bert.config.hidden_size
    config.num_layers = bert.config.num_hidden_layers
    config.num_heads = bert.config.num_attention_heads
    config.intermediate_size = bert.config.intermediate_size
    config.max_position_embeddings = bert.config.max_position_embeddings


class TextEncoder(nn.Module):
    """BERT without pooler → last hidden state [B, L, H]. Token types are always 0, as in the official code."""

    def __init__(self, config: TextConfig, vocab_size: int | None = None):
        super().__init__()
        if config.pretrained:
            self.bert = load_pretrained_bert(config.pretrained, vocab_size)
        else:
            self.bert = BertModel(bert_config(config, vocab_size or config.vocab_size), add_pooling_layer=False)
        if config.train_padding_embedding:  # no padding_idx: the [PAD] row gets its gradient, as in the official BERT
            self.bert.embeddings.word_embeddings.padding_idx = None
        self.width = self.bert.config.hidden_size

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [B, L, H]
