"""Image transforms of the official training and evaluation pipelines (docs/official_behaviour.md §1, "train/test
transform").

Training: RandomResizedCrop(size, scale=(0.5, 1.0), bicubic) -> RandomHorizontalFlip -> RandAugment (2 ops,
magnitude 7) -> ToTensor -> Normalize(CLIP mean/std). Evaluation: Resize((size, size), bicubic) -> ToTensor ->
Normalize.

RandAugment is torchvision's, not a hand-written copy of the official one. Differences, documented rather than hidden:
- op set: torchvision draws from {Identity, ShearX/Y, TranslateX/Y, Rotate, Brightness, Color, Contrast, Sharpness,
  Posterize, Solarize, AutoContrast, Equalize}; the official list is {Identity, AutoContrast, Equalize, Brightness,
  Sharpness, ShearX/Y, TranslateX/Y, Rotate} (no Color, Contrast, Posterize, Solarize);
- magnitude scale: we use 11 magnitude bins so that magnitude 7 means 7/10 of each op's maximum, as the official
  0..10 level does (shear 0.21, rotation 21 degrees match); torchvision translates by up to 0.45 of the image side
  where the official code translates by at most 10 pixels, and torchvision picks the sign of enhancement ops at
  random where the official code always brightens/sharpens.
"""

from __future__ import annotations

import functools

import torch
from torchvision import transforms as T

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # official normalisation (CLIP statistics)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RANDAUGMENT_NUM_OPS = 2
RANDAUGMENT_MAGNITUDE = 7
RANDAUGMENT_MAGNITUDE_BINS = 11  # levels 0..10, the official scale
CROP_SCALE = (0.5, 1.0)


def normalize() -> T.Normalize:
    return T.Normalize(CLIP_MEAN, CLIP_STD)


@functools.cache
def _uint8_statistics(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """255, CLIP mean and std ([1, 3, 1, 1]) as float32 tensors on `device` (copied once: a copy from the host
    synchronises)."""
    statistics = torch.tensor(255.0), torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return tuple(value.to(device) for value in statistics)


def normalize_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 images [B, 3, H, W] → float32, CLIP-normalised on their own device, to the bit as `ToTensor` then
    `normalize()` make them on the CPU (the same operations in the same order, every operand a tensor: true division
    on CUDA too, where dividing by a Python number multiplies by its reciprocal)."""
    scale, mean, std = _uint8_statistics(images.device)
    return images.float().div(scale).sub(mean).div(std)


def test_transform(image_size: int) -> T.Compose:
    """Evaluation transform: bicubic resize to a square, tensor, CLIP normalisation."""
    return T.Compose(
        [
            T.Resize((image_size, image_size), interpolation=T.InterpolationMode.BICUBIC),
            T.ToTensor(),
            normalize(),
        ]
    )


def train_transform(image_size: int, augment: bool = True, randaugment: bool = True, uint8: bool = False) -> T.Compose:
    """Official training transform; `augment=False` (config.data.augment) gives the test transform instead, and
    `randaugment=False` keeps only the random resized crop and the flip (colour cues intact). `uint8=True` stops
    before the conversion to float: uint8 [3, H, W], which `normalize_uint8` turns into this transform's output."""
    if not augment:
        steps = [T.Resize((image_size, image_size), interpolation=T.InterpolationMode.BICUBIC)]
        return T.Compose([*steps, T.PILToTensor()]) if uint8 else test_transform(image_size)
    steps = [
        T.RandomResizedCrop(image_size, scale=CROP_SCALE, interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(),
    ]
    if randaugment:
        steps.append(
            T.RandAugment(
                num_ops=RANDAUGMENT_NUM_OPS,
                magnitude=RANDAUGMENT_MAGNITUDE,
                num_magnitude_bins=RANDAUGMENT_MAGNITUDE_BINS,
            )
        )
    return T.Compose([*steps, T.PILToTensor()] if uint8 else [*steps, T.ToTensor(), normalize()])


test_transform.__test__ = False  # not a pytest test, although test files import it by this name
