"""What the data stage tells the model builder and the trainer (no TensorFlow import here).

The contract between the stages:

* Pipelines yield ``(x, y)`` batches. ``x`` is one tensor when :attr:`DataSpec.raw_inputs` has a
  single entry, otherwise a dict keyed by raw input name. ``y`` is one tensor when there is a
  single target, otherwise a tuple in :attr:`DataSpec.targets` order (pairing with the model's
  outputs in order).
* The saved model takes the *raw* inputs (e.g. unnormalized CSV columns, category strings);
  :meth:`DataSpec.preprocess` builds the Keras layers (normalization, category encoding) that
  turn them into the *model inputs* the user's layers see.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["DataSpec", "InputInfo", "TargetInfo"]

TaskName = Literal["regression", "binary", "multiclass"]


@dataclass(frozen=True)
class InputInfo:
    """One input tensor: its name, per-example shape (no batch axis) and dtype.

    ``columns`` names the CSV columns a raw tabular input holds, in order (empty otherwise).
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class TargetInfo:
    """One prediction target and what the output layer for it must produce."""

    name: str
    task: TaskName
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    one_hot: bool = False
    scale: tuple[str, float, float] | None = None
    """A regression target learned scaled (``data.target_scaling``): (mode, mean, std) of
    the training split's values (``standard``) or of their natural logarithm (``log``). The
    model's last layer undoes it, so the model still outputs the target's own units."""

    @property
    def units(self) -> int:
        """Width of the model output this target needs."""
        if self.task == "multiclass":
            return int(self.num_classes or 0)
        return 1


@dataclass
class DataSpec:
    """Shapes, targets and preprocessing that the data implies for the model."""

    kind: str
    raw_inputs: list[InputInfo]
    model_inputs: list[InputInfo]
    targets: list[TargetInfo]
    preprocess: Callable[[dict[str, Any]], dict[str, Any]] | None = field(
        default=None, repr=False, compare=False
    )
    """Builds preprocessing layers: raw symbolic Keras inputs (by name) -> model inputs (by
    name). ``None`` means the raw inputs are the model inputs."""
    fill: dict[str, float | str] = field(default_factory=dict)
    """CSV with ``missing: mean``: the value an empty cell of each feature column gets (the
    training mean, or the most frequent training category), so ``predict`` fills alike."""
    text: dict[str, dict[str, Any]] = field(default_factory=dict)
    """CSV text columns: per column its settings, the vocabulary adapted on the training
    split (the ``TextVectorization`` layer's, special tokens first) and its SHA-256."""

    def to_json(self) -> str:
        """Serializable summary (everything but the preprocessing callable)."""
        data = asdict(self)
        data.pop("preprocess", None)
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> DataSpec:
        """Read :meth:`to_json` output back (without preprocessing)."""
        data = json.loads(text)
        return cls(
            kind=data["kind"],
            raw_inputs=[_input(i) for i in data["raw_inputs"]],
            model_inputs=[_input(i) for i in data["model_inputs"]],
            targets=[
                TargetInfo(
                    name=t["name"],
                    task=t["task"],
                    num_classes=t.get("num_classes"),
                    class_names=tuple(t["class_names"]) if t.get("class_names") else None,
                    one_hot=bool(t.get("one_hot", False)),
                    scale=_scale(t.get("scale")),
                )
                for t in data["targets"]
            ],
            fill=dict(data.get("fill", {})),
            text=dict(data.get("text", {})),
        )


def _input(data: dict[str, Any]) -> InputInfo:
    return InputInfo(
        data["name"],
        tuple(data["shape"]),
        data.get("dtype", "float32"),
        tuple(data.get("columns", ())),
    )


def _scale(data: list[Any] | None) -> tuple[str, float, float] | None:
    if not data:
        return None
    mode, mean, std = data
    return str(mode), float(mean), float(std)
