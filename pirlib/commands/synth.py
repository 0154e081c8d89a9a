"""`python -m pirlib synth`: generate the SynthRS dataset (the offline default data, see pirlib/data/synthrs)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pirlib.data.format import INDEX_FILE
from pirlib.data.synthrs import SynthSettings, format_datasheet, generate_synthrs, is_generated
from pirlib.data.synthrs.generate import ATTRIBUTES_FILE, DATASHEET_FILE, NAME
from pirlib.data.synthrs.output import (
    GENERATING_FILE,
    IMAGE_DIR,
    MAX_IMAGES,
    check_free_space,
    generated_images,
    is_image_name,
)
from pirlib.output_folders import claim_output

_DEFAULTS = SynthSettings()
MAX_SIZE = 1024  # image side; beyond it the images no longer fit in memory (and nothing needs them)


def default_test_images(images: int) -> int:
    """The default held-out share: 300 of the default 2,300 images, in proportion for any other --images."""
    return min(max(1, round(images * _DEFAULTS.test_images / _DEFAULTS.images)), max(1, images - 1))


def foreign_entries(out: Path) -> list[str]:
    """What `out` holds that SynthRS did not write (`pirlib.data.synthrs.output`: an image is SynthRS's only when an
    earlier generation listed it, or left it behind when interrupted)."""
    if not out.is_dir():
        return [str(out)] if out.exists() else []
    try:
        name = json.loads((out / INDEX_FILE).read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        name = None
    written = {IMAGE_DIR, "tokenizer", GENERATING_FILE}
    written |= {INDEX_FILE, ATTRIBUTES_FILE, DATASHEET_FILE} if name == NAME else set()
    foreign = [
        f"{out / entry.name}" + (f" of the dataset '{name}'" if entry.name == INDEX_FILE and name else "")
        for entry in out.iterdir()
        if entry.name not in written
    ]
    return sorted(foreign + _foreign_images(out, generated_images(out, INDEX_FILE, NAME)))


def _foreign_images(out: Path, own: set[str]) -> list[str]:
    """Files of `out/images/` that are neither in `own` nor temporary files of SynthRS's atomic writes."""
    images = out / IMAGE_DIR
    if not images.is_dir():
        return []
    return [
        str(file)
        for file in images.iterdir()
        if file.name not in own and not (file.name.endswith(".tmp") and is_image_name(file.name))
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="dataset directory to write (default: data/synthrs)")
    parser.add_argument(
        "--images", type=int, default=_DEFAULTS.images, help=f"total images, train + test (2 to {MAX_IMAGES:,})"
    )
    parser.add_argument(
        "--test-images",
        type=int,
        help=f"images held out for testing (default: {_DEFAULTS.test_images} of {_DEFAULTS.images}, in proportion)",
    )
    parser.add_argument(
        "--size", type=int, default=_DEFAULTS.size, help=f"image side in pixels, 16 to {MAX_SIZE} (112 CPU, 224 GPU)"
    )
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="random seed: same arguments, same bytes")
    parser.add_argument(
        "--noise",
        type=float,
        default=_DEFAULTS.noise,
        help="semantic noise in [0, 3]: distractors, texture patches, shadows, clouds (0 none, 3 the heaviest; "
        f"default {_DEFAULTS.noise})",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (the output does not depend on it)")
    parser.add_argument(
        "--scene-corpus",
        action="store_true",
        help="write the labels-only scene corpus for pretraining the scene prior (a seed stream disjoint from the "
        "retrieval set's; --images, --size, --seed, --noise apply; default --out data/synthrs_scenes)",
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if OUT already holds this dataset")
    parser.add_argument("--oracle", action="store_true", help="also print the oracle ladder (mR per known attribute)")
    parser.add_argument("--probe", action="store_true", help="also print the scene probe (linear scene classifier)")


def corpus_foreign_entries(out: Path) -> list[str]:
    """What `out` holds that the scene-corpus generator did not write."""
    from pirlib.data.synthrs.corpus import CORPUS_FILE, CORPUS_NAME, is_scene_corpus

    if not out.is_dir():
        return [str(out)] if out.exists() else []
    written = {IMAGE_DIR, GENERATING_FILE} | ({CORPUS_FILE, DATASHEET_FILE} if is_scene_corpus(out) else set())
    foreign = [str(out / entry.name) for entry in out.iterdir() if entry.name not in written]
    return sorted(foreign + _foreign_images(out, generated_images(out, CORPUS_FILE, CORPUS_NAME)))


def _refuse_foreign(foreign: list[str], what: str) -> None:
    from pirlib.config import ConfigError

    if foreign:
        raise ConfigError(
            f"--out holds files {what} did not write ({', '.join(foreign[:5])}"
            f"{' and more' if len(foreign) > 5 else ''}): choose an empty or {what} folder for --out"
        )


def run(args: argparse.Namespace) -> int:
    from pirlib.config import ConfigError

    if args.size > MAX_SIZE:
        raise ConfigError(f"--size {args.size} is out of range (--size): it must be in [16, {MAX_SIZE}]")
    if args.scene_corpus:
        from pirlib.data.synthrs.corpus import SceneCorpusSettings

        args.out = args.out or "data/synthrs_scenes"
        settings = SceneCorpusSettings(args.images, args.size, args.seed, args.noise)
        return _checked_run(args, settings, "synth --scene-corpus", corpus_foreign_entries, _generate_corpus)
    args.out = args.out or "data/synthrs"
    test_images = default_test_images(args.images) if args.test_images is None else args.test_images
    settings = SynthSettings(args.images, test_images, args.size, args.seed, args.noise)
    return _checked_run(args, settings, "synth", foreign_entries, _generate)


def _checked_run(args: argparse.Namespace, settings, what: str, foreign, generate) -> int:
    """Validate `settings`, refuse an --out holding files the generator did not write, then generate under a lock."""
    from pirlib.config import ConfigError

    try:
        settings.validate()
    except ValueError as error:
        raise ConfigError(f"{error} ({what} settings): change that option") from None
    _refuse_foreign(foreign(Path(args.out)), "the scene-corpus generator" if args.scene_corpus else "SynthRS")
    with claim_output(Path(args.out), [], overwrite=True):
        return generate(args, settings)


def _check_room(args: argparse.Namespace, settings) -> None:
    """Refuse, before the first image, a generation the disk of --out has no room for."""
    from pirlib.config import ConfigError

    try:
        check_free_space(Path(args.out).absolute(), settings.images, settings.size)
    except ValueError as error:
        raise ConfigError(f"{error} (--out {args.out}): free some space, or lower --images or --size") from None


def _generate_corpus(args: argparse.Namespace, settings) -> int:
    from pirlib.data.synthrs.corpus import corpus_is_generated, generate_scene_corpus

    if not args.force and corpus_is_generated(args.out, settings):
        print(f"{args.out}: already holds the scene corpus with these settings (use --force to regenerate)")
        sheet = json.loads((Path(args.out) / DATASHEET_FILE).read_text())
    else:
        _check_room(args, settings)
        start = time.perf_counter()
        sheet = generate_scene_corpus(args.out, settings, workers=args.workers)
        print(f"generated {settings.images} scene images in {time.perf_counter() - start:.1f} s -> {args.out}")
    print(json.dumps({"dataset": sheet["name"], "images": sheet["images"], "classes": sheet["classes"]}))
    return 0


def _generate(args: argparse.Namespace, settings: SynthSettings) -> int:
    if not args.force and is_generated(args.out, settings):
        print(f"{args.out}: already holds SynthRS with these settings (use --force to regenerate)")
        sheet = json.loads((Path(args.out) / DATASHEET_FILE).read_text())
    else:
        _check_room(args, settings)
        start = time.perf_counter()
        sheet = generate_synthrs(args.out, settings, workers=args.workers)
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
