"""Methodology checks: ways a run's numbers could mislead, found before training.

Run by ``dltrain check`` and at the start of ``dltrain run``: printed as warnings and kept in
run.json (``methodology``); ``checks: {strict: true}`` makes them errors. Each check is a
plain function of the config, the built model, the data arrays or the first batch's loss, so
each can be shown to fire on a crafted case and stay silent on a clean one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dltrain.config.schema import ExperimentConfig, MnistData
from dltrain.data.spec import DataSpec, TargetInfo

__all__ = [
    "Finding",
    "duplicate_findings",
    "first_loss_finding",
    "leakage_findings",
    "loss_findings",
    "loss_identity",
    "output_activation",
    "validation_findings",
]

_LEAK = 0.99
"""A single feature predicting a class target this well (accuracy) is a leak."""
_LEAK_CORRELATION = 0.999
"""A single feature this correlated with a regression target is a copy or a transform of it
(a strong honest predictor, as in a linear regression on little noise, stays below)."""
_FIRST_LOSS_FACTOR = 2.0


@dataclass(frozen=True)
class Finding:
    """One methodology problem: which check found it and what to do."""

    check: str
    message: str

    def to_json(self) -> dict[str, str]:
        """For run.json."""
        return {"check": self.check, "message": self.message}


def validation_findings(config: ExperimentConfig) -> list[Finding]:
    """The test split used as validation while something is chosen by a validation metric."""
    data = config.data
    if not isinstance(data, MnistData) or data.validation != "test":
        return []
    chosen = [f"the checkpoint kept by {config.callbacks.checkpoint.monitor}"]
    if config.callbacks.early_stopping is not None:
        chosen.append(f"early stopping on {config.callbacks.early_stopping.monitor}")
    if config.callbacks.reduce_lr is not None:
        chosen.append(f"the learning-rate cuts on {config.callbacks.reduce_lr.monitor}")
    monitored = [c for c in chosen if "val_" in c]
    if not monitored:
        return []
    return [
        Finding(
            "test_as_validation",
            f"data.validation is test: {' and '.join(monitored)} "
            f"{'is' if len(monitored) == 1 else 'are'} chosen on the test split, "
            "so the test score is optimistic (the Keras example does this); set "
            "data.validation: 0.1 to hold out a validation split from the training data",
        )
    ]


def loss_findings(
    model: Any, losses: Sequence[Any], targets: Sequence[TargetInfo], names: Sequence[str]
) -> list[Finding]:
    """Losses that do not fit the output layer's activation or the target's task.

    ``losses`` pair with ``model.outputs``, ``names`` are the output layers' names.
    """
    out = []
    for loss, target, name in zip(losses, targets, names, strict=True):
        loss_name, logits = loss_identity(loss)
        activation = output_activation(model, name)
        units = target.units
        classy = "crossentropy" in loss_name or "hinge" in loss_name
        if target.task != "regression" and loss_name in _REGRESSION_LOSSES:
            out.append(
                Finding(
                    "loss_task",
                    f"output {name!r}: a regression loss ({loss_name}) on the {target.task} "
                    f"target {target.name!r}; use "
                    f"{'binary' if target.task == 'binary' else 'sparse_categorical'}"
                    "_crossentropy",
                )
            )
        if logits and activation in ("softmax", "sigmoid"):
            out.append(
                Finding(
                    "loss_activation",
                    f"output {name!r}: {activation} output with a from_logits=True loss: the "
                    "loss applies the activation a second time; drop from_logits or the "
                    "activation",
                )
            )
        if "categorical_crossentropy" in loss_name and activation == "sigmoid" and units > 1:
            out.append(
                Finding(
                    "loss_activation",
                    f"output {name!r}: sigmoid output with {loss_name}: the class "
                    "probabilities do not sum to 1; use softmax",
                )
            )
        if "categorical_crossentropy" in loss_name and _width(model, name) == 1:
            out.append(
                Finding(
                    "loss_activation",
                    f"output {name!r}: one unit with {loss_name}: the loss is always 0 and "
                    "nothing is learnt; use binary_crossentropy with a sigmoid unit",
                )
            )
        if classy and not logits and activation in ("linear", None) and loss_name != "hinge":
            if "crossentropy" in loss_name:
                out.append(
                    Finding(
                        "loss_activation",
                        f"output {name!r}: a linear output with {loss_name} expecting "
                        "probabilities; add activation: "
                        f"{'sigmoid' if 'binary' in loss_name else 'softmax'} or set "
                        "from_logits: true",
                    )
                )
    return out


_REGRESSION_LOSSES = frozenset(
    {
        "mse",
        "mae",
        "mape",
        "msle",
        "mean_squared_error",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_logarithmic_error",
        "huber",
        "log_cosh",
    }
)


def loss_identity(loss: Any) -> tuple[str, bool]:
    """(snake-case name, from_logits) of a loss given as a name, a class or an object."""
    if isinstance(loss, str):
        return loss.lower(), False
    config: dict[str, Any] = getattr(loss, "get_config", dict)() or {}
    name = str(config.get("name") or getattr(loss, "name", "") or type(loss).__name__)
    inner = getattr(loss, "fn", None)
    if name in ("", "loss") and inner is not None:
        name = getattr(inner, "__name__", name)
    return name.lower(), bool(config.get("from_logits", False))


def output_activation(model: Any, name: str) -> str | None:
    """The activation of the layer named ``name`` (None: no such layer, or none)."""
    try:
        layer = model.get_layer(name)
    except ValueError:
        return None
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return str(getattr(activation, "__name__", activation))


def _width(model: Any, name: str) -> int | None:
    try:
        shape = model.get_layer(name).output.shape
    except (ValueError, AttributeError):
        return None
    return int(shape[-1]) if len(shape) > 1 and shape[-1] is not None else 1


def first_loss_finding(loss: float, spec: DataSpec) -> Finding | None:
    """The untrained model's loss on a first batch, far above ln C for C balanced classes."""
    if len(spec.targets) != 1 or spec.targets[0].task == "regression":
        return None
    target = spec.targets[0]
    classes = 2 if target.task == "binary" else int(target.num_classes or 0)
    if classes < 2 or not math.isfinite(loss):
        return None
    expected = math.log(classes)
    if loss <= _FIRST_LOSS_FACTOR * expected + 0.5:
        return None
    return Finding(
        "first_loss",
        f"the untrained model's loss on a first batch is {loss:.3g}; with {classes} balanced "
        f"classes it should be about ln {classes} = {expected:.3g}: check the output "
        "activation, the label encoding (one_hot), the input scale or the initialization",
    )


