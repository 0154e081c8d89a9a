"""Recorded studies around the tutorial's default experiment: variations of notebook 03's finished runs, trained by
the same code (`plan`-like RunSpecs, `run_many`) and recorded with their command, machine and date in `docs/studies/`,
where notebook 03 reads them (and says so).

- `plateau`: every run of the default study again with twice its training budget (`train.epochs` × 2, twice as many
  evaluation points): does more training still change the result?
- `prior-quality`: PIR with a scene prior trained on the retrieval set's own training images (the in-set prior, the
  first version of this tutorial) instead of the separate scene corpus: the paper's premise is that the prior's
  outside scene knowledge is what helps VIR.
- `variance`: where the seed spread comes from. The seed-0 baseline and PIR runs again with the seed of one random
  source changed (initial weights, data order and augmentation, validation hold-out, dropout; 3 more seeds each),
  the others kept, and a bootstrap over the test images of every default run (the finite test set). Trained source
  by source, in that order; `--finished-only` records the runs finished so far.
- `ablations`: the two single-module ablations, PIR w/o VIR and PIR w/o LCA, at every seed of the default PIR
  runs with their budget (the runs notebook 03 trains when given `ablation_seeds`; the main job leaves them out to
  keep within its time budget).
- `decisive`: every variant of the paper's claims and the scene-knowledge control (`baseline_prior_fusion`) at
  DECISIVE_SEEDS seeds with the default runs' config and budget, the default runs reused where they exist. A seed
  fixes every shared random source (common random numbers), so comparisons are paired by seed. Trained in waves,
  the headline comparisons' variants first; `--finished-only` records the runs finished so far.
- `weight-average`, `learning-rate`: variance-reduction levers (LEVERS). The decisive study's baseline and PIR runs
  again with one setting changed: an exponential moving average of the weights (`train.weight_average_decay`),
  which is evaluated and selected; half the learning rate. The runs without it are the decisive study's, at the same
  seeds (`runs/studies/decisive` beside `--out`), so the lever's effect on the seed spread and on PIR − baseline is
  measured seed by seed.
- `test-set`: the finite test set's share of the decisive study's uncertainty. Trains nothing: for each claim, the
  mean over seeds of A − B again on BOOTSTRAP_ROUNDS resamples of the test images (the same resample for every seed
  and both models), from the decisive runs' cached test embeddings. The seed-paired interval holds the test images
  fixed; this says how much a claim about SynthRS images in general would move with another draw of test images,
  which more seeds cannot reduce and a larger test split can.
- `test-galleries`: the lever "a larger test split", without training: the decisive study's runs scored on
  TEST_GALLERIES galleries of fresh SynthRS test images (the same generator and training images), each of the
  default split's size, mR averaged over the galleries (`pirlib.tutorial.galleries`).
- `noise-sweep`: the baseline, PIR and the fusion control at NOISE_SEEDS seeds on SynthRS at each semantic-noise
  level of NOISE_LEVELS. Each level other than the default run's gets its own retrieval set and scene corpus (the
  same settings but the noise) and its own scene prior, pretrained as the default prior was; the default level reuses
  the default runs and the decisive study's runs (`runs/studies/decisive` beside `--out`). Level by level: the
  lightest and the heaviest first, then the others (`endpoints_first`); `--finished-only` records the runs finished
  so far.

    python -m pirlib.tutorial.studies plateau         # after `make reproduce`; or `make studies` for both
    python -m pirlib.tutorial.studies prior-quality
    python -m pirlib.tutorial.studies ablations
    python -m pirlib.tutorial.studies variance [--finished-only]
    python -m pirlib.tutorial.studies decisive [--finished-only]
    python -m pirlib.tutorial.studies test-set
    python -m pirlib.tutorial.studies test-galleries
    python -m pirlib.tutorial.studies noise-sweep [--finished-only]
    python -m pirlib.tutorial.studies weight-average
    python -m pirlib.tutorial.studies learning-rate
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np

from pirlib.config import apply_overrides, load_config
from pirlib.io import atomic_write_json
from pirlib.metrics import METRIC_KEYS
from pirlib.tutorial.runs import (
    PriorSpec,
    RunSpec,
    finished_run_matches,
    load_history,
    read_manifest,
    variant_config,
)
from pirlib.tutorial.scheduler import run_many
from pirlib.tutorial.study_summaries import write_summary

INSET_PRIOR_EPOCHS = 24  # passes of the in-set prior over the training split's images (its accuracy plateaus there)


def derived_specs(
    main_runs_dir: Path, out_root: Path, overrides: Sequence[str], variants: Sequence[str] | None = None,
    evaluation_factor: int = 1,
) -> list[RunSpec]:  # fmt: skip
    """The runs of a finished study (its manifest), each with `overrides` applied to its stored config, in
    `out_root/<run name>`, with `evaluation_factor` × its number of evaluation points."""
    specs = []
    for variant, runs in read_manifest(main_runs_dir / "manifest.json").items():
        if variants is not None and variant not in variants:
            continue
        for run in runs:
            config = apply_overrides(load_config(run / "config.yaml"), list(overrides))
            evaluations = evaluation_factor * len(load_history(run))
            specs.append(RunSpec(variant, config.train.seed, config, out_root / run.name, evaluations))
    return specs


def run_record(run_dir: Path, variant: str, seed: int) -> dict:
    """What a study keeps of one finished run: its selected test metrics, its training time (seconds of the training
    steps, evaluations excluded) and its test-mR learning curve."""
    result = json.loads((run_dir / "eval.json").read_text())
    history = load_history(run_dir)
    return {
        "variant": variant,
        "seed": seed,
        "test": {key: result["test"][key] for key in METRIC_KEYS},
        "train_seconds": result["train_seconds"],
        "curve": {"step": history["step"].tolist(), "test_mR": history["test_mR"].tolist()},
    }


def record_study(
    name: str,
    specs: Sequence[RunSpec],
    main_runs_dir: Path,
    out: Path,
    command: str,
    run_labels: Sequence[tuple[str, dict]] | None = None,
    **extra,
) -> dict:
    """Write docs/studies/<name>.json: the study's runs and the default study's runs beside them, with the command,
    the machine and the date. `run_labels`: each spec's record key and extra fields (default: its directory name,
    none)."""
    from pirlib.tutorial.checks import machine_fingerprint

    main = read_manifest(main_runs_dir / "manifest.json")
    labels = run_labels or [(spec.out_dir.name, {}) for spec in specs]
    record = {
        "name": name,
        "command": command,
        "date": date.today().isoformat(),
        "machine": machine_fingerprint(),
        "runs": {
            key: {**run_record(spec.out_dir, spec.variant, spec.seed), **fields}
            for spec, (key, fields) in zip(specs, labels, strict=True)
        },
        "default_runs": {
            run.name: run_record(run, variant, load_config(run / "config.yaml").train.seed)
            for variant, runs in main.items()
            for run in runs
        },
        **extra,
    }
    atomic_write_json(out, record)
    return record


def train_waves(waves: Sequence[Sequence[RunSpec]], workers: int, finished_only: bool) -> list[RunSpec]:
    """Train the waves one after the other (finished runs are reused) and return all their runs; with
    `finished_only`, train nothing and return the runs finished so far."""
    if finished_only:
        return [spec for wave in waves for spec in wave if finished_run_matches(spec.config, spec.out_dir)]
    for wave in waves:
        run_many(wave, None, workers=workers)
    return [spec for wave in waves for spec in wave]


def plateau(main_runs_dir: Path, out_root: Path, workers: int) -> tuple[list[RunSpec], dict]:
    epochs = load_config(next(iter(read_manifest(main_runs_dir / "manifest.json").values()))[0] / "config.yaml")
    specs = derived_specs(main_runs_dir, out_root, [f"train.epochs={2 * epochs.train.epochs}"], evaluation_factor=2)
    run_many(specs, None, workers=workers)
    return specs, {"budget_factor": 2}


def prior_quality(main_runs_dir: Path, out_root: Path, workers: int) -> tuple[list[RunSpec], dict]:
    manifest = read_manifest(main_runs_dir / "manifest.json")
    reference = load_config(manifest["pir"][0] / "config.yaml")
    corpus_prior = json.loads(Path(reference.prior.checkpoint).with_suffix(".json").read_text())
    inset_path = out_root / "prior_inset.safetensors"
    settings = [
        "data.augment=true",  # 24 passes over 2,000 images: augmentation helps there
        f"prior_training.epochs={INSET_PRIOR_EPOCHS}",
        *(f"prior_training.{key}={corpus_prior[key]}" for key in ("batch_size", "learning_rate", "seed")),
    ]
    prior = PriorSpec(apply_overrides(reference, settings), Path(reference.data.root), inset_path)
    specs = derived_specs(main_runs_dir, out_root, [f"prior.checkpoint={inset_path}"], variants=["pir"])
    study = run_many(specs, prior, workers=workers)
    priors = {
        "corpus": {key: corpus_prior[key] for key in ("accuracy", "epochs", "train_images", "corpus_root")},
        "in-set": {key: study["prior"][key] for key in ("accuracy", "epochs", "train_images", "corpus_root")},
    }
    return specs, {"priors": priors}


ABLATIONS = ("pir_no_vir", "pir_no_lca")


def ablation_specs(main_runs_dir: Path, out_root: Path) -> list[RunSpec]:
    """Each ablation at the seed, config and number of evaluations of every default PIR run, in
    `out_root/<variant>_seed<seed>`: the same configs notebook 03 plans for `ablation_seeds`."""
    specs = []
    for run in read_manifest(main_runs_dir / "manifest.json")["pir"]:
        pir = load_config(run / "config.yaml")
        evaluations = len(load_history(run))
        for variant in ABLATIONS:
            config = variant_config(pir, variant, pir.train.seed)
            specs.append(RunSpec(variant, pir.train.seed, config, out_root / config.name, evaluations))
    return specs


def ablations(main_runs_dir: Path, out_root: Path, workers: int) -> tuple[list[RunSpec], dict]:
    specs = ablation_specs(main_runs_dir, out_root)
    run_many(specs, None, workers=workers)
    return specs, {}


VARIANCE_VARIANTS = ("baseline", "pir")
VARIANCE_SEEDS = (1, 2, 3)  # the varied source's seeds; the default seed-0 run is the fourth value of every source
# the order the sources train in: initial weights and data order first
VARIANCE_WAVES = ("init", "data", "split", "dropout")
BOOTSTRAP_ROUNDS = 2000


def variance_waves(main_runs_dir: Path, out_root: Path) -> list[list[RunSpec]]:
    """One wave per random source, in VARIANCE_WAVES order: the seed-0 run of each variant of VARIANCE_VARIANTS with
    that source's seed set to each of VARIANCE_SEEDS, in `out_root/<variant>_<source><seed>`."""
    manifest = read_manifest(main_runs_dir / "manifest.json")
    seed0 = {}
    for variant in VARIANCE_VARIANTS:
        run = next(run for run in manifest[variant] if load_config(run / "config.yaml").train.seed == 0)
        seed0[variant] = load_config(run / "config.yaml"), len(load_history(run))
    waves = []
    for source in VARIANCE_WAVES:
        wave = []
        for variant, (base, evaluations) in seed0.items():
            for seed in VARIANCE_SEEDS:
                config = apply_overrides(base, [f"train.{source}_seed={seed}", f"name={variant}_{source}{seed}"])
                wave.append(RunSpec(variant, seed, config, out_root / config.name, evaluations))
        waves.append(wave)
    return waves


