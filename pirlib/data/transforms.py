"""Image transforms of the official training and evaluation pipelines (PIR_SPEC §1, "train/test transform").

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

from torchvision import transforms as T

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # official normalisation (CLIP statistics)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RANDAUGMENT_NUM_OPS = 2
RANDAUGMENT_MAGNITUDE = 7
RANDAUGMENT_MAGNITUDE_BINS = 11  # levels 0..10, the official scale
CROP_SCALE = (0.5, 1.0)


def normalize() -> T.Normalize:
    return T.Normalize(CLIP_MEAN, CLIP_STD)


def test_transform(image_size: int) -> T.Compose:
    """Evaluation transform: bicubic resize to a square, tensor, CLIP normalisation."""
    return T.Compose(
        [
            T.Resize((image_size, image_size), interpolation=T.InterpolationMode.BICUBIC),
            T.ToTensor(),
            normalize(),
        ]
    )


def train_transform(image_size: int, augment: bool = True, randaugment: bool = True) -> T.Compose:
    """Official training transform; `augment=False` (config.data.augment) gives the test transform instead, and
    `randaugment=False` keeps only the random resized crop and the flip (colour cues intact)."""
    if not augment:
        return test_transform(image_size)
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
    return T.Compose([*steps, T.ToTensor(), normalize()])


test_transform.__test__ = False  # not a pytest test, although test files import it by this name
