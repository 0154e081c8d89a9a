"""Training and evaluation on CUDA (`pytest -m gpu`; every test here is skipped without CUDA, the DDP ones without two
GPUs). The tiny test configuration on a tiny SynthRS, so the whole file takes a few minutes on one GPU.

Tolerances, and why:
- resume: CUDA kernels are not bitwise deterministic (the backward of `gather`, used by rank & filter, and of index
  operations add with atomics in any order), so a resumed run is compared with the uninterrupted one within a
  relative weight difference of 1e-4, in float32 with TF32 off. Last-bit noise over 20 Adam steps stays orders of
  magnitude below it; a resume that lost the dropout stream, the data order or the optimiser state moves the weights
  by about the learning rate (1e-3) per step, far above it.
- evaluation, CUDA against CPU, float32 both: the L2-normalised embeddings within 1e-4 (other kernels and summation
  orders give about 1e-6; a wrong mask, layout or normalisation gives 1e-1).
- the bf16 step against float32: loss within 2 %, gradient cosine similarity above 0.99 and relative gradient error
  below 0.1 (measured with CPU bf16 autocast on the same model: 0.2 %, 0.9998 and 0.02).
"""

from __future__ import annotations

import inspect
import math
import os
import warnings
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file
from test_ddp import DETERMINISTIC, OBJECTIVES, assert_refused_on_every_rank, free_port, loss_and_gradients
from train_helpers import make_synthrs, tiny_config

from pirlib.config import TrainConfig
from pirlib.data import CaptionCollator, PairDataset, build_tokenizer, load_index, train_transform
from pirlib.data.gpu_resident import ResidentPairs
from pirlib.data.transforms import normalize_uint8
from pirlib.evaluation import embed_retrieval_set, retrieval_set
from pirlib.losses import RetrievalObjective
from pirlib.models import PIR
from pirlib.optim import build_optimizer, build_scheduler
from pirlib.training import fit, loop
from pirlib.training.runtime import Runtime, set_cuda_float32_math, setup_runtime
from pirlib.training.sampling import SeededSamples

pytestmark = pytest.mark.gpu
two_gpus = pytest.mark.skipif(
    not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs two CUDA devices"
)
CUDA = ["train.device=cuda"]


@pytest.fixture(scope="module")
def synthrs(tmp_path_factory) -> Path:
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")


