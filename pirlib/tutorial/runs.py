"""The tutorial's training runs (paper §4.2 Table 1 and §4.3 ablations, on the tiny profile): the baseline and the
ablations of PIR as config overrides, the plan of a multi-seed study, and "run or load": a finished run with the same
config and the same inputs is read instead of retrained, and so is a scene prior made with the same settings.

Variants (flags of the same model):
    baseline            Swin + BERT, projected token 0, contrastive loss only (the paper's VSE₂ (CL) row)
    pir                 VIR + LCA, contrastive + affiliation loss (the full method)
    pir_no_affiliation  VIR + LCA, contrastive loss only
    pir_no_vir          LCA only (+ affiliation)
    pir_no_lca          VIR only (+ affiliation)
    baseline_prior_fusion   the baseline + the scene prior's feature by late fusion (control: scene knowledge
                        without VIR)

A run directory holds what `pirlib.training.fit` writes (config.yaml, metrics.jsonl, best/, last/, eval.json) plus
`inputs.json` (SHA-256 of the dataset index and of the scene-prior weights it was trained with), `train.log` (its
console output), `progress.json` (the state of its progress bar while it runs, read by
`pirlib.tutorial.scheduler.run_many`; see `pirlib.progress`) and `test_embeddings.safetensors` (the selected
checkpoint's test-set embeddings).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pirlib.config import Config, ConfigError, apply_overrides, load_config, seed_of, to_dict, uses_scene_prior
from pirlib.io import atomic_write, atomic_write_json, file_sha256

VARIANTS: dict[str, list[str]] = {
    "baseline": ["model.use_vir=false", "model.use_lca=false", "loss.affiliation_weight=0"],
    "pir": [],
    "pir_no_affiliation": ["loss.affiliation_weight=0"],
    "pir_no_vir": ["model.use_vir=false"],
    "pir_no_lca": ["model.use_lca=false"],
    "baseline_prior_fusion": [
        "model.use_vir=false",
        "model.use_lca=false",
        "loss.affiliation_weight=0",
        "model.prior_fusion=true",
    ],
}

VARIANT_LABELS = {
    "baseline": "Baseline (Swin+BERT, CL)",
    "pir": "PIR (CL+AL)",
    "pir_no_affiliation": "PIR w/o affiliation loss",
    "pir_no_vir": "PIR w/o VIR",
    "pir_no_lca": "PIR w/o LCA",
    "baseline_prior_fusion": "Baseline + scene prior (late fusion)",
}

INPUTS_FILE = "inputs.json"
LOG_FILE = "train.log"
EMBEDDINGS_FILE = "test_embeddings.safetensors"


def variant_config(base: Config, variant: str, seed: int, overrides: Iterable[str] = ()) -> Config:
    """`base` with the variant's flags, the seed and extra `section.field=value` overrides applied."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant '{variant}': expected one of {', '.join(VARIANTS)}")
    return apply_overrides(base, [*VARIANTS[variant], f"train.seed={seed}", f"name={variant}_seed{seed}", *overrides])


@dataclass
class RunSpec:
    """One training run of a study: a variant at a seed, its full config and its run directory."""

    variant: str
    seed: int
    config: Config
    out_dir: Path
    evaluations: int = 1  # evaluation points spread evenly over the run (a learning curve when > 1)


@dataclass
class PriorSpec:
    """The scene-prior pretraining job (`pirlib.training.prior.pretrain_scene_prior` arguments; its settings are
    `config.prior_training`)."""

    config: Config
    data_root: Path
    out_path: Path
    corpus_root: Path | None = None  # the scene corpus it learns from (None: the dataset's training split)


def plan_runs(
    base: Config, runs_dir: str | os.PathLike, seeds: dict[str, Sequence[int]], evaluations: int = 1
) -> list[RunSpec]:
    """One RunSpec per (variant, seed) of `seeds` ({variant: [seed, ...]}), in runs_dir/<variant>_seed<seed>."""
    return [
        RunSpec(
            variant, seed, variant_config(base, variant, seed), Path(runs_dir) / f"{variant}_seed{seed}", evaluations
        )
        for variant, variant_seeds in seeds.items()
        for seed in variant_seeds
    ]