def variance_specs(main_runs_dir: Path, out_root: Path) -> list[RunSpec]:
    """Every run of the variance study, wave after wave (`variance_waves`)."""
    return [spec for wave in variance_waves(main_runs_dir, out_root) for spec in wave]


def test_set_bootstrap(run_dirs: Sequence[Path]) -> dict[str, float]:
    """{run name: standard deviation of its test mR over BOOTSTRAP_ROUNDS resamples of the test images}."""
    from pirlib.data import RetrievalDataset, load_index
    from pirlib.tutorial.runs import load_test_embeddings
    from pirlib.tutorial.variance import bootstrap_mR

    spread = {}
    for run in run_dirs:
        index = load_index(load_config(run / "config.yaml").data.root)
        test = RetrievalDataset(index, index.split_ids("test"), transform=None)
        image, text = load_test_embeddings(run)
        draws = bootstrap_mR(image @ text.T, test.img2txt, test.txt2img, rounds=BOOTSTRAP_ROUNDS)
        spread[run.name] = float(draws.std(ddof=1))
    return spread


def variance(main_runs_dir: Path, out_root: Path, workers: int, finished_only: bool = False) -> tuple[list, dict]:
    waves = variance_waves(main_runs_dir, out_root)
    specs = train_waves(waves, workers, finished_only)
    default_runs = [run for runs in read_manifest(main_runs_dir / "manifest.json").values() for run in runs]
    design = {"sources": list(VARIANCE_WAVES), "seeds": [0, *VARIANCE_SEEDS], "variants": list(VARIANCE_VARIANTS)}
    return specs, {
        "design": design,
        "test_set_bootstrap_std": test_set_bootstrap(default_runs),
        "all_sources": finished_decisive_runs(main_runs_dir, out_root, VARIANCE_VARIANTS),
        "complete": len(specs) == sum(map(len, waves)),
    }


