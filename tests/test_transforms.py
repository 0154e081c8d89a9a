"""Official train / test transforms: sizes, CLIP normalisation, RandAugment present, augment flag."""

from __future__ import annotations

import torch
from PIL import Image
from torchvision import transforms as T

from pirlib.data.transforms import CLIP_MEAN, CLIP_STD, test_transform, train_transform


def test_test_transform_resizes_and_normalises() -> None:
    image = Image.new("RGB", (40, 30), (255, 0, 128))
    tensor = test_transform(28)(image)
    assert tensor.shape == (3, 28, 28)
    expected = [(value / 255 - mean) / std for value, mean, std in zip((255, 0, 128), CLIP_MEAN, CLIP_STD, strict=True)]
    torch.testing.assert_close(tensor.mean(dim=(1, 2)), torch.tensor(expected), atol=2e-3, rtol=0)


def test_train_transform_is_the_official_pipeline() -> None:
    steps = train_transform(32).transforms
    assert [type(step) for step in steps] == [
        T.RandomResizedCrop,
        T.RandomHorizontalFlip,
        T.RandAugment,
        T.ToTensor,
        T.Normalize,
    ]
    crop, augment = steps[0], steps[2]
    assert crop.scale == (0.5, 1.0) and crop.interpolation == T.InterpolationMode.BICUBIC
    assert (augment.num_ops, augment.magnitude, augment.num_magnitude_bins) == (2, 7, 11)


def test_train_transform_is_random_but_seeded() -> None:
    image = Image.radial_gradient("L").convert("RGB").resize((48, 48))
    transform = train_transform(32)
    torch.manual_seed(3)
    first = transform(image)
    torch.manual_seed(3)
    again = transform(image)
    assert first.shape == (3, 32, 32)
    torch.testing.assert_close(first, again)
    assert not torch.equal(first, transform(image))


def test_augment_false_gives_the_test_transform() -> None:
    image = Image.new("RGB", (20, 20), (10, 20, 30))
    torch.testing.assert_close(train_transform(16, augment=False)(image), test_transform(16)(image))


def test_randaugment_can_be_left_out() -> None:
    steps = train_transform(32, randaugment=False).transforms
    assert [type(step) for step in steps] == [T.RandomResizedCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize]
