"""Figures of VIR against the SynthRS ground truth (notebooks 02, 04): belief maps with the objects outlined.

- `draw_outlines`: key objects, distractors (their glyph polygons) and landmarks (the contour of their footprint)
  over an image axis.
- `token_kind_overlay`: the image with each grid cell tinted by its token kind (key, distractor, landmark; background
  untinted), objects outlined.
- `belief_overlay`: the belief over the g × g grid laid over the image, the cells dropped by rank & filter hatched,
  objects outlined.
- `belief_ground_truth_figure`: one row per image: its token kinds, then its belief.

Outlines come from `pirlib.data.synthrs.token_map` (`object_polygons`, `landmark_mask`) at the displayed image's
pixel size; token n ≥ 1 is grid cell n - 1 row-major, token 0 the global token (not drawn).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle

from pirlib.data.synthrs.token_map import TOKEN_KINDS
from pirlib.tutorial.plots import _grid_side

KIND_COLOURS = {"key": "#00e5ff", "distractor": "#7cfc00", "landmark": "#ffffff"}  # outline and tint of each kind


def draw_outlines(
    ax: Axes, polygons: Mapping[str, Sequence[Sequence[tuple[float, float]]]], landmark: np.ndarray | None
) -> Axes:
    """Outline `polygons` ({"key": [...], "distractor": [...]}, pixel coordinates) and the landmark mask [H, W]."""
    if landmark is not None and landmark.any() and not landmark.all():
        ax.contour(landmark.astype(float), levels=[0.5], colors=KIND_COLOURS["landmark"], linewidths=0.9,
                   linestyles="dashed")  # fmt: skip
    for kind in ("distractor", "key"):
        for polygon in polygons.get(kind, []):
            # Pixel i spans [i - 0.5, i + 0.5] on an imshow axis; the polygons use [i, i + 1].
            shifted = [(x - 0.5, y - 0.5) for x, y in polygon]
            ax.add_patch(Polygon(shifted, closed=True, fill=False, edgecolor=KIND_COLOURS[kind], linewidth=1.2))
    return ax


def _cell_extent(image: np.ndarray) -> tuple[float, float, float, float]:
    height, width = image.shape[:2]
    return (-0.5, width - 0.5, height - 0.5, -0.5)


def token_kind_overlay(
    image: np.ndarray,
    kinds: Sequence[int] | np.ndarray,
    polygons: Mapping[str, Sequence],
    landmark: np.ndarray | None,
    ax: Axes,
    title: str = "",
) -> Axes:
    """Image [H, W, 3] with its grid cells tinted by token kind (codes of TOKEN_KINDS, [1 + g*g]) and outlines."""
    kinds = np.asarray(kinds)
    side = _grid_side(len(kinds))
    grid = kinds[1:].reshape(side, side).astype(float)  # [g, g] kind codes
    colours = ["none", KIND_COLOURS["key"], KIND_COLOURS["distractor"], KIND_COLOURS["landmark"], "none"]
    ax.imshow(image)
    ax.imshow(grid, cmap=ListedColormap(colours), vmin=-0.5, vmax=len(TOKEN_KINDS) - 0.5, alpha=0.35,
              extent=_cell_extent(image), interpolation="nearest")  # fmt: skip
    draw_outlines(ax, polygons, landmark)
    counts = (
        ", ".join(f"{int((kinds[1:] == TOKEN_KINDS.index(kind)).sum())} {kind}" for kind in KIND_COLOURS) + " cells"
    )
    ax.set_title(f"{title}\n{counts}" if title else counts, fontsize=8)
    ax.axis("off")
    return ax


def belief_overlay(
    image: np.ndarray,
    belief: torch.Tensor | np.ndarray,
    kept: Sequence[int] | None,
    polygons: Mapping[str, Sequence],
    landmark: np.ndarray | None,
    ax: Axes,
    title: str = "belief",
) -> Axes:
    """The belief [1 + g*g] over the grid laid on the image [H, W, 3]; cells not in `kept` hatched; outlines."""
    belief = np.asarray(torch.as_tensor(belief).detach().float().cpu())
    side = _grid_side(len(belief))
    height, width = image.shape[:2]
    ax.imshow(image)
    shown = ax.imshow(belief[1:].reshape(side, side), cmap="magma", alpha=0.6, vmin=0.0, vmax=float(belief.max()),
                      extent=_cell_extent(image), interpolation="nearest")  # fmt: skip
    ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="belief")
    if kept is not None:
        kept_tokens = {int(token) for token in kept}
        for token in range(1, side * side + 1):
            if token not in kept_tokens:
                row, column = divmod(token - 1, side)
                corner = (column * width / side - 0.5, row * height / side - 0.5)
                ax.add_patch(Rectangle(corner, width / side, height / side, fill=False, hatch="xxx",
                                       edgecolor="#444444", linewidth=0))  # fmt: skip
    draw_outlines(ax, polygons, landmark)
    ax.set_title(f"{title}\nglobal token: {belief[0]:.3f}", fontsize=8)
    ax.axis("off")
    return ax


def belief_ground_truth_figure(
    images: Sequence[np.ndarray],
    beliefs: Sequence,
    kinds: Sequence,
    outlines: Sequence[tuple[Mapping[str, Sequence], np.ndarray | None]],
    kept: Sequence | None = None,
    titles: Sequence[str] | None = None,
    panel_size: float = 2.8,
) -> Figure:
    """One row per image: token kinds (tinted cells, outlines), then belief (cells dropped by rank & filter
    hatched when `kept` is given). `outlines[i]` is (object polygons, landmark mask) of image i."""
    import matplotlib.pyplot as plt

    count = len(images)
    if not count or any(len(items) != count for items in (beliefs, kinds, outlines)):
        raise ValueError(
            f"belief_ground_truth_figure: {count} images, {len(beliefs)} beliefs, {len(kinds)} kind maps, "
            f"{len(outlines)} outlines (need one of each per image, at least one image)"
        )
    figure, axes = plt.subplots(count, 2, figsize=(2.3 * panel_size, panel_size * count), squeeze=False)
    for row, (image, belief, image_kinds, (polygons, landmark)) in enumerate(
        zip(images, beliefs, kinds, outlines, strict=True)
    ):
        title = titles[row] if titles is not None else ""
        token_kind_overlay(image, image_kinds, polygons, landmark, axes[row, 0], title=title)
        belief_overlay(image, belief, None if kept is None else kept[row], polygons, landmark, axes[row, 1])
    handles = [Line2D([], [], color=colour, linewidth=2, label=kind) for kind, colour in KIND_COLOURS.items()]
    figure.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, -0.04),
                  facecolor="#777777", framealpha=1.0, labelcolor="white")  # fmt: skip
    figure.tight_layout()
    return figure
