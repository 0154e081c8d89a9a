"""Regression checks of a training study that hold on any machine, and an exact check on the machine that made the
reference.

Trained numbers depend on the CPU's floating-point kernels (bf16, BLAS and oneDNN give other bits on another CPU, and
training amplifies them), so they cannot be compared exactly across machines. Instead:

- `study_checks` tests what must hold anywhere: every model beats chance by a wide margin, every run's learning
  curve rises, and each model's mean test mR lies within a tolerance band around the committed reference
  (`BAND_STDS` seed standard deviations of the reference, at least `BAND_FLOOR` mR — the band is wide enough for a
  run on another kernel path, measured as documented in notebooks/README.md, and narrow enough to catch a broken
  training, e.g. a learning rate of 0).
- `exact_check` compares every run's test metrics bit for bit with the reference, but only when the study (its
  configs and dataset) and the machine (`machine_fingerprint`: CPU model and flags, torch version, kernel-path
  variables) are those that wrote the reference; elsewhere it says it does not apply.

The reference (`notebooks/reference/03_training.json`) is written from a finished default study by `make reference`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pirlib.metrics import METRIC_KEYS
from pirlib.tutorial.runs import INPUTS_FILE, VARIANT_LABELS, comparable_config, read_manifest
from pirlib.tutorial.stats import mean_std

BAND_STDS = 3.0  # half-width of the band around the reference mean, in reference seed standard deviations
BAND_FLOOR = 3.0  # smallest half-width of the band (mR points): three seeds estimate a std poorly, and one run moved
# by up to 3.3 mR on another kernel path (notebooks/README.md)
CHANCE_FACTOR = 3.0  # a trained model's mean test mR must be at least this many times chance
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS")


def machine_fingerprint() -> dict[str, str]:
    """What decides the bits of a CPU training run here: CPU model and instruction-set flags, torch version, and the
    variables that choose PyTorch's kernel paths."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = " ".join(sorted(value.split()))
    except OSError:
        pass
    fingerprint = {
        "cpu": model,
        "cpu_flags_sha256": hashlib.sha256(flags.encode()).hexdigest()[:16],
        "torch": torch.__version__,
    }
    fingerprint.update({name: os.environ.get(name, "") for name in KERNEL_VARIABLES})
    return fingerprint


# Raised with every change of the code that changes the bits a run trains to on some machine (the last: rank & filter
# orders tokens by float32 belief logits under bf16 autocast), so that a reference written before no longer applies.
TRAINING_NUMERICS_VERSION = 2


def study_digest(run_dirs: Sequence[Path]) -> str:
    """SHA-256 over the training code's numerics version and the runs' stored configs and dataset hashes: equal digests
    mean the same study (wherever the checkout lies and whichever precision the machine chose)."""
    from pirlib.config import load_config

    digest = hashlib.sha256(f"training numerics {TRAINING_NUMERICS_VERSION}".encode())
    for run_dir in sorted(Path(d) for d in run_dirs):
        config = comparable_config(load_config(run_dir / "config.yaml"))
        config["data"].pop("root"), config["prior"].pop("checkpoint")  # checkout paths; the dataset's hash counts
        config["train"].pop("precision")  # chosen by the machine ("auto"); the machine fingerprint covers it
        dataset = json.loads((run_dir / INPUTS_FILE).read_text())["dataset.json"]
        digest.update(json.dumps([run_dir.name, config, dataset], sort_keys=True).encode())
    return digest.hexdigest()


def run_inputs_of(manifest: dict[str, list[Path]]) -> dict[str, dict]:
    """{run name: its inputs.json} (the SHA-256 of the dataset description and of the scene prior it trained with):
    a prior pretrained with other bits (another thread count, another CPU) makes other runs from the same configs."""
    return {run.name: json.loads((run / INPUTS_FILE).read_text()) for runs in manifest.values() for run in runs}


def _run_metrics(runs_dir: Path) -> tuple[dict[str, list[Path]], dict[str, dict[str, float]]]:
    manifest = read_manifest(runs_dir / "manifest.json")
    metrics = {
        run.name: json.loads((run / "eval.json").read_text())["test"] for runs in manifest.values() for run in runs
    }
    return manifest, metrics


def write_reference(runs_dir: str | os.PathLike, path: str | os.PathLike) -> dict:
    """Write the reference of a finished study (notebook 03's `runs_dir`): per-run test metrics, per-model mean and
    std of mR, the study digest, each run's inputs (the SHA-256 of its dataset and scene prior) and this machine's
    fingerprint."""
    from pirlib.io import atomic_write_json

    manifest, metrics = _run_metrics(Path(runs_dir))
    reference = {
        "written": date.today().isoformat(),
        "machine": machine_fingerprint(),
        "study": study_digest([run for runs in manifest.values() for run in runs]),
        "inputs": run_inputs_of(manifest),
        "models": {
            variant: dict(zip(("mean", "std"), mean_std([metrics[run.name]["mR"] for run in runs]), strict=True))
            for variant, runs in manifest.items()
        },
        "runs": metrics,
    }
    atomic_write_json(Path(path), reference)
    return reference


