"""Training-step parity with the official PIR code: three official optimisation steps, replayed by pirlib.

The reference fixture `official_step_seed11.pt` (made by running the official training computation on CPU, from the
weights of `official_pir_tiny.pt`, dropout and drop-path off) holds three batches, the official losses and learning
rates, and for every trainable tensor the norm and 4 seeded random projections of its step-1 gradient and of its
update over the 3 steps (and the same for the drift of the prior's BatchNorm buffers).

`training_step_parity` loads those weights with `load_official_checkpoint(..., training=True)`, builds the optimiser
and schedule as `fit` does (`build_optimizer`, `build_scheduler`, `wrap_for_training`) and runs the three batches
through `optimisation_step`, the step `fit` takes. A projection vector of official key K is
`torch.randn(shape, generator=torch.Generator().manual_seed(int(sha256(K)[:8], 16) + j))`; the converter only
renames keys, so it applies to the pirlib tensor of the same shape unchanged. Errors are |pirlib − official|
projections over the norm of the official tensor. Attention key biases have no true gradient (softmax ignores a
constant shift of the scores): their gradients are rounding noise, compared against a floor of 1 % of the median
gradient norm, and their Adam updates (noise of either sign) are left out.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

STEP_FIXTURE = "official_step_seed11.pt"  # three official training steps
WEIGHTS_FIXTURE = "official_pir_tiny.pt"  # the official weights the steps start from
DETERMINISTIC = ("vision.drop_path_rate=0", "text.dropout=0", "model.dropout=0")  # as in the fixture
# The official memory layout: channels-last convolutions round differently on the CPU (float32 only; measured:
# gradients of the tensors fed by the prior feature move by up to 2.4e-4 of their norm), which is not a behaviour.
OFFICIAL_LAYOUT = ("train.channels_last=false",)
NUM_PROJECTIONS = 4  # random projections per tensor in the fixture
ZERO_GRADIENT = re.compile(r"(linear_k|attention\.self\.key)\.bias$")  # attention key biases: true gradient 0
ZERO_GRADIENT_FLOOR = 0.01  # their gradients are compared against this fraction of the median gradient norm
TOLERANCES = {  # check → largest error allowed
    "losses": 1e-5,  # relative, every term of every step
    "learning rates": 1e-12,  # relative (0 for the first step)
    "gradients (step 1)": 1e-4,  # projection error / tensor norm
    "updates (3 steps)": 1e-3,  # projection error / tensor norm
    "prior BatchNorm drift": 1e-3,  # projection error / drift norm (a small difference of batch statistics)
}


@dataclass
class StepParity:
    """Per-step losses and learning rates, per-tensor gradient / update errors, per-buffer drift errors."""

    losses: pd.DataFrame  # one row per step and loss term: official, pirlib, relative error
    tensors: pd.DataFrame  # one row per trainable official key: pirlib name, norms, errors, zero-gradient flag
    buffers: pd.DataFrame  # one row per prior BatchNorm buffer: drift norm, error

    def summary(self) -> pd.DataFrame:
        """The largest error of each check beside its tolerance, and the tensor (or step) where it occurs."""
        updates = self.tensors[~self.tensors["zero gradient"]]
        rows = {
            "losses": _worst(self.losses[self.losses["term"] != "learning rate"], "relative error", "where"),
            "learning rates": _worst(self.losses[self.losses["term"] == "learning rate"], "relative error", "where"),
            "gradients (step 1)": _worst(self.tensors, "gradient error", "official key"),
            "updates (3 steps)": _worst(updates, "update error", "official key"),
            "prior BatchNorm drift": _worst(self.buffers, "drift error", "official key"),
        }
        table = pd.DataFrame.from_dict(rows, orient="index", columns=["max error", "where"]).rename_axis("check")
        table["tolerance"] = [TOLERANCES[check] for check in table.index]
        table["passed"] = table["max error"] <= table["tolerance"]
        return table

    @property
    def passed(self) -> bool:
        return bool(self.summary()["passed"].all())


def _worst(table: pd.DataFrame, column: str, label: str) -> tuple[float, str]:
    row = table[column].idxmax()
    return float(table.loc[row, column]), str(table.loc[row, label])


def projection_vectors(key: str, shape: Sequence[int]) -> torch.Tensor:
    """The fixture's random projection vectors of official key `key` → [NUM_PROJECTIONS, *shape], float64."""
    seed = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    vectors = [torch.randn(shape, generator=torch.Generator().manual_seed(seed + j)) for j in range(NUM_PROJECTIONS)]
    return torch.stack(vectors).double()


def projection_error(tensor: torch.Tensor, key: str, official: dict, scale: float) -> float:
    """max_j |⟨tensor, r_j⟩ − official proj_j| / scale, with the fixture's vectors r_j of official key `key`."""
    vectors = projection_vectors(key, tensor.shape)  # [P, *shape]
    ours = (vectors * tensor.detach().double().cpu()).reshape(NUM_PROJECTIONS, -1).sum(dim=1)  # [P]
    return float((ours - torch.tensor(official["proj"], dtype=torch.float64)).abs().max()) / scale


