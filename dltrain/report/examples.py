"""The test examples a run got most wrong, kept in the run folder for ``dltrain report``.

``plots/examples.json`` lists them worst first (classification: the mistakes made with the
most confidence; regression: the largest absolute errors) with their true and predicted
values; image inputs are kept as small PNGs in ``plots/examples/``, scalar and text inputs as
fields of the row. The report is built from the folder alone, so this is written when the
run ends, while the predictions exist. NumPy and matplotlib only: the TensorFlow part (finding
the inputs in the test pipeline) is the caller's.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EXAMPLES", "EXAMPLES_FILE", "worst_examples", "write_examples"]

EXAMPLES = 24
"""How many examples are kept."""

EXAMPLES_FILE = "examples.json"
_FIELDS_MAX = 20
_VECTOR_MAX = 16


def worst_examples(
    truth: np.ndarray, pred: np.ndarray, task: str, count: int = EXAMPLES
) -> list[dict[str, Any]]:
    """The ``count`` worst test examples, worst first: ``index``, ``true``, ``predicted`` (class
    indices, or values for regression) and ``score`` (the confidence in the wrong class, or
    the absolute error). Correct classifications are not listed."""
    if task == "regression":
        true = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)[:, 0]
        guess = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)[:, 0]
        error = np.abs(true - guess)
        error = np.where(np.isfinite(error), error, np.inf)
        order = np.argsort(-error, kind="stable")[:count]
        return [
            {
                "index": int(i),
                "true": float(true[i]),
                "predicted": float(guess[i]),
                "score": float(error[i]),
            }
            for i in order
        ]
    labels = np.asarray(truth).reshape(-1).astype(np.int64)
    if task == "binary":
        p = np.asarray(pred, dtype=np.float64).reshape(-1)
        predicted = (p > 0.5).astype(np.int64)
        confidence = np.where(predicted == 1, p, 1.0 - p)
    else:
        probabilities = np.asarray(pred, dtype=np.float64).reshape(len(labels), -1)
        predicted = probabilities.argmax(axis=-1)
        confidence = probabilities.max(axis=-1)
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.argsort(-confidence[wrong], kind="stable")][:count]
    return [
        {
            "index": int(i),
            "true": int(labels[i]),
            "predicted": int(predicted[i]),
            "score": float(confidence[i]),
        }
        for i in order
    ]


def write_examples(
    plots_dir: Path,
    rows: Sequence[dict[str, Any]],
    inputs: Mapping[int, Any],
    class_names: Sequence[str] | None,
    caption: str,
    *,
    columns: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Write ``examples.json`` (and a PNG per image input) for ``rows`` of
    :func:`worst_examples`; ``inputs`` maps a row's index to its input (an array, or a
    mapping of input name to array). ``columns`` names the CSV columns a tabular input holds:
    such an input becomes one field per column, as the row was in the file."""
    from dltrain.report.plots import write_plot_file

    names = list(class_names or [])
    kept: list[dict[str, Any]] = []
    for row in rows:
        entry = dict(row)
        for key in ("true", "predicted"):
            value = entry[key]
            if isinstance(value, int) and 0 <= value < len(names):
                entry[key] = names[value]
        example = inputs.get(row["index"])
        parts = example.items() if isinstance(example, Mapping) else [("input", example)]
        fields: dict[str, str] = {}
        for name, value in parts:
            if value is None:
                continue
            array = np.asarray(value)
            if "image" not in entry and _is_image(array):
                image = f"examples/{row['index']}.png"
                write_plot_file(plots_dir / image, _png(array))
                entry["image"] = image
            elif len((columns or {}).get(str(name), ())) == array.size and array.ndim == 1:
                for column, cell in zip((columns or {})[str(name)], array, strict=True):
                    fields.setdefault(str(column), _text(np.asarray(cell)))
            elif len(fields) < _FIELDS_MAX:
                fields[str(name)] = _text(array)
        entry["fields"] = fields
        kept.append(entry)
    document = {"caption": caption, "examples": kept}
    return write_plot_file(
        plots_dir / EXAMPLES_FILE, (json.dumps(document, indent=1) + "\n").encode("utf-8")
    )


def _is_image(array: np.ndarray) -> bool:
    if not np.issubdtype(array.dtype, np.number):
        return False
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        return bool(min(array.shape[:2]) >= 8)
    return array.ndim == 2 and bool(min(array.shape) >= 8)


def _png(array: np.ndarray) -> bytes:
    from matplotlib.image import imsave

    image = array.astype(np.float64)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    low, high = float(np.nanmin(image)), float(np.nanmax(image))
    image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    buffer = io.BytesIO()
    imsave(buffer, np.clip(image, 0.0, 1.0), format="png", cmap="gray", vmin=0.0, vmax=1.0)
    return buffer.getvalue()


def _text(array: np.ndarray) -> str:
    if array.ndim == 0:
        value = array.item()
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return f"{value:.6g}" if isinstance(value, float) else str(value)
    flat = array.reshape(-1)
    if array.dtype.kind in "SUO":
        return " ".join(_text(np.asarray(v)) for v in flat[:_VECTOR_MAX])
    if flat.size <= _VECTOR_MAX:
        return ", ".join(f"{v:.4g}" for v in flat.astype(np.float64))
    return f"{flat.size} values, shape {list(array.shape)}"