DECISIVE_WAVES = (
    ("baseline", "pir", "baseline_prior_fusion"),  # the headline: PIR − baseline, − the fusion control
    ("pir_no_vir",),
    ("pir_no_lca", "pir_no_affiliation"),
)
DECISIVE_SEEDS = tuple(range(8))


def decisive_specs(main_runs_dir: Path, out_root: Path) -> list[list[RunSpec]]:
    """The waves of the decisive study: each variant of the wave at every seed of DECISIVE_SEEDS, with the config and
    number of evaluations of the default seed-0 PIR run, in `out_root/<variant>_seed<seed>`, or the default run of
    that variant and seed where it exists."""
    manifest = read_manifest(main_runs_dir / "manifest.json")
    default_runs = {
        (variant, load_config(run / "config.yaml").train.seed): run
        for variant, runs in manifest.items()
        for run in runs
    }
    pir = next(run for run in manifest["pir"] if load_config(run / "config.yaml").train.seed == 0)
    base, evaluations = load_config(pir / "config.yaml"), len(load_history(pir))
    waves = []
    for variants in DECISIVE_WAVES:
        wave = []
        for seed in DECISIVE_SEEDS:
            for variant in variants:
                config = variant_config(base, variant, seed)
                out_dir = default_runs.get((variant, seed), out_root / config.name)
                wave.append(RunSpec(variant, seed, config, out_dir, evaluations))
        waves.append(wave)
    return waves


