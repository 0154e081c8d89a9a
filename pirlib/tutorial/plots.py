"""Figure helpers shared by the tutorial notebooks (they keep the notebooks thin).

- `save_figure`: write a figure to `figures/NN_name.png` atomically.
- `show_in_256_colours`: show a figure of photographs inline as a 256-colour PNG, about a third of the bytes of the
  full-colour one the inline backend makes, so that the executed notebooks stay small.
- `to_display_image`: a normalised image tensor [3, H, W] back to displayable RGB [H, W, 3] in [0, 1].
- `image_caption_grid`: sample images with their (wrapped) captions, e.g. a dataset overview.
- `class_histogram`: images per scene class, one bar colour per split.
- `caption_length_histograms`: words per caption of several datasets on one axis, as fractions.
- `belief_heatmap`, `token_filter_overlay`: VIR's rank & filter (paper §3.2) on the Swin token grid. Token 0 is the
  global (mean) token; token n ≥ 1 is grid cell n - 1 in row-major order (docs/official_behaviour.md §2.1), so on a g ×
  g grid token n sits at row (n - 1) // g, column (n - 1) % g.
- `mean_std_curves`: learning curves, mean over seeds with a ± std band (notebook 03).
- `scene_prior_curve`: the scene prior's accuracy per pass, each reference line (chance, a target) named in the legend.
- `bars_with_errors`: grouped bars with ± std error bars and a labelled reference line (04).
- `text_to_image_gallery`, `image_to_text_gallery`: top-ranked retrievals with the ground truth marked and a legend of
  the marks (notebook 04).
- `class_colours`, `embedding_map`, `class_legend`: a 2-D map of the common subspace, colour = scene class (one hue
  family per confusable group, named after the group: `GROUP_COLOURMAPS`), marker = modality (05).
- `class_confusion`: a row-normalised class × class matrix with group boundaries (03, 05).
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from pirlib.io import atomic_write

KEPT_COLOUR = "#ffd400"  # outline of a token that survives rank & filter
FIRST_COLOUR = "#ff2d55"  # the highest-belief token (VIR's local token descends from it)


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save `figure` as PNG at `path` (folders created), atomically: a temporary file, then a rename."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"save_figure: {path} must end in .png (figures are written as figures/NN_name.png)")
    return atomic_write(
        path,
        lambda temporary: figure.savefig(
            temporary, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None}
        ),
    )


def show_in_256_colours(figure: Figure, dpi: float | None = None) -> None:
    """Display `figure` in the notebook as a PNG of at most 256 colours (an adaptive palette, dithered), rendered
    like the inline backend renders (`figure.dpi` unless given, tight bounding box), then close it. Photographs
    compress badly as full-colour PNGs; their 256-colour versions keep the text and marks legible."""
    from IPython.display import Image as DisplayImage
    from IPython.display import display
    from PIL import Image

    rendered, compact = io.BytesIO(), io.BytesIO()
    figure.savefig(rendered, format="png", dpi=dpi or figure.dpi, bbox_inches="tight", metadata={"Software": None})
    Image.open(rendered).convert("RGB").quantize(colors=256).save(compact, format="png", optimize=True)
    plt.close(figure)
    display(DisplayImage(data=compact.getvalue(), format="png"))


def to_display_image(image: torch.Tensor | np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Undo the input normalisation: [3, H, W] tensor → [H, W, 3] float array clipped to [0, 1]."""
    image = torch.as_tensor(image).detach().float().cpu()
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"to_display_image: expected an image tensor [3, H, W], got shape {tuple(image.shape)}")
    mean_tensor = torch.tensor(mean).view(3, 1, 1)  # [3, 1, 1]
    std_tensor = torch.tensor(std).view(3, 1, 1)  # [3, 1, 1]
    return (image * std_tensor + mean_tensor).clamp(0, 1).permute(1, 2, 0).numpy()  # [H, W, 3]