def training_step_parity(
    reference_dir: str | Path, overrides: Sequence[str] = (), device: str | torch.device = "cpu"
) -> StepParity:
    """Replay the fixture's three official steps with pirlib's training step → `StepParity`.

    `reference_dir` holds `official_step_seed11.pt` and `official_pir_tiny.pt`; `overrides`: `section.field=value`
    assignments applied after the official training settings (e.g. `train.official_adamw=false` to measure what that
    flag removes)."""
    from pirlib.official import load_official_checkpoint

    reference = Path(reference_dir)
    missing = [name for name in (STEP_FIXTURE, WEIGHTS_FIXTURE) if not (reference / name).is_file()]
    if missing:
        raise FileNotFoundError(f"reference fixture absent: {', '.join(str(reference / name) for name in missing)}")
    fixture = torch.load(reference / STEP_FIXTURE, weights_only=True, map_location="cpu")
    weights = torch.load(reference / WEIGHTS_FIXTURE, weights_only=True, map_location="cpu")["state_dict"]
    settings = [f"train.betas={list(fixture['betas'])}", f"train.eps={fixture['eps']}"]
    model, config = load_official_checkpoint(
        {"model": weights, "config": fixture["config"]},
        training=True,
        overrides=[*DETERMINISTIC, *OFFICIAL_LAYOUT, *settings, *overrides],
    )
    gradients, updates, drift, steps = _run_steps(model, config, fixture, torch.device(device))

    median = statistics.median(entry["norm"] for entry in fixture["grad_step1"].values())
    tensors = []
    for key, gradient in fixture["grad_step1"].items():
        name, update, zero = _converted(key), fixture["update_3_steps"][key], bool(ZERO_GRADIENT.search(key))
        gradient_scale = ZERO_GRADIENT_FLOOR * median if zero else gradient["norm"]
        tensors.append(
            {
                "official key": key,
                "pirlib name": name,
                "gradient norm": gradient["norm"],
                "gradient error": projection_error(gradients[name], key, gradient, gradient_scale),
                "update norm": update["norm"],
                "update error": projection_error(updates[name], key, update, update["norm"]),
                "zero gradient": zero,
            }
        )
    buffers = [
        {
            "official key": key,
            "drift norm": entry["norm"],
            "drift error": projection_error(drift[_converted(key)], key, entry, entry["norm"]),
        }
        for key, entry in fixture["prior_buffer_drift"].items()
    ]
    losses = []
    for step, (official, (values, learning_rate)) in enumerate(zip(fixture["losses"], steps, strict=True), start=1):
        pirlib = {"contrastive": values["contrastive"], "affiliation": values["affiliation"], "total": values["loss"]}
        for term, expected in official.items():
            losses.append(_loss_row(step, term, expected, pirlib[term]))
        losses.append(_loss_row(step, "learning rate", fixture["lrs"][step - 1], learning_rate))
    return StepParity(pd.DataFrame(losses), pd.DataFrame(tensors), pd.DataFrame(buffers))


def _loss_row(step: int, term: str, official: float, pirlib: float) -> dict:
    error = abs(pirlib - official) / abs(official) if official else abs(pirlib)
    return {"step": step, "term": term, "official": official, "pirlib": pirlib, "relative error": error,
            "where": f"step {step} {term}"}  # fmt: skip


def _run_steps(model, config, fixture: dict, device: torch.device):
    """Three `optimisation_step`s → (step-1 gradients, 3-step updates, prior buffer drift, per-step (values, lr))."""
    from pirlib.losses import RetrievalObjective
    from pirlib.optim import build_optimizer, build_scheduler
    from pirlib.training.loop import optimisation_step, wrap_for_training
    from pirlib.training.runtime import Runtime, resolve_precision

    train = config.train
    model = model.to(device)
    if train.channels_last:  # as the trainer prepares its model
        model = model.to(memory_format=torch.channels_last)
    trainable = {name: parameter for name, parameter in model.named_parameters() if parameter.requires_grad}
    expected = {name for key in fixture["grad_step1"] if (name := _converted(key))}
    if set(trainable) != expected:
        raise ValueError(
            f"trainable tensors differ from the official ones: pirlib only {sorted(set(trainable) - expected)}, "
            f"official only {sorted(expected - set(trainable))}"
        )
    runtime = Runtime(device, 0, 1, resolve_precision(train.precision, device), False)
    step_module = wrap_for_training(model, RetrievalObjective(config.loss), runtime, compile_model=False)
    optimizer = build_optimizer(model, train)
    scheduler = build_scheduler(optimizer, int(fixture["total_steps"]), train.warmup_fraction)
    start = {name: parameter.detach().clone() for name, parameter in trainable.items()}
    all_buffers = dict(model.named_buffers())
    buffers = {(name := _converted(key)): all_buffers[name].detach().clone() for key in fixture["prior_buffer_drift"]}
    model.train()
    steps, gradients = [], {}
    for index, batch in enumerate(fixture["batches"]):
        ids = batch["input_ids"]  # [B, L]
        inputs = {
            "images": batch["images"],
            "input_ids": ids,
            "attention_mask": (ids != 0).long(),  # unused with text.use_attention_mask false, as in the official code
            "image_ids": batch["idx"],
            "labels": batch["label"],
        }
        steps.append(optimisation_step(step_module, optimizer, scheduler, inputs, device, train.channels_last))
        if index == 0:
            gradients = {name: parameter.grad.detach().clone() for name, parameter in trainable.items()}
    updates = {name: parameter.detach() - start[name] for name, parameter in trainable.items()}
    drift = {name: all_buffers[name].detach() - before for name, before in buffers.items()}
    return gradients, updates, drift, steps


def _converted(key: str) -> str:
    from pirlib.official import convert_official_key

    name = convert_official_key(key)
    if name is None:
        raise ValueError(f"the step fixture names a tensor the converter does not know: {key}")
    return name


def training_step_summary(shared_dir: str | Path | None) -> pd.DataFrame | None:
    """`training_step_parity(shared_dir / "reference").summary()`, or None when `shared_dir` is None or lacks the
    fixtures (for notebooks, which skip the check then)."""
    if shared_dir is None:
        return None
    reference = Path(shared_dir) / "reference"
    if not all((reference / name).is_file() for name in (STEP_FIXTURE, WEIGHTS_FIXTURE)):
        return None
    return training_step_parity(reference).summary()
