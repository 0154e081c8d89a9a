"""DDP on CPU: two gloo processes, each with half of a global batch, give the loss and gradients of one process on
the whole batch.

Why they must agree: each rank's loss is the loss of the whole (all-gathered) batch; the all-gather's backward sums
the gradient that every rank's loss sends to each slice of features, so rank r holds W x the single-process gradient
through its own features, and DDP's average over the W ranks gives exactly the single-process gradient (temperatures
included). The affiliation loss is left out: its scene centres are computed on each rank's local batch before the
gather (the official definition), so it differs from a single process by design.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from train_helpers import tiny_config

from pirlib.config import TrainConfig
from pirlib.losses import RetrievalObjective
from pirlib.models import PIR
from pirlib.training.loop import wrap_for_training
from pirlib.training.runtime import setup_runtime

GLOBAL_BATCH = 8
DETERMINISTIC = ["model.dropout=0", "text.dropout=0", "vision.drop_path_rate=0"]


def global_batch(config) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    size = config.vision.image_size
    return {
        "images": torch.randn(GLOBAL_BATCH, 3, size, size, generator=generator),  # [B, 3, H, W]
        "input_ids": torch.randint(5, 60, (GLOBAL_BATCH, 9), generator=generator),  # [B, L]
        "attention_mask": torch.ones(GLOBAL_BATCH, 9, dtype=torch.long),  # [B, L]
        "image_ids": torch.tensor([0, 0, 1, 2, 2, 3, 4, 4]),  # several captions of one image: multi-positive
        "labels": torch.tensor([0, 0, 1, 1, 1, 0, 2, 2]),
    }


def loss_and_gradients(config, rank: int, world_size: int) -> dict[str, torch.Tensor]:
    """One training forward/backward on this rank's contiguous share of the global batch."""
    torch.manual_seed(0)
    model = PIR(config, vocab_size=64)
    runtime = setup_runtime(TrainConfig(batch_size=GLOBAL_BATCH, device="cpu", precision="fp32"))
    step = wrap_for_training(model, RetrievalObjective(config.loss), runtime, compile_model=False)
    share = GLOBAL_BATCH // world_size
    batch = {key: value[rank * share : (rank + 1) * share] for key, value in global_batch(config).items()}
    terms = step(batch["images"], batch["input_ids"], batch["attention_mask"], batch["image_ids"], batch["labels"])
    terms["loss"].backward()
    gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return {"loss": terms["loss"].detach(), **gradients}


OBJECTIVES = {"contrastive": ["loss.affiliation_weight=0"], "triplet": ["loss.objective=triplet"]}


def _worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        results = {
            name: loss_and_gradients(tiny_config(Path("unused"), *DETERMINISTIC, *overrides), rank, world_size)
            for name, overrides in OBJECTIVES.items()
        }
        if rank == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(tmp_path):
    out = tmp_path / "rank0.pt"
    mp.spawn(_worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    distributed = torch.load(out, weights_only=True)
    for objective, overrides in OBJECTIVES.items():
        single = loss_and_gradients(tiny_config(Path("unused"), *DETERMINISTIC, *overrides), rank=0, world_size=1)
        assert distributed[objective].keys() == single.keys()
        for name, expected in single.items():
            torch.testing.assert_close(
                distributed[objective][name], expected, rtol=1e-5, atol=1e-5, msg=f"{objective}: {name}"
            )