def chance_mR(num_images: int, captions_per_image: int) -> float:
    """Expected mR of a random ranking with `captions_per_image` captions per image (R@K of i2t: any of the image's
    captions among K random captions; of t2i: the one image among K random images)."""
    captions = num_images * captions_per_image
    image_to_text = [
        1 - np.prod([(captions - captions_per_image - j) / (captions - j) for j in range(k)]) for k in (1, 5, 10)
    ]
    text_to_image = [k / num_images for k in (1, 5, 10)]
    return float(100 * np.mean(image_to_text + text_to_image))


def study_checks(
    test_mR: dict[str, list[float]],
    curves: dict[str, list[Sequence[float]]],
    reference: dict | None,
    chance: float,
) -> pd.DataFrame:
    """The machine-independent checks of a study: one row per check with the measured value, the requirement and
    whether it holds. `test_mR`: {variant: [selected test mR per seed]}; `curves`: {variant: [test mR at each
    evaluation point, per run]}; `reference`: `write_reference`'s dict (None: no band check)."""
    rows = []
    for variant, values in test_mR.items():
        label = VARIANT_LABELS.get(variant, variant)
        mean = float(np.mean(values))
        floor = CHANCE_FACTOR * chance
        wanted = f"mean mR ≥ {CHANCE_FACTOR:g} × chance = {floor:.2f}"
        rows.append((f"{label}: beats chance", mean, wanted, mean >= floor))
        rising = [len(curve) < 2 or curve[-1] > curve[0] for curve in curves.get(variant, [])]
        rows.append(
            (f"{label}: learning curves rise", float(sum(rising)), f"all {len(rising)} runs end above their start",
             all(rising))
        )  # fmt: skip
        model = (reference or {}).get("models", {}).get(variant)
        if model is not None:
            half = max(BAND_STDS * model["std"], BAND_FLOOR)
            low, high = model["mean"] - half, model["mean"] + half
            rows.append((f"{label}: mR in the reference band", mean, f"[{low:.2f}, {high:.2f}]", low <= mean <= high))
    return pd.DataFrame(rows, columns=["check", "value", "requirement", "passed"]).set_index("check")


def assert_checks(checks: pd.DataFrame) -> None:
    """Raise AssertionError naming every failed check."""
    failed = checks[~checks["passed"]]
    if len(failed):
        lines = [f"{name}: {row.value:.2f} (wanted {row.requirement})" for name, row in failed.iterrows()]
        raise AssertionError("study checks failed:\n" + "\n".join(lines))


def exact_check(reference_path: str | os.PathLike, runs_dir: str | os.PathLike) -> str:
    """Compare every run's test metrics with the reference bit for bit when this study and this machine are the
    reference's; raise AssertionError on a difference. Returns a one-line account of what was compared."""
    reference_path = Path(reference_path)
    if not reference_path.is_file():
        return f"exact check: no reference at {reference_path.name} (write one with `make reference`)"
    reference = json.loads(reference_path.read_text())
    manifest, metrics = _run_metrics(Path(runs_dir))
    if study_digest([run for runs in manifest.values() for run in runs]) != reference["study"]:
        return "exact check: not applicable (the study's configs, dataset or training code differ from the reference)"
    if "inputs" not in reference:
        return (
            "exact check: not applicable (the reference does not record the runs' scene prior; renew it with "
            "`make reference` after `make reproduce`)"
        )
    if run_inputs_of(manifest) != reference["inputs"]:
        return "exact check: not applicable (the runs' scene prior or dataset differ from the reference's)"
    here = machine_fingerprint()
    if here != reference["machine"]:
        differing = ", ".join(key for key in here if here[key] != reference["machine"].get(key))
        return f"exact check: not applicable on this machine (differs from the reference's in {differing})"
    differences = [
        f"{run} {key}: {metrics[run][key]} vs reference {reference['runs'][run][key]}"
        for run in reference["runs"]
        for key in METRIC_KEYS
        if metrics.get(run, {}).get(key) != reference["runs"][run][key]
    ]
    if differences:
        raise AssertionError("exact check failed on the reference machine:\n" + "\n".join(differences))
    return f"exact check: all {len(reference['runs'])} runs equal the reference bit for bit (same machine, same study)"
