"""Result tables of the notebooks: per-seed and mean ± std tables of a study's test metrics, written to `results/`
as CSV and Markdown from the same frame (`save_table`), atomically, so the two never disagree.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from pirlib.io import atomic_write_text
from pirlib.markdown import markdown_table
from pirlib.metrics import METRIC_KEYS
from pirlib.tutorial.runs import VARIANT_LABELS
from pirlib.tutorial.stats import format_mean_std


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


def summary_table(results: dict[str, list[dict]], keys: Sequence[str] = METRIC_KEYS) -> pd.DataFrame:
    """Mean ± std over seeds of each variant's test metrics: one row per variant, 'mean ± std' strings."""
    rows = {}
    for variant, runs in results.items():
        row = {}
        for key in keys:
            row[key] = format_mean_std([selected_test_metrics(run)[key] for run in runs])
        row["seeds"] = len(runs)
        rows[VARIANT_LABELS.get(variant, variant)] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model (SynthRS test)")


def save_table(
    frame: pd.DataFrame,
    directory: str | os.PathLike,
    name: str,
    float_format: str = ".2f",
    index: bool = True,
    title: str | None = None,
) -> tuple[Path, Path]:
    """Write `directory/name.csv` and `directory/name.md` (with an optional `# title` line); returns both paths."""
    if not name or Path(name).name != name or Path(name).suffix:
        raise ValueError(f"save_table: name '{name}' must be a bare file stem such as '01_datasheet'")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, markdown_path = directory / f"{name}.csv", directory / f"{name}.md"
    atomic_write_text(csv_path, frame.to_csv(index=index))
    heading = f"# {title}\n\n" if title else ""
    atomic_write_text(markdown_path, heading + markdown_table(frame, float_format, index))
    return csv_path, markdown_path
