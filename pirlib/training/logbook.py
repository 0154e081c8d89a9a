"""The run's metric history: one JSON record per evaluation in `metrics.jsonl`, mirrored flat in `metrics.csv`.

Both files are rewritten atomically on every append (they are small), so a killed run never leaves a torn line.
On resume, records written after the checkpoint being resumed from are dropped: they will be produced again.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pirlib.io import atomic_write

JSONL_FILE = "metrics.jsonl"
CSV_FILE = "metrics.csv"


def flatten(record: dict, prefix: str = "") -> dict:
    """{"test": {"mR": 1}} -> {"test_mR": 1}."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Logbook:
    def __init__(self, run_dir: Path, resume_step: int | None) -> None:
        """Start a fresh history, or keep the records up to `resume_step` of an existing one."""
        self.jsonl = run_dir / JSONL_FILE
        self.csv = run_dir / CSV_FILE
        self.records: list[dict] = []
        if resume_step is not None and self.jsonl.is_file():
            lines = self.jsonl.read_text().splitlines()
            self.records = [r for r in map(json.loads, filter(None, lines)) if r["step"] <= resume_step]
        self._write()

    def append(self, record: dict) -> None:
        self.records.append(record)
        self._write()

    def _write(self) -> None:
        text = "".join(json.dumps(record) + "\n" for record in self.records)
        atomic_write(self.jsonl, lambda tmp: Path(tmp).write_text(text))
        rows = [flatten(record) for record in self.records]
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.csv, lambda tmp: Path(tmp).write_text(buffer.getvalue()))
