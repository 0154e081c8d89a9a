"""Result tables: Markdown rendering and the CSV + Markdown pair written to results/."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pirlib.markdown import markdown_table
from pirlib.tutorial.tables import save_table


def test_markdown_table_formats_numbers_and_escapes_text():
    frame = pd.DataFrame(
        {"model": ["PIR", "a|b"], "mR": [12.345, math.nan], "seeds": [3, 1]}, index=pd.Index([0, 1], name="row")
    )
    assert markdown_table(frame).splitlines() == [
        "| row | model | mR | seeds |",
        "| --- | --- | ---: | ---: |",
        "| 0 | PIR | 12.35 | 3 |",
        "| 1 | a\\|b | – | 1 |",
    ]
    assert markdown_table(frame, float_format=".1f", index=False).splitlines()[2] == "| PIR | 12.3 | 3 |"


def test_markdown_table_multiindex_levels_become_columns_and_integers_stay_integers():
    index = pd.MultiIndex.from_tuples([("PIR", 0), ("PIR", 1)], names=["model", "seed"])
    frame = pd.DataFrame({"mR": [9.5, 10.25], "step": [282, 141]}, index=index)
    assert markdown_table(frame).splitlines() == [
        "| model | seed | mR | step |",
        "| --- | --- | ---: | ---: |",
        "| PIR | 0 | 9.50 | 282 |",
        "| PIR | 1 | 10.25 | 141 |",
    ]


def test_save_table_writes_csv_and_markdown(tmp_path):
    frame = pd.DataFrame({"count": [4, 5]}, index=pd.Index(["train", "test"], name="split"))
    csv_path, markdown_path = save_table(frame, tmp_path / "results", "01_counts", title="Counts")
    assert pd.read_csv(csv_path, index_col="split").equals(frame)
    assert markdown_path.read_text().startswith("# Counts\n\n| split | count |")
    assert sorted(p.name for p in csv_path.parent.iterdir()) == ["01_counts.csv", "01_counts.md"]
    with pytest.raises(ValueError, match="bare file stem"):
        save_table(frame, tmp_path, "sub/01_counts")
