"""The first hour on a GPU in one command: `python -m pirlib.benchmarks.gpu_check --out DIR` (`make gpu-check`).

In order, each part a process of its own with its own time limit, writing into its own folder of DIR, so that a part
that fails or runs out of time keeps the others' figures:

1. `environment`: Python, torch, CUDA, the GPU, the package versions;
2. `gpu-tests`: `pytest -m gpu tests/test_gpu.py` (resume, CUDA against CPU, bf16, the resident pipeline,
   torch.compile without recompiles, one host synchronisation per step, NCCL DDP with two GPUs);
3. `synth`: a small SynthRS at 224 px made by the package's own generator;
4. `train`, `resume`: the paper profile (configs/paper_rsitmd.yaml; random initial weights, since no pretrained file
   can be fetched offline, and the WordPiece tokenizer of the SynthRS captions) stopped inside its second epoch,
   then resumed to the end, evaluating at both;
5. `overhead`: one evaluation and one `last/` / `best/` save of that run timed on the GPU, and what the paper
   profile's evaluation and save periods add to its 50 epochs at the measured and at the target rate;
6. `bench-*`: the benchmark entries of docs/benchmarks.md (`pirlib bench`), one process each, torch.compile last.

The whole stays under `--budget` seconds (default 540, so under 10 minutes): each part runs for at most its own limit
or what is left, and a part that cannot start in time is recorded as skipped. DIR gets `report.json` (every part's
command, status, seconds and figures) and `summary.md`. It needs only torch (with torchvision), timm,
transformers, safetensors, pandas and pytest, and runs from the working tree (`PYTHONPATH=.`) without installing
pirlib. `--dry-run` prints the parts and their commands and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUDGET_SECONDS = 540  # the whole check, report included, stays under 10 minutes
REPORT_RESERVE_SECONDS = 10  # kept back from the last part for writing the report
MIN_PART_SECONDS = 20  # a part given less than this is skipped
SYNTH_IMAGES, SYNTH_TEST_IMAGES, SYNTH_SIZE = 640, 80, 224  # about 2,500 training pairs: 19 steps of 128 per epoch
TRAIN_EPOCHS, STOP_STEP = 2, 25  # stopped inside the second epoch, then resumed
RANDOM_INIT = [  # no pretrained file offline: random weights, the WordPiece tokenizer of the SynthRS captions
    "vision.pretrained=null",
    "prior.checkpoint=null",
    "text.pretrained=null",
    "text.tokenizer=wordpiece",
]
BENCH_ENTRIES = {  # docs/benchmarks.md's GPU command, one process per entry; compilation last (the slowest)
    "bench-paper-loader": "paper:data.num_workers={workers}",
    "bench-paper-resident": "paper:data.gpu_resident=true",
    "bench-tiny-resident": "tiny:data.gpu_resident=true",
    "bench-paper-compile": "paper:data.gpu_resident=true;train.compile=true",
}


@dataclass
class Part:
    name: str  # the part's folder in DIR and its key in report.json
    command: list[str]  # run from the repository root, with the repository on PYTHONPATH
    limit_seconds: int  # the most this part may run
    what: str  # one line for the dry run and the summary
    outputs: dict[str, str] = field(default_factory=dict)  # figure name -> file (relative to DIR) the part writes


def plan(out: Path, workers: int) -> list[Part]:
    """The parts, in the order they run."""
    python = [sys.executable]
    data, run = out / "synth" / "synthrs224", out / "train" / "run"
    internal = [*python, "-m", "pirlib.benchmarks.gpu_check", "--out", str(out), "--part"]
    train = [*python, "-m", "pirlib", "train", "--config", "configs/paper_rsitmd.yaml", "--data", str(data)]
    train += ["--out", str(run), "--set", *RANDOM_INIT, f"data.num_workers={workers}", f"train.epochs={TRAIN_EPOCHS}"]
    train += ["train.eval_every_epochs=1", "train.save_last_every_epochs=1"]
    junit = out / "gpu-tests" / "junit.xml"
    parts = [
        Part("environment", [*internal, "environment"], 60, "Python, torch, CUDA, GPU and package versions"),
        Part(
            "gpu-tests",
            [*python, "-m", "pytest", "-m", "gpu", "tests/test_gpu.py", "-q", "-rs", "-p", "no:cacheprovider"]
            + [f"--junitxml={junit}"],
            200,
            "the GPU tests (pytest -m gpu)",
            {"junit": str(junit.relative_to(out))},
        ),
        Part(
            "synth",
            [*python, "-m", "pirlib", "synth", "--out", str(data), "--images", str(SYNTH_IMAGES)]
            + ["--test-images", str(SYNTH_TEST_IMAGES), "--size", str(SYNTH_SIZE), "--workers", str(workers)],
            90,
            f"SynthRS, {SYNTH_IMAGES} images of {SYNTH_SIZE} px",
        ),
        Part(
            "train",
            [*train, "--max-steps", str(STOP_STEP)],
            150,
            f"paper profile, random init, stopped at step {STOP_STEP} (in epoch 2 of {TRAIN_EPOCHS})",
            {"eval": "train/stopped_eval.json"},
        ),
        Part(
            "resume",
            [*python, "-m", "pirlib", "train", "--resume", "--out", str(run)],
            150,
            "the same run resumed to its end",
            {"eval": "train/run/eval.json"},
        ),
        Part(
            "overhead",
            [*internal, "overhead"],
            120,
            "one evaluation and one last/ and best/ save of that run, and the paper schedule's share of them",
            {"overhead": "overhead/overhead.json"},
        ),
    ]
    bench = [*python, "-m", "pirlib", "bench", "--device", "cuda", "--data", str(data), "--cache", str(out / "bench")]
    for name, entry in BENCH_ENTRIES.items():
        result = out / name / "bench.json"
        parts.append(
            Part(
                name,
                [*bench, "--config", entry.format(workers=workers), "--only", "train", "components", "embed"]
                + ["--out", str(result)],
                240 if "compile" in name else 150,
                f"pirlib bench --config {entry.format(workers=workers)}",
                {"bench": str(result.relative_to(out))},
            )
        )
    hotspots = out / "bench-hotspots" / "bench.json"
    parts.insert(
        -1,
        Part(
            "bench-hotspots",
            [*bench, "--config", "paper", "--only", "hotspots", "--out", str(hotspots)],
            90,
            "pirlib bench --only hotspots (paper shapes)",
            {"bench": str(hotspots.relative_to(out))},
        ),
    )
    return parts


def run_part(part: Part, out: Path, seconds: float) -> dict:
    """Run `part` for at most `seconds` (its whole process group is stopped then); its output goes to its log."""
    folder = out / part.name
    folder.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    started = time.monotonic()
    with open(folder / "log.txt", "w") as log:
        process = subprocess.Popen(
            part.command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait(timeout=seconds)
            status = "passed" if code == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the part and every process it started (DataLoader workers)
            code = process.wait()
            status = "timed out"
    return {"status": status, "returncode": code, "seconds": round(time.monotonic() - started, 1)}


def run_check(out: Path, budget: float, workers: int) -> dict:
    """Every part within `budget` seconds; writes and returns the report."""
    from pirlib.benchmarks.gpu_report import collect_figures, write_report

    deadline = time.monotonic() + budget - REPORT_RESERVE_SECONDS
    parts = []
    for part in plan(out, workers):
        left = deadline - time.monotonic()
        record = {"name": part.name, "what": part.what, "command": shlex.join(part.command)}
        record["limit_seconds"] = part.limit_seconds
        if left < MIN_PART_SECONDS:
            record.update(status="skipped", reason=f"time budget spent ({left:.0f} s left)")
        else:
            print(f"gpu-check: {part.name} (at most {min(part.limit_seconds, left):.0f} s): {part.what}", flush=True)
            record.update(run_part(part, out, min(part.limit_seconds, left)))
            record["figures"] = collect_figures(part.name, out, part.outputs)
            print(f"gpu-check: {part.name} {record['status']} in {record['seconds']} s", flush=True)
        parts.append(record)
    return write_report(out, parts, budget)


def environment_part(out: Path) -> None:
    """`environment`: what the check runs on, as JSON."""
    import importlib.metadata
    import platform

    import torch

    packages = {}
    for name in ("torch", "torchvision", "timm", "transformers", "tokenizers", "safetensors", "numpy", "pandas"):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    cuda = torch.cuda.is_available()
    figures = {
        "python": platform.python_version(),
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "device_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None,
        "bf16_supported": torch.cuda.is_bf16_supported() if cuda else None,
        "cpu_count": os.cpu_count(),
        "packages": packages,
    }
    (out / "environment" / "environment.json").write_text(json.dumps(figures, indent=1))


def overhead_part(out: Path) -> None:
    """`overhead`: the trained run's evaluation and save times, and the paper schedule's share of them."""
    from pirlib.benchmarks.overhead import schedule_overhead, time_evaluation_and_saves
    from pirlib.config import load_config

    run = out / "train" / "run"
    timings = time_evaluation_and_saves(run, "cuda")
    paper = load_config(REPO_ROOT / "configs" / "paper_rsitmd.yaml").train
    periods = (paper.epochs, paper.eval_every_epochs, paper.save_last_every_epochs)
    measured = json.loads((run / "eval.json").read_text())["pairs_per_s"]
    figures = {
        "timings": timings,
        "paper_profile_at_target": schedule_overhead(timings, 4000.0, *periods),
        "paper_profile_at_measured_rate": schedule_overhead(timings, measured, *periods),
        "every_epoch_at_target": schedule_overhead(timings, 4000.0, paper.epochs, 1, 1),
    }
    (out / "overhead" / "overhead.json").write_text(json.dumps(figures, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pirlib.benchmarks.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (must not hold anything yet)")
    parser.add_argument("--budget", type=float, default=BUDGET_SECONDS, help="seconds for the whole check")
    parser.add_argument("--workers", type=int, help="DataLoader / generator processes (default: CPUs - 2, at most 14)")
    parser.add_argument("--dry-run", action="store_true", help="print the parts and their commands, run nothing")
    parser.add_argument("--part", choices=["environment", "overhead"], help=argparse.SUPPRESS)  # run by the check
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if args.part == "environment":
        environment_part(out)
        return 0
    if args.part == "overhead":
        overhead_part(out)
        return 0
    workers = args.workers or max(1, min(14, (os.cpu_count() or 1) - 2))
    if args.dry_run:
        for number, part in enumerate(plan(out, workers), 1):
            print(
                f"{number:2}. {part.name} (at most {part.limit_seconds} s): {part.what}\n    {shlex.join(part.command)}"
            )
        print(f"budget: {args.budget:.0f} s for the whole check; report: {out / 'report.json'}, {out / 'summary.md'}")
        return 0
    if out.exists() and any(out.iterdir()):
        print(f"gpu-check: the output folder holds something ({out}): choose another --out", file=sys.stderr)
        return 2
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: CUDA is not available (torch.cuda.is_available() is False): run it on a GPU", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    report = run_check(out, args.budget, workers)
    print(f"gpu-check: {report['passed']} of {len(report['parts'])} parts passed; {out / 'summary.md'}")
    return 0 if report["passed"] == len(report["parts"]) else 1


if __name__ == "__main__":
    sys.exit(main())
