"""`fit`: the PIR training loop (paper §3.4 objective, §4.1 implementation details) on CPU, one GPU or many (torchrun).

One step: the model embeds a batch of image-caption pairs (bf16 autocast on CUDA), the objective (contrastive +
affiliation_weight × affiliation, or triplet; `pirlib.losses`) gathers the embeddings of all ranks with a
gradient-carrying all-gather, AdamW steps and the warm-up/decay schedule advances; the loss terms are read back once,
after the step (the step's only wait for the device). A non-finite loss stops the run there, before anything is
saved, so `last/` keeps the last good state. Every `eval_every_epochs` the model is evaluated on the validation split
(model selection) and on the test split (reported), and `best/` is written when the selection improves; every
`save_last_every_epochs` `last/` is written for `--resume`; the last epoch (and any stop) always evaluates and saves.
With `weight_average_decay` > 0 an exponential moving average of the weights follows every step (torch's
`AveragedModel`); it is what is evaluated and saved as `best/`, and `last/` keeps it beside the trained weights.
Only the scheduled evaluations (every `eval_every_epochs`, and the end of training) are selection candidates, so that
where a run was stopped and resumed never changes what it selects (the evaluation made where `max_steps` stops a run
is recorded, outside the selection); `evaluate_at` adds planned evaluation steps, candidates too, at which the run
evaluates and goes on without stopping. Data order, augmentation and every RNG state are restored on resume, so a
resumed run is bitwise identical to an uninterrupted one on CPU. Batches come from one DataLoader for the whole run
(`sampling.TrainingLoader`; on CUDA its images travel as uint8 and are normalised on the device) or, with
`data.gpu_resident`, from images decoded once onto the device (`pirlib.data.gpu_resident`).

Under torchrun every section that one rank does alone (the main process claims the run directory, checks the images,
trains the tokenizer, evaluates and saves) ends in `Runtime.shared_outcome()`, so a failure there ends every rank
with the same error. Where one GPU and N differ: the affiliation loss's scene centres come from each rank's share
of the batch, and captions are padded to the longest of each rank's share (`pirlib.losses`, README "Paper profile
on a GPU").
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from pirlib.checkpoint import DATA_ROOT_KEY, existing_checkpoint, load_state_dict, load_training_state
from pirlib.config import Config, ConfigError, check_ranges, load_config, save_config, seed_of, uses_scene_prior
from pirlib.data import CaptionCollator, PairDataset, build_tokenizer, load_index, split_train_validation
from pirlib.data import train_transform as make_train_transform
from pirlib.data.images import verify_images
from pirlib.data.transforms import normalize_uint8
from pirlib.evaluation import evaluate_model, retrieval_set
from pirlib.io import atomic_write_json
from pirlib.optim import build_optimizer, build_scheduler, group_learning_rates
from pirlib.output_folders import claim_run_directory
from pirlib.progress import progress_bar
from pirlib.training.data_checks import check_training_split
from pirlib.training.logbook import Logbook
from pirlib.training.rng import capture_rng_state, restore_rng_state
from pirlib.training.runtime import Runtime, precision_name, setup_runtime
from pirlib.training.sampling import SeededSamples, TrainingLoader, epoch_batches, mixed_seed
from pirlib.training.selection import TEST_OFFICIAL, VALIDATION, ModelSelection
from pirlib.training.state import (
    RunPaths,
    check_resume_tokenizer,
    config_differences,
    resume_point,
    save_checkpoint,
)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


class TrainStep(nn.Module):
    """Model forward (autocast) + objective (fp32): the unit that DDP wraps, so every parameter the loss uses,
    temperatures included, is reached from its output."""

    def __init__(self, model: nn.Module, objective: Callable[..., dict], runtime: Runtime) -> None:
        super().__init__()
        self.model = model
        self.objective = objective
        self.runtime = runtime

    def forward(self, images, input_ids, attention_mask, image_ids, labels, prior_features=None):
        """→ the objective's terms {name: scalar tensor}; `prior_features` [B, C_prior] when cached."""
        with self.runtime.autocast():
            image_feat, text_feat = self.model(images, input_ids, attention_mask, prior_features)  # [B, D] each
        return self.objective(self.model, image_feat.float(), text_feat.float(), image_ids, labels)


