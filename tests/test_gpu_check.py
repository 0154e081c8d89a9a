"""The GPU check (`python -m pirlib.benchmarks.gpu_check`, `make gpu-check`) without a GPU: the dry run, what its
entry points import (a GPU machine may lack the notebooks' packages), the time limit of a part, the report, and the
overhead measurement on a tiny CPU run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from train_helpers import REPO_ROOT, make_synthrs, tiny_config

from pirlib.benchmarks.gpu_check import Part, plan, run_part
from pirlib.benchmarks.gpu_report import collect_figures, write_report
from pirlib.benchmarks.overhead import schedule_overhead, time_evaluation_and_saves

# In .venv for the notebooks and the browser test, not on a bare GPU machine (torch, torchvision, timm, transformers,
# safetensors, pandas, scikit-learn, pytest and what they pull in).
NOT_ON_A_GPU_MACHINE = ("matplotlib", "seaborn", "umap", "pynndescent", "numba", "papermill", "nbformat", "nbclient")
NOT_ON_A_GPU_MACHINE += ("nbval", "ipywidgets", "IPython", "ipykernel", "jupyterlab", "selenium")


def run_module(*args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=environment, capture_output=True, text=True)


def test_dry_run_lists_every_part_with_its_command_and_writes_nothing(tmp_path):
    out = tmp_path / "check"
    result = run_module("-m", "pirlib.benchmarks.gpu_check", "--out", str(out), "--dry-run")
    assert result.returncode == 0, result.stderr
    for expected in ("pytest -m gpu tests/test_gpu.py", "pirlib synth", "pirlib train", "--resume", "pirlib bench"):
        assert expected in result.stdout
    assert [part.name for part in plan(out, 4)][:6] == [
        "environment",
        "gpu-tests",
        "synth",
        "train",
        "resume",
        "overhead",
    ]
    assert sum(f"{part.name} (at most" in result.stdout for part in plan(out, 4)) == len(plan(out, 4))
    assert not out.exists()


@pytest.mark.slow
def test_the_checks_entry_points_import_nothing_a_gpu_machine_lacks():
    modules = ["pirlib.benchmarks.gpu_check", "pirlib.benchmarks.gpu_report", "pirlib.benchmarks.overhead"]
    modules += ["pirlib.benchmarks.suite", "pirlib.commands.synth", "pirlib.commands.train", "pirlib.commands.bench"]
    modules += ["pirlib.data.synthrs.generate", "pirlib.training.loop", "pirlib.training.prior", "test_gpu"]
    probe = (
        "import importlib, sys; sys.path.insert(0, 'tests')\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(sorted({name.split('.')[0] for name in sys.modules}))"
    )
    result = run_module("-c", probe)
    assert result.returncode == 0, result.stderr
    imported = set(json.loads(result.stdout.strip().replace("'", '"')))
    assert not imported & set(NOT_ON_A_GPU_MACHINE)


def test_a_part_out_of_time_is_stopped_with_its_children(tmp_path):
    sleeper = [
        sys.executable,
        "-c",
        "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(60)'])",
    ]
    record = run_part(Part("sleeper", sleeper, 60, "sleeps"), tmp_path, seconds=2)
    assert record["status"] == "timed out" and record["seconds"] < 30
    assert (tmp_path / "sleeper" / "log.txt").is_file()


def test_report_collects_what_the_parts_wrote(tmp_path):
    (tmp_path / "gpu-tests").mkdir()
    (tmp_path / "gpu-tests" / "junit.xml").write_text(
        '<testsuites><testsuite><testcase name="test_a" time="1.5"/>'
        '<testcase name="test_b" time="2"><failure message="AssertionError: off by 1e-3">trace</failure></testcase>'
        '<testcase name="test_c" time="0"><skipped message="needs two CUDA devices"/></testcase>'
        "</testsuite></testsuites>"
    )
    (tmp_path / "train" / "run").mkdir(parents=True)
    results = {"steps": 25, "total_steps": 38, "device": "cuda:0", "precision": "bfloat16", "pairs_per_s": 3100.0}
    (tmp_path / "train" / "run" / "eval.json").write_text(json.dumps({**results, "test": {"mR": 12.5}}))
    parts = []
    for name, outputs in (("gpu-tests", {"junit": "gpu-tests/junit.xml"}), ("train", {"eval": "train/run/eval.json"})):
        figures = collect_figures(name, tmp_path, outputs)
        parts.append(
            {"name": name, "what": name, "limit_seconds": 60, "status": "passed", "seconds": 3, "figures": figures}
        )
    parts.append({"name": "bench-paper-compile", "what": "bench", "limit_seconds": 240, "status": "skipped"})
    parts[-1]["reason"] = "time budget spent (12 s left)"
    report = write_report(tmp_path, parts, 540)
    assert report["passed"] == 2 and json.loads((tmp_path / "report.json").read_text())["parts"][0]["figures"]
    assert parts[0]["figures"]["counts"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 1}
    summary = (tmp_path / "summary.md").read_text()
    assert "- test_b: AssertionError: off by 1e-3" in summary and "| train | 25 of 38 | 3,100.0 | 12.50 |" in summary
    assert "skipped: time budget spent" in summary


def test_schedule_overhead_counts_the_periods_and_the_last_epoch():
    timings = {"validation_fraction": 0.1, "evaluation_seconds": 1.0, "evaluation_images": 100}
    timings.update(save_last_seconds=8.0, save_best_seconds=2.0)
    projected = schedule_overhead(timings, 4000.0, epochs=50, eval_every_epochs=10, save_last_every_epochs=0)
    assert projected["evaluations"] == 5 and projected["last_saves"] == 1
    evaluation = 1.0 * (4291 * 0.1 + 452) / 100  # scaled to RSITMD's validation + test images
    assert projected["overhead_seconds"] == pytest.approx(5 * (evaluation + 2.0) + 8.0)
    assert projected["train_seconds"] == pytest.approx(50 * 21_400 * 0.9 / 4000)
    assert schedule_overhead(timings, 4000.0, 50, 3, 7)["evaluations"] == 17  # 3, 6, ..., 48, and 50


@pytest.mark.slow
def test_evaluation_and_save_times_of_a_trained_run(tmp_path):
    from pirlib.training import fit

    data = make_synthrs(tmp_path / "synthrs")
    fit(tiny_config(data), tmp_path / "run", max_steps=2)
    timings = time_evaluation_and_saves(tmp_path / "run", "cpu")
    assert timings["evaluation_images"] > 16 and timings["evaluation_captions"] == 5 * timings["evaluation_images"]
    assert all(timings[key] > 0 for key in ("evaluation_seconds", "save_last_seconds", "save_best_seconds"))