def finished_decisive_runs(main_runs_dir: Path, out_root: Path, variants: Sequence[str]) -> dict[str, dict]:
    """{run name: record} of the decisive study's finished runs of `variants` (`runs/studies/decisive` beside
    `out_root`; the default runs where it reuses them)."""
    return {
        spec.out_dir.name: run_record(spec.out_dir, spec.variant, spec.seed)
        for wave in decisive_specs(main_runs_dir, out_root.parent / "decisive")
        for spec in wave
        if spec.variant in variants and finished_run_matches(spec.config, spec.out_dir)
    }


def decisive(main_runs_dir: Path, out_root: Path, workers: int, finished_only: bool = False) -> tuple[list, dict]:
    waves = decisive_specs(main_runs_dir, out_root)
    specs = train_waves(waves, workers, finished_only)
    design = {"variants": [v for wave in DECISIVE_WAVES for v in wave], "seeds": list(DECISIVE_SEEDS),
              "pairing": "common random numbers: one seed per run sets every shared random source"}  # fmt: skip
    return specs, {"design": design, "complete": len(specs) == sum(map(len, waves))}


# The variance-reduction levers: each its study, the decisive study's baseline and PIR runs again with these overrides
LEVERS = {
    # an exponential moving average of the weights over about the last 200 steps, a quarter of a default run's 846
    "weight-average": ("train.weight_average_decay=0.995",),
    # half the tiny profile's learning rate: smaller steps, which may carry less of the data order's noise
    "learning-rate": ("train.learning_rate=0.0005",),
}
LEVER_VARIANTS = ("baseline", "pir")


