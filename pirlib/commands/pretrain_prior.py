"""`python -m pirlib pretrain-prior`: train the scene-prior CNN on scene classification and report its accuracy.

The weights (timm state dict, `fc` included) go to `--out` (safetensors), the metrics beside it (`.json`); PIR then
loads them through `prior.checkpoint`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pirlib.config import AT_LEAST_0, AT_LEAST_1, POSITIVE, ConfigError, load_config
from pirlib.prior_pretraining import pretrain_scene_prior

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
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training images")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step")
    parser.add_argument("--lr", type=float, default=2e-3, help="AdamW peak learning rate (cosine decay to 0)")
    parser.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay")
    parser.add_argument("--seed", type=int, help="default: train.seed of the config")
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


def run(args: argparse.Namespace) -> int:
    from pirlib.data.format import load_index
    from pirlib.data.images import verify_images
    from pirlib.outputs import claim_output

    check_options(args)
    config = load_config(args.config, args.set)
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise ConfigError(f"the prior must be a .safetensors file (--out {out}): end the name with .safetensors")
    index = load_index(args.data if args.data is not None else config.data.root)
    with claim_output(out, [out, out.with_suffix(".json")], args.overwrite):
        used = index.split_ids("train") + index.split_ids("test")
        verify_images([index.image_path(i) for i in used], f"training and test images of {index.root}")
        metrics = pretrain_scene_prior(
            config,
            index.root,
            out,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            weight_decay=args.weight_decay,
            seed=args.seed,
            num_workers=args.workers,
            randaugment=args.randaugment,
            corpus_root=args.corpus,
            log=lambda line: print(line, file=sys.stderr),
        )
    print(f"scene-prior test accuracy: {metrics['accuracy']:.2f}% ({metrics['test_images']} images, {args.out})")
    print(json.dumps({"accuracy": metrics["accuracy"], "out": str(args.out), "seconds": metrics["seconds"]}))
    return 0
