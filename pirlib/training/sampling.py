"""Training data order and augmentation as pure functions of (seed, epoch, sample), for exact resume and DDP.

Every epoch is cut into global batches of `train.batch_size` pairs (the last incomplete batch is dropped, as the
official loader does); rank r of W takes the r-th contiguous slice of each global batch, so the ranks' batches
concatenated in rank order are exactly the global batch a single process would see. A resumed run skips the batches
already done. Each sample's augmentation runs under a torch generator seeded from (seed, epoch, sample position),
so it does not depend on worker processes, batch position or on what ran before.
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
    mixed_seed(seed, epoch, position), leaving the process's global torch RNG untouched."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, position = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(mixed_seed(self.seed, epoch, position))
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
    """This rank's slice of each global batch from `first_batch` on, as `(epoch, position)` keys."""

    def __init__(self, batches: list[list[int]], epoch: int, rank: int, world_size: int, first_batch: int) -> None:
        self.batches = batches[first_batch:]
        self.epoch = epoch
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for batch in self.batches:
            share = len(batch) // self.world_size
            yield [(self.epoch, position) for position in batch[self.rank * share : (self.rank + 1) * share]]

    def __len__(self) -> int:
        return len(self.batches)


def epoch_loader(
    samples: SeededSamples,
    batches: list[list[int]],
    epoch: int,
    first_batch: int,
    rank: int,
    world_size: int,
    collate,
    num_workers: int,
    pin_memory: bool,
) -> DataLoader:
    """A DataLoader over this rank's part of `batches[first_batch:]`; it draws nothing from the global RNG."""
    return DataLoader(
        samples,
        batch_sampler=RankBatchSampler(batches, epoch, rank, world_size, first_batch),
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(0),  # worker base seeds; augmentation is seeded per sample anyway
    )