def run_inputs(config: Config) -> dict[str, str | None]:
    """SHA-256 of the files a run depends on beyond its config: the dataset index and the scene-prior weights."""
    index = Path(config.data.root) / "dataset.json"
    prior = config.prior.checkpoint if uses_scene_prior(config.model) else None
    if prior is not None and not Path(prior).is_file():
        raise ConfigError(f"prior.checkpoint={prior}: file not found; pretrain the scene prior first")
    return {
        "dataset.json": file_sha256(index) if index.is_file() else None,
        "prior": file_sha256(prior) if prior is not None else None,
    }


def comparable_config(config: Config) -> dict:
    """The config as a dict, without the fields a run fills in itself (the tokenizer's vocabulary size) and with
    train.precision as the run decides it on this machine ("auto" becomes "bf16" or "fp32")."""
    from pirlib.training.runtime import resolved_precision

    data = to_dict(config)
    data["text"].pop("vocab_size", None)
    data["train"]["precision"] = resolved_precision(config.train)
    return data


def finished_run_matches(config: Config, out_dir: str | os.PathLike) -> bool:
    """True when `out_dir` holds a finished run (eval.json) trained with the same config and the same inputs."""
    out_dir = Path(out_dir)
    files = [out_dir / name for name in ("eval.json", "config.yaml", INPUTS_FILE)]
    if not all(path.is_file() for path in files):
        return False
    if comparable_config(load_config(out_dir / "config.yaml")) != comparable_config(config):
        return False
    try:
        return json.loads((out_dir / INPUTS_FILE).read_text()) == run_inputs(config)
    except ConfigError:  # the scene prior it needs does not exist (yet)
        return False


