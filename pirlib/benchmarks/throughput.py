"""Training and embedding throughput of a configuration: pairs/s, peak memory, FLOPs per pair, MFU.

The measured step is the trainer's own (`pirlib.training.loop.optimisation_step` on `TrainStep` under
`wrap_for_training`: autocast forward, fp32 objective, backward, the AdamW step, then the trainer's one host
synchronisation per step reading the loss terms), on the trainer's data pipeline (`epoch_batches` + `TrainingLoader`
with `data.num_workers` persistent workers, and on CUDA pinned memory and uint8 images normalised on the device, or
`ResidentPairs` with `data.gpu_resident`). Three figures per batch size:
- `model_pairs_per_s`: one batch kept on the device and reused (the model's ceiling, no input pipeline);
- `pairs_per_s`: end to end, every step waiting for the next batch of the pipeline;
- `data_pairs_per_s`: the pipeline alone (batches produced, and moved to the device, without a model).
`cpu_ms_per_pair` is the CPU time of this process (not of DataLoader workers) per pair end to end: on a shared
machine, wall time grows with the other processes' load while this stays near the work done (exactly so with one
thread; idle OpenMP threads spinning at barriers add to it with more).
FLOPs per training pair are counted by `torch.utils.flop_counter.FlopCounterMode` over forward + backward (the
optimiser step is not counted); MFU is the end-to-end FLOP rate over the measured matrix-multiply rate.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from pirlib.benchmarks.timing import PeakMemory, synchronize, time_call
from pirlib.config import Config, ConfigError
from pirlib.training.runtime import Runtime, resolve_precision, set_cuda_float32_math


class TrainingBench:
    """A model, optimiser and data pipeline built as `pirlib.training.loop.Trainer` builds them."""

    def __init__(self, config: Config, data_root: Path, vocab_size: int | None, device: torch.device) -> None:
        from pirlib.data import CaptionCollator, PairDataset, build_tokenizer, load_index, train_transform
        from pirlib.losses import RetrievalObjective
        from pirlib.models import PIR
        from pirlib.optim import build_optimizer
        from pirlib.training.sampling import SeededSamples

        self.config, self.device = copy.deepcopy(config), device
        self.runtime = Runtime(device, 0, 1, resolve_precision(config.train.precision, device), False)
        if device.type == "cuda":
            set_cuda_float32_math(self.runtime.autocast_dtype)
        index = load_index(data_root)
        self.tokenizer = build_tokenizer(config.text, data_root)
        transform = train_transform(config.vision.image_size, uint8=device.type == "cuda")
        self.pairs = PairDataset(index, index.split_ids("train"), transform)
        self.samples = SeededSamples(self.pairs, config.train.seed)
        self.collate = CaptionCollator(self.tokenizer, config.text.max_tokens)
        self.resident = None
        if config.data.gpu_resident:
            from pirlib.data.gpu_resident import ResidentPairs

            self.resident = ResidentPairs.from_config(self.pairs, self.tokenizer, config, device)
        torch.manual_seed(config.train.seed)
        self.model = PIR(self.config, vocab_size=vocab_size or len(self.tokenizer)).to(device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.objective = RetrievalObjective(config.loss)
        self.optimizer = build_optimizer(self.model, config.train)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: 1.0)  # constant rate
        self.step_module = None

    @property
    def channels_last(self) -> bool:
        return self.config.train.channels_last

    @property
    def parameters(self) -> int:
        return sum(parameter.numel() for parameter in self.model.parameters())

    def batches(self, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """The trainer's batches of `batch_size` pairs, epoch after epoch, without end."""
        from pirlib.training.sampling import TrainingLoader, epoch_batches

        if len(self.pairs) < batch_size:
            raise ConfigError(f"batch size {batch_size} exceeds the {len(self.pairs)} training pairs of the data")
        seed, group = self.config.train.seed, self.config.data.group_by_scene
        loader = None
        if self.resident is None:
            workers, pin = self.config.data.num_workers, self.device.type == "cuda"
            loader = TrainingLoader(self.samples, self.collate, workers, pin, 0, 1)
        for epoch in itertools.count():
            batches = epoch_batches(self.pairs.labels, batch_size, seed, epoch, group)
            if loader is None:
                yield from self.resident.epoch_batches(batches, epoch, 0, 0, 1)
            else:
                yield from loader.epoch(batches, epoch, 0)

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The batch on the device as the trainer moves it (uint8 images normalised there, channels-last)."""
        from pirlib.training.loop import device_batch

        return device_batch(batch, self.device, self.channels_last)

    def step(self, batch: dict[str, torch.Tensor]) -> float:
        """One optimisation step of the trainer (`optimisation_step`: forward, backward, AdamW, one read of the loss
        terms); returns the loss."""
        from pirlib.training.loop import optimisation_step

        values, _ = optimisation_step(
            self.step_module, self.optimizer, self.scheduler, batch, self.device, self.channels_last
        )
        return values["loss"]

    def count_flops(self, batch: dict[str, torch.Tensor]) -> tuple[float, dict[str, float]]:
        """(FLOPs of forward + backward per pair, forward FLOPs per pair of each top-level module), eager mode."""
        from pirlib.training.loop import BATCH_KEYS, TrainStep

        batch = self.to_device(batch)
        size = batch["images"].shape[0]
        step = TrainStep(self.model, self.objective, self.runtime)
        counter = FlopCounterMode(display=False)
        with counter:
            terms = step(*(batch[key] for key in BATCH_KEYS))
            terms["loss"].backward()
        self.optimizer.zero_grad(set_to_none=True)
        forward = FlopCounterMode(display=False)
        with forward, torch.no_grad(), self.runtime.autocast():
            self.model(batch["images"], batch["input_ids"], batch["attention_mask"])
        modules = {
            name.removeprefix("PIR."): sum(counts.values()) / size
            for name, counts in forward.get_flop_counts().items()
            if name.count(".") == 1
        }
        return counter.get_total_flops() / size, modules


def _timed_steps(bench: TrainingBench, source: Iterator[dict], steps: int) -> tuple[float, float, float]:
    """(wall seconds for `steps` steps drawing batches from `source`, CPU seconds of this process over them, peak
    memory in MiB)."""
    with PeakMemory(bench.device) as memory:
        synchronize(bench.device)
        start, cpu_start = time.perf_counter(), time.process_time()
        for batch in itertools.islice(source, steps):
            bench.step(batch)
        synchronize(bench.device)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return seconds, cpu_seconds, memory.peak_mib


def _data_only(bench: TrainingBench, batch_size: int, steps: int) -> tuple[int, float]:
    """(batches, seconds) of the pipeline alone, on a fresh stream after its first batch (worker start-up excluded),
    over enough batches that the batches the workers queued ahead count little (at least 4 per worker)."""
    stream = bench.batches(batch_size)
    next(stream)
    count = max(steps, 4 * bench.config.data.num_workers) if bench.resident is None else steps
    seconds = time_call(lambda: [bench.to_device(b) for b in itertools.islice(stream, count)], bench.device, 0, 1)
    stream.close()  # shuts the DataLoader workers down
    return count, seconds["seconds"]


def measure_training(bench: TrainingBench, batch_size: int, steps: int, warmup: int, compile_model: bool) -> dict:
    """Throughput, peak memory and FLOPs of training `bench` at `batch_size` (see the module docstring)."""
    from pirlib.training.loop import wrap_for_training

    stream = bench.batches(batch_size)
    first = next(stream)
    flops_per_pair, forward_flops = bench.count_flops(first)
    bench.step_module = wrap_for_training(bench.model, bench.objective, bench.runtime, compile_model)
    bench.model.train()
    started = time.perf_counter()
    for batch in itertools.islice(stream, warmup):  # compilation, allocator and autotuning warm-up
        bench.step(batch)
    warmup_seconds = time.perf_counter() - started
    fixed = bench.to_device(first)
    model_seconds, _, model_peak = _timed_steps(bench, itertools.repeat(fixed), steps)
    seconds, cpu_seconds, peak = _timed_steps(bench, stream, steps)
    stream.close()  # shuts the DataLoader workers down
    data_steps, data_seconds = _data_only(bench, batch_size, steps)
    pairs = steps * batch_size
    return {
        "batch_size": batch_size,
        "steps": steps,
        "warmup_steps": warmup,
        "warmup_seconds": warmup_seconds,
        "model_pairs_per_s": pairs / model_seconds,
        "pairs_per_s": pairs / seconds,
        "data_pairs_per_s": data_steps * batch_size / data_seconds,
        "step_ms": 1000 * seconds / steps,
        "cpu_ms_per_pair": 1000 * cpu_seconds / pairs,
        "pairs_per_cpu_s": pairs / cpu_seconds,
        "peak_memory_mib": max(peak, model_peak),
        "flops_per_pair": flops_per_pair,
        "forward_flops_per_pair": forward_flops,
    }


@torch.no_grad()
def measure_embedding(bench: TrainingBench, batch_size: int, repeats: int) -> dict:
    """Images/s and texts/s of `encode_image` / `encode_text` (eval mode, autocast), on tensors already on the
    device: random normalised images and the dataset's captions, tokenised as evaluation does."""
    model, device = bench.model, bench.device
    model.eval()
    size = bench.config.vision.image_size
    images = torch.randn(batch_size, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    if bench.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)  # [B, 3, H, W]
    captions = [caption for _, caption in itertools.islice(itertools.cycle(bench.pairs.pairs), batch_size)]
    text = {key: value.to(device) for key, value in bench.collate.tokenize(captions).items()}  # [B, L] each

    def encode_images() -> None:
        with bench.runtime.autocast():
            model.encode_image(images)

    def encode_texts() -> None:
        with bench.runtime.autocast():
            model.encode_text(text["input_ids"], text["attention_mask"])

    image_time = time_call(encode_images, device, warmup=1, repeats=repeats)
    text_time = time_call(encode_texts, device, warmup=1, repeats=repeats)
    model.train()
    return {
        "batch_size": batch_size,
        "images_per_s": batch_size / image_time["seconds"],
        "texts_per_s": batch_size / text_time["seconds"],
        "text_tokens": int(text["input_ids"].shape[1]),
    }
