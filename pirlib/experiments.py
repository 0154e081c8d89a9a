"""Experiment orchestration for the tutorial (paper §4.2 Table 1 and §4.3 ablations, on the tiny profile): the
baseline and ablations of PIR as config overrides, the scene-prior pretraining, multi-seed runs trained in parallel
single-threaded processes (bitwise deterministic whatever the scheduling) and loaded instead of retrained when a
finished run with the same config and the same inputs exists, cached test embeddings, and mean ± std tables.

Variants (flags of the same model):
    baseline            Swin + BERT, projected token 0, contrastive loss only (the paper's VSE₂ (CL) row)
    pir                 VIR + LCA, contrastive + affiliation loss (the full method)
    pir_no_affiliation  VIR + LCA, contrastive loss only
    pir_no_vir          LCA only (+ affiliation)
    pir_no_lca          VIR only (+ affiliation)

A run directory holds what `pirlib.train.fit` writes (config.yaml, metrics.jsonl, best/, last/, eval.json) plus
`inputs.json` (SHA-256 of the dataset index and of the scene-prior weights it was trained with), `train.log` (its
console output), `progress.json` (the state of its progress bar while it runs, read by `run_many`; see
`pirlib.progress`) and `test_embeddings.safetensors` (the selected checkpoint's test-set embeddings).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from pirlib.checkpoint import atomic_write_bytes, atomic_write_json, file_sha256
from pirlib.config import Config, ConfigError, apply_overrides, load_config, to_dict
from pirlib.progress import STATUS_FILE, StudyProgress, reporting_to

VARIANTS: dict[str, list[str]] = {
    "baseline": ["model.use_vir=false", "model.use_lca=false", "loss.affiliation_weight=0"],
    "pir": [],
    "pir_no_affiliation": ["loss.affiliation_weight=0"],
    "pir_no_vir": ["model.use_vir=false"],
    "pir_no_lca": ["model.use_lca=false"],
}

VARIANT_LABELS = {
    "baseline": "Baseline (Swin+BERT, CL)",
    "pir": "PIR (CL+AL)",
    "pir_no_affiliation": "PIR w/o affiliation loss",
    "pir_no_vir": "PIR w/o VIR",
    "pir_no_lca": "PIR w/o LCA",
}

METRIC_KEYS = ["i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mR"]
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
    """The scene-prior pretraining job (`pirlib.prior_pretraining.pretrain_scene_prior` arguments)."""

    config: Config
    data_root: Path
    out_path: Path
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
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


# --------------------------------------------------------------------------------------------------------------------
# finished runs: same config, same inputs


def run_inputs(config: Config) -> dict[str, str | None]:
    """SHA-256 of the files a run depends on beyond its config: the dataset index and the scene-prior weights."""
    index = Path(config.data.root) / "dataset.json"
    prior = config.prior.checkpoint if config.model.use_vir else None
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
    train_ids, _ = split_train_validation(index, config.data.validation_fraction, config.train.seed)
    pairs = sum(len(index.images[i].captions) for i in train_ids)
    total = config.train.epochs * (pairs // config.train.batch_size)
    total = min(total, config.train.max_steps or total)
    return sorted({max(1, round(total * k / evaluations)) for k in range(1, evaluations + 1)})


def run_or_load(spec: RunSpec) -> dict:
    """Train `spec` into its run directory in one `fit` (evaluating at `spec.evaluations` points on the way), or read
    the results of a finished run with the same config and inputs; returns the eval.json dict."""
    from pirlib.train import fit

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
    from pirlib.prior_pretraining import pretrain_scene_prior
    from pirlib.training.runtime import resolved_precision

    settings = {
        "epochs": spec.epochs,
        "batch_size": spec.batch_size,
        "learning_rate": spec.learning_rate,
        "seed": spec.seed,
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
    metrics = pretrain_scene_prior(
        spec.config, spec.data_root, spec.out_path, spec.epochs, spec.batch_size, spec.learning_rate,
        seed=spec.seed, corpus_root=spec.corpus_root, log=print,
    )  # fmt: skip
    metrics.update(settings)
    atomic_write_json(metrics_path, metrics)
    return metrics


# --------------------------------------------------------------------------------------------------------------------
# parallel, single-threaded workers


@contextlib.contextmanager
def _quiet_single_thread(log_path: Path, status_path: Path) -> Iterator[None]:
    """One job in a worker: one torch thread, console output appended to `log_path`, progress to `status_path`."""
    import torch

    torch.set_num_threads(1)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(log_path, "a") as handle,
        contextlib.redirect_stdout(handle),
        contextlib.redirect_stderr(handle),
        reporting_to(status_path),
    ):
        yield


def _train_job(spec: RunSpec) -> dict:
    with _quiet_single_thread(Path(spec.out_dir) / LOG_FILE, Path(spec.out_dir) / STATUS_FILE):
        result = run_or_load(spec)
        load_test_embeddings(spec.out_dir)
    return result


def _prior_status(spec: PriorSpec) -> Path:
    return Path(spec.out_path).with_suffix(".progress.json")


def _prior_job(spec: PriorSpec) -> dict:
    with _quiet_single_thread(Path(spec.out_path).with_suffix(".log"), _prior_status(spec)):
        return prior_or_load(spec)


def run_many(
    specs: Sequence[RunSpec], prior: PriorSpec | None = None, workers: int = 2, progress: str = "auto"
) -> dict:
    """Run the prior job (if any) and every RunSpec in `workers` spawned processes of one torch thread each.

    Runs with VIR wait for the prior; the others start at once. Each job is deterministic on its own, so results do
    not depend on `workers` or on the scheduling. Returns {"prior": metrics or None, "runs": [eval.json dicts in the
    order of `specs`]}; a failed job raises with its run directory (its train.log holds the console output).
    `progress` ("auto", "bar", "lines", "off"; `pirlib.progress`) shows the finished jobs and each running job's
    progress, read every second from the status files the workers write."""
    if workers < 1:
        raise ValueError(f"run_many: workers={workers}; use at least 1 process")
    cost = {"baseline": 1.0, "pir_no_vir": 1.2}  # rough relative step costs: start the long runs first
    order = sorted(range(len(specs)), key=lambda i: -cost.get(specs[i].variant, 2.0))
    waiting = [i for i in order if specs[i].config.model.use_vir and prior is not None]
    ready = [i for i in order if i not in waiting]
    results: list[dict | None] = [None] * len(specs)
    prior_metrics = None

    def job(position: int | None) -> tuple[str, Path]:  # (name, status file) of the prior (None) or a run
        if position is None:
            return "scene prior", _prior_status(prior)
        return Path(specs[position].out_dir).name, Path(specs[position].out_dir) / STATUS_FILE

    shown = StudyProgress(len(specs) + (prior is not None), progress, description="jobs finished")
    running: dict[Future, int | None] = {}

    def submit(pool: ProcessPoolExecutor, position: int | None) -> None:
        job(position)[1].unlink(missing_ok=True)  # a status file left by an earlier session
        function, argument = (_prior_job, prior) if position is None else (_train_job, specs[position])
        running[pool.submit(function, argument)] = position

    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for position in ([None] if prior is not None else []) + ready:
            submit(pool, position)
        while running:
            done, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                position = running.pop(future)
                where = prior.out_path if position is None else specs[position].out_dir
                try:
                    value = future.result()
                except Exception as error:
                    shown.close()
                    raise RuntimeError(f"job {where} failed: {error} (see its log file)") from error
                shown.job_done(job(position)[0])
                if position is None:
                    prior_metrics = value
                    for later in waiting:
                        submit(pool, later)
                else:
                    results[position] = value
            shown.show(dict(job(position) for future, position in running.items() if future.running()))
    shown.close()
    return {"prior": prior_metrics, "runs": results}


# --------------------------------------------------------------------------------------------------------------------
# embeddings and histories of finished runs


def load_test_embeddings(run_dir: str | os.PathLike, device: str = "cpu"):
    """(image embeddings [n_images, D], caption embeddings [n_captions, D]) of the run's selected checkpoint on the
    test split, cached in run_dir/test_embeddings.safetensors next to the checkpoint's SHA-256."""
    from safetensors.torch import load_file, save_file

    from pirlib.evaluation import embed_retrieval_set, find_checkpoint, load_for_evaluation

    run_dir = Path(run_dir)
    path = run_dir / EMBEDDINGS_FILE
    checkpoint_sha = file_sha256(find_checkpoint(run_dir) / "model.safetensors")
    if path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), "pt") as handle:
            if (handle.metadata() or {}).get("checkpoint_sha256") == checkpoint_sha:
                tensors = load_file(str(path))
                return tensors["image"], tensors["text"]
    model, config, tokenizer, dataset, _ = load_for_evaluation(run_dir, None, "test", device)
    image, text = embed_retrieval_set(model, dataset, tokenizer, config, device)
    metadata = {"checkpoint_sha256": checkpoint_sha}
    atomic_write_bytes(path, lambda tmp: save_file({"image": image, "text": text}, tmp, metadata=metadata))
    return image, text


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