class NonFiniteLoss(ArithmeticError):
    """A loss term of the step is NaN or infinite; `values` holds every term. The step was taken (the loss is read
    after it), so the weights in memory are not to be saved; `fit` stops and `last/` keeps the last good state."""

    def __init__(self, values: dict[str, float]) -> None:
        super().__init__(f"non-finite loss: {values}")
        self.values = values


BATCH_KEYS = ("images", "input_ids", "attention_mask", "image_ids", "labels")  # TrainStep's arguments, in order


def device_batch(batch: dict[str, torch.Tensor], device: torch.device, channels_last: bool) -> dict[str, torch.Tensor]:
    """`batch` (the collator's dict) on `device`; uint8 images (the DataLoader path on CUDA: a quarter of the bytes
    to copy) are normalised there, to the bit as the CPU transform would."""
    moved = {key: batch[key].to(device, non_blocking=True) for key in BATCH_KEYS}
    if moved["images"].dtype == torch.uint8:
        moved["images"] = normalize_uint8(moved["images"])  # [B, 3, H, W] float32
    if channels_last:
        moved["images"] = moved["images"].contiguous(memory_format=torch.channels_last)
    if batch.get("prior_features") is not None:  # [B, C_prior] when the prior's output is cached
        moved["prior_features"] = batch["prior_features"]
    return moved


def optimisation_step(
    step_module: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batch: dict[str, torch.Tensor],
    device: torch.device,
    channels_last: bool,
) -> tuple[dict[str, float], float]:
    """One training step of `fit`: `step_module` (a wrapped `TrainStep`) on `batch` (the collator's dict), then
    backward, optimiser step and scheduler step → (the loss terms, the learning rate the step used: first group).

    The loss terms are read back once, after the optimiser step, so the host waits for the device once per step. The
    gradients stay in `.grad` until the next step. Raises `NonFiniteLoss` when a term is not finite: the step has then
    been taken (the weights are no longer trustworthy; `fit` stops without saving them)."""
    batch = device_batch(batch, device, channels_last)
    terms = step_module(*(batch[key] for key in BATCH_KEYS), batch.get("prior_features"))
    learning_rate = optimizer.param_groups[0]["lr"]  # the rate this step uses
    optimizer.zero_grad(set_to_none=True)
    terms["loss"].backward()
    optimizer.step()
    scheduler.step()
    read = torch.stack([value.detach() for value in terms.values()]).tolist()  # the one host synchronisation
    values = dict(zip(terms, read, strict=True))
    if not all(math.isfinite(value) for value in values.values()):
        raise NonFiniteLoss(values)
    return values, learning_rate


def wrap_for_training(
    model: nn.Module, objective: Callable[..., dict], runtime: Runtime, compile_model: bool
) -> nn.Module:
    """TrainStep, wrapped in DistributedDataParallel under torchrun, then optionally torch.compile'd.

    DDP runs in its default dynamic mode without looking for unused parameters: every trainable parameter gets a
    gradient at every step (the prior, and a temperature the objective does not use, are frozen; tests/test_ddp.py
    checks every variant). Buffers are broadcast from rank 0 at each forward only where training changes them: the
    prior's BatchNorm statistics with `prior.batchnorm_train_mode` (the other buffers are constants)."""
    step: nn.Module = TrainStep(model, objective, runtime)
    if runtime.distributed:
        ddp = nn.parallel.DistributedDataParallel
        device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        sync = "forward_sync_buffers"  # the per-forward buffer broadcast; older torch: broadcast_buffers (deprecated)
        sync = sync if sync in inspect.signature(ddp).parameters else "broadcast_buffers"
        step = ddp(step, device_ids=device_ids, **{sync: model.config.prior.batchnorm_train_mode})
    return torch.compile(step) if compile_model else step