def lever_specs(main_runs_dir: Path, out_root: Path, overrides: Sequence[str]) -> list[RunSpec]:
    """The decisive study's baseline and PIR runs (every seed of DECISIVE_SEEDS) again with `overrides`, in
    `out_root/<variant>_seed<seed>`."""
    specs = []
    for wave in decisive_specs(main_runs_dir, out_root.parent / "decisive"):
        for spec in wave:
            if spec.variant in LEVER_VARIANTS:
                config = apply_overrides(spec.config, [*overrides, f"name={spec.variant}_seed{spec.seed}"])
                specs.append(RunSpec(spec.variant, spec.seed, config, out_root / config.name, spec.evaluations))
    return specs


def lever(name: str, main_runs_dir: Path, out_root: Path, workers: int) -> tuple[list[RunSpec], dict]:
    """The lever study `name` of LEVERS: its runs, and the decisive study's finished runs of the same variants and
    seeds without the lever (`runs/studies/decisive` beside `out_root`), to pair with them seed by seed."""
    specs = lever_specs(main_runs_dir, out_root, LEVERS[name])
    run_many(specs, None, workers=workers)
    design = {"lever": name, "overrides": list(LEVERS[name]), "variants": list(LEVER_VARIANTS),
              "seeds": list(DECISIVE_SEEDS)}  # fmt: skip
    return specs, {"design": design, "without": finished_decisive_runs(main_runs_dir, out_root, LEVER_VARIANTS)}


NOISE_LEVELS = (0.0, 0.5, 1.0, 2.0)  # SynthRS semantic noise: none, the default, twice, four times the default
NOISE_VARIANTS = ("baseline", "pir", "baseline_prior_fusion")
NOISE_SEEDS = tuple(range(5))


def noise_level_inputs(
    main_runs_dir: Path, out_root: Path, noise: float, generate: bool = True
) -> tuple[Path, Path, PriorSpec | None]:
    """(retrieval set, scene-prior checkpoint, prior job or None) of one noise level: the default run's at its own
    level; elsewhere a retrieval set and a scene corpus generated with the default settings but `noise` (kept when
    already there; `generate=False` only names them) in `out_root/noise<level>/`, and the prior job with the default
    prior's settings."""
    from dataclasses import replace

    from pirlib.data.synthrs.corpus import SceneCorpusSettings, corpus_is_generated, generate_scene_corpus
    from pirlib.data.synthrs.generate import DATASHEET_FILE, SynthSettings, generate_synthrs, is_generated

    manifest = read_manifest(main_runs_dir / "manifest.json")
    reference = load_config(manifest["pir"][0] / "config.yaml")
    data_root, prior_path = Path(reference.data.root), Path(reference.prior.checkpoint)
    sheet = json.loads((data_root / DATASHEET_FILE).read_text())["settings"]
    if noise == sheet["noise"]:
        return data_root, prior_path, None
    level = out_root / f"noise{noise:g}"
    settings = SynthSettings(**{key: sheet[key] for key in ("images", "test_images", "size", "seed")}, noise=noise)
    if generate and not is_generated(level / "synthrs", settings):
        generate_synthrs(level / "synthrs", settings, progress="off")
    default_prior = json.loads(prior_path.with_suffix(".json").read_text())
    corpus_sheet = json.loads((Path(default_prior["corpus_root"]) / DATASHEET_FILE).read_text())["settings"]
    corpus = replace(SceneCorpusSettings(**{k: corpus_sheet[k] for k in ("images", "size", "seed")}), noise=noise)
    if generate and not corpus_is_generated(level / "synthrs_scenes", corpus):
        generate_scene_corpus(level / "synthrs_scenes", corpus, progress="off")
    settings = [f"data.augment={default_prior['augment']}"] + [
        f"prior_training.{key}={default_prior[key]}" for key in ("epochs", "batch_size", "learning_rate", "seed")
    ]
    prior = PriorSpec(apply_overrides(reference, settings), level / "synthrs", level / "prior.safetensors",
                      level / "synthrs_scenes")  # fmt: skip
    return level / "synthrs", level / "prior.safetensors", prior


