"""Progress bars and lines (`pirlib.progress`): the mode switch, sparse plain lines, one output per bar in a Jupyter
kernel, the status files of worker processes, and a study's progress in `run_many` (slow)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

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


class FakeOutputs:
    """The outputs of a Jupyter kernel's cells as `IPython.display.display` with a display_id makes them: one text
    each, replaced by the handle's `update`."""

    def __init__(self, monkeypatch) -> None:
        import IPython.display

        self.shell = SimpleNamespace(execution_count=1)  # the running cell
        self.texts: list[list[str]] = []  # per output: every text it showed
        self.cells: list[int] = []  # per output: the cell that made it
        monkeypatch.setattr(progress, "_jupyter_shell", lambda: self.shell)
        monkeypatch.setattr(progress, "_cell_output", None)
        monkeypatch.setattr(progress, "DISPLAY_INTERVAL", 0.0)
        monkeypatch.setattr(IPython.display, "display", self.display)

    def display(self, content, raw=False, display_id=False):
        assert raw and display_id is True
        texts = [content["text/plain"]]
        self.texts.append(texts)
        self.cells.append(self.shell.execution_count)
        return SimpleNamespace(update=lambda content, raw: texts.append(content["text/plain"]))

    def final(self) -> list[str]:
        return [texts[-1] for texts in self.texts]


def test_lines_in_a_kernel_are_one_output_per_bar_replaced_in_place(capsys, monkeypatch):
    outputs = FakeOutputs(monkeypatch)
    for _ in progress_bar(range(300), desc="scene corpus", unit="image", mode="lines"):
        pass
    bar = progress_bar(total=4, desc="jobs finished", mode="lines")
    bar.update(4)
    bar.close()
    assert capsys.readouterr().out == ""  # nothing printed: a cell keeps the final state only
    assert len(outputs.texts) == 2 and len(outputs.texts[0]) > 2  # redrawn in place, many times
    assert outputs.texts[0][0].startswith("scene corpus:   0% 0/300")
    assert outputs.final()[0].startswith("scene corpus: 100% 300/300") and "4/4" in outputs.final()[1]


def test_transient_bars_of_a_cell_share_one_output_left_at_the_last_final_state(monkeypatch):
    outputs = FakeOutputs(monkeypatch)
    monkeypatch.setattr(progress, "LINE_INTERVAL", 0.0)  # every transient bar runs long enough to show
    for epoch in (1, 2, 3):
        for _ in progress_bar(range(50), desc=f"epoch {epoch}/3", leave=False, mode="lines"):
            pass
    assert len(outputs.texts) == 1, outputs.texts
    assert outputs.final()[0].startswith("epoch 3/3: 100% 50/50")
    outputs.shell.execution_count = 2  # the next cell: an output of its own
    for _ in progress_bar(range(5), desc="embedding", leave=False, mode="lines"):
        pass
    assert outputs.cells == [1, 2] and outputs.final()[1].startswith("embedding: 100% 5/5")


def test_short_transient_bars_show_nothing(capsys, monkeypatch):
    outputs = FakeOutputs(monkeypatch)
    for _ in progress_bar(range(5), desc="embedding", leave=False, mode="lines"):
        pass
    assert outputs.texts == []
    monkeypatch.setattr(progress, "_jupyter_shell", lambda: None)  # outside a kernel: no line either
    for _ in progress_bar(range(5), desc="embedding", leave=False, mode="lines"):
        pass
    assert capsys.readouterr().out == ""


def test_text_bars_are_never_redrawn_by_the_tqdm_monitor():
    # tqdm's monitor thread redraws every bar whose last redraw is `maxinterval` seconds old; an iterated bar then
    # repeats the count of its previous line with a later time
    for mode in ("lines", "off"):
        bar = progress_bar(total=10, mode=mode)
        assert bar.maxinterval == math.inf
        bar.close()


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


def test_study_in_a_kernel_is_one_output_ending_at_its_final_state(tmp_path, monkeypatch):
    outputs = FakeOutputs(monkeypatch)
    status = tmp_path / "progress.json"
    status.write_text(json.dumps({"description": "epoch 1/1", "n": 7, "total": 20}))
    shown = StudyProgress(2, mode="lines", description="jobs finished")
    shown.show({"pir_seed0": status})
    shown.job_done("baseline_seed0")
    shown.job_done("pir_seed0")
    shown.close()
    assert len(outputs.texts) == 1
    assert any("pir_seed0 epoch 1/1 7/20" in text for text in outputs.texts[0])
    assert outputs.final()[0].startswith("jobs finished: 100% 2/2") and "pir_seed0" not in outputs.final()[0]


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
