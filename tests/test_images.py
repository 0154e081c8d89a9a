"""load_rgb: every image flavour of the benchmarks decodes to 8-bit RGB; check_image flags bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pirlib.data.images import ImageLoadError, check_image, load_rgb


def _rgb_array() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(6, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp"])
def test_lossless_rgb_round_trips(tmp_path: Path, suffix: str) -> None:
    pixels = _rgb_array()
    Image.fromarray(pixels).save(tmp_path / f"a{suffix}")
    image = load_rgb(tmp_path / f"a{suffix}")
    assert image.mode == "RGB" and image.size == (5, 6)
    np.testing.assert_array_equal(np.asarray(image), pixels)


def test_jpeg_decodes_to_rgb(tmp_path: Path) -> None:
    Image.new("RGB", (16, 8), (200, 30, 60)).save(tmp_path / "a.jpg", quality=95)
    image = load_rgb(tmp_path / "a.jpg")
    assert image.mode == "RGB" and image.size == (16, 8)
    assert np.abs(np.asarray(image).astype(int) - [200, 30, 60]).max() <= 3


def test_grayscale_is_replicated_to_three_channels(tmp_path: Path) -> None:
    gray = np.arange(30, dtype=np.uint8).reshape(5, 6) * 8
    Image.fromarray(gray, mode="L").save(tmp_path / "g.tif")
    pixels = np.asarray(load_rgb(tmp_path / "g.tif"))
    assert pixels.shape == (5, 6, 3)
    for channel in range(3):
        np.testing.assert_array_equal(pixels[..., channel], gray)


def test_rgba_drops_alpha(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 120, 10
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(np.asarray(load_rgb(tmp_path / "a.png"))[..., 0], 120)


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    image.save(tmp_path / "p.png", transparency=0)
    np.testing.assert_array_equal(np.asarray(load_rgb(tmp_path / "p.png"))[0, 0], [10, 200, 30])


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path: Path, suffix: str) -> None:
    values = np.array([[0, 257, 257 * 100], [257 * 200, 65535, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / f"d{suffix}")
    pixels = np.asarray(load_rgb(tmp_path / f"d{suffix}"))
    np.testing.assert_array_equal(pixels[..., 1], [[0, 1, 100], [200, 255, 255]])


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageLoadError, match="not found"):
        load_rgb(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="cannot decode"):
        load_rgb(tmp_path / "bad.png")
    assert check_image(tmp_path / "nope.png") == "missing"
    assert check_image(tmp_path / "bad.png").startswith("unreadable")
    Image.new("RGB", (2, 2)).save(tmp_path / "ok.jpg")
    assert check_image(tmp_path / "ok.jpg") is None
