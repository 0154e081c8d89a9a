"""GPU-resident data (`data.gpu_resident`) on the CPU: the same batches as the DataLoader path (tokens, ids, labels,
un-augmented pixels), deterministic seeded augmentation of the right shape and range, valid crop boxes."""

from __future__ import annotations

import pytest
import torch
from train_helpers import make_synthrs, tiny_config

from pirlib.data import CaptionCollator, PairDataset, build_tokenizer, load_index, test_transform
from pirlib.data.gpu_augment import _sampling_grid, augment_batch, crop_boxes, normalize_batch
from pirlib.data.gpu_resident import ResidentPairs
from pirlib.data.transforms import CLIP_MEAN, CLIP_STD


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = make_synthrs(tmp_path_factory.mktemp("resident") / "synthrs")
    config = tiny_config(root)
    index = load_index(root)
    pairs = PairDataset(index, index.split_ids("train"), test_transform(config.vision.image_size))
    return config, pairs, build_tokenizer(config.text, root)


def resident(setup, augment: bool) -> ResidentPairs:
    config, pairs, tokenizer = setup
    size = config.vision.image_size
    return ResidentPairs(pairs, tokenizer, config.text.max_tokens, size, augment, torch.device("cpu"), seed=0)


def test_batches_match_the_dataloader_path_without_augmentation(setup):
    config, pairs, tokenizer = setup
    positions = [0, 7, 3, 12, 5]
    expected = CaptionCollator(tokenizer, config.text.max_tokens)([pairs[p] for p in positions])
    batch = resident(setup, augment=False).batch(positions, generator=None)
    for key in ("input_ids", "attention_mask", "image_ids", "labels"):
        assert torch.equal(batch[key], expected[key]), key
    torch.testing.assert_close(batch["images"], expected["images"], atol=1e-5, rtol=0)


def test_augmentation_is_seeded_shaped_and_in_range(setup):
    data = resident(setup, augment=True)
    batches = [[0, 1, 2, 3], [4, 5, 6, 7]]
    first = list(data.epoch_batches(batches, epoch=1, first_batch=0, rank=0, world_size=1))
    second = list(data.epoch_batches(batches, epoch=1, first_batch=0, rank=0, world_size=1))
    assert len(first) == 2
    torch.testing.assert_close(first[0]["images"], second[0]["images"])  # same (seed, epoch, batch): same draw
    assert not torch.equal(first[0]["images"], first[1]["images"])
    size = setup[0].vision.image_size
    assert first[0]["images"].shape == (4, 3, size, size) and first[0]["images"].dtype == torch.float32
    low = normalize_batch(torch.zeros(1, 3, 1, 1)).min()
    high = normalize_batch(torch.full((1, 3, 1, 1), 255.0)).max()
    assert low - 1e-5 <= first[0]["images"].min() and first[0]["images"].max() <= high + 1e-5


def test_rank_slices_follow_the_global_batch(setup):
    data = resident(setup, augment=False)
    batches = [[0, 1, 2, 3, 4, 5]]
    shares = [next(data.epoch_batches(batches, 0, 0, rank, 2))["image_ids"] for rank in (0, 1)]
    whole = next(data.epoch_batches(batches, 0, 0, 0, 1))["image_ids"]
    assert torch.equal(torch.cat(shares), whole)


def test_crop_boxes_lie_inside_the_image():
    boxes = crop_boxes(500, 40, 30, torch.Generator().manual_seed(0))  # top, left, height, width
    top, left, height, width = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (height >= 1).all() and (width >= 1).all()
    assert (top + height <= 40).all() and (left + width <= 30).all()
    area = height * width / (40 * 30)
    assert area.min() >= 0.45 and area.max() <= 1.0


def test_augment_batch_output_shape_and_pixel_range():
    images = torch.full((64, 3, 20, 20), 128, dtype=torch.uint8)
    out = augment_batch(images, 16, torch.Generator().manual_seed(1))  # [64, 3, 16, 16]
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    pixels = (out * std + mean) * 255
    assert out.shape == (64, 3, 16, 16)
    assert ((pixels > -0.5) & (pixels < 255.5)).all()


def test_sampling_grid_matches_affine_grid():
    maps = torch.randn(5, 3, 3)
    expected = torch.nn.functional.affine_grid(maps[:, :2], (5, 3, 17, 17), align_corners=False)
    torch.testing.assert_close(_sampling_grid(maps, 17), expected)


def test_sync_free_augmentation_gives_the_same_images():
    images = torch.randint(0, 256, (48, 3, 20, 20), dtype=torch.uint8)
    subset = augment_batch(images, 16, torch.Generator().manual_seed(3), sync_free=False)
    whole = augment_batch(images, 16, torch.Generator().manual_seed(3), sync_free=True)
    torch.testing.assert_close(whole, subset)


def test_cached_prior_features_equal_the_per_step_prior(setup):
    from pirlib.models.encoders import ScenePrior
    from pirlib.training.runtime import Runtime

    config, _, _ = setup
    prior = ScenePrior(config.prior)
    data = resident(setup, augment=False)
    data.cache_prior_features(prior, Runtime(torch.device("cpu"), 0, 1, None, False), channels_last=True, chunk=5)
    positions = [0, 7, 3, 12, 5]
    batch = data.batch(positions, generator=None)
    assert batch["prior_features"].shape == (5, prior.width)
    per_step = prior(batch["images"].contiguous(memory_format=torch.channels_last))  # [5, C_prior]
    torch.testing.assert_close(batch["prior_features"], per_step, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="augmented"):
        resident(setup, augment=True).cache_prior_features(prior, None, channels_last=False)


def test_training_with_the_prior_cache_matches_training_without(tmp_path):
    from pirlib.training import fit

    root = make_synthrs(tmp_path / "synthrs")
    results = {}
    for cache in (False, True):
        overrides = ["data.gpu_resident=true", "data.augment=false", "train.precision=fp32"]
        config = tiny_config(root, *overrides, f"prior.cache_features={cache}")
        results[cache] = fit(config, tmp_path / f"cache_{cache}", max_steps=3)
    for key in ("mR", "i2t_r1", "t2i_r10"):
        assert results[True]["test"][key] == pytest.approx(results[False]["test"][key], abs=0.5)