def duplicate_findings(train: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> list[Finding]:
    """Test examples identical (every raw input, byte for byte) to a training example."""
    if not train or not test:
        return []
    count = _copies(train, test)
    total = len(next(iter(test.values())))
    if not count:
        return []
    share = count / total
    return [
        Finding(
            "duplicates",
            f"{count} of {total} test examples ({share:.1%}) are exact copies of training "
            "examples: the test score counts them as new; remove the copies from the test "
            "data (or split by group)",
        )
    ]


def _copies(train: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> int:
    """Test rows identical to a training row, byte for byte in every input.

    Numbers and images are compared as whole rows of bytes, hashed to 64 bits in NumPy and
    the rows whose hash matches compared exactly: a key per row built in Python took longer
    than reading a 1,000,000-row CSV (docs/benchmarks.md). Text goes through keys.
    """
    if any(np.asarray(v).dtype.kind in "OUS" for v in [*train.values(), *test.values()]):
        seen = set(_row_keys(train))
        return sum(1 for key in _row_keys(test) if key in seen)
    ours, theirs = _row_bytes(train), _row_bytes(test)
    if ours.shape[1] != theirs.shape[1]:
        return 0
    mine, other = _hashes(ours), _hashes(theirs)
    candidates = np.flatnonzero(_within(other, mine))
    if not candidates.size:
        return 0
    seen = {row.tobytes() for row in ours[_within(mine, other[candidates])]}
    return sum(1 for row in theirs[candidates] if row.tobytes() in seen)


def _within(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """``np.isin(values, among)`` for uint64 by a sort and a binary search (``isin`` took
    1.2 s on 200,000 in 640,000 hashes, this 0.09 s)."""
    ordered = np.sort(among)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return np.asarray(ordered[at] == values)


def _row_bytes(x: dict[str, np.ndarray]) -> np.ndarray:
    """Each row's bytes, every input side by side (sorted by name), padded to 8-byte words."""
    parts = [
        np.ascontiguousarray(np.asarray(x[name]).reshape(len(x[name]), -1)).view(np.uint8)
        for name in sorted(x)
    ]
    rows = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    pad = -rows.shape[1] % 8
    if pad:
        rows = np.pad(rows, ((0, 0), (0, pad)))
    return np.ascontiguousarray(rows)


def _hashes(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of 8-byte words (wrapping arithmetic; equal rows, equal hash)."""
    words = rows.view(np.uint64)
    out = np.zeros(len(words), dtype=np.uint64)
    for column in words.T:
        out = (out ^ column) * np.uint64(0x100000001B3)
        out ^= out >> np.uint64(29)
    return out


def _row_keys(x: dict[str, np.ndarray]) -> list[bytes]:
    parts = []
    for name in sorted(x):
        values = np.asarray(x[name])
        if values.dtype.kind in "OUS":
            # Text as str or as UTF-8 bytes (how the pipeline may hold it): bytes either way.
            flat = values.reshape(len(values), -1).tolist()
            parts.append([b"\0".join(_utf8(cell) for cell in row) for row in flat])
        else:
            rows = np.ascontiguousarray(values.reshape(len(values), -1))
            parts.append([row.tobytes() for row in rows])
    return [b"\1".join(pieces) for pieces in zip(*parts, strict=True)]


def _utf8(cell: Any) -> bytes:
    return cell if isinstance(cell, bytes) else str(cell).encode()


def leakage_findings(
    x: dict[str, np.ndarray], labels: Sequence[np.ndarray], spec: DataSpec
) -> list[Finding]:
    """A single CSV feature that predicts a target almost perfectly on the training split."""
    out: list[Finding] = []
    if sum(len(info.columns) for info in spec.raw_inputs) < 2:
        return out  # the only feature is the model's whole input: nothing to compare it with
    for info in spec.raw_inputs:
        values = np.asarray(x.get(info.name))
        if values.ndim == 0 or not info.columns:
            continue
        columns = values.reshape(len(values), -1)
        for j, column in enumerate(info.columns):
            if info.dtype == "string" and column in spec.text:
                continue
            feature = columns[:, j] if columns.shape[1] > j else None
            if feature is None:
                continue
            for target, y in zip(spec.targets, labels, strict=True):
                score = _explains(feature, np.asarray(y), target, info.dtype == "string")
                bar = _LEAK_CORRELATION if target.task == "regression" else _LEAK
                if score is not None and score >= bar:
                    out.append(
                        Finding(
                            "leakage",
                            f"column {column!r} alone predicts {target.name!r} "
                            f"({_measure(target)} {score:.3f} on the training split): is it "
                            "known before the target, or a copy of it? Leave it out of the "
                            "features if not",
                        )
                    )
    return out


def _nearest_neighbour_accuracy(values: np.ndarray, classes: np.ndarray) -> float:
    """Leave-one-out accuracy of predicting each row's class from the row nearest in value."""
    order = np.argsort(values, kind="stable")
    v, c = values[order], classes[order]
    left = np.concatenate([[np.inf], np.diff(v)])
    right = np.concatenate([np.diff(v), [np.inf]])
    before = np.concatenate([[-1], c[:-1]])
    after = np.concatenate([c[1:], [-1]])
    guess = np.where(left <= right, before, after)
    return float((guess == c).mean())


def _correlation(feature: np.ndarray, y: np.ndarray) -> float | None:
    """|Pearson correlation| of two columns, None when either is constant: what
    ``np.corrcoef`` gives, without its stacked copies (a 1M-row run checks every column)."""
    a = feature.astype(np.float64).ravel()
    b = y.astype(np.float64).ravel()
    a -= a.mean()
    b -= b.mean()
    spread = float(np.dot(a, a)) * float(np.dot(b, b))
    if spread == 0:
        return None
    return abs(float(np.dot(a, b))) / math.sqrt(spread)


def _measure(target: TargetInfo) -> str:
    if target.task == "regression":
        return "|correlation|"
    return "accuracy of the nearest row's class, or of one lookup per value,"


def _explains(
    feature: np.ndarray, y: np.ndarray, target: TargetInfo, categorical: bool
) -> float | None:
    if target.task == "regression":
        return None if categorical else _correlation(feature, y)
    classes = y.astype(np.int64).ravel()
    if len(classes) < 20:
        return None
    majority = np.bincount(classes).max() / len(classes)
    if majority >= 0.95:
        return None  # one class alone is already near-perfect
    if not categorical:
        return _nearest_neighbour_accuracy(feature.astype(np.float64), classes)
    _, codes = np.unique(feature.astype(str), return_inverse=True)
    if codes.max() + 1 > len(classes) // 10:
        return None  # nearly one value per row: a lookup would memorize, not predict
    table = np.zeros((codes.max() + 1, classes.max() + 1), dtype=np.int64)
    np.add.at(table, (codes, classes), 1)
    return float(table.max(axis=1).sum() / len(classes))