def fit(
    config: Config,
    out_dir: str | Path | None = None,
    max_steps: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    select_at_stop: bool = False,
    evaluate_at: Sequence[int] = (),
) -> dict:
    """Train `config` into `out_dir` (default runs/<config.name>); returns the eval.json dict.

    `max_steps` (default `config.train.max_steps`) caps the total number of optimisation steps, those done before a
    resume included; the learning-rate schedule always spans `train.epochs`. `resume` continues from `out_dir/last/`
    (or starts afresh when the directory holds no checkpoint and no finished run); without it `out_dir` must be
    empty, unless `overwrite` replaces the run in it (`pirlib.output_folders`). The directory is locked while training.
    `select_at_stop` makes the evaluation where `max_steps` stops a selection candidate, for callers that stop on
    purpose at planned evaluation points; otherwise that stop is an interruption. `evaluate_at` lists planned
    evaluation steps that this one call evaluates as selection candidates while it trains on (`pirlib.tutorial.runs`
    plans a learning curve this way): the same run, bit for bit, as stopping there with `select_at_stop` and
    resuming, without rebuilding the data and the model at every point."""
    config = copy.deepcopy(config)
    if max_steps is not None:
        config.train.max_steps = max_steps
    check_ranges(config)
    runtime = setup_runtime(config.train)
    chosen = precision_name(runtime.autocast_dtype)
    if config.train.precision == "auto" and runtime.is_main:
        print(f"pirlib train: train.precision=auto -> {chosen} on {runtime.device} (stored in config.yaml)")
    config.train.precision = chosen  # the run's config records what ran
    out_dir = Path(out_dir or Path("runs") / config.name)
    try:
        with contextlib.ExitStack() as claim:  # held by the main process until training ends
            with runtime.shared_outcome():  # the other ranks look at out_dir only once the main process claimed it
                if runtime.is_main:
                    claim.enter_context(claim_run_directory(out_dir, resume, overwrite))
            return Trainer(config, out_dir, runtime, resume, select_at_stop, evaluate_at).run()
    finally:
        runtime.close()


