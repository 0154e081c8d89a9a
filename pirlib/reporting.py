"""Result tables of the notebooks: pandas DataFrames written to `results/` as CSV and Markdown, atomically.

`markdown_table` renders a DataFrame as a GitHub-flavoured Markdown table without optional dependencies (pandas'
`to_markdown` needs `tabulate`); `save_table` writes `results/NAME.csv` and `results/NAME.md` from the same frame so
the two never disagree.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from pathlib import Path

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


def _write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, path)


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
    _write_atomically(csv_path, frame.to_csv(index=index))
    heading = f"# {title}\n\n" if title else ""
    _write_atomically(markdown_path, heading + markdown_table(frame, float_format, index))
    return csv_path, markdown_path
