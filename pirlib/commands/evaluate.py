"""`python -m pirlib evaluate`: R@1/5/10 image→text and text→image and mR of a checkpoint (paper §4.1, Table 1).

The results file always holds the official protocol's metrics as its top-level keys (the protocol of PIR's Table 1);
`--protocol dedup` adds the duplicate-aware metrics under "dedup". `--tie-rule` chooses how exactly tied scores are
counted; wherever ties make the two rules differ, "tie_range" gives both (see `pirlib.metrics`).

The results go to --out, by default CHECKPOINT/eval_<split>.json; an existing results file is refused unless
--overwrite, so an evaluation on other data never replaces an earlier one silently. The dataset is held with a reader
lock (`pirlib.output_folders.reading`) while it is read."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory, or a run (uses best/)")
    parser.add_argument("--data", type=Path, help="prepared dataset directory (default: the checkpoint's data.root)")
    parser.add_argument("--split", default="test", choices=["test", "validation", "train"], help="default: test")
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON file to write (default CHECKPOINT/eval_<split>.json; an existing one needs --overwrite)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--protocol",
        default="official",
        choices=["official", "dedup"],
        help="official (default): each caption is its own query and candidate, as PIR's Table 1; dedup: also report "
        "the duplicate-aware protocol (identical captions merged, any image holding the caption is right)",
    )
    parser.add_argument(
        "--tie-rule",
        default="pessimistic",
        choices=["pessimistic", "optimistic"],
        help="how exactly tied scores count: pessimistic (default, a tie counts against the query: a lower bound) "
        "or optimistic; the other bound is reported wherever ties make them differ",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def run(args: argparse.Namespace) -> int:
    from pirlib.config import ConfigError
    from pirlib.evaluation import evaluation_data_root, find_checkpoint
    from pirlib.output_folders import claim_output, reading

    out = args.out or find_checkpoint(args.checkpoint) / f"eval_{args.split}.json"
    if out.is_dir():
        raise ConfigError(f"--out is a directory ({out}): name the JSON file to write")
    with claim_output(out, [out], args.overwrite), reading(evaluation_data_root(args.checkpoint, args.data)):
        return _evaluate(args, out)


def _evaluate(args: argparse.Namespace, out: Path) -> int:
    from pirlib.data.images import verify_images
    from pirlib.evaluation import evaluate_protocols, load_for_evaluation
    from pirlib.io import atomic_write_json
    from pirlib.training.runtime import resolve_precision

    model, config, tokenizer, dataset, directory = load_for_evaluation(
        args.checkpoint, args.data, args.split, args.device
    )
    verify_images([dataset.index.image_path(i) for i in dataset.image_ids], f"{args.split} images")
    device = next(model.parameters()).device
    autocast_dtype = resolve_precision(config.train.precision, device)
    metrics = evaluate_protocols(
        model, dataset, tokenizer, config, device, autocast_dtype, protocols=(args.protocol,), tie_rule=args.tie_rule
    )
    results = {
        **metrics,
        "checkpoint": str(directory),
        "data": str(dataset.index.root),
        "split": args.split,
        "images": len(dataset),
        "captions": len(dataset.captions),
    }
    atomic_write_json(out, results)
    print(json.dumps(results, indent=2))
    return 0
