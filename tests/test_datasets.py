"""PairDataset, RetrievalDataset, CaptionCollator, SceneGroupedBatchSampler, split_train_validation."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pirlib.data import (
    CaptionCollator,
    PairDataset,
    RetrievalDataset,
    SceneGroupedBatchSampler,
    load_index,
    split_train_validation,
    test_transform,
    write_index,
)
from pirlib.data.format import ImageRecord
from pirlib.data.tokenizer import train_wordpiece

CLASSES = ("airport", "beach", "pond")


def _tiny_dataset(root: Path, per_class: int = 6) -> Path:
    """per_class images of each class (the last 2 of each in the test split), 3 captions each, 12x12 PNG."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    records = []
    for label, name in enumerate(CLASSES):
        for k in range(per_class):
            file = f"{name}_{k}.png"
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / "images" / file)
            captions = tuple(f"{name} number {k} caption {c} with red planes" for c in range(3))
            records.append(ImageRecord(file, "test" if k >= per_class - 2 else "train", label, captions))
    write_index(root, "tiny", CLASSES, records)
    return root


@pytest.fixture
def index(tmp_path: Path):
    return load_index(_tiny_dataset(tmp_path / "tiny"))


def test_pair_dataset_has_one_item_per_caption(index) -> None:
    train_ids = index.split_ids("train")
    pairs = PairDataset(index, train_ids, test_transform(8))
    assert len(pairs) == 3 * len(train_ids) == 36
    item = pairs[4]
    assert item["image"].shape == (3, 8, 8)
    assert item["image_id"] == train_ids[1] and item["label"] == 0
    assert item["caption"] == index.images[train_ids[1]].captions[1]
    assert pairs.labels == [index.images[image_id].label for image_id, _ in pairs.pairs]


def test_retrieval_dataset_maps(index) -> None:
    test_ids = index.split_ids("test")
    evalset = RetrievalDataset(index, test_ids, test_transform(8))
    assert len(evalset) == 6 and len(evalset.captions) == 18
    assert evalset.img2txt[1] == [3, 4, 5]
    assert evalset.txt2img[:7] == [0, 0, 0, 1, 1, 1, 2]
    for position, captions in enumerate(evalset.img2txt):
        assert all(evalset.txt2img[j] == position for j in captions)
    assert evalset.image_labels == [0, 0, 1, 1, 2, 2]
    assert evalset.caption_labels == [label for label in evalset.image_labels for _ in range(3)]
    assert evalset.captions[3] == index.images[test_ids[1]].captions[0]
    assert evalset[0].shape == (3, 8, 8)


def test_caption_collator_pads_and_truncates(index) -> None:
    tokenizer = train_wordpiece([c for record in index.images for c in record.captions], vocab_size=200)
    pairs = PairDataset(index, index.split_ids("train"), test_transform(8))
    collate = CaptionCollator(tokenizer, max_tokens=6)
    batch = collate([pairs[0], pairs[5], pairs[20]])
    assert batch["images"].shape == (3, 3, 8, 8)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (3, 6)
    assert batch["input_ids"][:, 0].eq(tokenizer.cls_token_id).all()
    assert batch["input_ids"][:, -1].eq(tokenizer.sep_token_id).all()
    assert batch["image_ids"].dtype == batch["labels"].dtype == torch.long
    assert batch["labels"].tolist() == [0, 0, 1]
    short = CaptionCollator(tokenizer, max_tokens=40).tokenize(["pond", "airport number 1 caption"])
    assert short["input_ids"].shape[1] == short["attention_mask"][1].sum() and short["attention_mask"][0].sum() == 3
    assert short["input_ids"][0, 3:].eq(tokenizer.pad_token_id).all()


def test_scene_grouped_batches_cover_every_sample_once_and_group_scenes() -> None:
    labels = [k % 5 for k in range(203)]
    sampler = SceneGroupedBatchSampler(labels, batch_size=16, seed=1, scenes_per_batch=2)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 13
    assert sorted(i for batch in batches for i in batch) == list(range(203))
    scenes_per_batch = [len({labels[i] for i in batch}) for batch in batches]
    assert max(scenes_per_batch[:-2]) <= 2  # 5 scenes x 40 samples = 25 full chunks of 8; remainders at the end


def test_scene_grouped_batches_are_seeded_per_epoch() -> None:
    labels = [k % 3 for k in range(60)]
    first, second = SceneGroupedBatchSampler(labels, 8, seed=5), SceneGroupedBatchSampler(labels, 8, seed=5)
    assert list(first) == list(second)
    epoch0 = list(first)
    first.set_epoch(1)
    assert list(first) != epoch0
    second.set_epoch(1)
    assert list(first) == list(second)


def test_scene_grouped_batches_split_over_ranks() -> None:
    labels = [k % 4 for k in range(100)]
    ranks = [SceneGroupedBatchSampler(labels, 8, seed=0, num_replicas=2, rank=r, drop_last=True) for r in (0, 1)]
    batches = [list(sampler) for sampler in ranks]
    assert len(batches[0]) == len(batches[1]) == len(ranks[0]) == 6
    seen = [i for rank_batches in batches for batch in rank_batches for i in batch]
    assert len(seen) == len(set(seen)) == 96


def test_split_train_validation_is_stratified_and_seeded(index) -> None:
    train, validation = split_train_validation(index, 0.25, seed=0)
    assert sorted(train + validation) == index.split_ids("train")
    assert Counter(index.labels(validation)) == {0: 1, 1: 1, 2: 1}
    assert split_train_validation(index, 0.25, seed=0) == (train, validation)
    assert split_train_validation(index, 0.0, seed=0) == (index.split_ids("train"), [])
    with pytest.raises(ValueError, match="fraction"):
        split_train_validation(index, 1.0, seed=0)
