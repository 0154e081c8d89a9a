"""Where a training step's time goes: each part of PIR timed alone, forward + backward, at the step's
batch size and precision, on one real batch of the pipeline.

Parts: scene prior (frozen: forward only), Swin vision encoder, VIR (rank & filter + Spatial-PAE, paper §3.2), BERT
text encoder, LCA (Temporal-PAE cycles, paper §3.3), the objective (contrastive + affiliation, §3.4) and the AdamW
step. Each part's inputs are made by the parts before it (without gradient), so the times add up to about one step.
Wall and process CPU milliseconds are both reported: the CPU time is the robust figure on a shared machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from pirlib.benchmarks.timing import synchronize


def _time(function: Callable[[], object], device: torch.device, repeats: int) -> dict[str, float]:
    function()
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        function()
    synchronize(device)
    return {
        "wall_ms": 1000 * (time.perf_counter() - wall) / repeats,
        "cpu_ms": 1000 * (time.process_time() - cpu) / repeats,
    }


def _forward_backward(bench, function: Callable[[], torch.Tensor]) -> Callable[[], None]:
    def run() -> None:
        with bench.runtime.autocast():
            output = function()
        output.float().sum().backward()
        bench.optimizer.zero_grad(set_to_none=True)

    return run


def measure_components(bench, batch: dict[str, torch.Tensor], repeats: int) -> list[dict]:
    """Rows {"part", "wall_ms", "cpu_ms"} for one step of `bench` (a `TrainingBench`) on `batch`."""
    model, device = bench.model, bench.device
    batch = bench.to_device(batch)
    images, input_ids, attention_mask = batch["images"], batch["input_ids"], batch["attention_mask"]
    mask = model.text_mask(attention_mask)
    model.train()
    with torch.no_grad(), bench.runtime.autocast():
        tokens = model.vision_projection(model.vision_encoder(images))  # [B, N, D]
        prior = model.scene_prior(images) if model.scene_prior is not None else None  # [B, C_prior]
        text_tokens = model.text_projection(model.text_encoder(input_ids, mask))  # [B, L, D]
        image_feat, text_feat = model(images, input_ids, attention_mask)  # [B, D] each
    tokens, text_tokens = tokens.float().requires_grad_(True), text_tokens.float().requires_grad_(True)
    image_feat, text_feat = image_feat.float().requires_grad_(True), text_feat.float().requires_grad_(True)
    parts: dict[str, Callable[[], None]] = {}
    if prior is not None:

        def prior_forward() -> None:
            with torch.no_grad(), bench.runtime.autocast():
                model.scene_prior(images)

        parts["scene prior (forward)"] = prior_forward
    parts["Swin vision encoder"] = _forward_backward(bench, lambda: model.vision_encoder(images))
    if model.vision_instruction is not None:
        parts["VIR"] = _forward_backward(bench, lambda: model.vision_instruction(tokens, prior))
    parts["BERT text encoder"] = _forward_backward(bench, lambda: model.text_encoder(input_ids, mask))
    if model.language_cycle is not None:
        parts["LCA"] = _forward_backward(bench, lambda: model.language_cycle(text_tokens, mask))
    objective = bench.objective
    parts["objective"] = _forward_backward(
        bench, lambda: objective(model, image_feat, text_feat, batch["image_ids"], batch["labels"])["loss"]
    )
    parts["AdamW step"] = _optimizer_step(bench)
    return [{"part": name, **_time(run, device, repeats)} for name, run in parts.items()]


def _optimizer_step(bench) -> Callable[[], None]:
    """An AdamW step on random gradients, drawn once (the weights move; the benchmark model is thrown away after)."""
    parameters = [parameter for parameter in bench.model.parameters() if parameter.requires_grad]

    def run() -> None:
        if parameters[0].grad is None:
            for parameter in parameters:
                parameter.grad = torch.randn_like(parameter)
        bench.optimizer.step()

    return run