# --------------------------------------------------------------------------------------------------------------------
# tables


def selected_test_metrics(result: dict) -> dict:
    """The selected checkpoint's test metrics from an eval.json dict."""
    return result["test"]


def per_seed_table(results: dict[str, list[dict]], seeds: dict[str, Sequence[int]]) -> pd.DataFrame:
    """One row per (variant, seed): the selected checkpoint's test metrics, the step it was selected at, and the
    official protocol's optimistic figure (the best test mR over all evaluations)."""
    rows = []
    for variant, runs in results.items():
        for seed, run in zip(seeds[variant], runs, strict=True):
            row = {"variant": VARIANT_LABELS.get(variant, variant), "seed": seed, **selected_test_metrics(run)}
            row["selected at step"] = run["selection"]["step"]
            row["best test mR (official protocol)"] = run["official_protocol"]["test"]["mR"]
            rows.append(row)
    columns = [*METRIC_KEYS, "selected at step", "best test mR (official protocol)"]
    return pd.DataFrame(rows).set_index(["variant", "seed"])[columns]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    frame = pd.Series(list(values), dtype=float)
    return float(frame.mean()), float(frame.std(ddof=1)) if len(frame) > 1 else 0.0


def summary_table(results: dict[str, list[dict]], keys: list[str] = METRIC_KEYS) -> pd.DataFrame:
    """Mean ± std over seeds of each variant's test metrics: one row per variant, 'mean ± std' strings."""
    rows = {}
    for variant, runs in results.items():
        row = {}
        for key in keys:
            mean, std = mean_std([selected_test_metrics(run)[key] for run in runs])
            row[key] = f"{mean:.2f} ± {std:.2f}"
        row["seeds"] = len(runs)
        rows[VARIANT_LABELS.get(variant, variant)] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model (SynthRS test)")


