"""`prefetched`: the same items in the same order, the iterator's exception where it happened, a clean early stop,
and batches of seeded torch augmentation bit for bit those made without the background thread."""

from __future__ import annotations

import threading

import pytest
import torch

from pirlib.data.gpu_augment import augment_batch
from pirlib.data.prefetch import prefetched


def test_items_and_order_are_the_iterators():
    assert list(prefetched(iter(range(100)), depth=3)) == list(range(100))
    assert list(prefetched(iter([]))) == []


def test_an_exception_is_raised_where_the_iterator_raised():
    def items():
        yield 1
        yield 2
        raise ValueError("broken batch 3")

    seen = []
    with pytest.raises(ValueError, match="broken batch 3"):
        for item in prefetched(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_ends_the_thread():
    made = []

    def items():
        for value in range(1000):
            made.append(value)
            yield value

    batches = prefetched(items(), depth=2)
    assert [next(batches) for _ in range(3)] == [0, 1, 2]
    batches.close()
    assert not any(thread.name == "pirlib-prefetch" for thread in threading.enumerate())
    assert len(made) <= 3 + 2 + 1  # consumed + queued + the one being offered


def test_seeded_augmentation_is_bitwise_the_same():
    images = torch.randint(0, 256, (24, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)

    def batches():
        generator = torch.Generator().manual_seed(7)
        for start in range(0, 24, 8):
            yield augment_batch(images[start : start + 8], 28, generator, randaugment=True)

    for made, expected in zip(prefetched(batches()), batches(), strict=True):
        assert torch.equal(made, expected)
