"""The AdamW update of the official PIR code: `transformers.optimization.AdamW` of transformers 4
(docs/official_behaviour.md §4.4).

The official `optim.py` imports that class, which transformers 5 no longer ships. Its algorithm differs from
`torch.optim.AdamW` in two places, both visible in the first steps of training:

- eps is added to √v *before* the bias correction is applied, folded into the step size:
  p ← p − lr · √(1 − β2ᵗ) / (1 − β1ᵗ) · m / (√v + eps)
  (torch: p ← p − lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps), so eps weighs √(1 − β2ᵗ)⁻¹ times less here;
  at t = 1 with β2 = 0.98 that is 7×, which moves tensors with gradients near eps by percents);
- the decoupled weight decay is applied *after* the update, to the updated parameter: p ← p − lr · wd · p
  (torch decays the parameter before the update).

`correct_bias=False` drops the bias-correction factor (the original BERT optimiser); the official code keeps the
default, True. Moments are kept in the parameter's dtype, one step counter per parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch


class OfficialAdamW(torch.optim.Optimizer):
    """transformers-4 AdamW: Adam moments, eps added to √v before the bias correction, weight decay after the update."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        correct_bias: bool = True,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        if eps < 0.0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "correct_bias": correct_bias}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                if parameter.grad.is_sparse:
                    raise RuntimeError("OfficialAdamW does not support sparse gradients")
                state = self.state[parameter]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(parameter, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(parameter, memory_format=torch.preserve_format)
                state["step"] += 1
                self._update(parameter, state, group, beta1, beta2)
        return loss

    @staticmethod
    def _update(parameter: torch.Tensor, state: dict, group: dict, beta1: float, beta2: float) -> None:
        grad, first, second = parameter.grad, state["exp_avg"], state["exp_avg_sq"]
        first.mul_(beta1).add_(grad, alpha=1.0 - beta1)  # m
        second.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)  # v
        denominator = second.sqrt().add_(group["eps"])  # √v + eps, before any bias correction
        step_size = group["lr"]
        if group["correct_bias"]:
            step = state["step"]
            step_size *= math.sqrt(1.0 - beta2**step) / (1.0 - beta1**step)
        parameter.addcdiv_(first, denominator, value=-step_size)
        if group["weight_decay"] > 0.0:  # decoupled decay of the already updated parameter
            parameter.add_(parameter, alpha=-group["lr"] * group["weight_decay"])