def evaluation_steps(config: Config, evaluations: int) -> list[int]:
    """The step counts at which a run with `evaluations` evaluation points stops to evaluate (the last is the end)."""
    from pirlib.data import load_index, split_train_validation

    index = load_index(config.data.root)
    train_ids, _ = split_train_validation(index, config.data.validation_fraction, seed_of(config.train, "split"))
    pairs = sum(len(index.images[i].captions) for i in train_ids)
    total = config.train.epochs * (pairs // config.train.batch_size)
    total = min(total, config.train.max_steps or total)
    return sorted({max(1, round(total * k / evaluations)) for k in range(1, evaluations + 1)})


def run_or_load(spec: RunSpec) -> dict:
    """Train `spec` into its run directory in one `fit` (evaluating at `spec.evaluations` points on the way), or read
    the results of a finished run with the same config and inputs; returns the eval.json dict."""
    from pirlib.training import fit

    config, out_dir = spec.config, Path(spec.out_dir)
    if finished_run_matches(config, out_dir):
        return json.loads((out_dir / "eval.json").read_text())
    inputs, inputs_path = run_inputs(config), out_dir / INPUTS_FILE
    if inputs_path.is_file() and json.loads(inputs_path.read_text()) != inputs:
        raise ConfigError(
            f"{out_dir} holds a run trained on other inputs (dataset or scene prior); delete it, or point runs_dir "
            f"somewhere else"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(inputs_path, inputs)
    planned = evaluation_steps(config, spec.evaluations)[:-1]
    try:
        return fit(config, out_dir, config.train.max_steps, resume=True, select_at_stop=True, evaluate_at=planned)
    except ConfigError as error:
        if "cannot resume" not in str(error):
            raise
        raise ConfigError(f"{error}. To train anew, delete {out_dir} or point runs_dir somewhere else") from error


def prior_or_load(spec: PriorSpec) -> dict:
    """Pretrain the scene prior into `spec.out_path`, or read its metrics when that file was made with the same
    settings from the same dataset (and scene corpus)."""
    from pirlib.data.synthrs.corpus import CORPUS_FILE
    from pirlib.training.prior import pretrain_scene_prior
    from pirlib.training.runtime import resolved_precision

    settings = {
        "prior_training": to_dict(spec.config)["prior_training"],
        "seed": spec.config.prior_training.seed
        if spec.config.prior_training.seed is not None
        else spec.config.train.seed,
        "prior": to_dict(spec.config)["prior"],
        "image_size": spec.config.vision.image_size,
        "augment": spec.config.data.augment,
        "precision": resolved_precision(spec.config.train),
        "dataset_sha256": file_sha256(Path(spec.data_root) / "dataset.json"),
        "corpus_sha256": None if spec.corpus_root is None else file_sha256(Path(spec.corpus_root) / CORPUS_FILE),
    }
    metrics_path = Path(spec.out_path).with_suffix(".json")
    if Path(spec.out_path).is_file() and metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
        if {key: metrics.get(key) for key in settings} == settings:
            return metrics
    metrics = pretrain_scene_prior(spec.config, spec.data_root, spec.out_path, corpus_root=spec.corpus_root, log=print)
    metrics.update(settings)
    atomic_write_json(metrics_path, metrics)
    return metrics


def load_test_embeddings(
    run_dir: str | os.PathLike,
    device: str = "cpu",
    data_root: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
):
    """(image embeddings [n_images, D], caption embeddings [n_captions, D]) of the run's selected checkpoint on the
    test split of its own dataset or of `data_root`, cached in `cache` (default run_dir/test_embeddings.safetensors)
    next to the checkpoint's SHA-256 (and the dataset index's, for `data_root`) and the seconds the embedding took
    (`embedding_seconds`)."""
    from safetensors.torch import load_file, save_file

    from pirlib.data.format import INDEX_FILE
    from pirlib.evaluation import embed_retrieval_set, find_checkpoint, load_for_evaluation

    path = Path(cache) if cache is not None else Path(run_dir) / EMBEDDINGS_FILE
    identity = {"checkpoint_sha256": file_sha256(find_checkpoint(run_dir) / "model.safetensors")}
    if data_root is not None:
        identity["data_index_sha256"] = file_sha256(Path(data_root) / INDEX_FILE)
    if path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
        if all(metadata.get(key) == value for key, value in identity.items()):
            tensors = load_file(str(path))
            return tensors["image"], tensors["text"]
    start = time.perf_counter()
    model, config, tokenizer, dataset, _ = load_for_evaluation(run_dir, data_root, "test", device)
    image, text = embed_retrieval_set(model, dataset, tokenizer, config, device)
    metadata = {**identity, "seconds": f"{time.perf_counter() - start:.3f}"}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file({"image": image, "text": text}, tmp, metadata=metadata))
    return image, text


def embedding_seconds(cache: str | os.PathLike) -> float | None:
    """The seconds `load_test_embeddings` took to make the embeddings cached in `cache` (model loading included), or
    None for a cache written without them."""
    from safetensors import safe_open

    with safe_open(str(cache), "pt") as handle:
        seconds = (handle.metadata() or {}).get("seconds")
    return None if seconds is None else float(seconds)


def load_history(run_dir: str | os.PathLike) -> pd.DataFrame:
    """The run's evaluation records (metrics.jsonl) as a flat frame: step, train_loss, validation_mR, test_mR..."""
    records = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line]
    rows = []
    for record in records:
        row = {"step": record["step"], "epoch_progress": record["epoch_progress"]}
        row.update({f"train_{name}": value for name, value in record["train"].items()})
        for split in ("validation", "test"):
            row.update({f"{split}_{key}": value for key, value in (record.get(split) or {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def write_manifest(specs: Sequence[RunSpec], path: str | os.PathLike) -> None:
    """{variant: [run directories]} of a study, for the notebooks that read its runs (04, 05)."""
    manifest: dict[str, list[str]] = {}
    for spec in specs:
        manifest.setdefault(spec.variant, []).append(str(spec.out_dir))
    atomic_write_json(Path(path), manifest)


def read_manifest(path: str | os.PathLike) -> dict[str, list[Path]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no study manifest; run notebook 03 (it trains the runs and writes it)")

    def located(run: str) -> Path:  # as written (relative to where the study ran), or found beside the manifest
        beside = path.parent / Path(run).name
        return beside if not Path(run).exists() and beside.exists() else Path(run)

    return {variant: [located(p) for p in dirs] for variant, dirs in json.loads(path.read_text()).items()}