@pytest.fixture
def fp32_math():
    """float32 products stay float32 (TF32 off) for the test, as `train.precision=fp32` sets it."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    set_cuda_float32_math(None)
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def relative_difference(weights: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> float:
    """‖w - w_ref‖ / ‖w_ref‖ over all tensors together."""
    difference = sum(
        float((weights[name].double() - tensor.double()).square().sum()) for name, tensor in expected.items()
    )
    norm = sum(float(tensor.double().square().sum()) for tensor in expected.values())
    return math.sqrt(difference / norm)


@pytest.mark.parametrize("pipeline", ["data.gpu_resident=true", "data.gpu_resident=false"])
def test_resumed_cuda_run_matches_the_uninterrupted_one(synthrs, tmp_path, pipeline):
    """Both input pipelines: images resident on the GPU, and the DataLoader sending uint8 images."""
    config = tiny_config(synthrs, *CUDA, "train.precision=fp32", pipeline)  # 2 epochs of 10 steps; TF32 off
    whole = fit(config, tmp_path / "whole")
    stopped = fit(config, tmp_path / "split", max_steps=13)
    assert stopped["steps"] == 13 and stopped["device"].startswith("cuda")
    resumed = fit(config, tmp_path / "split", resume=True)
    assert resumed["steps"] == whole["steps"] == 20
    weights = load_file(tmp_path / "split" / "last" / "model.safetensors")
    expected = load_file(tmp_path / "whole" / "last" / "model.safetensors")
    assert weights.keys() == expected.keys()
    assert relative_difference(weights, expected) < 1e-4


def test_evaluation_on_cuda_matches_the_cpu(synthrs, fp32_math):
    config = tiny_config(synthrs)
    index = load_index(synthrs)
    tokenizer = build_tokenizer(config.text, synthrs)
    dataset = retrieval_set(index, index.split_ids("test"), config)
    torch.manual_seed(0)
    model = PIR(config, vocab_size=len(tokenizer))
    images_cpu, texts_cpu = embed_retrieval_set(model, dataset, tokenizer, config, "cpu")
    images_cuda, texts_cuda = embed_retrieval_set(model.to("cuda"), dataset, tokenizer, config, "cuda")
    torch.testing.assert_close(images_cuda, images_cpu, rtol=0, atol=1e-4)
    torch.testing.assert_close(texts_cuda, texts_cpu, rtol=0, atol=1e-4)


def test_bf16_step_agrees_with_float32(fp32_math):
    config = tiny_config(Path("unused"), *DETERMINISTIC)
    generator = torch.Generator().manual_seed(1)
    batch = {
        "images": torch.randn(16, 3, 56, 56, generator=generator),  # [B, 3, H, W]
        "input_ids": torch.randint(5, 60, (16, 12), generator=generator),  # [B, L]
        "attention_mask": torch.ones(16, 12, dtype=torch.long),
        "image_ids": torch.arange(16) // 2,
        "labels": torch.arange(16) % 4,
    }

    def loss_and_gradient(dtype: torch.dtype | None) -> tuple[float, torch.Tensor]:
        torch.manual_seed(0)
        model = PIR(config, vocab_size=64).cuda()
        step = loop.TrainStep(model, RetrievalObjective(config.loss), Runtime(torch.device("cuda"), 0, 1, dtype, False))
        terms = step(*(batch[key].cuda() for key in loop.BATCH_KEYS))
        terms["loss"].backward()
        return terms["loss"].item(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    loss32, gradient32 = loss_and_gradient(None)
    loss16, gradient16 = loss_and_gradient(torch.bfloat16)
    assert abs(loss16 - loss32) / abs(loss32) < 0.02
    assert torch.nn.functional.cosine_similarity(gradient16, gradient32, dim=0) > 0.99
    assert (gradient16 - gradient32).norm() / gradient32.norm() < 0.1


def test_gpu_resident_pipeline_on_cuda(synthrs, tmp_path):
    config = tiny_config(synthrs, *CUDA, "data.gpu_resident=true")
    results = fit(config, tmp_path / "run", max_steps=3)
    assert results["steps"] == 3 and results["device"].startswith("cuda") and math.isfinite(results["test"]["mR"])
    index = load_index(synthrs)
    pairs = PairDataset(index, index.split_ids("train"), train_transform(56))
    tokenizer = build_tokenizer(config.text, synthrs)
    made = {
        device: ResidentPairs(pairs, tokenizer, 16, 56, augment=False, device=torch.device(device), seed=0)
        for device in ("cpu", "cuda")
    }
    on_cpu, on_cuda = (made[device].batch([0, 3, 5, 8], None) for device in ("cpu", "cuda"))
    assert on_cuda["images"].is_cuda
    for key, expected in on_cpu.items():
        torch.testing.assert_close(on_cuda[key].cpu(), expected, rtol=0, atol=1e-6, msg=key)


def test_compiled_training_does_not_recompile_every_step(synthrs, tmp_path, monkeypatch):
    """Captions are padded per batch, so the caption length changes between steps: each graph may recompile once,
    into a dynamic-shape graph, and never again."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    graphs = []
    original = loop.optimisation_step

    def counting(*args, **kwargs):
        result = original(*args, **kwargs)
        graphs.append(counters["stats"]["unique_graphs"])
        return result

    monkeypatch.setattr(loop, "optimisation_step", counting)
    results = fit(tiny_config(synthrs, *CUDA, "train.compile=true"), tmp_path / "run", max_steps=10)
    assert results["steps"] == 10 and math.isfinite(results["test"]["mR"])
    assert graphs[0] > 0 and graphs[-1] <= 2 * graphs[0], f"graphs compiled after each step: {graphs}"


def test_fetching_samples_leaves_the_cuda_generator_alone(synthrs):
    index = load_index(synthrs)
    samples = SeededSamples(PairDataset(index, index.split_ids("train"), train_transform(56)), seed=7)
    torch.cuda.manual_seed(123)
    state = torch.cuda.get_rng_state()
    for position in range(3):
        samples[(0, position)]
    assert torch.equal(torch.cuda.get_rng_state(), state)


