"""SynthRS pixel fields, vectorised in numpy: smooth noise, ground textures, and the soft masks of blobs.

All fields are float32 in [0, 1] on a square canvas of `size` pixels; colours are [size, size, 3]. The coordinate
grids X, Y hold pixel centres as fractions of the side (the units of `layout.py`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pirlib.data.synthrs.scenes import TEXTURES

ROOF_COLOURS = np.array(
    [(0.62, 0.60, 0.58), (0.70, 0.42, 0.36), (0.45, 0.47, 0.52), (0.78, 0.76, 0.72), (0.52, 0.40, 0.34)],
    dtype=np.float32,
)
CROP_COLOURS = np.array(
    [(0.45, 0.58, 0.26), (0.66, 0.62, 0.32), (0.36, 0.48, 0.22), (0.58, 0.50, 0.34)], dtype=np.float32
)
ASPHALT = np.array((0.33, 0.34, 0.36), dtype=np.float32)


def coordinate_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size  # [size]
    return np.meshgrid(centres, centres)  # X [size, size] varies along columns, Y along rows


def value_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a (cells+1)² random lattice resized bicubically to [size, size]."""
    lattice = rng.random((cells + 1, cells + 1), dtype=np.float32)  # [cells+1, cells+1]
    field = np.asarray(Image.fromarray(lattice, mode="F").resize((size, size), Image.Resampling.BICUBIC))
    return np.clip(field, 0.0, 1.0)  # [size, size]


def _cells(values: np.ndarray, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Nearest-neighbour lookup of a [k, k, ...] table over the canvas: one cell per 1/k of the side."""
    k = values.shape[0]
    rows = np.minimum((Y * k).astype(np.int64), k - 1)  # [size, size]
    columns = np.minimum((X * k).astype(np.int64), k - 1)
    return values[rows, columns]  # [size, size, ...]


def texture_field(rng: np.random.Generator, name: str, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """One ground texture over the whole canvas: [size, size, 3]."""
    base, amplitude = TEXTURES[name]
    size = X.shape[0]
    colour = np.asarray(base, dtype=np.float32) + rng.uniform(-0.04, 0.04, 3).astype(np.float32)  # [3]
    low = value_noise(rng, size, int(rng.integers(3, 7))) - 0.5  # [size, size]
    grain = value_noise(rng, size, max(4, size // 6)) - 0.5
    field = colour + (amplitude * low + 0.06 * grain)[..., None]  # [size, size, 3]
    if name == "urban":  # a block mosaic of roofs separated by streets
        blocks = int(rng.integers(6, 11))
        roofs = ROOF_COLOURS[rng.integers(len(ROOF_COLOURS), size=(blocks, blocks))]  # [k, k, 3]
        street = ((X * blocks) % 1.0 < 0.14) | ((Y * blocks) % 1.0 < 0.14)  # [size, size]
        field = np.where(street[..., None], ASPHALT, _cells(roofs, X, Y)) + (0.05 * grain)[..., None]
    elif name == "crops":  # parcels of different crops, each striped in its own direction
        parcels = int(rng.integers(2, 5))
        colours = CROP_COLOURS[rng.integers(len(CROP_COLOURS), size=(parcels, parcels))]  # [k, k, 3]
        angles = _cells(rng.uniform(0, np.pi, size=(parcels, parcels)).astype(np.float32), X, Y)  # [size, size]
        stripes = np.sin(2 * np.pi * 22.0 * (X * np.cos(angles) + Y * np.sin(angles)))
        field = _cells(colours, X, Y) + (0.05 * stripes + amplitude * 0.5 * low)[..., None]
    return np.clip(field, 0.0, 1.0).astype(np.float32)


def blob_mask(
    X: np.ndarray, Y: np.ndarray, x: float, y: float, rx: float, ry: float, wobble: np.ndarray, softness: float = 0.15
) -> np.ndarray:
    """Soft irregular ellipse: 1 inside, 0 outside, a ramp of `softness` (in radius units) at the border."""
    radius = np.sqrt(((X - x) / rx) ** 2 + ((Y - y) / ry) ** 2) + 0.5 * (wobble - 0.5)  # [size, size]
    return np.clip((1.0 - radius) / softness, 0.0, 1.0)


def gaussian_mask(X: np.ndarray, Y: np.ndarray, x: float, y: float, radius: float) -> np.ndarray:
    return np.exp(-((X - x) ** 2 + (Y - y) ** 2) / (2 * (radius / 2) ** 2))  # [size, size]


def blend(canvas: np.ndarray, colour: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """canvas * (1 - mask) + colour * mask, with colour [3] or [size, size, 3] and mask [size, size]."""
    mask = mask[..., None]  # [size, size, 1]
    return canvas * (1.0 - mask) + colour * mask
