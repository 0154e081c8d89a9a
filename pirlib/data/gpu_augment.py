"""The official training augmentation (docs/official_behaviour.md §1, "train transform"), batched on the device for
uint8 images.

`augment_batch(images, image_size, generator)` draws, independently for every image of the batch, what
`pirlib.data.transforms.train_transform` draws per PIL image: RandomResizedCrop(image_size, scale (0.5, 1), ratio
(3/4, 4/3)) → RandomHorizontalFlip → RandAugment (2 ops of torchvision's 14, magnitude bin 7 of 11) → [0, 1] →
CLIP normalisation. The crop, the flip and the geometric RandAugment ops (shear, translate, rotate) are composed into
one affine map per image and sampled once with `grid_sample`; the colour ops act per image with per-image signs.

Deviations from the PIL pipeline (the distribution of augmentations is the same; pixels differ slightly):
- one bicubic resampling for crop + geometric op (PIL: bicubic resize, then a nearest-neighbour warp), without
  PIL's antialiasing when the crop is shrunk;
- the geometric ops are applied before the colour ops of the same draw (PIL: in the drawn order) and shear about the
  image centre (torchvision: about the top-left corner, i.e. plus a translation);
- colour ops run on float values rounded to integers after each op (PIL: uint8 arithmetic).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from pirlib.data.transforms import CLIP_MEAN, CLIP_STD, CROP_SCALE, RANDAUGMENT_MAGNITUDE, RANDAUGMENT_NUM_OPS

CROP_RATIO = (3 / 4, 4 / 3)  # RandomResizedCrop's default aspect-ratio range
CROP_ATTEMPTS = 10  # RandomResizedCrop tries this many boxes before falling back to a central crop
LEVEL = RANDAUGMENT_MAGNITUDE / 10  # magnitude bin 7 of the 11 bins 0..10 → 70 % of each op's maximum
SHEAR = 0.3 * LEVEL  # shear factor
TRANSLATE = 150 / 331 * LEVEL  # fraction of the image side
ROTATE = math.radians(30 * LEVEL)  # rotation angle
ENHANCE = 0.9 * LEVEL  # brightness / colour / contrast / sharpness factor is 1 ± ENHANCE
POSTERIZE_STEP = 2 ** (8 - 5)  # bin 7 keeps 5 bits
SOLARIZE_THRESHOLD = 255 * (1 - LEVEL)  # pixels at or above it are inverted
OPS = (
    "identity",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
    "rotate",
    "brightness",
    "color",
    "contrast",
    "sharpness",
    "posterize",
    "solarize",
    "autocontrast",
    "equalize",
)  # torchvision's RandAugment op set, drawn uniformly
GEOMETRIC = ("shear_x", "shear_y", "translate_x", "translate_y", "rotate")


def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    device = generator.device
    return low + (high - low) * torch.rand(shape, generator=generator, device=device)


def crop_boxes(count: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """RandomResizedCrop boxes, as torchvision draws them: → [count, 4] (top, left, box height, box width)."""
    area = height * width
    target = area * _uniform((count, CROP_ATTEMPTS), *CROP_SCALE, generator)  # [count, attempts]
    ratio = torch.exp(_uniform((count, CROP_ATTEMPTS), math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]), generator))
    box_width = torch.sqrt(target * ratio).round()  # [count, attempts]
    box_height = torch.sqrt(target / ratio).round()
    valid = (box_width > 0) & (box_width <= width) & (box_height > 0) & (box_height <= height)
    first = valid.float().argmax(dim=1, keepdim=True)  # [count, 1] first valid attempt
    box_width = box_width.gather(1, first).squeeze(1)  # [count]
    box_height = box_height.gather(1, first).squeeze(1)
    fallback = ~valid.any(dim=1)  # whole image (square images: ratio 1 is always in range)
    box_width = torch.where(fallback, torch.full_like(box_width, width), box_width)
    box_height = torch.where(fallback, torch.full_like(box_height, height), box_height)
    top = torch.floor(_uniform((count,), 0, 1, generator) * (height - box_height + 1))
    left = torch.floor(_uniform((count,), 0, 1, generator) * (width - box_width + 1))
    top = torch.where(fallback, (height - box_height) // 2, top)
    left = torch.where(fallback, (width - box_width) // 2, left)
    return torch.stack([top, left, box_height, box_width], dim=1)  # [count, 4]


def _geometric_maps(ops: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """ops, signs [B, num_ops] → [B, 3, 3] map from output to pre-op normalised coordinates (identity if none)."""
    batch = ops.shape[0]
    maps = torch.eye(3, device=ops.device).repeat(batch, 1, 1)  # [B, 3, 3]
    for slot in range(ops.shape[1]):
        step = torch.eye(3, device=ops.device).repeat(batch, 1, 1)  # [B, 3, 3]
        sign = signs[:, slot]
        op = ops[:, slot]
        step[:, 0, 1] = torch.where(op == OPS.index("shear_x"), sign * SHEAR, 0.0)
        step[:, 1, 0] = torch.where(op == OPS.index("shear_y"), sign * SHEAR, 0.0)
        step[:, 0, 2] = torch.where(op == OPS.index("translate_x"), sign * 2 * TRANSLATE, 0.0)
        step[:, 1, 2] = torch.where(op == OPS.index("translate_y"), sign * 2 * TRANSLATE, 0.0)
        rotate = op == OPS.index("rotate")
        angle = torch.where(rotate, sign * ROTATE, 0.0)
        cos, sin = torch.cos(angle), torch.sin(angle)
        rotation = torch.stack([cos, -sin, sin, cos], dim=1).view(batch, 2, 2)  # [B, 2, 2]
        step[:, :2, :2] = torch.where(rotate[:, None, None], rotation, step[:, :2, :2])
        maps = maps @ step  # the later op acts on the output first
    return maps


def _crop_flip_maps(boxes: torch.Tensor, flips: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """boxes [B, 4], flips [B] → [B, 3, 3] map from crop-output to source normalised coordinates."""
    top, left, box_height, box_width = boxes.unbind(1)  # [B] each
    maps = torch.zeros(boxes.shape[0], 3, 3, device=boxes.device)  # [B, 3, 3]
    maps[:, 0, 0] = box_width / width * torch.where(flips, -1.0, 1.0)
    maps[:, 0, 2] = (2 * left + box_width) / width - 1
    maps[:, 1, 1] = box_height / height
    maps[:, 1, 2] = (2 * top + box_height) / height - 1
    maps[:, 2, 2] = 1
    return maps


def _sampling_grid(maps: torch.Tensor, size: int) -> torch.Tensor:
    """maps [B, 3, 3] → the (x, y) source coordinates of every output pixel [B, S, S, 2], as `F.affine_grid` with
    align_corners False, by broadcasting (a batched matmul with an inner size of 3 is slow on the CPU)."""
    centres = (2 * torch.arange(size, device=maps.device, dtype=maps.dtype) + 1) / size - 1  # [S] pixel centres
    x, y = centres.view(1, 1, size), centres.view(1, size, 1)  # output column / row coordinates
    rows = maps[:, :2, :, None, None]  # [B, 2, 3, 1, 1]
    grid = rows[:, :, 0] * x + rows[:, :, 1] * y + rows[:, :, 2]  # [B, 2, S, S]
    return grid.permute(0, 2, 3, 1)  # [B, S, S, 2]


def _blend(image: torch.Tensor, degenerate: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor · image + (1 - factor) · degenerate, per image (factor [n])."""
    factor = factor.view(-1, 1, 1, 1)  # [n, 1, 1, 1]
    return factor * image + (1 - factor) * degenerate