def image_caption_grid(
    images: Sequence,
    captions: Sequence[str],
    titles: Sequence[str] | None = None,
    columns: int = 4,
    wrap_width: int = 36,
    panel_size: float = 2.6,
) -> Figure:
    """A grid of images (PIL images or [H, W, 3] arrays) with a title above and the wrapped caption below each."""
    if len(images) != len(captions) or (titles is not None and len(titles) != len(images)):
        raise ValueError(
            f"image_caption_grid: {len(images)} images, {len(captions)} captions"
            + (f", {len(titles)} titles" if titles is not None else "")
            + " (need one caption and title per image)"
        )
    if not images:
        raise ValueError("image_caption_grid: no images to show")
    columns = min(columns, len(images))
    rows = -(-len(images) // columns)
    wrapped = [textwrap.fill(caption, wrap_width) for caption in captions]
    caption_lines = max(text.count("\n") + 1 for text in wrapped)
    row_height = panel_size + 0.17 * caption_lines + 0.35
    figure, axes = plt.subplots(rows, columns, figsize=(panel_size * columns, row_height * rows), squeeze=False)
    for position, axis in enumerate(axes.flat):
        axis.axis("off")
        if position >= len(images):
            continue
        axis.imshow(np.asarray(images[position]))
        if titles is not None:
            axis.set_title(titles[position], fontsize=9, fontweight="bold")
        axis.text(0.0, -0.03, wrapped[position], transform=axis.transAxes, fontsize=7.5, va="top", ha="left")
    figure.tight_layout()
    return figure


def class_histogram(classes: Sequence[str], counts_by_split: Mapping[str, Sequence[int]], ax: Axes) -> Axes:
    """Stacked bars of images per class, one colour per split (e.g. {"train": [...], "test": [...]})."""
    bottom = np.zeros(len(classes))
    for split, counts in counts_by_split.items():
        if len(counts) != len(classes):
            raise ValueError(f"class_histogram: split '{split}' has {len(counts)} counts for {len(classes)} classes")
        ax.bar(np.arange(len(classes)), counts, bottom=bottom, label=split)
        bottom += np.asarray(counts, dtype=float)
    ax.set_xticks(np.arange(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("images")
    ax.legend(frameon=False, ncol=len(counts_by_split), loc="lower right", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def caption_length_histograms(lengths_by_dataset: Mapping[str, Sequence[int]], ax: Axes, max_words: int = 40) -> Axes:
    """Words per caption of each dataset as step histograms of fractions (datasets of any size compare)."""
    bins = np.arange(0.5, max_words + 1.5)
    for name, lengths in lengths_by_dataset.items():
        lengths = np.clip(np.asarray(lengths), 0, max_words)
        weights = np.full(len(lengths), 1.0 / max(len(lengths), 1))
        ax.hist(lengths, bins=bins, weights=weights, histtype="step", linewidth=1.8, label=f"{name} (n={len(lengths)})")
    ax.set_xlabel("words per caption")
    ax.set_ylabel("fraction of captions")
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def _grid_side(num_tokens: int) -> int:
    side = int(round((num_tokens - 1) ** 0.5))
    if side * side != num_tokens - 1:
        raise ValueError(f"{num_tokens} tokens are not 1 global token + a square grid (expected 1 + g*g, e.g. 50)")
    return side


def belief_heatmap(belief: torch.Tensor | np.ndarray, ax: Axes, title: str = "belief") -> Axes:
    """Heat map of one image's belief over its tokens [N] (N = 1 + g*g): the grid, with the global token's value."""
    belief = np.asarray(torch.as_tensor(belief).detach().float().cpu())
    side = _grid_side(belief.shape[0])
    grid = belief[1:].reshape(side, side)  # [g, g], row-major like the Swin grid
    image = ax.imshow(grid, cmap="magma", vmin=0.0, vmax=float(belief.max()))
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(f"{title}\nglobal token: {belief[0]:.3f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def token_filter_overlay(image: np.ndarray, order: Sequence[int], filter_size: int, ax: Axes) -> Axes:
    """Image [H, W, 3] with its g × g token grid: dropped tokens greyed out, kept ones outlined, the first starred.

    `order` is VIR's ranking of the N = 1 + g*g tokens (descending belief); the first `filter_size` are kept.
    """
    order = [int(index) for index in order]
    side = _grid_side(len(order))
    kept = set(order[:filter_size])
    height, width = image.shape[:2]
    cell_height, cell_width = height / side, width / side
    ax.imshow(image)
    for token in range(1, side * side + 1):
        row, column = divmod(token - 1, side)
        corner = (column * cell_width - 0.5, row * cell_height - 0.5)
        if token in kept:
            ax.add_patch(Rectangle(corner, cell_width, cell_height, fill=False, edgecolor=KEPT_COLOUR, linewidth=0.8))
        else:
            ax.add_patch(Rectangle(corner, cell_width, cell_height, facecolor="black", alpha=0.65, edgecolor="none"))
    first = order[0]
    if first == 0:
        caption = "first: global token"
    else:
        row, column = divmod(first - 1, side)
        ax.plot((column + 0.5) * cell_width, (row + 0.5) * cell_height, marker="*", markersize=13, color=FIRST_COLOUR)
        caption = f"first: cell ({row}, {column})"
    global_state = "kept" if 0 in kept else "dropped"
    ax.set_title(f"kept {filter_size}/{len(order)} · global {global_state}\n{caption}", fontsize=8)
    ax.axis("off")
    return ax


# --------------------------------------------------------------------------------------------------------------------
# notebooks 03-05: training curves, retrieval galleries, the common subspace

MATCH_COLOUR = "#1a9850"  # a retrieved item that is a ground-truth match
MISS_COLOUR = "#d73027"  # a retrieved item that is not
MISS_TEXT_COLOUR = "#333333"  # a retrieved caption that is not one of the query image's (red lines would tire)
REFERENCE_COLOUR = "grey"  # reference lines: chance, targets


def mean_std_curves(
    curves: Mapping[str, Sequence[tuple[Sequence[float], Sequence[float]]]], ax: Axes, ylabel: str
) -> Axes:
    """One line per label: the mean over seeds of y at each x, with a ± std band. `curves[label]` holds one (x, y)
    pair of sequences per seed; seeds must share their x values."""
    for label, runs in curves.items():
        xs = np.asarray(runs[0][0], dtype=float)
        ys = np.asarray([np.asarray(y, dtype=float) for x, y in runs])  # [seeds, points]
        if any(len(x) != len(xs) or not np.allclose(x, xs) for x, _ in runs):
            raise ValueError(f"mean_std_curves: the seeds of '{label}' are evaluated at different x values")
        mean = ys.mean(axis=0)
        (line,) = ax.plot(xs, mean, marker="o", markersize=3, label=f"{label} (n={len(runs)})")
        if len(runs) > 1:
            std = ys.std(axis=0, ddof=1)
            ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.18, linewidth=0)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def scene_prior_curve(
    history: Mapping[str, Sequence[float]],
    ax: Axes,
    chance: float | None = None,
    target: tuple[float, str] | None = None,
) -> Axes:
    """The scene prior's accuracy (%) after each pass over its corpus: `history` holds "epoch", "test_accuracy" and
    "train_accuracy" (the prior's metrics file). Reference lines, each named in the legend: `chance` (%, e.g.
    100 / classes) and `target` (value in %, what it is)."""
    ax.plot(history["epoch"], history["test_accuracy"], marker="o", label="test images (SynthRS test split)")
    ax.plot(history["epoch"], history["train_accuracy"], marker=".", label="training batches")
    if chance is not None:
        ax.axhline(chance, color=REFERENCE_COLOUR, linestyle="--", linewidth=1, label=f"chance ({chance:.2f} %)")
    if target is not None:
        value, meaning = target
        ax.axhline(value, color=REFERENCE_COLOUR, linestyle=":", linewidth=1.2, label=f"{meaning} ({value:g} %)")
    ax.set_xlabel("pass over the scene corpus")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("scene-prior pretraining", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="center right")
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def bars_with_errors(
    means: pd.DataFrame,
    stds: pd.DataFrame,
    ax: Axes,
    reference: tuple[float, str] | None = None,
    width: float = 0.8,
) -> Axes:
    """Grouped bars: one group per row of `means` (x axis), one bar per column (legend), with ± `stds` error bars
    (same shape); `reference` (value, label) draws a labelled horizontal line, e.g. chance. The legend sits to the
    right of the axes."""
    if means.shape != stds.shape or not means.index.equals(stds.index) or not means.columns.equals(stds.columns):
        raise ValueError(
            f"bars_with_errors: means {means.shape} and stds {stds.shape} must have the same rows and columns"
        )
    positions = np.arange(len(means))
    bar = width / len(means.columns)
    for number, column in enumerate(means.columns):
        offset = (number - (len(means.columns) - 1) / 2) * bar
        ax.bar(positions + offset, means[column], bar, yerr=stds[column], capsize=2, label=column,
               error_kw={"elinewidth": 0.8, "ecolor": "#333333"})  # fmt: skip
    if reference is not None:
        value, label = reference
        ax.axhline(value, color=REFERENCE_COLOUR, linestyle="--", linewidth=1, label=label)
    ax.set_xticks(positions, [str(name) for name in means.index], rotation=60, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(means) - 0.4)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def _frame(ax: Axes, colour: str, width: float = 4.0) -> None:
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_edgecolor(colour)
        spine.set_linewidth(width)


def _match_legend(figure: Figure, entries: Sequence[tuple[str, str]], marker: str = "s") -> None:
    """A legend below the figure for the frame (or text) colours of a gallery: `entries` of (colour, label)."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker=marker, markersize=10, linestyle="", markerfacecolor="none", markeredgewidth=2.5,
               color=colour, label=label)
        for colour, label in entries
    ]  # fmt: skip
    figure.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False, fontsize=10)


def text_to_image_gallery(
    queries: Sequence[str],
    ranked_images: Sequence[Sequence],
    correct: Sequence[Sequence[bool]],
    titles: Sequence[Sequence[str]],
    wrap_width: int = 28,
    panel_size: float = 2.0,
    match_label: str = "the caption's own image",
) -> Figure:
    """One row per caption query: the query text, then its top-ranked images (green frame: a match, by default the
    caption's own image; red: another image), each titled (e.g. its scene and score); a legend of the frames below."""
    rows, columns = len(queries), max(len(images) for images in ranked_images)
    figure, axes = plt.subplots(
        rows, columns + 1, figsize=(panel_size * (columns + 1.7), panel_size * 1.22 * rows), squeeze=False,
        gridspec_kw={"width_ratios": [1.7] + [1] * columns},
    )  # fmt: skip
    for row, query in enumerate(queries):
        axes[row, 0].axis("off")
        axes[row, 0].text(0, 0.5, textwrap.fill(f"“{query}”", wrap_width), fontsize=9, va="center", ha="left")
        for column in range(columns):
            axis = axes[row, column + 1]
            axis.set_xticks([])
            axis.set_yticks([])
            if column >= len(ranked_images[row]):
                axis.axis("off")
                continue
            axis.imshow(np.asarray(ranked_images[row][column]))
            _frame(axis, MATCH_COLOUR if correct[row][column] else MISS_COLOUR)
            axis.set_title(titles[row][column], fontsize=9)
    figure.tight_layout()
    _match_legend(figure, [(MATCH_COLOUR, match_label), (MISS_COLOUR, "another image")])
    return figure


def image_to_text_gallery(
    images: Sequence,
    ranked_captions: Sequence[Sequence[str]],
    correct: Sequence[Sequence[bool]],
    titles: Sequence[str],
    wrap_width: int = 95,
    panel_size: float = 2.0,
) -> Figure:
    """One row per image query: the image, then its top-ranked captions, ✓ (green) for a caption of that image, ✗
    for another image's caption; a legend of the two marks below."""
    figure, axes = plt.subplots(
        len(images), 2, figsize=(panel_size * 5.6, panel_size * 1.1 * len(images)), squeeze=False,
        gridspec_kw={"width_ratios": [1, 4.6]},
    )  # fmt: skip
    for row, image in enumerate(images):
        axes[row, 0].imshow(np.asarray(image))
        axes[row, 0].set_title(titles[row], fontsize=9)
        axes[row, 0].axis("off")
        text_axis = axes[row, 1]
        text_axis.axis("off")
        lines = len(ranked_captions[row])
        for rank, (caption, match) in enumerate(zip(ranked_captions[row], correct[row], strict=True)):
            mark = "✓" if match else "✗"
            text_axis.text(
                0, 1 - (rank + 0.5) / lines, f"{rank + 1}. {mark} {textwrap.shorten(caption, wrap_width)}",
                fontsize=9, va="center", ha="left", color=MATCH_COLOUR if match else MISS_TEXT_COLOUR,
            )  # fmt: skip
    figure.tight_layout()
    entries = [(MATCH_COLOUR, "✓ one of the image's own captions"), (MISS_TEXT_COLOUR, "✗ another image's caption")]
    _match_legend(figure, entries, marker="o")
    return figure


# Hue family of each SynthRS group, after what its name says (waterfront blue, green green, urban red-purple); a group
# not listed here takes the next unused family of GROUP_FAMILIES.
GROUP_COLOURMAPS = {"waterfront": "Blues", "green": "Greens", "sports": "Oranges", "urban": "RdPu"}
GROUP_FAMILIES = ("Blues", "Greens", "Oranges", "Purples", "Reds", "Greys", "YlOrBr", "BuGn")
SHADE_RANGE = (0.4, 1.0)  # the part of a sequential colour map the shades of one group are taken from
HUE_STEP = 0.025  # hue step (a fraction of the colour wheel) between neighbouring shades of one group
MIN_SATURATION = 0.4  # the light end of a sequential map is nearly grey: shades keep at least this saturation


def group_colourmaps(groups: Sequence[str]) -> dict[str, str]:
    """{group: name of its sequential colour map}: GROUP_COLOURMAPS for known names, unused GROUP_FAMILIES after."""
    names = list(dict.fromkeys(groups))
    spare = [family for family in GROUP_FAMILIES if family not in {GROUP_COLOURMAPS.get(n) for n in names}]
    return {name: GROUP_COLOURMAPS.get(name) or spare.pop(0) for name in names}


def class_colours(class_names: Sequence[str], groups: Sequence[str] | None = None) -> np.ndarray:
    """RGBA colours [C, 4], one per class: tab20 by default; with `groups` (the group of each class) one hue family
    per group (`group_colourmaps`), so that confusable classes share a hue, and within a group shades that differ in
    lightness and in hue (HUE_STEP between neighbours), so that the classes a model confuses stay apart."""
    from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

    if groups is None:
        return plt.get_cmap("tab20")(np.arange(len(class_names)) % 20)
    if len(groups) != len(class_names):
        raise ValueError(f"class_colours: {len(groups)} groups for {len(class_names)} classes")
    colours = np.ones((len(class_names), 4))
    for group, colourmap in group_colourmaps(groups).items():
        members = [k for k, g in enumerate(groups) if g == group]
        positions = np.linspace(*SHADE_RANGE, len(members)) if len(members) > 1 else np.array([0.75])
        hsv = rgb_to_hsv(plt.get_cmap(colourmap)(positions)[:, :3])  # [members, 3]
        if colourmap != "Greys":
            hsv[:, 0] = (hsv[:, 0] + HUE_STEP * (np.arange(len(members)) - (len(members) - 1) / 2)) % 1.0
            hsv[:, 1] = np.maximum(hsv[:, 1], MIN_SATURATION)
        colours[members, :3] = hsv_to_rgb(hsv)
    return colours


def embedding_map(
    coordinates: np.ndarray,
    labels: Sequence[int],
    is_text: Sequence[bool],
    class_names: Sequence[str],
    ax: Axes,
    title: str = "",
    colours: np.ndarray | None = None,
) -> Axes:
    """2-D embedding map [N, 2]: colour = class (`colours` [C, 4], default `class_colours`), marker = modality
    (● image, + caption); captions drawn first, images on top with a dark edge."""
    coordinates, labels, is_text = np.asarray(coordinates), np.asarray(labels), np.asarray(is_text, dtype=bool)
    colours = class_colours(class_names) if colours is None else np.asarray(colours)
    for modality, marker, size, alpha in ((True, "+", 26, 0.6), (False, "o", 34, 0.95)):
        chosen = is_text == modality
        ax.scatter(
            coordinates[chosen, 0], coordinates[chosen, 1], c=colours[labels[chosen]], marker=marker, s=size,
            alpha=alpha, linewidths=1.0 if marker == "+" else 0.4, edgecolors="#222222" if marker == "o" else None,
        )  # fmt: skip
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def class_legend(
    figure: Figure,
    class_names: Sequence[str],
    columns: int = 9,
    colours: np.ndarray | None = None,
    groups: Sequence[str] | None = None,
) -> None:
    """A figure-level legend of class colours (as in `embedding_map`) and of the two modality markers, below the axes.
    With `groups`, one column per group headed by its name (bold), and a last column for the markers."""
    from matplotlib.lines import Line2D

    colours = class_colours(class_names, groups) if colours is None else np.asarray(colours)

    def swatch(name: str, colour) -> Line2D:
        return Line2D([], [], marker="o", markersize=8, linestyle="", color=colour, markeredgecolor="#222222",
                      markeredgewidth=0.4, label=name)  # fmt: skip

    def blank(label: str = "") -> Line2D:
        return Line2D([], [], linestyle="", label=label)

    modality = [
        Line2D([], [], marker="o", markersize=8, linestyle="", color="grey", label="image"),
        Line2D([], [], marker="+", markersize=9, markeredgewidth=1.4, linestyle="", color="grey", label="caption"),
    ]
    headers: list[Line2D] = []  # the group names heading the columns
    if groups is None:
        handles = [swatch(name, colour) for name, colour in zip(class_names, colours, strict=True)] + modality
    else:
        order = list(dict.fromkeys(groups))
        height = 1 + max(list(groups).count(group) for group in order)
        handles = []
        for group in order:
            headers.append(blank(group))
            members = [headers[-1]] + [swatch(class_names[k], colours[k]) for k, g in enumerate(groups) if g == group]
            handles += members + [blank() for _ in range(height - len(members))]
        headers.append(blank("modality"))
        handles += [headers[-1], *modality] + [blank() for _ in range(height - 3)]
        columns = len(order) + 1
    legend = figure.legend(
        handles=handles, loc="upper center", ncol=columns, frameon=False, fontsize=10, bbox_to_anchor=(0.5, 0.0),
        handletextpad=0.3, columnspacing=1.6,
    )  # fmt: skip
    for handle, text in zip(handles, legend.get_texts(), strict=True):
        if any(handle is header for header in headers):
            text.set_fontweight("bold")


def class_confusion(
    counts: np.ndarray,
    class_names: Sequence[str],
    ax: Axes,
    groups: Sequence[str] | None = None,
    label: str = "share of the row",
    cmap: str = "Blues",
) -> Axes:
    """A class × class count matrix, each row normalised to sum to 1; lines between consecutive groups of classes."""
    counts = np.asarray(counts, dtype=float)
    if counts.shape != (len(class_names), len(class_names)):
        raise ValueError(f"class_confusion: a {counts.shape} matrix for {len(class_names)} classes")
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
    image = ax.imshow(shares, cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(class_names)), class_names, fontsize=7)
    if groups is not None:
        line = "white" if cmap == "magma" else "black"
        for boundary in [k for k in range(1, len(groups)) if groups[k] != groups[k - 1]]:
            ax.axhline(boundary - 0.5, color=line, linewidth=0.7)
            ax.axvline(boundary - 0.5, color=line, linewidth=0.7)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=label)
    return ax
