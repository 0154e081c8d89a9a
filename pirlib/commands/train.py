"""`python -m pirlib train`: train PIR, the baseline or an ablation (paper §4.1) into a run directory."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def user_errors() -> tuple[type[Exception], ...]:
    """Exception types that mean bad input (config, paths, files): commands print them as one clear line."""
    from pirlib.checkpoint import CheckpointError
    from pirlib.config import ConfigError
    from pirlib.data.format import DatasetFormatError
    from pirlib.data.tokenizer import TokenizerError
    from pirlib.models.weights import WeightsError

    return ConfigError, CheckpointError, DatasetFormatError, TokenizerError, WeightsError, FileNotFoundError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="YAML profile (configs/*.yaml); with --resume, default OUT/config.yaml"
    )
    parser.add_argument("--data", type=Path, help="prepared dataset directory (overrides data.root)")
    parser.add_argument("--out", type=Path, help="run directory (default runs/<config name>)")
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides, e.g. --set train.epochs=3 model.use_vir=false",
    )
    parser.add_argument("--max-steps", type=int, help="cap on the total optimisation steps (counting before a resume)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last/ checkpoint")


def run(args: argparse.Namespace) -> int:
    from pirlib.config import ConfigError, load_config
    from pirlib.train import TrainingDiverged, fit

    try:
        config_path = args.config
        if config_path is None:
            if not (args.resume and args.out is not None):
                raise ConfigError("--config is required (or --resume --out RUN to reuse RUN/config.yaml)")
            config_path = args.out / "config.yaml"
        overrides = list(args.overrides) + ([f"data.root={args.data}"] if args.data is not None else [])
        if args.max_steps is not None and args.max_steps < 1:
            raise ConfigError(f"--max-steps must be >= 1, got {args.max_steps}")
        config = load_config(config_path, overrides)
        results = fit(config, args.out, max_steps=args.max_steps, resume=args.resume)
    except TrainingDiverged as error:
        print(f"pirlib train: {error}", file=sys.stderr)
        return 1
    except user_errors() as error:
        print(f"pirlib train: error: {error}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, only the main process reports
        return 0
    selection = results["selection"]
    print(
        f"selected epoch {selection['epoch']} (by {selection['criterion']} {selection['metric']}): "
        f"test mR {results['test']['mR']:.2f}; official protocol (best epoch on test): "
        f"mR {results['official_protocol']['test']['mR']:.2f}; {results['pairs_per_s']:.1f} pairs/s"
    )
    return 0