def noise_sweep_specs(
    main_runs_dir: Path, out_root: Path, noise: float, generate: bool = True
) -> tuple[list[RunSpec], PriorSpec | None]:
    """The runs of one noise level (NOISE_VARIANTS × NOISE_SEEDS) and its prior job: at the default level the
    decisive study's runs (`out_root.parent / "decisive"`), elsewhere the same configs on that level's data and
    prior, in `out_root/noise<level>/<variant>_seed<seed>` (`generate`: as in `noise_level_inputs`)."""
    data_root, prior_path, prior = noise_level_inputs(main_runs_dir, out_root, noise, generate)
    decisive = {(spec.variant, spec.seed): spec for wave in decisive_specs(main_runs_dir, out_root.parent / "decisive")
                for spec in wave}  # fmt: skip
    specs = []
    for variant in NOISE_VARIANTS:
        for seed in NOISE_SEEDS:
            spec = decisive[(variant, seed)]
            if prior is not None:
                config = apply_overrides(spec.config, [f"data.root={data_root}", f"prior.checkpoint={prior_path}"])
                spec = RunSpec(variant, seed, config, out_root / f"noise{noise:g}" / config.name, spec.evaluations)
            specs.append(spec)
    return specs, prior


class StudyInputError(ValueError):
    """A study cannot start from what is on disk: (what is wrong, what to do)."""


def finished_decisive_specs(main_runs_dir: Path, out_root: Path) -> list[RunSpec]:
    """The decisive study's finished runs (`runs/studies/decisive` beside `out_root`); refused when there is none."""
    decisive_dir = out_root.parent / "decisive"
    specs = [spec for wave in decisive_specs(main_runs_dir, decisive_dir) for spec in wave
             if finished_run_matches(spec.config, spec.out_dir)]  # fmt: skip
    if not specs:
        raise StudyInputError(f"no finished run of the decisive study ({decisive_dir})",
                              "run `python -m pirlib.tutorial.studies decisive` first")  # fmt: skip
    return specs


def claim_bootstraps(hits: dict[tuple[str, int], list[tuple]]) -> dict[str, dict]:
    """For each claim of DECISIVE_CLAIMS with two or more shared seeds, the bootstrap over test images of its mean
    difference over seeds, averaged over galleries: std and 2.5 / 97.5 percentiles. `hits`: per (variant, seed), the
    `hits_by_image` of each gallery; each gallery is resampled on its own (`variance.bootstrap_mean_difference`, the
    gallery's index as the seed of its draws)."""
    from pirlib.tutorial.study_summaries import DECISIVE_CLAIMS
    from pirlib.tutorial.variance import bootstrap_mean_difference

    bootstrap = {}
    for claim, a, b in DECISIVE_CLAIMS:
        seeds = sorted(seed for variant, seed in hits if variant == a and (b, seed) in hits)
        if len(seeds) < 2:
            continue
        galleries = len(hits[a, seeds[0]])
        draws = np.mean([bootstrap_mean_difference([(hits[a, s][g], hits[b, s][g]) for s in seeds],
                                                   rounds=BOOTSTRAP_ROUNDS, seed=g)
                         for g in range(galleries)], axis=0)  # fmt: skip
        low, high = np.percentile(draws, [2.5, 97.5])
        bootstrap[claim] = {"seeds": seeds, "std": float(draws.std(ddof=1)), "low": float(low), "high": float(high)}
    return bootstrap


