"""`python -m pirlib evaluate`: R@1/5/10 image→text and text→image and mR of a checkpoint (paper §4.1, Table 1)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory, or a run (uses best/)")
    parser.add_argument("--data", type=Path, help="prepared dataset directory (default: the checkpoint's data.root)")
    parser.add_argument("--split", default="test", choices=["test", "validation", "train"], help="default: test")
    parser.add_argument("--out", type=Path, help="JSON file to write (default CHECKPOINT/eval_<split>.json)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def run(args: argparse.Namespace) -> int:
    from pirlib.checkpoint import atomic_write_json
    from pirlib.data.images import verify_images
    from pirlib.evaluation import evaluate_model, load_for_evaluation
    from pirlib.outputs import ensure_writable, refuse_existing
    from pirlib.training.runtime import resolve_precision

    if args.out is not None:
        refuse_existing([args.out], args.overwrite)
        ensure_writable(args.out.parent)
    model, config, tokenizer, dataset, directory = load_for_evaluation(
        args.checkpoint, args.data, args.split, args.device
    )
    out = args.out or directory / f"eval_{args.split}.json"
    ensure_writable(Path(out).parent)  # before the embedding, not after it
    verify_images([dataset.index.image_path(i) for i in dataset.image_ids], f"{args.split} images")
    device = next(model.parameters()).device
    metrics = evaluate_model(
        model, dataset, tokenizer, config, device, resolve_precision(config.train.precision, device)
    )
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
