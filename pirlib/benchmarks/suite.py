"""Benchmarks: training and embedding throughput, peak memory, MFU, and hot spots against naive references.

`run_benchmarks(BenchOptions(...))` measures, for every configuration and batch size: what `pirlib train` would do
(`pirlib.benchmarks.throughput`), where a step's time goes (`pirlib.benchmarks.components`) and the embedding speed;
then the hot spots side by side with naive references (`pirlib.benchmarks.hotspots`) and the dense matrix-multiply
rate the MFU is relative to. It returns one results dict (written as JSON by the `bench` command). The hot-spot
shapes follow the first configuration (its batch, token count, width, heads, caption length); the metric problem is
RSICD-sized by default (1,093 images × 5,465 captions).
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pirlib.benchmarks import hotspots
from pirlib.benchmarks.components import measure_components
from pirlib.benchmarks.profiles import bench_data, load_entry, random_weights
from pirlib.benchmarks.throughput import TrainingBench, measure_embedding, measure_training
from pirlib.benchmarks.timing import matmul_rate
from pirlib.config import Config, ConfigError
from pirlib.training.runtime import cpu_has_native_bf16, resolve_device, resolve_precision

SECTIONS = ("train", "components", "embed", "hotspots")
# Throughput targets in training pairs/s, by (config name, device type).
TARGETS = {("tiny_synthrs", "cpu"): 150.0, ("official_tiny", "cpu"): 5.4, ("paper_rsitmd", "cuda"): 4000.0}
MATMUL_SIZE = {"cpu": 2048, "cuda": 8192}


@dataclass
class BenchOptions:
    configs: list[str] = field(default_factory=lambda: ["tiny"])  # profile names or YAML files
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    batch_sizes: list[int] = field(default_factory=list)  # empty: each config's train.batch_size
    steps: int | None = None  # timed steps per measurement (default 3 on CPU, 20 on CUDA)
    warmup: int | None = None  # untimed steps first (default 1 on CPU, 5 on CUDA; compilation happens here)
    data: str | None = None  # dataset directory; None: SynthRS generated at each config's image size
    cache: str = "runs/bench"  # where generated SynthRS datasets are kept
    synth_images: int | None = None  # images of the generated SynthRS (default 400 on CPU, 2000 on CUDA)
    overrides: list[str] = field(default_factory=list)  # section.field=value, applied to every config
    sections: tuple[str, ...] = SECTIONS  # which parts to run
    repeats: int = 3  # repetitions of each hot-spot and embedding timing (median reported)
    metric_images: int = hotspots.RSICD_TEST_IMAGES  # test images of the metric problem (5 captions each)


def _machine(device: torch.device) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {
        "device": str(device),
        "device_name": name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_start": round(os.getloadavg()[0], 2),
    }


def _peak_rate(matmul: list[dict], autocast_dtype: torch.dtype | None) -> float | None:
    wanted = "bfloat16" if autocast_dtype is not None else "float32"
    return next((rate["flop_per_s"] for rate in matmul if rate["dtype"] == wanted), None)


def _scene_classes(root: Path) -> list[str]:
    from pirlib.data import load_index

    return load_index(root).classes


def _bench_config(entry: str, options: BenchOptions, device: torch.device, defaults: dict, results: dict) -> dict:
    """Training and embedding rows of one `--config` entry; returns the shapes its hot spots would use."""
    config, vocab_size = random_weights(load_entry(entry, [*options.overrides, f"train.device={device}"]))
    root = bench_data(config, options.data, Path(options.cache), options.synth_images or defaults["synth_images"])
    bench = TrainingBench(config, root, vocab_size, device)
    print(f"pirlib bench: {entry} ({bench.parameters / 1e6:.1f} M parameters) on {root}", flush=True)
    precision = str(bench.runtime.autocast_dtype or torch.float32).replace("torch.", "")
    peak = _peak_rate(results["matmul"], bench.runtime.autocast_dtype)
    for batch_size in options.batch_sizes or [config.train.batch_size]:
        if "train" in options.sections:
            row = measure_training(
                bench, batch_size, options.steps or defaults["steps"], defaults["warmup"], config.train.compile
            )
            achieved = row["pairs_per_s"] * row["flops_per_pair"]
            target = TARGETS.get((config.name, device.type))
            row.update(
                config=entry,
                config_name=config.name,
                precision=precision,
                compile=config.train.compile,
                gpu_resident=config.data.gpu_resident,
                num_workers=config.data.num_workers,
                gflop_per_pair=row["flops_per_pair"] / 1e9,
                achieved_tflop_per_s=achieved / 1e12,
                mfu_percent=100 * achieved / peak if peak else None,
                target_pairs_per_s=target,
                meets_target=None if target is None else row["pairs_per_s"] >= target,
            )
            results["training"].append(row)
            print(f"  batch {batch_size}: {row['pairs_per_s']:.1f} pairs/s end to end", flush=True)
        if "components" in options.sections:
            parts = measure_components(bench, next(bench.batches(batch_size)), options.repeats)
            results["components"] += [{"config": entry, "batch_size": batch_size, **part} for part in parts]
        if "embed" in options.sections:
            embedding = measure_embedding(bench, batch_size, options.repeats)
            results["embedding"].append({"config": entry, **embedding})
    shapes = {
        "batch": (options.batch_sizes or [config.train.batch_size])[0],
        "tokens": bench.model.vision_encoder.num_tokens,
        "width": config.model.embed_dim,
        "filter_size": config.model.filter_size,
        "heads": config.model.num_attention_heads,
        "length": config.text.max_tokens,
        "dropout": config.model.dropout,
        "classes": len(_scene_classes(root)),
        "dtype": bench.runtime.autocast_dtype or torch.float32,
    }
    del bench
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return shapes


def _hotspots(shapes: dict, device: torch.device, options: BenchOptions) -> list[dict]:
    head_width, repeats = shapes["width"] // shapes["heads"], options.repeats
    attention = (shapes["batch"], shapes["heads"], shapes["length"], head_width)
    return [
        hotspots.bench_rank_and_filter(
            shapes["batch"], shapes["tokens"], shapes["width"], shapes["filter_size"], device, repeats
        ),
        hotspots.bench_affiliation(shapes["batch"], shapes["width"], shapes["classes"], device, repeats),
        hotspots.bench_metrics(options.metric_images, repeats),
        hotspots.bench_attention(*attention, 0.0, device, shapes["dtype"], repeats),
        hotspots.bench_attention(*attention, shapes["dropout"], device, shapes["dtype"], repeats),
    ]


def _gemm_dtypes(device: torch.device, entries: list[Config]) -> tuple[torch.dtype, ...]:
    """The GEMM precisions whose rate the MFU figures need: bf16 on CUDA; on a CPU fp32, and bf16 where the CPU
    computes it natively or an entry trains in bf16 (emulated bf16 GEMMs take minutes at the benchmark's size)."""
    if device.type == "cuda":
        return (torch.bfloat16,)
    wants_bf16 = cpu_has_native_bf16() or any(
        resolve_precision(config.train.precision, device) == torch.bfloat16 for config in entries
    )
    return (torch.float32, torch.bfloat16) if wants_bf16 else (torch.float32,)


def run_benchmarks(options: BenchOptions) -> dict:
    """Run the selected sections for every configuration; returns the results dict (see the bench command)."""
    unknown = set(options.sections) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"unknown benchmark section(s) {sorted(unknown)}: choose from {', '.join(SECTIONS)}")
    if options.metric_images < 1 or any(size < 1 for size in options.batch_sizes):
        raise ConfigError(f"batch sizes and metric images must be >= 1: {options.batch_sizes}, {options.metric_images}")
    device = resolve_device(options.device, key="--device")
    cuda = device.type == "cuda"
    defaults = {"steps": 20 if cuda else 3, "warmup": 5 if cuda else 1, "synth_images": 2000 if cuda else 400}
    if options.warmup is not None:
        defaults["warmup"] = options.warmup
    results: dict = {"machine": _machine(device), "options": vars(options).copy(), "matmul": []}
    results["options"]["sections"] = list(options.sections)
    results.update(training=[], components=[], embedding=[], hotspots=[])
    entries = [load_entry(entry, options.overrides) for entry in options.configs]  # bad entries fail first
    results["matmul"] = [
        matmul_rate(device, dtype, MATMUL_SIZE[device.type]) for dtype in _gemm_dtypes(device, entries)
    ]
    shapes, results["errors"] = None, []
    for entry in options.configs:
        try:
            found = _bench_config(entry, options, device, defaults, results)
        except (RuntimeError, ValueError, OSError) as error:  # e.g. out of memory, a compiler failure: go on
            traceback.print_exc()
            results["errors"].append({"config": entry, "error": f"{type(error).__name__}: {error}"})
            print(f"pirlib bench: {entry} failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            continue
        shapes = shapes or found
    if "hotspots" in options.sections and shapes is not None:
        results["hotspots"] = _hotspots(shapes, device, options)
    results["machine"]["load_average_end"] = round(os.getloadavg()[0], 2)
    return results