def test_set(main_runs_dir: Path, out_root: Path, workers: int) -> tuple[list[RunSpec], dict]:
    """The decisive study's finished runs, and for each claim of DECISIVE_CLAIMS with two or more shared seeds the
    bootstrap over test images of its mean difference over seeds (`claim_bootstraps`). Trains nothing."""
    specs = finished_decisive_specs(main_runs_dir, out_root)
    test, hits = split_hits(specs)
    design = {"rounds": BOOTSTRAP_ROUNDS, "test_images": len(test.img2txt), "test_captions": len(test.captions)}
    return specs, {"design": design, "bootstrap": claim_bootstraps(hits)}


def split_hits(specs: Sequence[RunSpec]):
    """(the runs' test split, {(variant, seed): [its `hits_by_image` on that split]}), from the cached embeddings."""
    from pirlib.data import RetrievalDataset, load_index
    from pirlib.tutorial.runs import load_test_embeddings
    from pirlib.tutorial.variance import hits_by_image

    index = load_index(specs[0].config.data.root)
    test = RetrievalDataset(index, index.split_ids("test"), transform=None)
    hits = {}
    for spec in specs:
        image, text = load_test_embeddings(spec.out_dir)  # [n_images, D], [n_captions, D]
        hits[spec.variant, spec.seed] = [hits_by_image(image @ text.T, test.img2txt, test.txt2img)]
    return test, hits


TEST_GALLERIES = 6  # fresh galleries of the default split's size: 1,800 images, about where the test-set study puts
# the test set's part of the headline's uncertainty equal to the 8 seeds' part


def test_galleries(main_runs_dir: Path, out_root: Path, workers: int) -> tuple[list[RunSpec], dict]:
    """The lever "a larger test split", measured without training: the decisive study's finished runs scored on
    TEST_GALLERIES galleries of fresh SynthRS test images (`galleries.gallery_dataset`, the same training images;
    in `out_root/synthrs`), each gallery of the default split's size: each run's mR per gallery, the seconds its
    embedding took, and each claim's bootstrap over the galleries' test images (`claim_bootstraps`; beside it the same
    over the default split, as the `test-set` study computes it). The embeddings are kept in
    `out_root/<run>.safetensors`, so the study resumes where it stopped."""
    import torch

    from pirlib.data import RetrievalDataset, load_index
    from pirlib.tutorial.galleries import GalleryDataError, gallery_dataset, gallery_hits, gallery_mR
    from pirlib.tutorial.runs import embedding_seconds, load_test_embeddings

    specs = finished_decisive_specs(main_runs_dir, out_root)
    try:
        data = gallery_dataset(Path(specs[0].config.data.root), out_root / "synthrs", TEST_GALLERIES)
    except GalleryDataError as error:
        raise StudyInputError(str(error), "delete that folder and run the study again") from error
    index = load_index(data)
    test = RetrievalDataset(index, index.split_ids("test"), transform=None)
    torch.set_num_threads(workers)
    hits, mR, seconds = {}, {}, {}
    for spec in specs:
        cache = out_root / f"{spec.out_dir.name}.safetensors"
        image, text = load_test_embeddings(spec.out_dir, data_root=data, cache=cache)
        hits[spec.variant, spec.seed] = gallery_hits(image, text, test, TEST_GALLERIES)
        mR[spec.out_dir.name] = [gallery_mR(gallery) for gallery in hits[spec.variant, spec.seed]]
        seconds[spec.out_dir.name] = embedding_seconds(cache)
    design = {"galleries": TEST_GALLERIES, "gallery_images": len(test.img2txt) // TEST_GALLERIES,
              "test_captions": len(test.captions), "rounds": BOOTSTRAP_ROUNDS, "threads": workers}  # fmt: skip
    split_bootstrap = claim_bootstraps(split_hits(specs)[1])
    return specs, {"design": design, "gallery_mR": mR, "embedding_seconds": seconds,
                   "bootstrap": claim_bootstraps(hits), "split_bootstrap": split_bootstrap}  # fmt: skip


