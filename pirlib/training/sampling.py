"""Training data order and augmentation as pure functions of (seed, epoch, sample), for exact resume and DDP.

Every epoch is cut into global batches of `train.batch_size` pairs (the last incomplete batch is dropped, as the
official loader does); rank r of W takes the r-th contiguous slice of each global batch, so the ranks' batches
concatenated in rank order are exactly the global batch a single process would see. A resumed run skips the batches
already done. Each sample's augmentation runs under the CPU generator seeded from (seed, epoch, sample position)
and restored afterwards, so it does not depend on worker processes, batch position or on what ran before, and
leaves every other random stream (the process's CPU generator, the CUDA generators that draw dropout) as it was.
One DataLoader serves the whole run (`TrainingLoader`): with workers, they persist from epoch to epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from pirlib.data import SceneGroupedBatchSampler


def mixed_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from a tuple of non-negative integers."""
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class SeededSamples(Dataset):
    """Wraps a map-style dataset; item `(epoch, position)` is `dataset[position]` drawn under the seed
    mixed_seed(seed, epoch, position), leaving the process's torch generators (CPU and CUDA) untouched."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, position = key
        with torch.random.fork_rng(devices=[]):  # the transforms draw from the CPU generator: saved, then restored
            torch.default_generator.manual_seed(mixed_seed(self.seed, epoch, position))  # CPU only, not CUDA
            return self.dataset[position]


def epoch_batches(
    labels: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_scene: bool
) -> list[list[int]]:
    """The global batches of `epoch` (lists of sample positions), full batches only."""
    if group_by_scene:
        sampler = SceneGroupedBatchSampler(labels, batch_size, seed, drop_last=True)
        sampler.set_epoch(epoch)
        return list(sampler)
    generator = torch.Generator().manual_seed(mixed_seed(seed, epoch))
    order = torch.randperm(len(labels), generator=generator).tolist()
    return [order[start : start + batch_size] for start in range(0, len(order) - batch_size + 1, batch_size)]


class RankBatchSampler(Sampler[list[tuple[int, int]]]):
    """This rank's slice of each global batch of one epoch from `first_batch` on, as `(epoch, position)` keys;
    `aim` points it at another epoch."""

    def __init__(self, rank: int, world_size: int) -> None:
        self.rank = rank
        self.world_size = world_size
        self.aim([], 0, 0)

    def aim(self, batches: list[list[int]], epoch: int, first_batch: int) -> None:
        self.batches = batches[first_batch:]
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for batch in self.batches:
            share = len(batch) // self.world_size
            yield [(self.epoch, position) for position in batch[self.rank * share : (self.rank + 1) * share]]

    def __len__(self) -> int:
        return len(self.batches)


class TrainingLoader:
    """The run's one DataLoader over `samples`; `epoch(...)` gives it for this rank's part of an epoch's batches.

    Built once, so with `num_workers` > 0 its workers persist from epoch to epoch (each epoch's batch sampler runs in
    the main process; the samples do not depend on which worker makes them). It draws nothing from the global RNG."""

    def __init__(self, samples: SeededSamples, collate, num_workers: int, pin_memory: bool, rank: int, world_size: int):
        self.sampler = RankBatchSampler(rank, world_size)
        self.loader = DataLoader(
            samples,
            batch_sampler=self.sampler,
            collate_fn=collate,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=num_workers > 0,
            generator=torch.Generator().manual_seed(0),  # worker base seeds; augmentation is seeded per sample anyway
        )

    def epoch(self, batches: list[list[int]], epoch: int, first_batch: int) -> DataLoader:
        """The loader, aimed at `batches[first_batch:]` of `epoch` (iterate it before aiming it again)."""
        self.sampler.aim(batches, epoch, first_batch)
        return self.loader