def _sharpen_degenerate(image: torch.Tensor) -> torch.Tensor:
    """PIL's SMOOTH filter (3×3, centre weight 5 of 13) inside, the original border pixels."""
    kernel = torch.ones(3, 3, device=image.device, dtype=image.dtype)
    kernel[1, 1] = 5
    kernel = (kernel / kernel.sum()).expand(image.shape[1], 1, 3, 3).contiguous()  # [C, 1, 3, 3] depthwise
    smooth = F.conv2d(image, kernel, groups=image.shape[1])  # [n, C, H-2, W-2]
    degenerate = image.clone()
    degenerate[:, :, 1:-1, 1:-1] = smooth
    return degenerate


def _colour_op(name: str, image: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """One RandAugment colour op on images [n, 3, H, W] with values in [0, 255]; sign [n] in {-1, 1}."""
    factor = 1 + sign * ENHANCE  # [n]
    if name == "brightness":
        return _blend(image, torch.zeros_like(image), factor)
    gray = TF.rgb_to_grayscale(image)  # [n, 1, H, W]
    if name == "color":
        return _blend(image, gray.expand_as(image), factor)
    if name == "contrast":
        return _blend(image, gray.mean(dim=(1, 2, 3), keepdim=True).expand_as(image), factor)
    if name == "sharpness":
        return _blend(image, _sharpen_degenerate(image), factor)
    if name == "posterize":
        return torch.floor(image / POSTERIZE_STEP) * POSTERIZE_STEP
    if name == "solarize":
        return torch.where(image >= SOLARIZE_THRESHOLD, 255 - image, image)
    if name == "autocontrast":
        low = image.amin(dim=(2, 3), keepdim=True)  # [n, C, 1, 1]
        high = image.amax(dim=(2, 3), keepdim=True)
        scale = torch.where(high > low, 255 / (high - low).clamp(min=1e-6), 1.0)
        return torch.where(high > low, (image - low) * scale, image)
    if name == "equalize":
        return TF.equalize(image.to(torch.uint8)).to(image.dtype)
    raise ValueError(f"unknown colour op {name}")


def _apply_colour_ops(images: torch.Tensor, ops: torch.Tensor, signs: torch.Tensor, sync_free: bool) -> torch.Tensor:
    """The colour ops drawn in `ops` [B, num_ops]. `sync_free`: every op runs on the whole batch and `torch.where`
    keeps it where drawn (no host synchronisation: for GPUs); else each op runs on the images that drew it only."""
    for slot in range(ops.shape[1]):
        for name in OPS:
            if name == "identity" or name in GEOMETRIC:
                continue
            drawn = ops[:, slot] == OPS.index(name)  # [B]
            if sync_free:
                changed = _colour_op(name, images, signs[:, slot]).round().clamp(0, 255)
                images = torch.where(drawn[:, None, None, None], changed, images)
                continue
            chosen = drawn.nonzero().squeeze(1)  # [n] images drawing this op
            if chosen.numel():
                changed = _colour_op(name, images[chosen], signs[chosen, slot])
                images[chosen] = changed.round().clamp(0, 255)
    return images


@functools.cache
def _clip_statistics(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP mean and std × 255 as [1, 3, 1, 1] tensors on `device` (copied once: a copy from the host syncs)."""
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1) * 255
    return mean.to(device), std.to(device)


def normalize_batch(images: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] values in [0, 255] → CLIP-normalised float32."""
    mean, std = _clip_statistics(images.device)
    return (images - mean) / std


def augment_batch(
    images: torch.Tensor,
    image_size: int,
    generator: torch.Generator,
    sync_free: bool | None = None,
    randaugment: bool = True,
) -> torch.Tensor:
    """uint8 images [B, 3, H, W] on the generator's device → augmented, normalised float32 [B, 3, S, S].

    `randaugment=False` keeps the random resized crop and flip only (the scene prior's pretraining augmentation).
    `sync_free` (default: on CUDA) avoids every host synchronisation, so the host can queue the next step's work
    while the device still runs the previous one; the result is the same either way."""
    sync_free = images.is_cuda if sync_free is None else sync_free
    batch, _, height, width = images.shape
    boxes = crop_boxes(batch, height, width, generator)  # [B, 4]
    flips = _uniform((batch,), 0, 1, generator) < 0.5  # [B]
    ops = torch.randint(len(OPS), (batch, RANDAUGMENT_NUM_OPS), generator=generator, device=generator.device)
    signs = torch.where(_uniform((batch, RANDAUGMENT_NUM_OPS), 0, 1, generator) < 0.5, -1.0, 1.0)  # [B, num_ops]
    if not randaugment:
        warped = F.grid_sample(
            images.float(), _sampling_grid(_crop_flip_maps(boxes, flips, height, width), image_size),
            mode="bicubic", padding_mode="border", align_corners=False,
        )  # fmt: skip
        return normalize_batch(warped.round().clamp(0, 255))  # [B, 3, S, S]
    geometric = _geometric_maps(ops, signs)  # [B, 3, 3]
    maps = _crop_flip_maps(boxes, flips, height, width) @ geometric  # [B, 3, 3]
    grid = _sampling_grid(maps, image_size)  # [B, S, S, 2]
    warped = F.grid_sample(images.float(), grid, mode="bicubic", padding_mode="border", align_corners=False)
    outside = _sampling_grid(geometric, image_size).abs().amax(dim=-1) > 1  # [B, S, S]
    warped = warped.round().clamp(0, 255).masked_fill(outside[:, None], 0)  # RandAugment fills with black
    return normalize_batch(_apply_colour_ops(warped, ops, signs, sync_free))
