"""Tables and figures of the recorded studies (`pirlib.studies`, files in docs/studies/), for notebook 03."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pirlib.experiments import VARIANT_LABELS, difference_interval, mean_std, verdict


def recorded(path: str | os.PathLike) -> dict | None:
    """A recorded study's dict, or None when the file does not exist."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


def _test_mR(runs: dict, variant: str) -> list[float]:
    return [run["test"]["mR"] for run in runs.values() if run["variant"] == variant]


def _difference(values: list[float], reference: list[float], reference_name: str) -> dict:
    difference, low, high = difference_interval(values, reference)
    return {"compared with": reference_name, "difference in mR": difference, "95% CI low": low, "95% CI high": high,
            "verdict": verdict(low, high)}  # fmt: skip


def plateau_table(record: dict) -> pd.DataFrame:
    """Per model: test mR at the default budget and at the doubled one (mean ± std over seeds), the change with its
    95 % Welch t-interval, and whether |change| is below the default budget's seed standard deviation."""
    rows = {}
    variants = dict.fromkeys(run["variant"] for run in record["runs"].values())
    for variant in variants:
        default, doubled = _test_mR(record["default_runs"], variant), _test_mR(record["runs"], variant)
        (mean_1, std_1), (mean_2, std_2) = mean_std(default), mean_std(doubled)
        change, low, high = difference_interval(doubled, default)
        rows[VARIANT_LABELS.get(variant, variant)] = {
            "default budget mR": f"{mean_1:.2f} ± {std_1:.2f}",
            f"{record.get('budget_factor', 2)}× budget mR": f"{mean_2:.2f} ± {std_2:.2f}",
            "change in mR": change,
            "95% CI low": low,
            "95% CI high": high,
            "seed std (default)": std_1,
            "|change| < seed std": abs(change) < std_1,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def prior_quality_table(record: dict) -> tuple[pd.DataFrame, plt.Figure]:
    """PIR's test mR with each prior against the prior's accuracy; each prior's PIR against the baseline, and the
    corpus prior's PIR against the in-set prior's ("difference in mR" = the row's mR − "compared with", its 95 %
    Welch t-interval over seeds and the verdict); and a figure of every seed's mR against its prior's accuracy."""
    baseline = _test_mR(record["default_runs"], "baseline")
    with_prior = {"corpus": _test_mR(record["default_runs"], "pir"), "in-set": _test_mR(record["runs"], "pir")}
    rows = {}
    for name, values in with_prior.items():
        prior = record["priors"][name]
        rows[f"{name} prior"] = {
            "prior accuracy (%)": prior["accuracy"],
            "prior training images": prior["train_images"],
            "PIR mR": "{:.2f} ± {:.2f}".format(*mean_std(values)),
            **_difference(values, baseline, "baseline"),
        }
    rows["corpus − in-set prior"] = _difference(with_prior["corpus"], with_prior["in-set"], "PIR, in-set prior")
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("PIR with")

    figure, axis = plt.subplots(figsize=(5.6, 3.8))
    base_mean, base_std = mean_std(baseline)
    axis.axhspan(base_mean - base_std, base_mean + base_std, color="grey", alpha=0.2, linewidth=0)
    axis.axhline(base_mean, color="grey", linewidth=1, label="baseline (mean ± std)")
    for name, values in with_prior.items():
        accuracy = record["priors"][name]["accuracy"]
        axis.scatter([accuracy] * len(values), values, label=f"PIR, {name} prior (each seed)", zorder=3)
        axis.errorbar(accuracy, np.mean(values), yerr=np.std(values, ddof=1), color="black", capsize=4, zorder=4)
    axis.set_xlabel("scene-prior test accuracy (%)")
    axis.set_ylabel("test mR")
    axis.set_title("PIR against the quality of its scene prior (recorded study)", fontsize=10)
    axis.legend(frameon=False, fontsize=8)
    axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return table, figure
