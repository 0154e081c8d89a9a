"""Progress bars and lines (`pirlib.progress`): the mode switch, sparse plain lines, the status files of worker
processes, and a study's progress in `run_many` (slow)."""

from __future__ import annotations

import json

import pytest
from train_helpers import make_synthrs, tiny_config

from pirlib import progress
from pirlib.config import apply_overrides
from pirlib.progress import StudyProgress, progress_bar, read_status, reporting_to, resolve_mode


def test_mode_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.setenv("PIRLIB_PROGRESS", "off")
    assert resolve_mode("auto") == "off"
    assert resolve_mode("lines") == "lines"
    monkeypatch.delenv("PIRLIB_PROGRESS")
    assert resolve_mode("auto") == "lines"  # pytest captures stderr: no terminal, no Jupyter kernel
    monkeypatch.setenv("PIRLIB_PROGRESS", "widgets")
    with pytest.raises(ValueError, match="bar, lines, off"):
        resolve_mode("auto")


def test_lines_are_plain_and_sparse(capsys, monkeypatch):
    monkeypatch.setattr(progress, "LINE_INTERVAL", 3600.0)
    for _ in progress_bar(range(5000), desc="embedding", mode="lines"):
        pass
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 2, lines  # the start and the end, nothing in between within LINE_INTERVAL
    assert lines[0].startswith("embedding:   0%") and "5000/5000" in lines[1]


def test_off_prints_nothing(capsys):
    bar = progress_bar(total=3, desc="quiet", mode="off")
    bar.update(3)
    bar.close()
    assert capsys.readouterr() == ("", "")


def test_bars_report_to_the_status_file(tmp_path, capsys):
    status = tmp_path / "run" / "progress.json"
    with reporting_to(status):
        assert read_status(status)["description"] == "starting"
        bar = progress_bar(total=10, desc="epoch 1/1", unit="step", mode="off")
        bar.update(4)
        assert read_status(status) is not None
        bar.close()
    assert read_status(status) == read_status(status) | {"description": "epoch 1/1", "n": 4, "total": 10}
    assert read_status(tmp_path / "absent.json") is None
    progress_bar(total=1, mode="off").close()  # outside the block: the file is left alone
    assert read_status(status)["n"] == 4


def test_study_lines_name_the_running_jobs(tmp_path, capsys):
    status = tmp_path / "progress.json"
    status.write_text(json.dumps({"description": "epoch 1/1", "n": 7, "total": 20}))
    shown = StudyProgress(2, mode="lines")
    shown.show({"pir_seed0": status, "baseline_seed0": tmp_path / "not_yet.json"})
    shown.job_done("baseline_seed0")
    shown.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("runs finished:   0%")
    assert "1/2" in lines[1] and "pir_seed0 epoch 1/1 7/20" in lines[1] and "baseline_seed0" not in lines[1]
    assert len(lines) == 2  # closing repeats no line


@pytest.mark.slow
def test_run_many_shows_the_study_and_the_workers_report(tmp_path, capsys):
    from pirlib.tutorial.runs import plan_runs
    from pirlib.tutorial.scheduler import run_many

    synthrs = make_synthrs(tmp_path / "synthrs")
    config = apply_overrides(tiny_config(synthrs, "train.epochs=1"), ["train.max_steps=6"])
    specs = plan_runs(config, tmp_path / "runs", {"baseline": [0, 1]})
    capsys.readouterr()
    run_many(specs, workers=2, progress="lines")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("jobs finished:   0%") and "2/2" in lines[-1], lines
    for spec in specs:
        status = read_status(spec.out_dir / "progress.json")
        assert status is not None and status["description"] != "starting", status
        assert "epoch 1/1" in (spec.out_dir / "train.log").read_text()
