"""DDP on CPU: two gloo processes, each with half of a global batch, give the loss and gradients of one process on
the whole batch; every trainable parameter gets a gradient at every step (what DDP without `find_unused_parameters`
needs); an error on one rank ends every rank with the same one-line message.

Why they must agree: each rank's loss is the loss of the whole (all-gathered) batch; the all-gather's backward sums
the gradient that every rank's loss sends to each slice of features, so rank r holds W x the single-process gradient
through its own features, and DDP's average over the W ranks gives exactly the single-process gradient (temperatures
included). The affiliation loss is left out: its scene centres are computed on each rank's local batch before the
gather (the official definition), so it differs from a single process by design.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from train_helpers import REPO_ROOT, TINY_OVERRIDES, tiny_config

from pirlib.config import ConfigError, TrainConfig
from pirlib.distributed import RankFailed
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


def loss_and_gradients(config, rank: int, world_size: int, device: str = "cpu") -> dict[str, torch.Tensor]:
    """One training forward/backward on this rank's contiguous share of the global batch (float32; returned on the
    CPU). `device` "cuda" is this process's GPU (LOCAL_RANK)."""
    torch.manual_seed(0)
    runtime = setup_runtime(TrainConfig(batch_size=GLOBAL_BATCH, device=device, precision="fp32"))
    model = PIR(config, vocab_size=64).to(runtime.device)
    step = wrap_for_training(model, RetrievalObjective(config.loss), runtime, compile_model=False)
    share = GLOBAL_BATCH // world_size
    batch = {k: v[rank * share : (rank + 1) * share].to(runtime.device) for k, v in global_batch(config).items()}
    terms = step(batch["images"], batch["input_ids"], batch["attention_mask"], batch["image_ids"], batch["labels"])
    terms["loss"].backward()
    gradients = {name: p.grad.cpu() for name, p in model.named_parameters() if p.grad is not None}
    return {"loss": terms["loss"].detach().cpu(), **gradients}


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


VARIANTS = {
    "PIR": [],
    "triplet": ["loss.objective=triplet"],
    "no affiliation": ["loss.affiliation_weight=0"],
    "baseline": ["model.use_vir=false", "model.use_lca=false"],
    "w/o VIR": ["model.use_vir=false"],
    "w/o LCA": ["model.use_lca=false"],
    "official flags": ["text.use_attention_mask=false", "prior.batchnorm_train_mode=true"],
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_trainable_parameter_gets_a_gradient(variant):
    """DDP wraps the step without `find_unused_parameters` (and without `static_graph`): it needs every trainable
    parameter to take part in every step's loss."""
    config = tiny_config(Path("unused"), *VARIANTS[variant])
    model = PIR(config, vocab_size=64)
    batch = global_batch(config)
    image_feat, text_feat = model(batch["images"], batch["input_ids"], batch["attention_mask"])  # [B, D] each
    terms = RetrievalObjective(config.loss)(model, image_feat, text_feat, batch["image_ids"], batch["labels"])
    terms["loss"].backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{variant}: trainable parameters without a gradient: {missing}"


def _outcome_worker(rank: int, port: int, out: str) -> None:
    """Rank 0 fails inside a shared-outcome block (a user error, then a bug); each rank records what it raised."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    runtime = setup_runtime(TrainConfig(batch_size=2, device="cpu", precision="fp32"))
    raised = []
    try:
        for error in (ConfigError("bad value (train.x=1): fix it"), ValueError("a bug")):
            try:
                with runtime.shared_outcome():
                    if runtime.is_main:
                        raise error
            except Exception as caught:
                raised.append((type(caught).__name__, str(caught)))
        with runtime.shared_outcome():  # no failure: every rank goes on
            pass
        raised.append(("nothing", ""))
    finally:
        dist.destroy_process_group()
    torch.save(raised, f"{out}.{rank}")


@pytest.mark.slow
def test_an_error_inside_a_shared_outcome_block_reaches_every_rank(tmp_path):
    mp.spawn(_outcome_worker, args=(free_port(), str(tmp_path / "raised")), nprocs=2, join=True)
    rank0, rank1 = (torch.load(tmp_path / f"raised.{rank}", weights_only=True) for rank in range(2))
    assert rank0 == [("ConfigError", "bad value (train.x=1): fix it"), ("ValueError", "a bug"), ("nothing", "")]
    assert rank1[0] == rank0[0]  # a user error: the same error, so the same line on every rank
    assert rank1[1][0] == RankFailed.__name__ and "rank 0 failed (ValueError: a bug)" in rank1[1][1]
    assert rank1[2] == ("nothing", "")


@pytest.mark.slow
def test_a_refusal_on_the_main_process_ends_every_rank_with_one_line(tmp_path):
    """`pirlib train` under torchrun into a non-empty --out: rank 0 refuses the directory, and both ranks end at once
    with the same one-line error and exit code 2 (each rank started as torchrun starts it, its output kept apart)."""
    assert_refused_on_every_rank(tmp_path, "cpu")


def assert_refused_on_every_rank(tmp_path: Path, device: str) -> None:
    """Two ranks (gloo on the CPU, NCCL with `device` cuda) of `pirlib train` into a non-empty run directory."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("a user's file\n")
    command = [sys.executable, "-m", "pirlib", "train", "--config", str(REPO_ROOT / "configs" / "tiny_synthrs.yaml")]
    command += ["--data", str(tmp_path / "data"), "--out", str(run), "--set", *TINY_OVERRIDES, f"train.device={device}"]
    port = free_port()
    launcher = {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            command,
            env={**os.environ, **launcher, "RANK": str(rank), "LOCAL_RANK": str(rank), "OMP_NUM_THREADS": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    try:
        outputs = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    lines = [stderr.strip().splitlines() for _, stderr in outputs]
    expected = f"pirlib train: the run directory is not empty ({run} holds notes.txt):"
    for rank, process in enumerate(processes):
        assert process.returncode == 2, f"rank {rank}: exit code {process.returncode}\n{outputs[rank][1]}"
        assert len(lines[rank]) == 1 and lines[rank][0].startswith(expected), outputs[rank][1]
    assert lines[0] == lines[1]
    assert time.monotonic() - started < 30  # start-up (imports) included; nobody waits for a peer


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
