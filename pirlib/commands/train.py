"""`python -m pirlib train`: train PIR, the baseline or an ablation (paper §4.1) into a run directory."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


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
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the run already in --out (its own files; others are kept)"
    )


def run(args: argparse.Namespace) -> int:
    from pirlib.config import ConfigError, load_config
    from pirlib.models.checks import check_architecture
    from pirlib.output_folders import reading
    from pirlib.training import TrainingDiverged, fit
    from pirlib.training.selection import NO_SELECTION
    from pirlib.training.state import resume_point

    if args.resume and args.overwrite:
        raise ConfigError("--resume and --overwrite exclude each other (both given): pass one of them")
    config_path = args.config
    if config_path is None:
        if not (args.resume and args.out is not None):
            raise ConfigError("--config is missing (no run to reuse): pass --config, or --resume --out RUN")
        config_path = args.out / "config.yaml"
    if args.max_steps is not None and args.max_steps < 1:
        raise ConfigError(f"--max-steps must be >= 1, got {args.max_steps} (--max-steps): pass a positive count")
    overrides = list(args.overrides) + ([f"data.root={args.data}"] if args.data is not None else [])
    config = load_config(config_path, overrides)
    check_architecture(config)
    resumed = resume_point(args.out, config) if args.resume and args.out is not None else None
    if args.data is None and resumed is not None:  # a relative data.root of a run started in another directory
        config.data.root = str(resumed.data_root)
    try:
        with reading(config.data.root):  # synth and prepare refuse to rewrite the dataset meanwhile
            results = fit(config, args.out, max_steps=args.max_steps, resume=args.resume, overwrite=args.overwrite)
    except TrainingDiverged as error:
        print(f"pirlib train: {error}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, only the main process reports
        return 0
    selection = results["selection"]
    if selection["criterion"] == NO_SELECTION:
        print(
            f"stopped at step {results['steps']} before the first scheduled evaluation: test mR "
            f"{results['test']['mR']:.2f} (not a selection; continue with --resume)"
        )
        return 0
    print(
        f"selected epoch {selection['epoch']} (by {selection['criterion']} {selection['metric']}): "
        f"test mR {results['test']['mR']:.2f}; official protocol (best epoch on test): "
        f"mR {results['official_protocol']['test']['mR']:.2f}; {results['pairs_per_s']:.1f} pairs/s"
    )
    return 0
