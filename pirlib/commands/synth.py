"""`python -m pirlib synth`: generate the SynthRS dataset (the offline default data, see pirlib/data/synthrs)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pirlib.data.synthrs import SynthSettings, format_datasheet, generate_synthrs, is_generated
from pirlib.data.synthrs.generate import DATASHEET_FILE

_DEFAULTS = SynthSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="data/synthrs", help="dataset directory to write (default: data/synthrs)")
    parser.add_argument("--images", type=int, default=_DEFAULTS.images, help="total images, train + test")
    parser.add_argument("--test-images", type=int, default=_DEFAULTS.test_images, help="images held out for testing")
    parser.add_argument("--size", type=int, default=_DEFAULTS.size, help="image side in pixels (112 CPU, 224 GPU)")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="random seed: same arguments, same bytes")
    parser.add_argument(
        "--noise",
        type=float,
        default=_DEFAULTS.noise,
        help="semantic noise: distractors, texture patches, shadows, clouds (0 none, 1 heavy)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (the output does not depend on it)")
    parser.add_argument("--force", action="store_true", help="regenerate even if OUT already holds this dataset")
    parser.add_argument("--oracle", action="store_true", help="also print the oracle ladder (mR per known attribute)")
    parser.add_argument("--probe", action="store_true", help="also print the scene probe (linear scene classifier)")


def run(args: argparse.Namespace) -> int:
    settings = SynthSettings(args.images, args.test_images, args.size, args.seed, args.noise)
    try:
        settings.validate()
    except ValueError as error:
        print(f"pirlib synth: {error}", file=sys.stderr)
        return 2
    if not args.force and is_generated(args.out, settings):
        print(f"{args.out}: already holds SynthRS with these settings (use --force to regenerate)")
        sheet = json.loads((Path(args.out) / DATASHEET_FILE).read_text())
    else:
        start = time.perf_counter()
        try:
            sheet = generate_synthrs(args.out, settings, workers=args.workers)
        except ValueError as error:
            print(f"pirlib synth: {error}", file=sys.stderr)
            return 2
        seconds = time.perf_counter() - start
        print(
            f"generated {settings.images} images of {settings.size} px in {seconds:.1f} s "
            f"({settings.images / seconds:.0f} images/s, {args.workers} worker(s)) -> {args.out}"
        )
    print(format_datasheet(sheet))
    if args.probe:
        from pirlib.data.synthrs import scene_probe

        probe = scene_probe(args.out, seed=args.seed)
        print(
            f"scene probe (logistic regression on thumbnails + colour histograms): accuracy "
            f"{100 * probe['accuracy']:.1f}% (chance {100 * probe['chance']:.1f}%), group accuracy "
            f"{100 * probe['group_accuracy']:.1f}%, errors inside a group {100 * probe['errors_within_group']:.1f}%"
        )
    if args.oracle:
        from pirlib.data.synthrs import oracle_ladder

        for rung, metrics in oracle_ladder(args.out, seed=args.seed).items():
            print(f"oracle {rung:<26} mR {metrics['mR']:6.2f}")
    summary = {key: sheet["images"][key] for key in ("train", "test")}
    summary.update(
        dataset=sheet["name"],
        captions=sheet["captions"]["total"],
        classes=sheet["classes"],
        vocabulary=sheet["vocabulary_size"]["train"],
    )
    print(json.dumps(summary, sort_keys=True))
    return 0
