"""Markdown tables without optional dependencies (pandas' `to_markdown` needs `tabulate`)."""

from __future__ import annotations

import math
import numbers

import pandas as pd


def _format_cell(value, float_format: str) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):
        return "–" if math.isnan(value) else format(value, float_format)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, float_format: str = ".2f", index: bool = True) -> str:
    """`frame` as a Markdown table; numbers right-aligned, floats formatted with `float_format`, NaN as '–'.
    Each level of a MultiIndex becomes its own column; every column keeps its dtype (integers stay integers)."""
    levels = frame.index.nlevels if index else 0
    names = [str(name or "") for name in frame.index.names] if index else []
    header = names + [str(column) for column in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[column]) for column in frame.columns]
    alignment = ["---"] * levels + ["---:" if is_number else "---" for is_number in numeric]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(alignment) + " |"]
    for label, *values in frame.itertuples(index=True, name=None):
        labels = (list(label) if isinstance(label, tuple) else [label]) if index else []
        cells = [_format_cell(value, float_format) for value in labels + values]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
