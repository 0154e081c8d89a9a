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
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["the caption's own image", "another image"]
    plots.save_figure(figure, tmp_path / "04_t2i.png")
    figure = plots.image_to_text_gallery([image], [["one", "two"]], [[False, True]], ["scene"])
    texts = [text.get_text() for text in figure.axes[1].texts]
    assert texts == ["1. ✗ one", "2. ✓ two"]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["✓ one of the image's own captions", "✗ another image's caption"]
    figure, axis = plt.subplots()
    plots.embedding_map(np.random.rand(6, 2), [0, 1, 2, 0, 1, 2], [False] * 3 + [True] * 3, ["a", "b", "c"], axis)
    plots.class_legend(figure, ["a", "b", "c"])
    assert len(axis.collections) == 2 and len(figure.legends[0].get_texts()) == 5
    plt.close("all")


def test_class_colours_share_a_hue_within_a_group():
    colours = plots.class_colours(["a", "b", "c", "d"], groups=["x", "x", "y", "y"])
    hues = matplotlib.colors.rgb_to_hsv(colours[:, :3])[:, 0]
    assert colours.shape == (4, 4) and len({tuple(c) for c in colours}) == 4
    assert abs(hues[0] - hues[1]) < 0.08 and abs(hues[0] - hues[2]) > 0.15  # within a family, across families
    assert plots.class_colours(["a", "b"]).shape == (2, 4)
    with pytest.raises(ValueError, match="3 groups for 2 classes"):
        plots.class_colours(["a", "b"], groups=["x", "x", "y"])


def test_class_colours_follow_the_group_names_and_tell_the_members_apart():
    groups = ["green", "green", "green", "waterfront", "waterfront", "sports", "sports", "urban"]
    colours = plots.class_colours([f"class {k}" for k in range(len(groups))], groups)
    hues = matplotlib.colors.rgb_to_hsv(colours[:, :3])[:, 0] * 360  # degrees
    assert all(80 < hue < 160 for hue in hues[:3])  # green
    assert all(180 < hue < 250 for hue in hues[3:5])  # blue
    assert all(hue < 45 for hue in hues[5:7])  # orange
    assert plots.group_colourmaps(["x", "green", "y"]) == {"x": "Blues", "green": "Greens", "y": "Oranges"}
    green = colours[:3, :3]
    assert min(abs(green[i] - green[j]).max() for i in range(3) for j in range(i)) > 0.15  # shades apart


def test_class_legend_heads_one_column_per_group():
    figure = plt.figure()
    plots.class_legend(figure, ["a", "b", "c"], groups=["x", "x", "y"])
    texts = figure.legends[0].get_texts()
    labels = [text.get_text() for text in texts]
    assert labels == ["x", "a", "b", "y", "c", "", "modality", "image", "caption"]  # columns of 3, padded
    bold = [text.get_text() for text in texts if text.get_fontweight() == "bold"]
    assert bold == ["x", "y", "modality"]


def test_scene_prior_curve_names_every_reference_line():
    figure, axis = plt.subplots()
    history = {"epoch": [1, 2], "test_accuracy": [50.0, 70.0], "train_accuracy": [40.0, 65.0]}
    plots.scene_prior_curve(history, axis, chance=6.25, target=(85, "target"))
    labels = [text.get_text() for text in axis.get_legend().get_texts()]
    assert labels == ["test images (SynthRS test split)", "training batches", "chance (6.25 %)", "target (85 %)"]
    assert axis.get_xlabel() and axis.get_ylabel() and axis.get_title()


def test_bars_with_errors_draws_std_bars_and_a_labelled_reference():
    import pandas as pd

    means = pd.DataFrame({"A": [10.0, 20.0], "B": [15.0, 25.0]}, index=["x", "y"])
    stds = pd.DataFrame({"A": [1.0, 2.0], "B": [0.5, 0.0]}, index=["x", "y"])
    figure, axis = plt.subplots()
    plots.bars_with_errors(means, stds, axis, reference=(5.0, "chance"))
    assert [patch.get_height() for patch in axis.patches] == [10.0, 20.0, 15.0, 25.0]
    error_lines = [c for c in axis.collections if isinstance(c, matplotlib.collections.LineCollection)]
    assert len(error_lines) == 2 and error_lines[0].get_segments()[1][:, 1].tolist() == [18.0, 22.0]
    assert [text.get_text() for text in axis.get_legend().get_texts()] == ["chance", "A", "B"]
    with pytest.raises(ValueError, match="same rows and columns"):
        plots.bars_with_errors(means, stds.iloc[:1], axis)
