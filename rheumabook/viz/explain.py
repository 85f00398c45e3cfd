"""Figures of chapter 6: TinyViT's windows and merges, pretraining reconstructions, heat maps on joint crops.

- `stage_layouts`: per stage of a timm TinyViT, its token grid and attention window (read from the model).
- `window_layout_figure`: the token grids of the attention stages with their windows drawn, and one
  2 x 2 patch merging (TinyViT's 3 x 3 depthwise convolution of stride 2: the footprint of one new token).
- `reconstruction_figure`: corrupted / reconstructed / original crops of the pretraining (paper §3.3).
- `heat_overlay_grid`: heat maps over joint crops, one row per kind of map, with the joint box outlined
  (paper Fig. 5), and for chapter 6's pointing game the lesion outlined and each map's peak marked.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

__all__ = ["stage_layouts", "window_layout_figure", "reconstruction_figure", "heat_overlay_grid"]


def stage_layouts(backbone: Any, img_size: int) -> list[dict]:
    """[{stage, grid: (h, w), window, n_windows, padded: (h, w)}] of each attention stage of a timm TinyViT.

    Read from the model: the stage outputs' sizes for a blank (1, C, img_size, img_size) input and each
    stage's first block's ``window_size``; a grid that is not a multiple of its window is zero padded.
    """
    import torch

    stages = getattr(backbone, "stages", None)
    if stages is None or not hasattr(backbone, "forward_intermediates"):
        raise ValueError(f"{type(backbone).__name__} is not a timm TinyViT (no stages / forward_intermediates)")
    chans = backbone.patch_embed.conv1.conv.in_channels
    was = backbone.training
    with torch.no_grad():
        feats = backbone.eval().forward_intermediates(torch.zeros(1, chans, img_size, img_size), intermediates_only=True)
    backbone.train(was)
    out = []
    for i, (stage, f) in enumerate(zip(stages, feats)):
        window = getattr(stage.blocks[0], "window_size", None) if hasattr(stage, "blocks") else None
        if window is None:
            continue  # stage 0: MBConv only, no attention
        h, w = int(f.shape[-2]), int(f.shape[-1])
        ph, pw = -(-h // window) * window, -(-w // window) * window
        out.append({"stage": i, "grid": (h, w), "window": int(window), "n_windows": (ph // window) * (pw // window),
                    "padded": (ph, pw)})
    return out


def _draw_grid(ax, layout: dict, title: str) -> None:
    """One stage's token grid: tokens as cells, windows as coloured blocks, padding hatched."""
    import matplotlib.patches as mpatches

    (h, w), (ph, pw), k = layout["grid"], layout["padded"], layout["window"]
    colors = ["#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6", "#fb9a99", "#ffff99"]
    for wy in range(ph // k):
        for wx in range(pw // k):
            ax.add_patch(mpatches.Rectangle((wx * k, wy * k), k, k, facecolor=colors[(wy + wx) % len(colors)],
                                            edgecolor="black", linewidth=1.2))
    if (ph, pw) != (h, w):
        ax.add_patch(mpatches.Rectangle((w, 0), pw - w, ph, facecolor="none", hatch="///", edgecolor="grey"))
        ax.add_patch(mpatches.Rectangle((0, h), w, ph - h, facecolor="none", hatch="///", edgecolor="grey"))
    for v in range(max(ph, pw) + 1):
        ax.plot([0, pw], [v, v] if v <= ph else [ph, ph], color="white", linewidth=0.3)
        ax.plot([v, v] if v <= pw else [pw, pw], [0, ph], color="white", linewidth=0.3)
    ax.add_patch(mpatches.Rectangle((0, 0), 1, 1, facecolor="#e31a1c"))  # the idx-pooled token lives here
    ax.set_xlim(0, pw)
    ax.set_ylim(ph, 0)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def _draw_merge(ax_old, ax_new, n: int = 6, token: tuple[int, int] = (1, 1)) -> None:
    """A merge of an n x n grid to (n/2) x (n/2): the 3 x 3, stride-2, padding-1 footprint of one new token."""
    import matplotlib.patches as mpatches

    i, j = token
    for ax, size in ((ax_old, n), (ax_new, n // 2)):
        for y in range(size):
            for x in range(size):
                ax.add_patch(mpatches.Rectangle((x, y), 1, 1, facecolor="#f0f0f0", edgecolor="grey", linewidth=0.6))
        ax.set_xlim(0, size)
        ax.set_ylim(size, 0)
        ax.set_aspect("equal")
        ax.set_axis_off()
    for y in range(max(0, 2 * i - 1), min(n, 2 * i + 2)):
        for x in range(max(0, 2 * j - 1), min(n, 2 * j + 2)):
            ax_old.add_patch(mpatches.Rectangle((x, y), 1, 1, facecolor="#fdae61", edgecolor="black", linewidth=0.8))
    ax_new.add_patch(mpatches.Rectangle((j, i), 1, 1, facecolor="#d7191c", edgecolor="black", linewidth=0.8))
    ax_old.set_title(f"{n} x {n} tokens before the merge:\nthe 3 x 3 footprint (stride 2) of one new token", fontsize=8)
    ax_new.set_title(f"{n // 2} x {n // 2} tokens after:\nthe new token ({i}, {j})", fontsize=8)


def window_layout_figure(layouts: Mapping[str, Sequence[dict]]):
    """Rows of token grids, one row per model (`stage_layouts`), then one patch merging; returns the figure.

    layouts: {row label (e.g. "full: tiny_vit_5m_224 at 224 px"): stage_layouts(...)}.
    """
    import matplotlib.pyplot as plt

    n_cols = max(len(v) for v in layouts.values())
    fig, axes = plt.subplots(len(layouts) + 1, max(n_cols, 2), figsize=(3.0 * max(n_cols, 2), 3.1 * (len(layouts) + 1)),
                             squeeze=False)
    for r, (label, stages) in enumerate(layouts.items()):
        for c in range(axes.shape[1]):
            if c >= len(stages):
                axes[r, c].set_axis_off()
                continue
            s = stages[c]
            (h, w), k = s["grid"], s["window"]
            _draw_grid(axes[r, c], s, f"{label}\nstage {s['stage']}: {h} x {w} tokens, "
                                      f"{s['n_windows']} window{'s' if s['n_windows'] > 1 else ''} of {k} x {k}")
    _draw_merge(axes[-1, 0], axes[-1, 1])
    for c in range(2, axes.shape[1]):
        axes[-1, c].set_axis_off()
    fig.tight_layout()
    return fig


def reconstruction_figure(corrupted: np.ndarray, reconstructed: np.ndarray, original: np.ndarray, *,
                          titles: Optional[Sequence[str]] = None):
    """Three rows (corrupted input, the U-Net's reconstruction, the clean crop) of N (H, W) crops; returns the figure.

    Each column shares one gray window (the clean crop's 1st-99th percentile), so the rows compare directly.
    """
    import matplotlib.pyplot as plt

    n = len(original)
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n, 5.0), squeeze=False)
    for j in range(n):
        lo, hi = np.percentile(original[j], [1, 99])
        for i, (label, images) in enumerate((("corrupted", corrupted), ("reconstructed", reconstructed),
                                             ("original", original))):
            ax = axes[i, j]
            ax.imshow(images[j], cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1)
            _label_cell(ax, i, j, label, titles, sizes=(8, 7))
    fig.tight_layout()
    return fig


def _label_cell(ax, row: int, col: int, label: str, titles: Optional[Sequence[str]], *, sizes: tuple[int, int]) -> None:
    """An image-grid cell without ticks: the row's label left of the first column, the column's title on the top row."""
    ax.set_xticks([])
    ax.set_yticks([])
    if col == 0:
        ax.set_ylabel(label, fontsize=sizes[0])
    if row == 0 and titles is not None:
        ax.set_title(titles[col], fontsize=sizes[1])


def heat_overlay_grid(crops: np.ndarray, heats: Mapping[str, np.ndarray], *, masks: Optional[np.ndarray] = None,
                      outlines: Optional[np.ndarray] = None, peaks: bool = False,
                      titles: Optional[Sequence[str]] = None, suptitle: Optional[str] = None, alpha: float = 0.5,
                      cmap: str = "jet"):
    """Heat maps over joint crops (paper Fig. 5): first row the crops, then one row per entry of `heats`.

    crops: (N, H, W). heats: {row label: (N, H, W) maps}, each map shown on its own colour scale.
    masks: (N, H, W) or (H, W) bool joint regions, outlined in white. outlines: (N, H, W) bool
    lesions (chapter 6's pointing game), outlined in magenta on every panel. peaks: mark each
    map's highest pixel with a white cross (the pointing game's peak). titles: one per column;
    suptitle: above the figure. Returns the figure.
    """
    import matplotlib.pyplot as plt

    n = len(crops)
    fig, axes = plt.subplots(1 + len(heats), n, figsize=(1.5 * n, 1.6 * (1 + len(heats))), squeeze=False)
    if masks is not None:
        masks = np.broadcast_to(np.asarray(masks, dtype=bool), np.shape(crops))
    if outlines is not None:
        outlines = np.asarray(outlines, dtype=bool)
        if outlines.shape != np.shape(crops):
            raise ValueError(f"outlines must be one (H, W) mask per crop, {np.shape(crops)}, got {outlines.shape}")
    for j in range(n):
        for i, (label, heat) in enumerate((("crop", None), *heats.items())):
            ax = axes[i, j]
            ax.imshow(crops[j], cmap="gray")
            if heat is not None:
                ax.imshow(np.asarray(heat[j]), cmap=cmap, alpha=alpha)
            if masks is not None:
                ax.contour(masks[j].astype(float), levels=[0.5], colors="white", linewidths=0.6)
            if outlines is not None and outlines[j].any():
                ax.contour(outlines[j].astype(float), levels=[0.5], colors="magenta", linewidths=0.8)
            if peaks and heat is not None:
                y, x = np.unravel_index(int(np.argmax(np.asarray(heat[j]))), np.shape(heat[j]))
                ax.plot([x], [y], marker="x", color="white", markersize=5, markeredgewidth=1.2)
            _label_cell(ax, i, j, label, titles, sizes=(7, 6))
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95) if suptitle else None)
    return fig