def endpoints_first(levels: Sequence[float]) -> list[float]:
    """The order the sweep trains its levels in: the lightest and the heaviest, then the others in order, so that a
    partial sweep (`--finished-only`) already spans the whole range."""
    ends = [min(levels), max(levels)]
    return ends + [level for level in sorted(levels) if level not in ends]


def noise_sweep(
    main_runs_dir: Path, out_root: Path, workers: int, finished_only: bool = False
) -> tuple[list[RunSpec], dict]:
    specs, labels, priors, planned = [], [], {}, 0
    for noise in endpoints_first(NOISE_LEVELS):
        level_specs, prior = noise_sweep_specs(main_runs_dir, out_root, noise, generate=not finished_only)
        planned += len(level_specs)
        if finished_only:
            level_specs = [spec for spec in level_specs if finished_run_matches(spec.config, spec.out_dir)]
        else:
            run_many(level_specs, prior, workers=workers)
        if not level_specs:
            continue
        prior_metrics = Path(level_specs[0].config.prior.checkpoint).with_suffix(".json")
        if prior_metrics.is_file():  # a partial level's baselines may finish before its prior
            metrics = json.loads(prior_metrics.read_text())
            priors[f"{noise:g}"] = {key: metrics[key] for key in ("accuracy", "epochs", "train_images")}
        specs += level_specs
        labels += [(f"noise{noise:g}_{spec.variant}_seed{spec.seed}", {"noise": noise}) for spec in level_specs]
    design = {"noise": list(NOISE_LEVELS), "variants": list(NOISE_VARIANTS), "seeds": list(NOISE_SEEDS)}
    return specs, {"run_labels": labels, "design": design, "priors": priors, "complete": len(specs) == planned}


STUDIES = {
    "plateau": plateau,
    "prior-quality": prior_quality,
    "ablations": ablations,
    "variance": variance,
    "decisive": decisive,
    "test-set": test_set,
    "test-galleries": test_galleries,
    "noise-sweep": noise_sweep,
    **{name: partial(lever, name) for name in LEVERS},
}
FINISHED_ONLY_STUDIES = ("decisive", "noise-sweep", "variance")  # the studies that can record a partial set of runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pirlib.tutorial.studies", description=__doc__.split("\n\n")[0])
    parser.add_argument("study", choices=sorted(STUDIES))
    parser.add_argument("--runs", default="runs/notebook", help="the default study's runs (notebook 03's runs_dir)")
    parser.add_argument("--out", help="where the study's runs go (default: runs/studies/<study>)")
    parser.add_argument("--record", default="docs/studies", help="folder of the recorded results")
    parser.add_argument("--workers", type=int, default=2, help="parallel single-threaded training processes")
    parser.add_argument("--finished-only", action="store_true",
                        help="decisive, noise-sweep, variance: record the finished runs, train nothing")  # fmt: skip
    args = parser.parse_args(argv)
    main_runs = Path(args.runs).resolve()
    if not (main_runs / "manifest.json").is_file():
        print(f"pirlib studies: no finished default study ({main_runs}/manifest.json): run `make reproduce` first",
              file=sys.stderr)  # fmt: skip
        return 2
    out_root = Path(args.out or Path("runs/studies") / args.study).resolve()
    if args.finished_only and args.study not in FINISHED_ONLY_STUDIES:
        print(f"pirlib studies: --finished-only applies to {', '.join(FINISHED_ONLY_STUDIES)} ({args.study}): "
              "leave it out", file=sys.stderr)  # fmt: skip
        return 2
    options = {"finished_only": True} if args.finished_only else {}
    try:
        specs, extra = STUDIES[args.study](main_runs, out_root, args.workers, **options)
    except StudyInputError as error:
        problem, remedy = error.args
        print(f"pirlib studies: {problem}: {remedy}", file=sys.stderr)
        return 2
    command = "python -m pirlib.tutorial.studies " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    out = Path(args.record) / f"{args.study.replace('-', '_')}.json"
    record_study(args.study, specs, main_runs, out, command, **extra)
    print(f"recorded {len(specs)} runs -> {out}; summary -> {write_summary(args.record)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
