"""Official PIR checkpoints → pirlib models (docs/official_behaviour.md §5): key conversion, architecture inference,
strict loading.

An official checkpoint (`checkpoint_best.pth` of github.com/Zjut-MultimediaPlus/PIR-pytorch) is
`{'model': state_dict, 'config': {...}}`. Conversion is a pure function from state dict to state dict:

- Swin (`vision_encoder.*`, Microsoft/X-VLM layout) → timm `SwinTransformer`: `layers.i.downsample` moves to
  `layers.{i+1}.downsample` (Microsoft downsamples at the end of a stage, timm at the start), the non-persistent
  buffers `relative_position_index` and `attn_mask` are dropped. The same rule as timm's `checkpoint_filter_fn`
  (a test checks they agree).
- ResNet prior (`conv_encoder.{0,1,4,5,6,7}.*`, an nn.Sequential) → timm ResNet `conv1, bn1, layer1..layer4`.
- BERT (`text_encoder.*`) → transformers `BertModel` (identical names).
- Heads: `vision_proj`, `text_proj`, `conv_proj`, `mapping_img`, `head_img`, `img_sa`, `img_ca`, `mapping_txt`,
  `head_txt`, `txt_sa`, `txt_ca`, `temp`, `temp2` → the pirlib module names (table `RENAMES` below).

Every source key is either converted or matches the explicit allow-list of dropped buffers (`DROPPED`); every
converted key must exist in the model with the same shape, and every model key must be filled. Anything else is an
error that names the keys: nothing loads silently. Float16 tensors are upcast to float32.

The architecture is inferred from tensor shapes where the checkpoint determines it (Swin widths, depths, heads and
window; BERT widths and depth; ResNet variant; embed_dim, num_instruction_layers, num_cycles), and otherwise taken
from `vision_config` / `text_config` (the official Swin and BERT JSON configs) or the official defaults (image 224,
BERT-base with 12 heads). The returned model passes no text attention mask (`text.use_attention_mask = false`), as
the official code, so it reproduces the official embeddings. The optimisation settings the official config records
(`optimizer.lr`, `weight_decay`, `lr_mult`; `schedular.epochs`, `num_warmup_steps`) are carried into `config.train`.

`load_official_checkpoint(..., training=True)` also switches on every official *training* behaviour
(`OFFICIAL_TRAINING_OVERRIDES`, each one flag whose default is pirlib's own choice), so that `fit` continues the
checkpoint exactly as the official code trains it (checked against three official steps by
`pirlib.official.step_parity`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from pirlib.config import Config, apply_overrides
from pirlib.models.encoders import OFFICIAL_PRIOR_INDICES
from pirlib.models.weights import WeightsError, check_state_dict

# official prefix pattern → pirlib prefix (applied to the start of the key, first match wins)
RENAMES: list[tuple[str, str]] = [
    (r"^temp$", "raw_temperature"),
    (r"^temp2$", "raw_affiliation_temperature"),
    (r"^vision_proj\.", "vision_projection."),
    (r"^text_proj\.", "text_projection."),
    (r"^conv_proj\.", "vision_instruction.prior_projection."),
    (r"^mapping_img\.", "vision_instruction.prior_mapping."),
    (r"^head_img\.", "vision_instruction.head."),
    (r"^img_sa\.(\d+)\.mhatt\.", r"vision_instruction.self_attention.\1.attention."),
    (r"^img_sa\.", "vision_instruction.self_attention."),
    (r"^img_ca\.(\d+)\.mhatt_cross\.", r"vision_instruction.cross_attention.\1.attention."),
    (r"^img_ca\.", "vision_instruction.cross_attention."),
    (r"^mapping_txt\.", "language_cycle.cycle_mapping."),
    (r"^head_txt\.", "language_cycle.head."),
    (r"^txt_sa\.(\d+)\.mhatt\.", r"language_cycle.self_attention.\1.attention."),
    (r"^txt_sa\.", "language_cycle.self_attention."),
    (r"^txt_ca\.(\d+)\.mhatt_cross\.", r"language_cycle.cross_attention.\1.attention."),
    (r"^txt_ca\.", "language_cycle.cross_attention."),
    (r"^text_encoder\.", "text_encoder.bert."),
]
ATTENTION_LINEARS = {"linear_v": "linear_value", "linear_k": "linear_key", "linear_q": "linear_query"}

# Source keys that have no counterpart on purpose: buffers the target recomputes (non-persistent there).
DROPPED = [
    r"^vision_encoder\..*\.relative_position_index$",  # Swin: recomputed by timm
    r"^vision_encoder\..*\.attn_mask$",  # Swin shifted-window masks: recomputed by timm
    r"^text_encoder\.embeddings\.(position_ids|token_type_ids)$",  # persistent only in old transformers versions
]

# "Official training": every training behaviour of the official code, each a flag whose default is pirlib's choice.
# `load_official_checkpoint(..., training=True)` applies them; on top of a profile they are `--set` overrides
# (README, "Training exactly as the official code").
OFFICIAL_TRAINING_OVERRIDES = (
    "text.use_attention_mask=false",  # no text mask: BERT and LCA attend to [PAD]
    "text.train_padding_embedding=true",  # the [PAD] word-embedding row is trained (official BERT: no padding_idx)
    "prior.batchnorm_train_mode=true",  # the frozen prior's BatchNorm uses batch statistics and its running stats drift
    "model.clamp_temperatures=false",  # the learnable temperatures are never clamped
    "train.apply_lr_mult=false",  # lr_mult is declared but never applied
    "train.official_weight_decay=true",  # decay by the official name rule (temperatures, PAE FFN LayerNorms decayed)
    "train.official_adamw=true",  # the transformers-4 AdamW update (eps before bias correction, decay after update)
    "train.precision=fp32",  # no mixed precision
    "data.validation_fraction=0",  # train on every training image; select the checkpoint by test-set mR
)

OFFICIAL_IMAGE_SIZE = 224  # official `image_res`
OFFICIAL_BERT_HEADS = 12  # BERT-base; not recorded in the weights
RESNET_VARIANTS = {  # (bottleneck blocks?, blocks per stage) → timm name
    (True, (3, 4, 6, 3)): "resnet50",
    (True, (3, 4, 23, 3)): "resnet101",
    (True, (3, 8, 36, 3)): "resnet152",
    (False, (2, 2, 2, 2)): "resnet18",
    (False, (3, 4, 6, 3)): "resnet34",
}


# --------------------------------------------------------------------------------------------------------------------
# key conversion (pure)


def convert_swin_key(key: str) -> str:
    """Microsoft Swin key (without prefix) → timm key: downsample of stage i belongs to stage i + 1 in timm."""
    return re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m.group(1)) + 1}.downsample.", key)


def convert_official_key(key: str) -> str | None:
    """The pirlib name of an official key, or None when the key is not one the converter knows."""
    if key.startswith("vision_encoder."):
        return "vision_encoder.backbone." + convert_swin_key(key.removeprefix("vision_encoder."))
    match = re.match(r"^conv_encoder\.(\d+)\.(.*)$", key)
    if match:
        index, rest = match.groups()
        return (
            f"scene_prior.backbone.{OFFICIAL_PRIOR_INDICES[index]}.{rest}" if index in OFFICIAL_PRIOR_INDICES else None
        )
    for pattern, replacement in RENAMES:
        if re.match(pattern, key):
            renamed = re.sub(pattern, replacement, key)
            return re.sub(r"\.(linear_[vkq])\.", lambda m: f".{ATTENTION_LINEARS[m.group(1)]}.", renamed)
    return None


def convert_official_state_dict(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Official state dict → (pirlib state dict with floats upcast to float32, dropped source keys).

    Raises `WeightsError` listing every source key that is neither converted nor in the `DROPPED` allow-list.
    """
    converted, dropped, unexplained = {}, [], []
    for key, value in state.items():
        if any(re.match(pattern, key) for pattern in DROPPED):
            dropped.append(key)
            continue
        name = convert_official_key(key)
        if name is None:
            unexplained.append(key)
            continue
        converted[name] = value.float() if value.is_floating_point() else value
    if unexplained:
        raise WeightsError(f"official checkpoint: {len(unexplained)} keys the converter does not know: {unexplained}")
    return converted, dropped


