"""The training data pipeline: per-sample augmentation as a pure function of (seed, epoch, sample) that leaves the
process's random streams alone, one DataLoader whose persistent workers give the batches a fresh loader gives, and
uint8 images normalised on the device to the bit as the CPU transform does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_helpers import make_synthrs, tiny_config

from pirlib.data import CaptionCollator, PairDataset, build_tokenizer, load_index, train_transform
from pirlib.data.transforms import normalize_uint8
from pirlib.training.sampling import SeededSamples, TrainingLoader, epoch_batches

SIZE = 48


@pytest.fixture(scope="module")
def synthrs(tmp_path_factory) -> Path:
    return make_synthrs(tmp_path_factory.mktemp("data") / "synthrs")


def seeded_samples(root: Path, uint8: bool = False) -> SeededSamples:
    index = load_index(root)
    return SeededSamples(PairDataset(index, index.split_ids("train"), train_transform(SIZE, uint8=uint8)), seed=7)


def test_a_sample_is_a_function_of_seed_epoch_and_position_only(synthrs):
    samples = seeded_samples(synthrs)
    first = samples[(1, 3)]["image"]
    torch.rand(5)  # other draws in between change nothing
    assert torch.equal(samples[(0, 3)]["image"], samples[(0, 3)]["image"])
    assert torch.equal(samples[(1, 3)]["image"], first)
    assert not torch.equal(samples[(0, 3)]["image"], first)  # another epoch, another augmentation
    assert torch.equal(seeded_samples(synthrs)[(1, 3)]["image"], first)  # another process would draw the same


def test_fetching_samples_leaves_the_global_generator_alone(synthrs):
    samples = seeded_samples(synthrs)
    state = torch.get_rng_state()
    for position in range(3):
        samples[(0, position)]
    assert torch.equal(torch.get_rng_state(), state)


def test_uint8_images_normalised_on_the_device_equal_the_cpu_transform(synthrs):
    floats, uint8 = seeded_samples(synthrs), seeded_samples(synthrs, uint8=True)
    keys = [(0, 0), (0, 5), (2, 9)]
    raw = torch.stack([uint8[key]["image"] for key in keys])  # [3, 3, S, S] uint8
    assert raw.dtype == torch.uint8
    expected = torch.stack([floats[key]["image"] for key in keys])
    assert torch.equal(normalize_uint8(raw), expected)


def test_persistent_workers_give_the_batches_of_a_fresh_single_process_loader(synthrs):
    """Two epochs, the second resumed mid-epoch (first_batch 2), rank 1 of 2: workers that persist across epochs
    give exactly what the main process makes alone."""
    config = tiny_config(synthrs)
    samples = seeded_samples(synthrs)
    collate = CaptionCollator(build_tokenizer(config.text, synthrs), config.text.max_tokens)
    persistent = TrainingLoader(samples, collate, num_workers=2, pin_memory=False, rank=1, world_size=2)
    assert persistent.loader.persistent_workers
    for epoch, first_batch in ((0, 0), (1, 2)):
        batches = epoch_batches(samples.dataset.labels, 8, seed=7, epoch=epoch, group_by_scene=False)
        fresh = TrainingLoader(samples, collate, num_workers=0, pin_memory=False, rank=1, world_size=2)
        expected = list(fresh.epoch(batches, epoch, first_batch))
        produced = list(persistent.epoch(batches, epoch, first_batch))
        assert len(produced) == len(batches) - first_batch == len(expected)
        for got, want in zip(produced, expected, strict=True):
            assert got.keys() == want.keys()
            assert all(torch.equal(got[key], want[key]) for key in want)
