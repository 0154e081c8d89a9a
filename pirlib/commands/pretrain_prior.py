"""`python -m pirlib pretrain-prior`: train the scene-prior CNN on scene classification and report its accuracy.

The weights (timm state dict, `fc` included) go to `--out` (safetensors), the metrics beside it (`.json`); PIR then
loads them through `prior.checkpoint`.
"""

from __future__ import annotations

import argparse
import json
import sys

from pirlib.config import ConfigError, load_config
from pirlib.data.format import DatasetFormatError
from pirlib.prior_pretraining import pretrain_scene_prior


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


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, args.set)
        metrics = pretrain_scene_prior(
            config,
            args.data,
            args.out,
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
    except (ConfigError, DatasetFormatError) as error:
        print(f"pirlib pretrain-prior: {error}", file=sys.stderr)
        return 1
    print(f"scene-prior test accuracy: {metrics['accuracy']:.2f}% ({metrics['test_images']} images, {args.out})")
    print(json.dumps({"accuracy": metrics["accuracy"], "out": str(args.out), "seconds": metrics["seconds"]}))
    return 0
