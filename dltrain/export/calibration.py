"""``--calibration``: which examples calibrate full-integer (int8) quantization.

``N`` draws N training examples (seeded by the run's seed; default :data:`DEFAULT_EXAMPLES`),
``split:train`` or ``split:validation`` takes every example of that split (the run's own
held-out validation data, never the test split the export is verified on), and ``FILE`` reads
a ``.npz`` file with one array per raw input name (what the exported model takes: MNIST pixels
0-255). The choice is recorded in ``export.json`` under ``calibration``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dltrain.errors import UsageError

__all__ = [
    "COLLAPSE_DROP",
    "DEFAULT_EXAMPLES",
    "Calibration",
    "collapse_hint",
    "parse_calibration",
]

DEFAULT_EXAMPLES = 300
"""Seeded training examples that calibrate int8 when ``--calibration`` is not given."""

COLLAPSE_DROP = 0.10
"""An int8 model more than 10 points of accuracy below the float model has collapsed."""

_SPLITS = ("train", "validation")


@dataclass(frozen=True)
class Calibration:
    """Where int8's calibration examples come from."""

    kind: Literal["sample", "split", "file"] = "sample"
    examples: int = DEFAULT_EXAMPLES
    """``sample``: how many training examples are drawn."""
    split: str | None = None
    path: Path | None = None

    def record(self, used: int, seed: int | None) -> dict[str, Any]:
        """What ``export.json`` says (``used``: the examples actually fed to the converter)."""
        out: dict[str, Any] = {"source": self.kind, "examples": used}
        if self.kind == "sample":
            out.update(split="train", seed=seed, asked=self.examples)
        elif self.kind == "split":
            out["split"] = self.split
        else:
            out["file"] = str(self.path)
        return out


def parse_calibration(text: str | None) -> Calibration:
    """``N`` | ``split:train`` | ``split:validation`` | ``FILE.npz`` (``None``: the default).

    Raises:
        UsageError: anything else, a count below 1, or a file that is not there.
    """
    if text is None or text == "":
        return Calibration()
    if text.isdigit():
        count = int(text)
        if count < 1:
            raise UsageError(f"--calibration {text}: give at least 1 example")
        return Calibration("sample", examples=count)
    if text.startswith("split:"):
        split = text.split(":", 1)[1]
        if split not in _SPLITS:
            raise UsageError(
                f"--calibration {text}: the split must be one of {', '.join(_SPLITS)} (the test "
                "split is what the export is verified on)"
            )
        return Calibration("split", split=split)
    path = Path(text)
    if path.suffix != ".npz" or not path.is_file():
        raise UsageError(
            f"--calibration {text}: give a number of training examples, split:train, "
            "split:validation, or an existing .npz file with one array per input name"
        )
    return Calibration("file", path=path)


def collapse_hint(metric: str, after: float, before: float) -> str | None:
    """The failure line of a collapsed int8 model, or ``None`` when it did not collapse."""
    if not metric.endswith("accuracy") or after >= before - COLLAPSE_DROP:
        return None
    return (
        f"int8 collapsed: {metric} {after:.4f} vs {before:.4f} for the float model. Try more "
        "calibration data (--calibration 2000, or split:validation), or keep the activations "
        "in float with --quantize dynamic (int8 weights only) or float16; the TFLite "
        "converter used here cannot keep single layers in float"
    )
