"""What ``dltrain explain`` draws: importance bars, image grids with heat maps, and review
text highlighted token by token (a self-contained HTML page, every token escaped)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dltrain.report.plots import new_figure, save_png

__all__ = [
    "HighlightedRow",
    "heat",
    "token_page",
    "write_image_grid",
    "write_importance_bars",
]


def write_importance_bars(
    path: Path,
    names: Sequence[str],
    means: Sequence[float],
    stds: Sequence[float] | None,
    *,
    xlabel: str,
    title: str,
) -> Path:
    """Horizontal bars, most important on top, with ± one standard deviation."""
    count = len(names)
    fig = new_figure(6.4, max(2.0, 0.35 * count + 1.2))
    ax = fig.add_subplot()
    order = np.arange(count)[::-1]
    ax.barh(order, list(means), xerr=list(stds) if stds is not None else None, color="#4c72b0")
    ax.set_yticks(order, list(names))
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return save_png(fig, path)


def heat(attributions: np.ndarray) -> np.ndarray:
    """Per-pixel heat in [0, 1] from attributions (examples x H x W [x channels]): |value|
    summed over channels, scaled by each image's 99th percentile (one hot pixel does not
    wash out the rest)."""
    values = np.abs(attributions)
    if values.ndim == 4:
        values = values.sum(axis=-1)
    top = np.percentile(values.reshape(len(values), -1), 99, axis=1).reshape(-1, 1, 1)
    scaled: np.ndarray = np.clip(values / np.maximum(top, 1e-12), 0.0, 1.0)
    return scaled


def write_image_grid(
    path: Path,
    images: np.ndarray,
    maps: np.ndarray,
    cells: Sequence[tuple[int, str]],
    *,
    columns: int,
    title: str,
) -> Path:
    """A grid of images with their heat maps laid over them.

    Args:
        images: The examples (N x H x W [x C]).
        maps: Heat in [0, 1] (N x H x W).
        cells: ``(example index, caption)`` per cell, row by row; index -1 leaves a cell empty.
        columns: Cells per row.
    """
    rows = max(1, -(-len(cells) // columns))
    fig = new_figure(1.45 * columns + 0.4, 1.6 * rows + 0.5)
    fig.suptitle(title)
    for k, (index, caption) in enumerate(cells):
        ax = fig.add_subplot(rows, columns, k + 1)
        ax.set_axis_off()
        if index < 0:
            continue
        image = images[index]
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        image = image.astype(np.float32)
        span = float(image.max() - image.min()) or 1.0
        image = (image - image.min()) / span
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        ax.imshow(maps[index], cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0)
        ax.set_title(caption, fontsize=7)
    return save_png(fig, path)


@dataclass(frozen=True)
class HighlightedRow:
    """One text row: its tokens with attributions, and what the model said about it."""

    row: int
    tokens: list[tuple[str, float]]
    caption: str


def token_page(rows: Sequence[HighlightedRow], *, title: str, legend: str) -> str:
    """A self-contained HTML page: each token's background red (for the explained output)
    or blue (against it), its strength the attribution over the page's largest |value|."""
    scale = max((abs(a) for r in rows for _, a in r.tokens), default=0.0) or 1.0
    body = []
    for r in rows:
        spans = []
        for token, value in r.tokens:
            alpha = min(1.0, abs(value) / scale)
            colour = "220,50,47" if value > 0 else "38,139,210"
            spans.append(
                f'<span style="background:rgba({colour},{alpha:.3f})" '
                f'title="{value:+.4f}">{html.escape(token)}</span>'
            )
        body.append(
            f'<div class="row"><div class="cap">row {r.row}: {html.escape(r.caption)}</div>'
            f"<p>{' '.join(spans)}</p></div>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.8}"
        "span{padding:1px 2px;border-radius:3px}.cap{color:#555;font-size:90%}"
        ".row{border-bottom:1px solid #ddd;padding:.4em 0}"
        f"</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(legend)}</p>"
        + "\n".join(body)
        + "</body></html>\n"
    )
