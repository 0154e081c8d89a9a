"""Optimiser and learning-rate schedule of PIR training (paper §4.1 "Implementation details"; docs/official_behaviour.md
§1, §4.4).

AdamW with betas (0.9, 0.98), eps 1e-8 and weight decay 0.01, except on biases, normalisation weights, every other
1-D or scalar parameter (the learnable temperatures) and Swin's relative-position bias tables. The learning rate of
the newly initialised modules (everything but the pretrained vision encoder, text encoder and scene prior) is
multiplied by `lr_mult` when `config.train.apply_lr_mult` is set. The official code declares lr_mult = 2 but never
applies it (its model has no `init_params`): `apply_lr_mult: false` reproduces that.

Two switches give the official optimiser exactly:
- `train.official_weight_decay`: the official rule decides by *name* only: a tensor is decayed unless its name contains
  one of `OFFICIAL_NO_DECAY_NAME_PARTS`. So the LayerNorm inside each PAE feed-forward block (`ffn.1`) and the two
  temperatures are decayed. By default we do not decay them: a norm weight is a scale, not a weight to shrink, and
  decaying a temperature towards 0 sharpens the softmax rather than regularising anything. The pirlib names of the
  official tensors contain the same parts, so the rule gives the official groups.
- `train.official_adamw`: `OfficialAdamW` (the transformers-4 update the official code imports) instead of
  `torch.optim.AdamW`.

Schedule (official scheduler.py): linear warm-up from 0 over `warmup_fraction` of all steps, then linear decay to 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pirlib.config import TrainConfig
from pirlib.official.adamw import OfficialAdamW

PRETRAINED_MODULES = ("vision_encoder", "text_encoder", "scene_prior")  # submodules loaded from pretrained files
NO_DECAY_NAME_PARTS = ("relative_position_bias_table", "temperature")  # 2-D (or named) parameters never decayed
# official create_optimizer: no decay for a tensor whose name contains any of these (everything else is decayed)
OFFICIAL_NO_DECAY_NAME_PARTS = (
    "bias",
    "LayerNorm.bias",
    "LayerNorm.weight",
    "norm.bias",
    "norm.weight",
    "norm1.bias",
    "norm1.weight",
    "norm2.bias",
    "norm2.weight",
)
NORM_TYPES = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)


def _norm_parameter_names(model: nn.Module) -> set[str]:
    return {
        f"{module_name}.{name}" if module_name else name
        for module_name, module in model.named_modules()
        if isinstance(module, NORM_TYPES)
        for name, _ in module.named_parameters(recurse=False)
    }


def uses_weight_decay(name: str, parameter: torch.Tensor, norm_names: set[str]) -> bool:
    """False for biases, norm weights, 1-D/scalar parameters (temperatures) and relative-position bias tables."""
    if parameter.ndim <= 1 or name.endswith("bias") or name in norm_names:
        return False
    return not any(part in name for part in NO_DECAY_NAME_PARTS)


def uses_official_weight_decay(name: str) -> bool:
    """The official rule: decay unless the name contains an official no-decay part (temperatures are decayed)."""
    return not any(part in name for part in OFFICIAL_NO_DECAY_NAME_PARTS)


def is_pretrained(name: str) -> bool:
    return name.split(".", 1)[0] in PRETRAINED_MODULES


def parameter_groups(model: nn.Module, config: TrainConfig) -> list[dict]:
    """AdamW parameter groups: (pretrained | new) × (decay | no decay); trainable parameters only, empty groups
    dropped. Each group carries a `name` for logging. Decay follows `uses_weight_decay`, or the official name rule
    with `config.official_weight_decay`."""
    norm_names = _norm_parameter_names(model)
    new_lr = config.learning_rate * (config.lr_mult if config.apply_lr_mult else 1.0)
    groups: dict[tuple[bool, bool], list[torch.Tensor]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            if config.official_weight_decay:
                decay = uses_official_weight_decay(name)
            else:
                decay = uses_weight_decay(name, parameter, norm_names)
            groups.setdefault((is_pretrained(name), decay), []).append(parameter)
    return [
        {
            "name": f"{'pretrained' if pretrained else 'new'}_{'decay' if decay else 'no_decay'}",
            "params": params,
            "lr": config.learning_rate if pretrained else new_lr,
            "weight_decay": config.weight_decay if decay else 0.0,
        }
        for (pretrained, decay), params in sorted(groups.items(), key=lambda item: (not item[0][0], not item[0][1]))
    ]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """`torch.optim.AdamW` over `parameter_groups`, or `OfficialAdamW` with `config.official_adamw`."""
    groups = parameter_groups(model, config)
    if not groups:
        raise ValueError("the model has no trainable parameter (every requires_grad is False)")
    if config.official_adamw:
        return OfficialAdamW(groups, lr=config.learning_rate, betas=tuple(config.betas), eps=config.eps)
    on_cuda = all(parameter.is_cuda for group in groups for parameter in group["params"])
    # fused: one CUDA kernel per step instead of one per tensor; the default (foreach/for-loop) elsewhere
    return torch.optim.AdamW(
        groups, lr=config.learning_rate, betas=tuple(config.betas), eps=config.eps, fused=True if on_cuda else None
    )


def linear_warmup_decay(total_steps: int, warmup_fraction: float) -> Callable[[int], float]:
    """Learning-rate factor of step `step`: step / warmup, then (total - step) / (total - warmup), floored at 0."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0.0 <= warmup_fraction < 1.0:
        raise ValueError(f"train.warmup_fraction must be in [0, 1), got {warmup_fraction}")
    warmup_steps = int(total_steps * warmup_fraction)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay(total_steps, warmup_fraction))


def group_learning_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    return {group.get("name", str(i)): group["lr"] for i, group in enumerate(optimizer.param_groups)}
