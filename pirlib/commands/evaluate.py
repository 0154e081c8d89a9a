"""`python -m pirlib evaluate`: R@1/5/10 image→text and text→image and mR of a checkpoint (paper §4.1, Table 1)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pirlib.commands.train import user_errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory, or a run (uses best/)")
    parser.add_argument("--data", type=Path, help="prepared dataset directory (default: the checkpoint's data.root)")
    parser.add_argument("--split", default="test", choices=["test", "validation", "train"], help="default: test")
    parser.add_argument("--out", type=Path, help="JSON file to write (default CHECKPOINT/eval_<split>.json)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


def run(args: argparse.Namespace) -> int:
    from pirlib.checkpoint import atomic_write_json
    from pirlib.evaluation import evaluate_model, load_for_evaluation
    from pirlib.training.runtime import resolve_precision

    try:
        model, config, tokenizer, dataset, directory = load_for_evaluation(
            args.checkpoint, args.data, args.split, args.device
        )
    except user_errors() as error:
        print(f"pirlib evaluate: error: {error}", file=sys.stderr)
        return 2
    device = next(model.parameters()).device
    metrics = evaluate_model(
        model, dataset, tokenizer, config, device, resolve_precision(config.train.precision, device)
    )
    out = args.out or directory / f"eval_{args.split}.json"
    results = {
        **metrics,
        "checkpoint": str(directory),
        "data": str(dataset.index.root),
        "split": args.split,
        "images": len(dataset),
        "captions": len(dataset.captions),
    }
    atomic_write_json(Path(out), results)
    print(json.dumps(results, indent=2))
    return 0
