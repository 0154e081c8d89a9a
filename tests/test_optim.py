"""Parameter groups (no decay on biases, norms, temperatures; lr_mult on new modules) and the warm-up/decay schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pirlib.config import TrainConfig
from pirlib.optim import build_optimizer, build_scheduler, linear_warmup_decay, parameter_groups


class Toy(nn.Module):
    """Shaped like PIR: pretrained encoders plus new modules and a learnable temperature."""

    def __init__(self):
        super().__init__()
        self.vision_encoder = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.vision_encoder.relative_position_bias_table = nn.Parameter(torch.zeros(3, 2))
        self.text_encoder = nn.Linear(4, 4)
        self.scene_prior = nn.Sequential(nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2))
        self.scene_prior.requires_grad_(False)
        self.vision_proj = nn.Linear(4, 3)
        self.head = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))
        self.log_temperature = nn.Parameter(torch.tensor(0.07))


def names_by_group(model: nn.Module, config: TrainConfig) -> dict[str, set[str]]:
    ids = {id(p): n for n, p in model.named_parameters()}
    return {g["name"]: {ids[id(p)] for p in g["params"]} for g in parameter_groups(model, config)}


def test_groups_split_decay_and_pretrained():
    groups = names_by_group(Toy(), TrainConfig())
    assert groups == {
        "pretrained_decay": {"vision_encoder.0.weight", "text_encoder.weight"},
        "pretrained_no_decay": {
            "vision_encoder.0.bias",
            "vision_encoder.1.weight",
            "vision_encoder.1.bias",
            "vision_encoder.relative_position_bias_table",
            "text_encoder.bias",
        },
        "new_decay": {"vision_proj.weight", "head.0.weight"},
        "new_no_decay": {"vision_proj.bias", "head.0.bias", "head.1.weight", "head.1.bias", "log_temperature"},
    }


@pytest.mark.parametrize("apply_lr_mult, expected_new_lr", [(True, 2e-3), (False, 1e-3)])
def test_lr_mult_applies_to_new_modules_only_when_asked(apply_lr_mult, expected_new_lr):
    config = TrainConfig(learning_rate=1e-3, lr_mult=2.0, apply_lr_mult=apply_lr_mult, weight_decay=0.05)
    optimizer = build_optimizer(Toy(), config)
    by_name = {g["name"]: g for g in optimizer.param_groups}
    assert by_name["pretrained_decay"]["lr"] == pytest.approx(1e-3)
    assert by_name["new_decay"]["lr"] == pytest.approx(expected_new_lr)
    assert by_name["new_no_decay"]["lr"] == pytest.approx(expected_new_lr)
    assert by_name["new_decay"]["weight_decay"] == 0.05
    assert by_name["new_no_decay"]["weight_decay"] == 0.0
    assert optimizer.defaults["betas"] == (0.9, 0.98) and optimizer.defaults["eps"] == 1e-8


def test_frozen_parameters_are_left_out():
    model = Toy()
    in_groups = {id(p) for g in parameter_groups(model, TrainConfig()) for p in g["params"]}
    assert all(id(p) not in in_groups for p in model.scene_prior.parameters())


def test_schedule_warms_up_then_decays_to_zero():
    factor = linear_warmup_decay(total_steps=100, warmup_fraction=0.1)
    assert [factor(s) for s in (0, 5, 10, 55, 100, 120)] == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0, 0.0])
    assert linear_warmup_decay(10, 0.0)(0) == 1.0


def test_scheduler_drives_every_group():
    config = TrainConfig(learning_rate=1e-3, lr_mult=2.0)
    optimizer = build_optimizer(Toy(), config)
    scheduler = build_scheduler(optimizer, total_steps=20, warmup_fraction=0.1)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    peak = {g["name"]: g["lr"] for g in optimizer.param_groups}  # step 3: factor (20-3)/18
    assert peak["pretrained_decay"] == pytest.approx(1e-3 * 17 / 18)
    assert peak["new_decay"] == pytest.approx(2e-3 * 17 / 18)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="warmup_fraction"):
        linear_warmup_decay(10, 1.5)
    with pytest.raises(ValueError, match="total_steps"):
        linear_warmup_decay(0, 0.1)