def test_uint8_images_are_normalised_on_the_device_as_on_the_cpu():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(normalize_uint8(images.cuda()).cpu(), normalize_uint8(images))


def test_one_host_synchronisation_per_step(synthrs, fp32_math):
    """The step reads its loss terms back once, after the optimiser step (synchronisations inside the model's
    libraries are not the loop's and are not counted)."""
    config = tiny_config(synthrs, *CUDA)
    tokenizer = build_tokenizer(config.text, synthrs)
    runtime = setup_runtime(config.train)
    model = PIR(config, vocab_size=len(tokenizer)).to(runtime.device)
    optimizer = build_optimizer(model, config.train)
    scheduler = build_scheduler(optimizer, 10, config.train.warmup_fraction)
    step_module = loop.wrap_for_training(model, RetrievalObjective(config.loss), runtime, compile_model=False)
    index = load_index(synthrs)
    pairs = PairDataset(index, index.split_ids("train"), train_transform(56, uint8=True))
    batch = CaptionCollator(tokenizer, config.text.max_tokens)([pairs[i] for i in range(8)])
    batch = {key: value.pin_memory() for key, value in batch.items()}  # as the DataLoader gives it on CUDA
    loop.optimisation_step(step_module, optimizer, scheduler, batch, runtime.device, True)  # warm-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loop.optimisation_step(step_module, optimizer, scheduler, batch, runtime.device, True)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    synchronising = [w for w in caught if "synchroniz" in str(w.message)]
    where = [f"{Path(w.filename).name}:{w.lineno}" for w in synchronising]
    source, first = inspect.getsourcelines(loop.optimisation_step)
    line = {key: first + i for i, text in enumerate(source) for key in (".backward()", ".tolist()") if key in text}
    # a synchronisation inside the backward pass (the model's kernels) is reported at the line that calls it
    in_loop = [w.lineno for w in synchronising if w.filename == loop.__file__ and w.lineno != line[".backward()"]]
    assert in_loop == [line[".tolist()"]], f"synchronisations in the step: {where}"


def test_precision_sets_tf32(fp32_math):
    setup_runtime(TrainConfig(device="cuda", precision="fp32", batch_size=2))
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    setup_runtime(TrainConfig(device="cuda", precision="bf16", batch_size=2))
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_scene_prior_pretrains_on_cuda(synthrs, tmp_path):
    from pirlib.training.prior import pretrain_scene_prior

    config = tiny_config(synthrs, *CUDA, "data.gpu_resident=false", "prior_training.epochs=2")
    metrics = pretrain_scene_prior(config, synthrs, tmp_path / "prior.safetensors", log=None)
    assert 0 <= metrics["accuracy"] <= 100 and len(metrics["history"]) == 2
    assert all(math.isfinite(epoch["loss"]) for epoch in metrics["history"])


def _nccl_worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK=str(rank))
    torch.cuda.set_device(rank)
    torch.distributed.init_process_group("nccl", rank=rank, world_size=2, device_id=torch.device("cuda", rank))
    try:
        results = {
            name: loss_and_gradients(tiny_config(Path("unused"), *DETERMINISTIC, *overrides), rank, 2, "cuda")
            for name, overrides in OBJECTIVES.items()
        }
        if rank == 0:
            torch.save(results, out)
    finally:
        torch.distributed.destroy_process_group()


@two_gpus
def test_two_nccl_ranks_match_one_gpu(tmp_path, fp32_math):
    out = tmp_path / "rank0.pt"
    mp.spawn(_nccl_worker, args=(free_port(), str(out)), nprocs=2, join=True)
    distributed = torch.load(out, weights_only=True)
    for objective, overrides in OBJECTIVES.items():
        config = tiny_config(Path("unused"), *DETERMINISTIC, *overrides)
        single = loss_and_gradients(config, rank=0, world_size=1, device="cuda")
        for name, expected in single.items():
            torch.testing.assert_close(
                distributed[objective][name], expected, rtol=1e-4, atol=1e-5, msg=f"{objective}: {name}"
            )


@two_gpus
def test_a_refusal_on_the_main_process_ends_every_nccl_rank(tmp_path):
    assert_refused_on_every_rank(tmp_path, "cuda")
