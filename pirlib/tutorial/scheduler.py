"""The tutorial's process-pool scheduler: a study's runs and its scene-prior job in spawned worker processes of one
torch thread each (bitwise deterministic whatever the scheduling), with their progress shown from the status files
the workers write (`pirlib.progress`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

from pirlib.config import uses_scene_prior
from pirlib.progress import STATUS_FILE, StudyProgress, reporting_to
from pirlib.tutorial.runs import LOG_FILE, PriorSpec, RunSpec, load_test_embeddings, prior_or_load, run_or_load


@contextlib.contextmanager
def _quiet_single_thread(log_path: Path, status_path: Path) -> Iterator[None]:
    """One job in a worker: one torch thread, console output appended to `log_path`, progress to `status_path`."""
    import torch

    torch.set_num_threads(1)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(log_path, "a") as handle,
        contextlib.redirect_stdout(handle),
        contextlib.redirect_stderr(handle),
        reporting_to(status_path),
    ):
        yield


def _train_job(spec: RunSpec) -> dict:
    with _quiet_single_thread(Path(spec.out_dir) / LOG_FILE, Path(spec.out_dir) / STATUS_FILE):
        result = run_or_load(spec)
        load_test_embeddings(spec.out_dir)
    return result


def _prior_status(spec: PriorSpec) -> Path:
    return Path(spec.out_path).with_suffix(".progress.json")


def _prior_job(spec: PriorSpec) -> dict:
    with _quiet_single_thread(Path(spec.out_path).with_suffix(".log"), _prior_status(spec)):
        return prior_or_load(spec)


def run_many(
    specs: Sequence[RunSpec], prior: PriorSpec | None = None, workers: int = 2, progress: str = "auto"
) -> dict:
    """Run the prior job (if any) and every RunSpec in `workers` spawned processes of one torch thread each.

    Runs with the scene prior (VIR or prior fusion) wait for it; the others start at once. Each job is deterministic
    on its own, so results do not depend on `workers` or on the scheduling. Returns {"prior": metrics or None,
    "runs": [eval.json dicts in the order of `specs`]}; a failed job raises with its run directory (its train.log
    holds the console output). `progress` ("auto", "bar", "lines", "off"; `pirlib.progress`) shows the finished jobs
    and each running job's progress, read every second from the status files the workers write."""
    if workers < 1:
        raise ValueError(f"run_many: workers={workers}; use at least 1 process")
    cost = {"baseline": 1.0, "pir_no_vir": 1.2}  # rough relative step costs: start the long runs first
    order = sorted(range(len(specs)), key=lambda i: -cost.get(specs[i].variant, 2.0))
    waiting = [i for i in order if uses_scene_prior(specs[i].config.model) and prior is not None]
    ready = [i for i in order if i not in waiting]
    results: list[dict | None] = [None] * len(specs)
    prior_metrics = None

    def job(position: int | None) -> tuple[str, Path]:  # (name, status file) of the prior (None) or a run
        if position is None:
            return "scene prior", _prior_status(prior)
        return Path(specs[position].out_dir).name, Path(specs[position].out_dir) / STATUS_FILE

    shown = StudyProgress(len(specs) + (prior is not None), progress, description="jobs finished")
    running: dict[Future, int | None] = {}

    def submit(pool: ProcessPoolExecutor, position: int | None) -> None:
        job(position)[1].unlink(missing_ok=True)  # a status file left by an earlier session
        function, argument = (_prior_job, prior) if position is None else (_train_job, specs[position])
        running[pool.submit(function, argument)] = position

    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for position in ([None] if prior is not None else []) + ready:
            submit(pool, position)
        while running:
            done, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                position = running.pop(future)
                where = prior.out_path if position is None else specs[position].out_dir
                try:
                    value = future.result()
                except Exception as error:
                    shown.close()
                    raise RuntimeError(f"job {where} failed: {error} (see its log file)") from error
                shown.job_done(job(position)[0])
                if position is None:
                    prior_metrics = value
                    for later in waiting:
                        submit(pool, later)
                else:
                    results[position] = value
            shown.show(dict(job(position) for future, position in running.items() if future.running()))
    shown.close()
    return {"prior": prior_metrics, "runs": results}