class Trainer:
    def __init__(
        self,
        config: Config,
        out_dir: Path,
        runtime: Runtime,
        resume: bool,
        select_at_stop: bool,
        evaluate_at: Sequence[int] = (),
    ) -> None:
        from pirlib.losses import RetrievalObjective
        from pirlib.models import PIR

        self.config, self.runtime, self.paths = config, runtime, RunPaths(out_dir)
        self.select_at_stop, self.evaluate_at = select_at_stop, frozenset(evaluate_at)
        train = config.train
        resumed = resume_point(out_dir, config) if resume else None
        self._build_data()
        random.seed(seed_of(train, "init"))
        np.random.seed(seed_of(train, "init"))
        torch.manual_seed(seed_of(train, "init"))  # identical initial weights on every rank
        self.model = PIR(config, vocab_size=len(self.tokenizer)).to(runtime.device)
        if train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.average = None  # the exponential moving average of the weights, when train.weight_average_decay > 0
        if train.weight_average_decay > 0:
            self.average = AveragedModel(
                self.model, multi_avg_fn=get_ema_multi_avg_fn(train.weight_average_decay), use_buffers=True
            )
        self.optimizer = build_optimizer(self.model, train)
        self.total_steps = train.epochs * self.steps_per_epoch
        self.scheduler = build_scheduler(self.optimizer, self.total_steps, train.warmup_fraction)
        self.stop_step = min(self.total_steps, train.max_steps or self.total_steps)
        criterion = VALIDATION if self.validation is not None else TEST_OFFICIAL
        self.selection = ModelSelection(criterion)
        self.step, self.epoch_sums, self.epoch_steps = 0, {}, 0
        self.train_seconds, self.pairs_trained, self.last_test, self.last_evaluation = 0.0, 0, None, None
        torch.manual_seed(
            mixed_seed(seed_of(train, "dropout"), runtime.rank)
        )  # dropout / drop-path stream of this rank
        if resumed is not None:
            self._load(resumed.checkpoint)
        elif resume and runtime.is_main:
            print(f"pirlib train: nothing to resume in {self.paths.last}; starting a new run")
        self.logbook = None
        with runtime.shared_outcome():
            if runtime.is_main:
                save_config(config, self.paths.config)
                self.logbook = Logbook(out_dir, self.step if resumed is not None else None)
        self.step_module = wrap_for_training(self.model, RetrievalObjective(config.loss), runtime, train.compile)
        if self._prior_cache_applies():
            self.resident.cache_prior_features(self.model.scene_prior, runtime, train.channels_last)

    # ---------------------------------------------------------------------------------------------------- setup

    def _build_data(self) -> None:
        config, runtime = self.config, self.runtime
        index = load_index(config.data.root)
        train_ids, validation_ids = split_train_validation(
            index, config.data.validation_fraction, seed_of(config.train, "split")
        )
        check_training_split(index, train_ids, validation_ids, config)  # before any file is written
        test_ids = index.split_ids("test")
        with runtime.shared_outcome():  # the main process first: it checks the images and trains/saves the tokenizer
            if runtime.is_main:  # a missing or broken image fails now, not when its batch comes
                used = train_ids + validation_ids + test_ids
                verify_images(
                    [index.image_path(i) for i in used], f"training, validation and test images of {index.root}"
                )
                self.tokenizer = build_tokenizer(config.text, config.data.root)
        with runtime.shared_outcome():
            if not runtime.is_main:
                self.tokenizer = build_tokenizer(config.text, config.data.root)
        on_cuda = runtime.device.type == "cuda"  # images travel as uint8, normalised on the device (device_batch)
        transform = make_train_transform(config.vision.image_size, config.data.augment, uint8=on_cuda)
        self.pairs = PairDataset(index, train_ids, transform)
        self.collate = CaptionCollator(self.tokenizer, config.text.max_tokens)
        self.resident, self.loader = None, None
        if config.data.gpu_resident:  # decoded images and tokens on the device, batched augmentation there
            from pirlib.data.gpu_resident import ResidentPairs

            self.resident = ResidentPairs.from_config(self.pairs, self.tokenizer, config, runtime.device)
        else:
            samples = SeededSamples(self.pairs, seed_of(config.train, "data"))
            workers = config.data.num_workers
            self.loader = TrainingLoader(samples, self.collate, workers, on_cuda, runtime.rank, runtime.world_size)
        self.steps_per_epoch = len(self.pairs) // config.train.batch_size
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"train.batch_size={config.train.batch_size} exceeds the {len(self.pairs)} training pairs of "
                f"{index.root}; lower it"
            )
        self.validation = retrieval_set(index, validation_ids, config) if validation_ids else None
        self.test = retrieval_set(index, test_ids, config)

    def _load(self, directory: Path) -> None:
        state = load_training_state(directory)
        check_resume_tokenizer(directory, self.tokenizer)
        saved = load_config(self.paths.config) if self.paths.config.is_file() else None
        differences = config_differences(saved, self.config) if saved is not None else []
        if differences or state["total_steps"] != self.total_steps:
            raise ConfigError(
                f"cannot resume {self.paths.root}: the config differs from its config.yaml in "
                f"{differences or ['the number of steps (epochs, batch size or data)']}; resume with the same config"
            )
        self.model.load_state_dict(load_state_dict(directory), strict=True)
        if self.average is not None:
            self.average.load_state_dict(state["average"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        progress = state["progress"]
        self.step, self.epoch_sums, self.epoch_steps = progress["step"], progress["epoch_sums"], progress["epoch_steps"]
        self.last_test, self.last_evaluation = progress["last_test"], progress.get("last_evaluation")
        self.train_seconds, self.pairs_trained = progress["train_seconds"], progress["pairs_trained"]
        self.selection = ModelSelection.from_state_dict(state["selection"])
        if len(state["rng"]) == self.runtime.world_size:
            restore_rng_state(state["rng"][self.runtime.rank])
        elif self.runtime.is_main:
            print("pirlib train: resuming with a different number of processes; dropout draws will differ")

    def _prior_cache_applies(self) -> bool:
        """prior.cache_features is honoured only where it gives the same features as the per-step prior."""
        config = self.config
        if not (config.prior.cache_features and uses_scene_prior(config.model)):
            return False
        blockers = [
            name
            for name, blocks in (
                ("data.gpu_resident=false", self.resident is None),
                ("data.augment=true", config.data.augment),
                ("prior.batchnorm_train_mode=true", config.prior.batchnorm_train_mode),
            )
            if blocks
        ]
        if blockers and self.runtime.is_main:
            print(f"pirlib train: prior.cache_features ignored ({', '.join(blockers)}); the prior runs every step")
        return not blockers

    # ---------------------------------------------------------------------------------------------------- loop

    def run(self) -> dict:
        started = time.perf_counter()
        while self.step < self.stop_step:
            self._train_epoch(self.step // self.steps_per_epoch)
        results = [None]
        with self.runtime.shared_outcome():
            if self.runtime.is_main:
                results[0] = self._results(time.perf_counter() - started)
                atomic_write_json(self.paths.eval, results[0])
        if self.runtime.distributed:
            dist.broadcast_object_list(results, src=0)
        return results[0]

    def _train_epoch(self, epoch: int) -> None:
        train, runtime = self.config.train, self.runtime
        first_batch = self.step - epoch * self.steps_per_epoch
        if first_batch == 0:
            self.epoch_sums, self.epoch_steps = {}, 0
        batches = epoch_batches(
            self.pairs.labels, train.batch_size, seed_of(train, "data"), epoch, self.config.data.group_by_scene
        )
        if len(batches) < self.steps_per_epoch:
            raise RuntimeError(f"epoch {epoch + 1} has {len(batches)} full batches, expected {self.steps_per_epoch}")
        batches = batches[: self.steps_per_epoch]
        if self.resident is not None:
            loader = self.resident.epoch_batches(batches, epoch, first_batch, runtime.rank, runtime.world_size)
        else:
            loader = self.loader.epoch(batches, epoch, first_batch)
        self.model.train()
        bar = progress_bar(
            total=self.steps_per_epoch,
            initial=first_batch,
            desc=f"epoch {epoch + 1}/{train.epochs}",
            disable=not runtime.is_main,
            dynamic_ncols=True,
        )
        tick = time.perf_counter()
        for batch in loader:
            values = self._train_step(batch, epoch)
            now = time.perf_counter()
            self.train_seconds += now - tick
            self.pairs_trained += train.batch_size
            bar.update(1)
            bar.set_postfix(
                loss=f"{values['loss']:.4f}",
                lr=f"{values['lr']:.2e}",
                pairs_per_s=f"{self.pairs_trained / self.train_seconds:.1f}",
            )
            at_end = self.step % self.steps_per_epoch == 0 or self.step >= self.stop_step
            every = train.checkpoint_every_steps
            if self.step in self.evaluate_at and not at_end:  # a planned point inside the epoch
                self._evaluate(epoch, end_of_epoch=False, candidate=True)
                self._save_last()
            elif every and self.step % every == 0 and not at_end:
                self._save_last()
            if self.step >= self.stop_step:
                break
            tick = time.perf_counter()
        bar.close()
        end_of_epoch = self.step % self.steps_per_epoch == 0
        due = train.eval_every_epochs > 0 and (epoch + 1) % train.eval_every_epochs == 0
        stopped = self.step >= self.stop_step
        planned = due or self.step == self.total_steps or self.step in self.evaluate_at
        scheduled = (end_of_epoch and planned) or (stopped and self.select_at_stop)
        if stopped or scheduled:
            self._evaluate(epoch, end_of_epoch, candidate=scheduled)
        elif end_of_epoch:
            with runtime.shared_outcome():
                if runtime.is_main:
                    self.logbook.append(self._train_record(epoch))
        save_period = train.save_last_every_epochs
        if stopped or (end_of_epoch and save_period and (epoch + 1) % save_period == 0):
            self._save_last()

    def _train_step(self, batch: dict, epoch: int) -> dict[str, float]:
        try:
            values, learning_rate = optimisation_step(
                self.step_module,
                self.optimizer,
                self.scheduler,
                batch,
                self.runtime.device,
                self.config.train.channels_last,
            )
        except NonFiniteLoss as error:
            last = existing_checkpoint(self.paths.last)
            raise TrainingDiverged(
                f"non-finite loss at step {self.step + 1} (epoch {epoch + 1}): {error.values}. Training stopped; "
                + (f"the last good checkpoint is {last}" if last else "no checkpoint had been written yet")
                + ". Lower train.learning_rate or check the data."
            ) from None
        if self.average is not None:
            self.average.update_parameters(self.model)
        self.step += 1
        self.epoch_steps += 1
        for name, value in values.items():
            self.epoch_sums[name] = self.epoch_sums.get(name, 0.0) + value
        return {**values, "lr": learning_rate}

    # ---------------------------------------------------------------------------------------------------- eval

    def _train_record(self, epoch: int) -> dict:
        return {
            "epoch": epoch + 1,
            "step": self.step,
            "epoch_progress": self.step / self.steps_per_epoch,
            "train": {name: total / max(1, self.epoch_steps) for name, total in self.epoch_sums.items()},
            "lr": group_learning_rates(self.optimizer),
            "pairs_per_s": self.pairs_trained / max(self.train_seconds, 1e-9),
        }

    def _evaluated_model(self) -> nn.Module:
        """The model evaluated and saved as best/: the weight average when there is one, else the trained weights."""
        return self.average.module if self.average is not None else self.model

    def _metrics(self, dataset) -> dict[str, float]:
        runtime = self.runtime
        model = self._evaluated_model()
        return evaluate_model(model, dataset, self.tokenizer, self.config, runtime.device, runtime.autocast_dtype)

    def _evaluate(self, epoch: int, end_of_epoch: bool, candidate: bool) -> None:
        """Validation and test metrics (main process), model selection (`candidate`: a scheduled evaluation), best/
        and the metrics record."""
        with self.runtime.shared_outcome():  # the main process evaluates, the others wait
            if self.runtime.is_main:
                validation = self._metrics(self.validation) if self.validation is not None else None
                test = self._metrics(self.test)
                record = {**self._train_record(epoch), "validation": validation, "test": test}
                if not end_of_epoch:
                    record["partial_epoch"] = True
                if not candidate:
                    record["selection_candidate"] = False
                if candidate and self.selection.update(epoch + 1, self.step, validation, test):
                    best = self._evaluated_model()
                    save_checkpoint(self.paths.best, best, self.config, self.tokenizer, self._metadata(epoch))
                self.logbook.append(record)
                self.last_test = test
                self.last_evaluation = {"epoch": epoch + 1, "step": self.step, "validation": validation, "test": test}
                summary = f"mR validation {validation['mR']:.2f}, " if validation else ""
                tqdm.write(f"epoch {epoch + 1} step {self.step}: {summary}mR test {test['mR']:.2f}")
        self.model.train()

    # ---------------------------------------------------------------------------------------------------- files

    def _metadata(self, epoch: int) -> dict:
        return {
            "epoch": epoch + 1,
            "step": self.step,
            "steps_per_epoch": self.steps_per_epoch,
            DATA_ROOT_KEY: str(Path(self.config.data.root).resolve()),
        }

    def _save_last(self) -> None:
        rng = [capture_rng_state()]
        if self.runtime.distributed:
            rng = [None] * self.runtime.world_size
            dist.all_gather_object(rng, capture_rng_state())
        with self.runtime.shared_outcome():  # the main process saves, the others wait
            if self.runtime.is_main:
                self._save_last_on_main(rng)

    def _save_last_on_main(self, rng: list[dict[str, torch.Tensor]]) -> None:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "total_steps": self.total_steps,
            "progress": {
                "step": self.step,
                "epoch_sums": self.epoch_sums,
                "epoch_steps": self.epoch_steps,
                "last_test": self.last_test,
                "last_evaluation": self.last_evaluation,
                "train_seconds": self.train_seconds,
                "pairs_trained": self.pairs_trained,
            },
            "selection": self.selection.state_dict(),
            "rng": rng,
        }
        if self.average is not None:
            state["average"] = self.average.state_dict()
        epoch = (self.step - 1) // self.steps_per_epoch
        save_checkpoint(self.paths.last, self.model, self.config, self.tokenizer, self._metadata(epoch), state)

    def _results(self, wall_seconds: float) -> dict:
        config = self.config
        return {
            **self.selection.summary(self.last_evaluation),
            "final": {"step": self.step, "test": self.last_test},
            "steps": self.step,
            "total_steps": self.total_steps,
            "stopped_by_max_steps": self.step < self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs_completed": self.step / self.steps_per_epoch,
            "train_pairs": len(self.pairs),
            "validation_images": len(self.validation) if self.validation is not None else 0,
            "test_images": len(self.test),
            "batch_size": config.train.batch_size,
            "world_size": self.runtime.world_size,
            "device": str(self.runtime.device),
            "precision": str(self.runtime.autocast_dtype or torch.float32).replace("torch.", ""),
            "train_seconds": self.train_seconds,
            "pairs_per_s": self.pairs_trained / max(self.train_seconds, 1e-9),
            "wall_seconds_last_session": wall_seconds,
        }