# --------------------------------------------------------------------------------------------------------------------
# architecture from shapes (+ the official JSON configs)


def _count(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    """How many distinct values the first group of `pattern` takes over the keys."""
    return len({m.group(1) for key in state if (m := re.match(pattern, key))})


def _agree(name: str, inferred: Any, given: Any) -> Any:
    if given is not None:
        given_value = tuple(given) if isinstance(given, list | tuple) else given
        if given_value != inferred:
            raise WeightsError(f"official checkpoint: {name} is {inferred} in the weights but {given} in the config")
    return inferred


def _vision_architecture(config: Config, state: Mapping[str, torch.Tensor], vision: Mapping[str, Any]) -> None:
    prefix = "vision_encoder."
    patch = state[prefix + "patch_embed.proj.weight"]  # [embed_dim, 3, patch, patch]
    num_stages = _count(state, r"^vision_encoder\.layers\.(\d+)\.")
    depths = tuple(_count(state, rf"^vision_encoder\.layers\.{i}\.blocks\.(\d+)\.") for i in range(num_stages))
    tables = [state[f"{prefix}layers.{i}.blocks.0.attn.relative_position_bias_table"] for i in range(num_stages)]
    window = (math.isqrt(tables[0].shape[0]) + 1) // 2  # table rows = (2 * window - 1)^2
    config.vision.embed_dim = _agree("vision embed_dim", patch.shape[0], vision.get("embed_dim"))
    config.vision.patch_size = patch.shape[-1]
    config.vision.depths = _agree("vision depths", depths, vision.get("depths"))
    config.vision.num_heads = _agree("vision num_heads", tuple(t.shape[1] for t in tables), vision.get("num_heads"))
    config.vision.window_size = _agree("vision window_size", window, vision.get("window_size"))
    config.vision.image_size = int(vision.get("image_res") or OFFICIAL_IMAGE_SIZE)
    config.vision.drop_path_rate = 0.1  # fixed in the official Swin builder
    config.vision.pretrained = None


def _text_architecture(config: Config, state: Mapping[str, torch.Tensor], text: Mapping[str, Any]) -> None:
    words = state["text_encoder.embeddings.word_embeddings.weight"]  # [vocab, hidden]
    if state["text_encoder.embeddings.token_type_embeddings.weight"].shape[0] != 2:
        raise WeightsError("official checkpoint: BERT token_type_embeddings must have 2 rows (type_vocab_size 2)")
    config.text.vocab_size = _agree("BERT vocab_size", words.shape[0], text.get("vocab_size"))
    config.text.hidden_size = _agree("BERT hidden_size", words.shape[1], text.get("hidden_size"))
    config.text.num_layers = _agree(
        "BERT num_hidden_layers",
        _count(state, r"^text_encoder\.encoder\.layer\.(\d+)\."),
        text.get("num_hidden_layers"),
    )
    config.text.intermediate_size = _agree(
        "BERT intermediate_size",
        state["text_encoder.encoder.layer.0.intermediate.dense.weight"].shape[0],
        text.get("intermediate_size"),
    )
    config.text.max_position_embeddings = _agree(
        "BERT max_position_embeddings",
        state["text_encoder.embeddings.position_embeddings.weight"].shape[0],
        text.get("max_position_embeddings"),
    )
    config.text.num_heads = int(text.get("num_attention_heads") or OFFICIAL_BERT_HEADS)
    if config.text.hidden_size % config.text.num_heads:
        raise WeightsError(
            f"official checkpoint: BERT hidden size {config.text.hidden_size} is not divisible by "
            f"{config.text.num_heads} heads; pass the official BERT JSON config as text_config"
        )
    config.text.dropout = float(text.get("hidden_dropout_prob", 0.1))
    config.text.pretrained = None
    config.text.use_attention_mask = False  # the official text path passes no mask (docs/official_behaviour.md §4.1)


def _prior_architecture(config: Config, state: Mapping[str, torch.Tensor]) -> None:
    bottleneck = any(key.endswith(".conv3.weight") for key in state if key.startswith("conv_encoder."))
    blocks = tuple(_count(state, rf"^conv_encoder\.{index}\.(\d+)\.") for index in (4, 5, 6, 7))
    if (bottleneck, blocks) not in RESNET_VARIANTS:
        raise WeightsError(f"official checkpoint: unknown ResNet prior (bottleneck={bottleneck}, blocks {blocks})")
    config.prior.model_name = RESNET_VARIANTS[(bottleneck, blocks)]
    config.prior.model_kwargs = {}
    config.prior.checkpoint = None


def official_config(
    state: Mapping[str, torch.Tensor],
    official: Mapping[str, Any] | None = None,
    vision_config: Mapping[str, Any] | None = None,
    text_config: Mapping[str, Any] | None = None,
) -> Config:
    """The pirlib `Config` of the official model whose (official-named) weights are `state`."""
    official = official or {}
    vision = vision_config or official.get("vision_config_dict") or {}
    if "image_res" not in vision and "image_res" in official:
        vision = {**vision, "image_res": official["image_res"]}
    text = text_config or official.get("text_config_dict") or {}
    config = Config(name="official_pir")
    _vision_architecture(config, state, vision)
    _text_architecture(config, state, text)
    model = config.model
    model.use_vir = "conv_proj.weight" in state
    model.use_lca = "mapping_txt.0.weight" in state
    if model.use_vir:
        _prior_architecture(config, state)
    model.embed_dim = state["vision_proj.weight"].shape[0]
    model.num_instruction_layers = _count(state, r"^mapping_img\.(\d+)\.") or model.num_instruction_layers
    model.num_cycles = _count(state, r"^mapping_txt\.(\d+)\.") or model.num_cycles
    model.filter_size = int(official.get("filter_size", model.filter_size))
    model.num_attention_heads = int(official.get("head", model.num_attention_heads))
    model.dropout = float(official.get("dropout_r", model.dropout))
    model.temperature = float(official.get("temp1", model.temperature))
    model.affiliation_temperature = float(official.get("temp2", model.affiliation_temperature))
    for key in ("temp", "temp2"):  # the official temperatures are never clamped: widen the range to hold them
        if key in state:
            value = float(state[key])
            model.min_temperature = min(model.min_temperature, value)
            model.max_temperature = max(model.max_temperature, value)
    affiliation = bool(official.get("use_affil_loss", True))
    triplet = bool(official.get("use_triplet_loss", False))
    config.loss.objective = "triplet" if triplet and not affiliation else "contrastive"
    config.loss.affiliation_weight = float(official.get("center_factor", 1.0)) if affiliation else 0.0
    config.text.max_tokens = int(official.get("max_tokens", config.text.max_tokens))
    _optimisation_settings(config, official)
    return config


def _optimisation_settings(config: Config, official: Mapping[str, Any]) -> None:
    """Learning rate, weight decay, lr_mult, epochs and warm-up fraction from the official `optimizer` and
    `schedular` entries, where present (betas and eps are fixed in the official code and equal pirlib's defaults).
    The official `num_warmup_steps` is a fraction of all steps when it is a float (the paper's 0.1), a step count
    otherwise; only the fraction has a pirlib counterpart."""
    optimizer, schedule, train = official.get("optimizer") or {}, official.get("schedular") or {}, config.train
    train.learning_rate = float(optimizer.get("lr", train.learning_rate))
    train.weight_decay = float(optimizer.get("weight_decay", train.weight_decay))
    train.lr_mult = float(optimizer.get("lr_mult", train.lr_mult))
    train.epochs = int(schedule.get("epochs", train.epochs))
    warmup = schedule.get("num_warmup_steps")
    if isinstance(warmup, float) and 0.0 <= warmup < 1.0:
        train.warmup_fraction = warmup


# --------------------------------------------------------------------------------------------------------------------
# loading


def read_official_checkpoint(source: str | os.PathLike | Mapping) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, official config dict) from a path or an in-memory checkpoint (`{'model', 'config'}` or bare)."""
    if isinstance(source, str | os.PathLike):
        if not os.path.isfile(source):
            raise WeightsError(f"official checkpoint not found: {source}")
        source = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(source, Mapping):
        raise WeightsError(f"official checkpoint: expected a dict, got {type(source).__name__}")
    if isinstance(source.get("model"), Mapping):
        state, official = source["model"], dict(source.get("config") or {})
    else:
        state, official = source, {}
    not_tensors = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise WeightsError(f"official checkpoint: entries that are not tensors: {not_tensors[:10]}")
    return dict(state), official


def official_to_pirlib(
    state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], config: Config
) -> dict[str, torch.Tensor]:
    """Convert and check against `target` (a pirlib state dict): names, shapes, every target key filled."""
    converted, _ = convert_official_state_dict(state)
    if "raw_temperature" in target and "raw_temperature" not in converted:  # absent with the triplet objective
        converted["raw_temperature"] = torch.tensor(config.model.temperature)
    if "raw_affiliation_temperature" in target and "raw_affiliation_temperature" not in converted:
        converted["raw_affiliation_temperature"] = torch.tensor(config.model.affiliation_temperature)
    origins = {name: key for key in state if (name := convert_official_key(key)) is not None}
    check_state_dict(converted, target, "official checkpoint (after conversion)", origins)
    return converted


def load_official_checkpoint(
    source: str | os.PathLike | Mapping,
    vision_config: Mapping[str, Any] | None = None,
    text_config: Mapping[str, Any] | None = None,
    training: bool = False,
    overrides: Sequence[str] = (),
):
    """Build the pirlib model of an official PIR checkpoint and load its weights strictly → (model, config).

    `source`: a path (loaded with `torch.load(..., weights_only=True)`) or a dict `{'model': state_dict,
    'config': {...}}` or a bare state dict. `vision_config` / `text_config`: the official Swin / BERT JSON configs
    (the official checkpoint only stores their paths); by default `config['vision_config_dict']` /
    `config['text_config_dict']` when present, else inference from shapes and the official defaults.
    `training=False`: the model in eval mode, for inference. `training=True`: the model in train mode and a config
    with every official training behaviour (`OFFICIAL_TRAINING_OVERRIDES`), to continue training with `fit` exactly
    as the official code would. `overrides`: further `section.field=value` assignments applied last, before the
    model is built (e.g. `vision.drop_path_rate=0`).
    """
    from pirlib.models import PIR

    state, official = read_official_checkpoint(source)
    config = official_config(state, official, vision_config, text_config)
    config = apply_overrides(config, [*(OFFICIAL_TRAINING_OVERRIDES if training else ()), *overrides])
    with torch.device("meta"):  # check names and shapes on a storage-less skeleton before building the real model
        skeleton = PIR(config)
    converted = official_to_pirlib(state, skeleton.state_dict(), config)
    model = PIR(config)
    model.load_state_dict(converted, strict=True)
    return model.train(training), config