def difference_interval(
    samples: Sequence[float], reference: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """(mean(samples) − mean(reference), low, high): a Welch t-interval for the difference of two means over
    independent seeds (unequal variances, Welch–Satterthwaite degrees of freedom). Needs ≥ 2 values on each side;
    with zero spread on both sides the interval is the point difference."""
    from scipy import stats

    a, b = np.asarray(samples, dtype=float), np.asarray(reference, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("difference_interval: needs at least 2 seeds on each side")
    difference = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return difference, difference, difference
    freedom = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, freedom) * np.sqrt(va + vb))
    return difference, difference - half, difference + half


def verdict(low: float, high: float, higher_is_better: bool = True) -> str:
    """ "better" / "worse" when the interval excludes zero, else "cannot decide"."""
    if low > 0 or high < 0:
        return "better" if (low > 0) == higher_is_better else "worse"
    return "cannot decide"


def compare(values: dict[str, Sequence[float]], reference: str, higher_is_better: bool = True) -> pd.DataFrame:
    """Each entry against `reference`: mean, std, the difference of means (entry − reference), its 95 % Welch
    t-interval over seeds (`difference_interval`) and a verdict: "better" or "worse" only when the interval excludes
    zero, "cannot decide" otherwise, "one seed: no claim" when either side has a single seed."""
    reference_values = values[reference]
    rows = {}
    for name, samples in values.items():
        if name == reference:
            continue
        mean, std = mean_std(samples)
        if len(samples) < 2 or len(reference_values) < 2:
            difference, low, high = mean - mean_std(reference_values)[0], math.nan, math.nan
            decided = "one seed: no claim"
        else:
            difference, low, high = difference_interval(samples, reference_values)
            decided = verdict(low, high, higher_is_better)
        rows[name] = {
            "mean": mean,
            "std": std,
            "difference": difference,
            "95% CI low": low,
            "95% CI high": high,
            "verdict": decided,
        }
    return pd.DataFrame.from_dict(rows, orient="index")
