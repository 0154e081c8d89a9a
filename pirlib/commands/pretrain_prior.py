"""`python -m pirlib pretrain-prior`: train the scene-prior CNN on scene classification and report its accuracy.

The weights (timm state dict, `fc` included) go to `--out` (safetensors), the metrics beside it (`.json`); PIR then
loads them through `prior.checkpoint`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from pirlib.config import AT_LEAST_0, AT_LEAST_1, POSITIVE, ConfigError, load_config
from pirlib.training.prior import pretrain_scene_prior

# Valid ranges of the numeric options (as `pirlib.config.VALID_RANGES` for the config fields).
OPTION_RANGES = {
    "epochs": AT_LEAST_1,
    "batch_size": AT_LEAST_1,
    "lr": POSITIVE,
    "weight_decay": AT_LEAST_0,
    "workers": AT_LEAST_0,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML profile, e.g. configs/tiny_synthrs.yaml (default: paper defaults)")
    parser.add_argument("--data", help="dataset directory (default: data.root of the config)")
    parser.add_argument(
        "--corpus", help="train on this scene corpus (`pirlib synth --scene-corpus`) instead of the training split"
    )
    parser.add_argument("--out", default="runs/scene_prior/prior.safetensors", help="output weights file")
    parser.add_argument("--epochs", type=int, help="passes over the training images (prior_training.epochs: 10)")
    parser.add_argument("--batch-size", type=int, help="images per step (prior_training.batch_size: 64)")
    parser.add_argument("--lr", type=float, help="AdamW peak learning rate, cosine decay to 0 (prior_training: 2e-3)")
    parser.add_argument("--weight-decay", type=float, help="AdamW weight decay (prior_training.weight_decay: 0.05)")
    parser.add_argument("--seed", type=int, help="default: prior_training.seed, else train.seed of the config")
    parser.add_argument("--workers", type=int, help="data-loading processes (default: data.num_workers)")
    parser.add_argument("--randaugment", action="store_true", help="add the official RandAugment to crop and flip")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing prior at --out")


def check_options(args: argparse.Namespace) -> None:
    for name, valid in OPTION_RANGES.items():
        value = getattr(args, name)
        if value is not None and not valid.contains(value):
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} {value} is out of range ({flag}): it must be in {valid}")


# Flags that set a field of the config's prior_training section (they win over --config and --set).
FLAG_FIELDS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "learning_rate",
    "weight_decay": "weight_decay",
    "seed": "seed",
}


def flag_overrides(args: argparse.Namespace) -> list[str]:
    overrides = [
        f"prior_training.{field}={getattr(args, flag)}"
        for flag, field in FLAG_FIELDS.items()
        if getattr(args, flag) is not None
    ]
    return overrides + (["prior_training.randaugment=true"] if args.randaugment else [])


def run(args: argparse.Namespace) -> int:
    from pirlib.data.format import load_index
    from pirlib.data.images import verify_images
    from pirlib.models.checks import check_prior
    from pirlib.output_folders import claim_output, reading

    check_options(args)
    config = load_config(args.config, [*args.set, *flag_overrides(args)])
    check_prior(config)
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise ConfigError(f"the prior must be a .safetensors file (--out {out}): end the name with .safetensors")
    index = load_index(args.data if args.data is not None else config.data.root)
    corpus = reading(args.corpus) if args.corpus is not None else contextlib.nullcontext()
    with claim_output(out, [out, out.with_suffix(".json")], args.overwrite), reading(index.root), corpus:
        used = index.split_ids("train") + index.split_ids("test")
        verify_images([index.image_path(i) for i in used], f"training and test images of {index.root}")
        metrics = pretrain_scene_prior(
            config,
            index.root,
            out,
            num_workers=args.workers,
            corpus_root=args.corpus,
            log=lambda line: print(line, file=sys.stderr),
        )
    print(f"scene-prior test accuracy: {metrics['accuracy']:.2f}% ({metrics['test_images']} images, {args.out})")
    print(json.dumps({"accuracy": metrics["accuracy"], "out": str(args.out), "seconds": metrics["seconds"]}))
    return 0
