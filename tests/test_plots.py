"""Figure helpers of the notebooks: they draw what they claim and fail clearly on bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.patches import Rectangle
from PIL import Image

from pirlib.tutorial import plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_save_figure_writes_png_atomically(tmp_path):
    figure, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = plots.save_figure(figure, tmp_path / "figures" / "01_test.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["01_test.png"]  # no temporary file left behind
    with pytest.raises(ValueError, match=r"\.png"):
        plots.save_figure(figure, tmp_path / "figure.jpg")


def test_show_in_256_colours_displays_a_smaller_palette_png_of_the_same_size(monkeypatch):
    import io

    import IPython.display
    from PIL import Image

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    figure, ax = plt.subplots(figsize=(3, 2), dpi=100)
    ax.imshow(np.random.default_rng(0).random((40, 60, 3)))  # a photograph's worth of colours
    ax.set_title("noise")
    full = io.BytesIO()
    figure.savefig(full, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plots.show_in_256_colours(figure)
    assert not plt.fignum_exists(figure.number)
    (image,) = shown
    compact = Image.open(io.BytesIO(image.data))
    assert compact.mode == "P" and len(compact.getcolors(256)) <= 256
    assert compact.size == Image.open(full).size
    assert len(image.data) < len(full.getvalue())


def test_to_display_image_inverts_normalisation():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    pixels = torch.rand(3, 8, 6)
    normalised = (pixels - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    shown = plots.to_display_image(normalised, mean, std)
    assert shown.shape == (8, 6, 3)
    np.testing.assert_allclose(shown, pixels.permute(1, 2, 0).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        plots.to_display_image(torch.zeros(8, 6), mean, std)


def test_image_caption_grid_lays_out_images_and_captions():
    images = [Image.new("RGB", (16, 16), (i * 40, 0, 0)) for i in range(5)]
    captions = [f"caption number {i} with several words to wrap around the panel" for i in range(5)]
    figure = plots.image_caption_grid(images, captions, titles=[f"class {i}" for i in range(5)], columns=3)
    axes = figure.get_axes()
    assert len(axes) == 6  # 2 rows × 3 columns, the last panel empty
    assert [len(ax.images) for ax in axes] == [1, 1, 1, 1, 1, 0]
    assert axes[4].get_title() == "class 4"
    assert "caption number 4" in axes[4].texts[0].get_text().replace("\n", " ")
    with pytest.raises(ValueError, match="one caption"):
        plots.image_caption_grid(images, captions[:2])


def test_class_histogram_stacks_splits():
    _, ax = plt.subplots()
    plots.class_histogram(["a", "b"], {"train": [3, 4], "test": [1, 2]}, ax)
    heights = [patch.get_height() for patch in ax.patches]
    bottoms = [patch.get_y() for patch in ax.patches]
    assert heights == [3, 4, 1, 2] and bottoms == [0, 0, 3, 4]
    with pytest.raises(ValueError, match="split 'test'"):
        plots.class_histogram(["a", "b"], {"test": [1]}, ax)


def test_caption_length_histograms_are_fractions():
    _, ax = plt.subplots()
    plots.caption_length_histograms({"small": [3, 3, 5], "large": list(range(1, 101))}, ax)
    assert len(ax.patches) == 2
    assert ax.get_legend().get_texts()[0].get_text() == "small (n=3)"


def test_belief_heatmap_reshapes_row_major():
    belief = torch.zeros(50)
    belief[0] = 0.25
    belief[1 + 7 * 2 + 5] = 1.0  # grid cell row 2, column 5
    _, ax = plt.subplots()
    plots.belief_heatmap(belief, ax)
    grid = ax.images[0].get_array()
    assert grid.shape == (7, 7) and grid[2, 5] == 1.0 and grid.sum() == 1.0
    assert "global token: 0.250" in ax.get_title()
    with pytest.raises(ValueError, match="square grid"):
        plots.belief_heatmap(torch.zeros(48), ax)


def test_token_filter_overlay_greys_out_dropped_tokens():
    order = [10, 0] + [t for t in range(1, 50) if t != 10]  # cell 9 first, the global token second
    _, ax = plt.subplots()
    plots.token_filter_overlay(np.zeros((112, 112, 3)), order, filter_size=40, ax=ax)
    rectangles = [patch for patch in ax.patches if isinstance(patch, Rectangle)]
    dropped = [patch for patch in rectangles if patch.get_fill()]
    assert len(rectangles) == 49 and len(dropped) == 10  # 39 grid tokens kept (+ the global token), 10 dropped
    assert "global kept" in ax.get_title() and "first: cell (1, 2)" in ax.get_title()
    first_star = ax.lines[0].get_xydata()[0]
    np.testing.assert_allclose(first_star, [2.5 * 16, 1.5 * 16])
