"""`python -m pirlib bench`: training/embedding throughput, peak memory, MFU and hot spots.

Examples:
    python -m pirlib bench                                   # tiny profile on this machine (CPU)
    python -m pirlib bench --config tiny official-tiny --device cpu
    python -m pirlib bench --config paper "paper:data.gpu_resident=true;train.compile=true" --device cuda

Prints Markdown tables and writes every figure as JSON (`--out`, default runs/bench/bench_<device>.json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pirlib.commands import user_errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        nargs="+",
        default=["tiny"],
        help="profiles (tiny, paper, official-tiny) or YAML files, each optionally with its own overrides "
        "(PROFILE:KEY=VALUE;KEY=VALUE), measured one after the other (default: tiny)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[], help="batch sizes (default: each config's)")
    parser.add_argument("--steps", type=int, help="timed training steps per measurement (default: 3 CPU, 20 CUDA)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default: 1 CPU, 5 CUDA)")
    parser.add_argument("--data", help="dataset directory (default: SynthRS generated at each config's image size)")
    parser.add_argument("--cache", default="runs/bench", help="where generated SynthRS is kept (default: runs/bench)")
    parser.add_argument(
        "--synth-images", type=int, help="images of the generated SynthRS (default: 400 CPU, 2000 CUDA)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides for every config, e.g. --set data.gpu_resident=true train.compile=true",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["train", "components", "embed", "hotspots"],
        help="run only these sections (default: all)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of each embedding / hot-spot timing")
    parser.add_argument(
        "--metric-images", type=int, default=1093, help="test images of the metric problem (default 1093, RSICD)"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, help="JSON output (default: runs/bench/bench_<device type>.json)")


def run(args: argparse.Namespace) -> int:
    import torch

    from pirlib.benchmarks.formatting import format_report
    from pirlib.benchmarks.suite import SECTIONS, BenchOptions, run_benchmarks
    from pirlib.config import ConfigError
    from pirlib.io import atomic_write_json

    for name, value in (
        ("--steps", args.steps),
        ("--repeats", args.repeats),
        ("--synth-images", args.synth_images),
        ("--threads", args.threads),
    ):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value} ({name} {value}): pass a positive count")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    options = BenchOptions(
        configs=list(args.config),
        device=args.device,
        batch_sizes=list(args.batch_size),
        steps=args.steps,
        warmup=args.warmup,
        data=args.data,
        cache=args.cache,
        synth_images=args.synth_images,
        overrides=list(args.overrides),
        sections=tuple(args.only or SECTIONS),
        repeats=args.repeats,
        metric_images=args.metric_images,
    )
    try:
        results = run_benchmarks(options)
    except user_errors() as error:
        print(f"pirlib bench: error: {error}", file=sys.stderr)
        return 2
    out = args.out or Path(args.cache) / f"bench_{results['machine']['device'].split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    print(format_report(results))
    print(f"\nwritten: {out}")
    for failure in results["errors"]:
        print(f"pirlib bench: {failure['config']} failed: {failure['error']}", file=sys.stderr)
    return 1 if results["errors"] else 0
