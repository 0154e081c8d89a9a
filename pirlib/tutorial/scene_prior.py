"""The tutorial's scene prior (paper §3.2: a scene classifier pretrained on a scene corpus, then frozen inside VIR),
made once for every notebook: `scene_prior` generates the SynthRS scene corpus when it is missing and pretrains the
prior in this process, or reads it when `pirlib.tutorial.runs.prior_or_load` finds it made with the same settings.
Notebook 02 makes it and builds VIR on it; notebook 03 calls it with the same parameters and finds it.

The prior's console log (one line per epoch) is appended to the prior's `.log` file beside its weights, as when
`pirlib.tutorial.scheduler.run_many` trains it; its progress bars show as `pirlib.progress` decides.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pirlib.config import Config, apply_overrides
from pirlib.tutorial.runs import PriorSpec, prior_or_load


@dataclass
class ScenePrior:
    """A pretrained scene prior ready at `config.prior.checkpoint`."""

    metrics: dict  # `pretrain_scene_prior`'s metrics and the settings `prior_or_load` compares
    corpus: dict | None  # the scene corpus's datasheet (None: the prior learned from the training split)

    def summary(self) -> str:
        """One line: the prior, what it learned from, and its test accuracy."""
        epochs = self.metrics["epochs"]
        source = f"{self.metrics['train_images']:,} " + ("corpus images" if self.corpus else "training images")
        return (
            f"scene prior {self.metrics['prior']['model_name']}: {epochs} epoch{'s' * (epochs != 1)} over {source}, "
            f"test accuracy {self.metrics['accuracy']:.1f}% on {self.metrics['test_images']} test images"
        )


def scene_prior(
    config: Config,
    corpus_dir: str | os.PathLike | None,
    corpus_images: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    augment: bool,
    device: str = "cpu",
    workers: int = 2,
) -> ScenePrior:
    """Make the scene prior at `config.prior.checkpoint` for the dataset at `config.data.root`, or read it.

    The scene corpus at `corpus_dir` (`corpus_images` images at the profile's image size) is generated with `workers`
    processes unless it is there (its images do not depend on `workers`); `corpus_dir` None trains the prior on the
    dataset's training split instead. The prior trains `epochs` passes of `batch_size` images at peak `learning_rate`,
    seeded by `seed`, with the random resized crop and flip when `augment`, on `device`, in this process with all its
    torch threads: repeatable on one machine, but on the CPU its bits depend on the number of threads (kernels split
    their sums by thread), unlike the single-threaded prior job of `run_many`."""
    from pirlib.data.synthrs.corpus import SceneCorpusSettings, corpus_is_generated, generate_scene_corpus
    from pirlib.data.synthrs.generate import DATASHEET_FILE

    if config.prior.checkpoint is None:
        raise ValueError("scene_prior: config.prior.checkpoint is null; name the file the prior is written to")
    corpus, corpus_root = None, None
    if corpus_dir is not None:
        corpus_root = Path(corpus_dir).resolve()
        settings = SceneCorpusSettings(images=corpus_images, size=config.vision.image_size)
        if corpus_is_generated(corpus_root, settings):
            corpus = json.loads((corpus_root / DATASHEET_FILE).read_text())
        else:
            corpus = generate_scene_corpus(corpus_root, settings, workers=workers)
    training = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed}
    overrides = [f"train.device={device}", f"data.augment={augment}"]
    prior_config = apply_overrides(config, [*overrides, *(f"prior_training.{k}={v}" for k, v in training.items())])
    out_path = Path(config.prior.checkpoint)
    spec = PriorSpec(prior_config, Path(config.data.root), out_path, corpus_root)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path.with_suffix(".log"), "a") as log, contextlib.redirect_stdout(log):
        metrics = prior_or_load(spec)
    return ScenePrior(metrics, corpus)
