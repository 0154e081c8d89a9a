"""Figure helpers of notebooks 03-05 (appended to pirlib.tutorial.plots): they draw what they are given and reject
inconsistent input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from pirlib.tutorial import plots


def test_mean_std_curves_draws_mean_and_band():
    figure, axis = plt.subplots()
    plots.mean_std_curves({"a": [([1, 2], [1.0, 3.0]), ([1, 2], [3.0, 5.0])], "b": [([1, 2], [0.0, 1.0])]}, axis, "y")
    lines = axis.get_lines()
    assert [line.get_label() for line in lines] == ["a (n=2)", "b (n=1)"]
    assert lines[0].get_ydata().tolist() == [2.0, 4.0] and len(axis.collections) == 1  # one band: only "a" has seeds
    with pytest.raises(ValueError, match="different x values"):
        plots.mean_std_curves({"c": [([1, 2], [0, 0]), ([1, 3], [0, 0])]}, axis, "y")
    plt.close(figure)


def test_galleries_and_embedding_map(tmp_path):
    image = np.zeros((8, 8, 3))
    figure = plots.text_to_image_gallery(
        ["a caption", "another"], [[image, image], [image]], [[True, False], [False]], [["x", "y"], ["z"]]
    )
    assert len(figure.axes) == 6 and not figure.axes[5].axison  # the missing third image leaves its panel empty
    assert figure.axes[1].spines["left"].get_edgecolor()[:3] == matplotlib.colors.to_rgb(plots.MATCH_COLOUR)
    plots.save_figure(figure, tmp_path / "04_t2i.png")
    figure = plots.image_to_text_gallery([image], [["one", "two"]], [[False, True]], ["scene"])
    texts = [text.get_text() for text in figure.axes[1].texts]
    assert texts == ["1. ✗ one", "2. ✓ two"]
    figure, axis = plt.subplots()
    plots.embedding_map(np.random.rand(6, 2), [0, 1, 2, 0, 1, 2], [False] * 3 + [True] * 3, ["a", "b", "c"], axis)
    plots.class_legend(figure, ["a", "b", "c"])
    assert len(axis.collections) == 2 and len(figure.legends[0].get_texts()) == 5
    plt.close("all")


def test_class_colours_share_a_hue_within_a_group():
    colours = plots.class_colours(["a", "b", "c", "d"], groups=["x", "x", "y", "y"])
    hues = matplotlib.colors.rgb_to_hsv(colours[:, :3])[:, 0]
    assert colours.shape == (4, 4) and len({tuple(c) for c in colours}) == 4
    assert abs(hues[0] - hues[1]) < 0.05 and abs(hues[0] - hues[2]) > 0.1
    assert plots.class_colours(["a", "b"]).shape == (2, 4)
