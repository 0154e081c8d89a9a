"""The generated summaries of notebooks 04 and 05, the paper's gains from Table 1 and the gallery account, on small
fake tables."""

from __future__ import annotations

import pandas as pd
import pytest

from pirlib.tutorial import summaries
from pirlib.tutorial.claims import comparison_table, pair_comparisons


def paper_table() -> pd.DataFrame:
    """Two datasets, three methods, one metric (made-up numbers)."""
    index = pd.MultiIndex.from_product([["A", "B"], ["base", "tel", "pir"]])
    return pd.DataFrame({"mR": [20.0, 22.0, 23.1, 30.0, 32.0, 33.6]}, index=index)


def test_paper_gains_in_points_and_relative():
    gains = summaries.paper_gains(paper_table(), "pir", ["tel", "base"])
    assert list(gains.index) == [("A", "tel"), ("A", "base"), ("B", "tel"), ("B", "base")]
    assert gains.loc[("A", "tel"), "difference in mR"] == pytest.approx(1.1)
    assert gains.loc[("B", "tel"), "relative gain (%)"] == pytest.approx(5.0)
    assert gains.loc[("A", "base"), "reference: mR"] == 20.0


def test_gallery_hits_says_when_nothing_is_found():
    assert summaries.gallery_hits([[False] * 5] * 4, "the caption's own image") == (
        "none of the 20 retrieved items is the caption's own image: no query of this gallery finds it in its top 5"
    )
    assert summaries.gallery_hits([[True, False], [False, False], [True, True]], "a match") == (
        "3 of the 6 retrieved items are a match; 2 of 3 queries find one"
    )
    assert summaries.gallery_hits([[True, False], [False, False]], "a match") == (
        "1 of the 4 retrieved items is a match; 1 of 2 queries finds one"
    )


def comparisons() -> pd.DataFrame:
    metrics = {"baseline": {0: {"mR": 10.0}, 1: {"mR": 12.0}, 2: {"mR": 11.0}},
               "pir": {0: {"mR": 10.5}, 1: {"mR": 13.5}, 2: {"mR": 10.0}}}  # fmt: skip
    return comparison_table(metrics, pair_comparisons([("pir", "baseline")]))


def test_retrieval_summary_states_intervals_and_verdicts():
    text = summaries.retrieval_summary(
        {"Baseline": [10.0, 12.0, 11.0], "PIR": [10.5, 13.5, 10.0]},
        comparisons(),
        summaries.paper_gains(paper_table(), "pir", ["tel"]),
        levels=pd.DataFrame({"right scene": ["40.0 ± 1.0"]}, index=["Baseline"]),
    )
    lines = text.splitlines()
    assert lines[0] == "- **The table** (test mR, mean ± std over seeds): Baseline 11.00 ± 1.00; PIR 11.33 ± 1.89."
    assert "A, against tel: +1.10 mR (+5.0 %)" in lines[1]
    assert lines[3].startswith("  - PIR (CL+AL) − Baseline (Swin+BERT, CL): +0.33 mR, 95% CI [")
    assert lines[3].endswith("): **cannot decide**.") and "(paired, 3 seeds; detectable " in lines[3]
    assert lines[4] == "- **Baseline, top-1 image of a caption** (mean ± std over seeds, %): right scene 40.0 ± 1.0."
    assert "direction" not in text


def test_subspace_summary_lists_each_metric_with_its_comparisons():
    table = pd.DataFrame({"purity": ["0.5 ± 0.1", "0.6 ± 0.1"], "gap": ["0.1 ± 0.0", "0.2 ± 0.0"]},
                         index=["Baseline", "PIR"])  # fmt: skip
    rows = comparisons().rename(index=lambda name: ("purity", name))
    rows.index = pd.MultiIndex.from_tuples(rows.index)
    text = summaries.subspace_summary(table, rows, ["purity", "gap", "absent"])
    lines = text.splitlines()[1:]  # after the line on how differences are taken
    assert lines[0].startswith("- **purity:** Baseline 0.5 ± 0.1; PIR 0.6 ± 0.1. PIR (CL+AL) − Baseline")
    assert lines[0].endswith("**cannot decide**.")
    assert lines[1] == "- **gap:** Baseline 0.1 ± 0.0; PIR 0.2 ± 0.0."
    assert len(lines) == 3  # the absent metric is skipped; the UMAP note closes


def test_comparison_lines_read_power_paired_comparison_rows():
    from pirlib.tutorial.power import paired_comparison

    table = paired_comparison({"pir": {0: 12.0, 1: 14.0}, "baseline": {0: 10.0, 1: 11.0}}, [("pir", "baseline")], 2.0)
    (line,) = summaries.comparison_lines(table)
    assert line.startswith("- PIR (CL+AL) − Baseline (Swin+BERT, CL): +2.50 mR, 95% CI [")
    assert "(paired, 2 seeds; detectable " in line and line.endswith("): **cannot decide**.")
