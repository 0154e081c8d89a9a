"""The generated summaries of notebooks 04 and 05 (Markdown, from the tables the notebooks display), the paper's gains
computed from its Table 1, and the one-line account of a retrieval gallery.

Every verdict in a summary is one the tables carry (`pirlib.tutorial.claims`: paired intervals and `claim_verdict`);
a summary states means, intervals and verdicts, never a direction an interval does not support.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pirlib.tutorial.stats import format_mean_std


def paper_gains(paper: pd.DataFrame, method: str, references: Sequence[str], measure: str = "mR") -> pd.DataFrame:
    """From the paper's Table 1 (`paper`: index (dataset, method), one column per metric): `method` − each reference
    on `measure` per dataset, in points and relative to the reference (%), the form of the paper's stated gains."""
    rows = {}
    for dataset in paper.index.get_level_values(0).unique():
        value = paper.loc[(dataset, method), measure]
        for reference in references:
            base = paper.loc[(dataset, reference), measure]
            rows[(dataset, reference)] = {
                f"{method}: {measure}": value,
                f"reference: {measure}": base,
                f"difference in {measure}": value - base,
                "relative gain (%)": 100 * (value - base) / base,
            }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["dataset", f"{method} against"]
    return table


def gallery_hits(correct: Sequence[Sequence[bool]], match: str) -> str:
    """How many of a gallery's retrieved items are matches (`match`: what a match is, e.g. "the caption's own image"),
    and how many queries have one; says so plainly when no query has any."""
    hits = [int(np.sum(row)) for row in correct]
    shown, found = sum(len(row) for row in correct), sum(hit > 0 for hit in hits)
    if not found:
        top = max(len(row) for row in correct)
        return f"none of the {shown} retrieved items is {match}: no query of this gallery finds it in its top {top}"
    verb, finds = ("is" if sum(hits) == 1 else "are"), ("finds" if found == 1 else "find")
    return f"{sum(hits)} of the {shown} retrieved items {verb} {match}; {found} of {len(correct)} queries {finds} one"


def _interval(row: Mapping, digits: int = 2, unit: str = "") -> str:
    """'+1.23 mR, 95% CI [low, high] (design; detectable d)' of a comparison row (`power.paired_evidence` columns,
    or `power.paired_comparison`'s, whose design is paired by seed)."""
    seeds = int(row["seeds"])
    design = row.get("design", f"paired, {seeds} seed{'s' if seeds != 1 else ''}")
    unit = f" {unit}" if unit else ""
    if np.isnan(row["95% CI low"]):
        return f"{row['difference']:+.{digits}f}{unit} (no interval: {design})"
    low, high = row["95% CI low"], row["95% CI high"]
    return (f"{row['difference']:+.{digits}f}{unit}, 95% CI [{low:+.{digits}f}, {high:+.{digits}f}] "
            f"({design}; detectable {row['detectable']:.{digits}f})")  # fmt: skip


def comparison_lines(table: pd.DataFrame, unit: str = "mR", digits: int = 2) -> list[str]:
    """One Markdown list item per row of a comparison table (`claims.comparison_table`, `power.paired_comparison`):
    difference, interval, design, verdict."""
    return [f"- {name}: {_interval(row, digits, unit)}: **{row['verdict']}**." for name, row in table.iterrows()]


def retrieval_summary(
    test_mR: Mapping[str, Sequence[float]],
    differences: pd.DataFrame,
    gains: pd.DataFrame,
    levels: pd.DataFrame | None = None,
    vir: pd.DataFrame | None = None,
    ablations: pd.DataFrame | None = None,
) -> str:
    """Notebook 04's summary: test mR per model (`test_mR`: {label: values over seeds}), the paper's gains (`gains`
    of `paper_gains`), this run's paired differences (`differences`), what the top-1 image of a caption gets right
    (`levels`), VIR against the ground truth (`vir`: trained − untrained, a comparison table) and the recorded
    ablations (`ablations`, a comparison table)."""
    lines = ["- **The table** (test mR, mean ± std over seeds): "
             + "; ".join(f"{label} {format_mean_std(values)}" for label, values in test_mR.items()) + "."]  # fmt: skip
    gain_text = "; ".join(
        f"{dataset}, against {reference}: {row['difference in mR']:+.2f} mR ({row['relative gain (%)']:+.1f} %)"
        for (dataset, reference), row in gains.iterrows()
    )
    lines.append(f"- **The paper's gains** (Table 1): {gain_text}. Its values are not comparable with this run's "
                 "(real benchmarks, the full model, 50 epochs), and they come without seed spread.")  # fmt: skip
    lines.append("- **This run** (differences of test mR; the verdict is what the interval allows):")
    lines += ["  " + line for line in comparison_lines(differences)]
    if levels is not None:
        for label, row in levels.iterrows():
            lines.append(f"- **{label}, top-1 image of a caption** (mean ± std over seeds, %): "
                         + ", ".join(f"{column} {value}" for column, value in row.items()) + ".")  # fmt: skip
    if vir is not None:
        lines.append("- **VIR against the ground truth** (trained − untrained PIR, paired by seed):")
        lines += ["  " + line for line in comparison_lines(vir, unit="", digits=3)]
    if ablations is not None:
        lines.append("- **Single-module ablations** (recorded study, test mR):")
        lines += ["  " + line for line in comparison_lines(ablations)]
    return "\n".join(lines)


def subspace_summary(table: pd.DataFrame, comparisons: pd.DataFrame, columns: Sequence[str]) -> str:
    """Notebook 05's summary: for each metric of `columns`, every model's mean ± std (`table`: models × metrics,
    'mean ± std' strings) and the paired comparisons of that metric (`comparisons`: index (metric, A − B), the
    columns of `pirlib.tutorial.claims.comparison_table`)."""
    lines = ["- Each difference is taken so that a positive value means the first model is the better one (B − A for a "
             "metric where lower is better), paired by seed."]  # fmt: skip
    for column in columns:
        if column not in table.columns:
            continue
        line = f"- **{column}:** " + "; ".join(f"{model} {table.loc[model, column]}" for model in table.index) + "."
        if column in comparisons.index.get_level_values(0):
            verdicts = comparisons.loc[column]
            line += " " + "; ".join(f"{name}: {_interval(row, 3)}: **{row['verdict']}**"
                                    for name, row in verdicts.iterrows()) + "."  # fmt: skip
        lines.append(line)
    lines.append("- The UMAP maps show the same embeddings for looking; the conclusions rest on the table over seeds.")
    return "\n".join(lines)
