"""The summary of notebook 03, written from its tables: the scene prior, each model's test mR, this run's paired
comparisons with their verdicts, the learning curves, and the recorded studies' findings, labelled as recorded."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pirlib.tutorial.runs import VARIANT_LABELS
from pirlib.tutorial.stats import format_mean_std
from pirlib.tutorial.study_summaries import noise_sweep_finding


def interval_text(row: pd.Series, difference: str = "difference") -> str:
    """'+1.23 mR, 95% CI [low, high]: verdict' of a comparison row (a `power.paired_comparison` row)."""
    return f"{row[difference]:+.2f} mR, 95% CI [{row['95% CI low']:.2f}, {row['95% CI high']:.2f}]: {row['verdict']}"


def recorded_label(record: dict) -> str:
    """'recorded: <machine>, <date>' of a recorded study."""
    return f"recorded: {record['machine']['cpu']}, {record['date']}"


def training_summary(
    prior: dict | None,
    mR: dict[str, Sequence[float]],
    comparison: pd.DataFrame,
    curves: dict[str, list[list[float]]],
    chance: float,
    budget: str,
    plateau: pd.DataFrame | None = None,
    quality: pd.DataFrame | None = None,
    decisive: tuple[dict, pd.DataFrame] | None = None,
    noise: tuple[dict, pd.DataFrame] | None = None,
) -> str:
    """Markdown bullet lines. `prior`: {"accuracy", "group accuracy", "epochs", "source"} or None (given prior);
    `mR`: this run's test mR per variant; `comparison`: `power.paired_comparison` of this run; `curves`: each run's
    test-mR curve per variant; `budget`: the training budget in words; `plateau`: `study_summaries.plateau_table`;
    `quality`: `study_summaries.prior_quality_table`; `decisive`: (record, its
    `study_summaries.decisive_tables(record)[1]`); `noise`: (the noise sweep's record, its
    `study_summaries.noise_trend`)."""
    lines = []
    if prior is not None:
        group = (
            f", {prior['group accuracy']:.1f}% at the level of the scene groups" if prior.get("group accuracy") else ""
        )
        lines.append(f"- **The scene prior** reaches {prior['accuracy']:.1f}% test accuracy over the scenes after "
                     f"{prior['epochs']} passes over {prior['source']}{group}.")  # fmt: skip
    seeds = max(len(values) for values in mR.values())
    lines.append(f"- **Retrieval** (test mR, mean ± std over {seeds} seeds, {budget}): "
                 + "; ".join(f"{VARIANT_LABELS[v]} {format_mean_std(values)}" for v, values in mR.items())
                 + f". Chance is {chance:.2f}.")  # fmt: skip
    for name, row in comparison.iterrows():
        detectable = "" if np.isnan(row["detectable"]) else f"; this design detects {row['detectable']:.2f} mR"
        lines.append(f"- {name} (this run, paired by seed): {interval_text(row)}{detectable}.")
    first = {v: np.mean([curve[0] for curve in runs]) for v, runs in curves.items()}
    last = {v: np.mean([curve[-1] for curve in runs]) for v, runs in curves.items()}
    lines.append("- **Learning curves** (mean test mR, first → last evaluation): "
                 + "; ".join(f"{VARIANT_LABELS[v]} {first[v]:.1f} → {last[v]:.1f}" for v in curves) + ".")  # fmt: skip
    if plateau is not None:
        steady = plateau["|change| < seed std"]
        changes = "; ".join(f"{name} {row['change in mR']:+.2f}" for name, row in plateau.iterrows())
        lines.append(f"- **Plateau (recorded study):** doubling the budget changed the test mR by less than the seed "
                     f"std for {int(steady.sum())} of {len(steady)} models ({changes}).")  # fmt: skip
    if quality is not None:
        priors = quality.dropna(subset=["prior accuracy (%)"])
        described = "; ".join(
            f"{name}: prior {row['prior accuracy (%)']:.1f}%, PIR mR {row['PIR mR']}" for name, row in priors.iterrows()
        )
        corpus = quality.loc["corpus − in-set prior"]
        lines.append(f"- **Prior quality (recorded study):** {described}; PIR with the corpus prior − PIR with the "
                     f"in-set prior: {interval_text(corpus, 'difference in mR')}.")  # fmt: skip
    if decisive is not None:
        record, claims = decisive
        lines.append(f"- **The decisive study** ({recorded_label(record)}; paired by seed):")
        lines += [f"  - {claim} ({int(row['seeds'])} seeds): {interval_text(row)}." for claim, row in claims.iterrows()]
    if noise is not None:
        record, trend = noise
        lines.append(f"- **The noise sweep** ({recorded_label(record)}; Welch between the lightest and the heaviest "
                     "level):")  # fmt: skip
        finding = noise_sweep_finding(trend, record.get("complete", True))
        lines += [f"  {line}" if line.startswith("- ") else f"  - {line}" for line in finding.splitlines() if line]
    return "\n".join(lines)
