"""What evaluation and checkpoints cost beside training, and what they add to a schedule.

`time_evaluation_and_saves(run)` loads a trained run's `last/` onto its device and times what the trainer does at an
evaluation (embed and score the validation and test splits; the median of 3 after a warm-up) and at a save (`last/`
with the optimiser state, `best/` without). `schedule_overhead` turns those times into the share of a schedule's
training time they take: the evaluation time scaled linearly to the benchmark's evaluation images, every evaluation
counted with a `best/` save (the worst case: the selection improves at each one).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import torch

from pirlib.benchmarks.timing import synchronize, time_call

# RSITMD (data/README.md): 4,291 training images with 5 captions each (about 21,400 after blank ones are dropped),
# 452 test images; pirlib holds out data.validation_fraction of the training images for model selection.
RSITMD = {"train_pairs": 21_400, "train_images": 4_291, "test_images": 452}


def time_evaluation_and_saves(run_dir: str | Path, device: str = "cuda") -> dict:
    """Seconds of one evaluation (validation + test) and of one `last/` and `best/` save of the run in `run_dir`."""
    from pirlib.checkpoint import load_training_state
    from pirlib.data import load_index
    from pirlib.evaluation import (
        evaluate_model,
        evaluation_data_root,
        load_for_evaluation,
        retrieval_set,
        split_image_ids,
    )
    from pirlib.training.runtime import resolve_precision
    from pirlib.training.state import save_checkpoint

    model, config, tokenizer, test, directory = load_for_evaluation(Path(run_dir) / "last", None, "test", device)
    index = load_index(evaluation_data_root(directory, None))
    splits = [test]
    validation_ids = split_image_ids(index, config, "validation")
    if validation_ids:
        splits.append(retrieval_set(index, validation_ids, config))
    on = torch.device(device)
    precision = resolve_precision(config.train.precision, on)

    def evaluate() -> None:
        for dataset in splits:
            evaluate_model(model, dataset, tokenizer, config, on, precision)

    evaluation = time_call(evaluate, on, warmup=1, repeats=3)
    state = load_training_state(directory)
    with tempfile.TemporaryDirectory(prefix="pirlib_overhead_") as scratch:
        saves = {}
        for name, training_state in (("last", state), ("best", None)):
            synchronize(on)
            start = time.perf_counter()
            save_checkpoint(Path(scratch) / name, model, config, tokenizer, {"epoch": 0, "step": 0}, training_state)
            saves[name] = time.perf_counter() - start
    return {
        "evaluation_seconds": evaluation["seconds"],
        "evaluation_images": sum(len(dataset) for dataset in splits),
        "evaluation_captions": sum(len(dataset.captions) for dataset in splits),
        "save_last_seconds": saves["last"],
        "save_best_seconds": saves["best"],
        "validation_fraction": config.data.validation_fraction,
        "precision": str(precision or torch.float32).replace("torch.", ""),
    }


def schedule_overhead(
    timings: dict,
    pairs_per_s: float,
    epochs: int,
    eval_every_epochs: int,
    save_last_every_epochs: int,
    benchmark: dict = RSITMD,
) -> dict:
    """Training seconds of `epochs` epochs of `benchmark` at `pairs_per_s`, and the seconds and share (%) that the
    evaluations (with a `best/` save each) and the `last/` saves of those periods add (the last epoch always
    evaluates and saves, as `fit` does)."""
    fraction = timings["validation_fraction"]
    epoch_pairs = benchmark["train_pairs"] * (1 - fraction)
    images = benchmark["train_images"] * fraction + benchmark["test_images"]
    evaluation = timings["evaluation_seconds"] * images / timings["evaluation_images"]
    evaluations = math.ceil(epochs / eval_every_epochs) if eval_every_epochs else 1
    saves = math.ceil(epochs / save_last_every_epochs) if save_last_every_epochs else 1
    train_seconds = epochs * epoch_pairs / pairs_per_s
    overhead = evaluations * (evaluation + timings["save_best_seconds"]) + saves * timings["save_last_seconds"]
    return {
        "pairs_per_s": pairs_per_s,
        "epochs": epochs,
        "eval_every_epochs": eval_every_epochs,
        "save_last_every_epochs": save_last_every_epochs,
        "evaluations": evaluations,
        "last_saves": saves,
        "evaluation_seconds_projected": evaluation,
        "train_seconds": train_seconds,
        "overhead_seconds": overhead,
        "overhead_percent": 100 * overhead / train_seconds,
    }
