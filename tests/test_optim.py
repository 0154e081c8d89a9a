"""Parameter groups (no decay on biases, norms, temperatures; lr_mult on new modules; the official name rule), the
transformers-4 AdamW of the official code, and the warm-up/decay schedule."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from pirlib.config import TrainConfig
from pirlib.official.adamw import OfficialAdamW
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


def test_official_rule_decays_by_name_only():
    """Official: decay unless the name holds bias / LayerNorm / norm / norm1 / norm2, so the temperature and a
    LayerNorm registered under an index (like the PAE feed-forward `ffn.1`) are decayed."""
    groups = names_by_group(Toy(), TrainConfig(official_weight_decay=True))
    assert groups == {
        "pretrained_decay": {"vision_encoder.0.weight", "vision_encoder.1.weight", "text_encoder.weight"},
        "pretrained_no_decay": {
            "vision_encoder.0.bias",
            "vision_encoder.1.bias",
            "vision_encoder.relative_position_bias_table",
            "text_encoder.bias",
        },
        "new_decay": {"vision_proj.weight", "head.0.weight", "head.1.weight", "log_temperature"},
        "new_no_decay": {"vision_proj.bias", "head.0.bias", "head.1.bias"},
    }


def test_build_optimizer_picks_the_official_adamw_behind_its_flag():
    assert type(build_optimizer(Toy(), TrainConfig())) is torch.optim.AdamW
    official = build_optimizer(Toy(), TrainConfig(official_adamw=True, weight_decay=0.05))
    assert isinstance(official, OfficialAdamW)
    assert {group["name"]: group["weight_decay"] for group in official.param_groups}["new_decay"] == 0.05


def reference_adamw(parameter, gradients, lr, betas, eps, weight_decay, correct_bias=True):
    """transformers-4 AdamW written out in float64, one scalar formula per line."""
    first = second = torch.zeros_like(parameter)
    for step, gradient in enumerate(gradients, start=1):
        first = betas[0] * first + (1 - betas[0]) * gradient
        second = betas[1] * second + (1 - betas[1]) * gradient**2
        size = lr * ((1 - betas[1] ** step) ** 0.5 / (1 - betas[0] ** step) if correct_bias else 1.0)
        parameter = parameter - size * first / (second.sqrt() + eps)
        parameter = parameter - lr * weight_decay * parameter  # decay after the update
    return parameter


@pytest.mark.parametrize("correct_bias", [True, False])
def test_official_adamw_follows_the_transformers4_formula(correct_bias):
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    gradients = [torch.randn(5, 3, generator=generator, dtype=torch.float64) * 1e-7 for _ in range(4)]
    parameter = nn.Parameter(start.clone())
    optimizer = OfficialAdamW([parameter], lr=1e-2, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.05,
                              correct_bias=correct_bias)  # fmt: skip
    for gradient in gradients:
        parameter.grad = gradient.clone()
        optimizer.step()
    expected = reference_adamw(start, gradients, 1e-2, (0.9, 0.98), 1e-8, 0.05, correct_bias)
    torch.testing.assert_close(parameter.detach(), expected, rtol=1e-12, atol=1e-15)


def test_official_adamw_differs_from_torch_adamw_on_small_gradients():
    """First step, gradient g ~ eps: official −lr·√(1−β2)·g / (√(1−β2)·|g| + eps); torch −lr·g / (|g| + eps)."""
    gradient, lr, beta2, eps = torch.tensor([1e-8], dtype=torch.float64), 1e-3, 0.98, 1e-8
    updates = {}
    for name, optimizer_class in (("official", OfficialAdamW), ("torch", torch.optim.AdamW)):
        parameter = nn.Parameter(torch.zeros(1, dtype=torch.float64))
        optimizer = optimizer_class([parameter], lr=lr, betas=(0.9, beta2), eps=eps, weight_decay=0.0)
        parameter.grad = gradient.clone()
        optimizer.step()
        updates[name] = parameter.item()
    root = (1 - beta2) ** 0.5
    assert updates["official"] == pytest.approx(-lr * root * 1e-8 / (root * 1e-8 + eps), rel=1e-12)
    assert updates["torch"] == pytest.approx(-lr * 1e-8 / (1e-8 + eps), rel=1e-12)
    assert updates["official"] / updates["torch"] == pytest.approx(0.248, abs=1e-3)  # eps weighs 7× more


def test_official_adamw_state_round_trips():
    parameter = nn.Parameter(torch.ones(3))
    optimizer = OfficialAdamW([parameter], lr=0.1, weight_decay=0.1)
    parameter.grad = torch.tensor([0.5, -1.0, 2.0])
    optimizer.step()
    twin = nn.Parameter(parameter.detach().clone())
    resumed = OfficialAdamW([twin], lr=0.1, weight_decay=0.1)
    resumed.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # as written to and read from disk
    for current, optimiser in ((parameter, optimizer), (twin, resumed)):
        current.grad = torch.tensor([0.1, 0.2, -0.3])
        optimiser.step()
    assert torch.equal(parameter, twin)


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
