"""``predict`` on CSV reads through pyarrow as training does, and predicts exactly what the
careful row-by-row reader would: the same values, row numbers, notes and errors.

One tiny run (numeric, categorical and text features, ``missing: mean``) is trained per
module; each file is predicted twice, once with the fast path and once with it turned off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datagen import write_text

import dltrain.data.inputs as inputs_module
from dltrain.config import config_from_dict
from dltrain.config.schema import ExperimentConfig
from dltrain.data import PredictionInputs, load_prediction_inputs
from dltrain.data.csv.reader import detect_format
from dltrain.engine.predict import predict_file
from dltrain.engine.run import run_experiment
from dltrain.errors import DataError
from dltrain.export.model_source import read_spec

pytest.importorskip("tensorflow")

WORDS = ["good", "bad", "fine", "odd", "new", "old"]
HEADER = "x1,x2,color,note,y"

# Columns in another order than training, the target present (and ignored).
COMPLETE = (
    "note,color,y,x2,x1\n"
    "good fine,red,1,0.5,1.25\n"
    "NA,blue,2,-1.5,3\n"
    " odd  new ,green,,2e-3,-4.5\n"
    "bad,red,0,7,0\n"
)
# Empty numeric cells, missing categorical tokens, an empty text cell.
HOLES = (
    "x1,x2,color,note\n"
    "1.5,,red,good\n"
    ",2.0,blue,bad\n"
    "2.0,1.0,NA,\n"
    "3.0,4.0,?,fine old\n"
    "0.5,0.25,green,odd\n"
)
# A quoted line break in the text column: pyarrow refuses it, the careful reader reads it.
QUOTED = 'x1,x2,color,note\n1,2,red,"good\nbad"\n3,4,blue,fine\n'
# A blank line: the rows' line numbers no longer follow from their index.
BLANK = "x1,x2,color,note\n1,2,red,good\n\n3,4,blue,fine\n"


def _config(path: Path, missing: str = "mean") -> dict[str, Any]:
    return {
        "name": "predict_fast",
        "seed": 3,
        "data": {
            "kind": "csv",
            "path": str(path),
            "target": "y",
            "categorical": ["color"],
            "text": {"note": {"max_tokens": 20, "output_mode": "multi_hot"}},
            "missing": missing,
        },
        "model": {
            "layers": [{"Dense": {"units": 4, "activation": "relu"}}, {"Dense": {"units": 1}}]
        },
        "training": {"epochs": 1, "batch_size": 16, "jit_compile": False},
        "output": {"plots": False},
    }


def _with_missing(missing: str) -> ExperimentConfig:
    """The run's config under another ``missing`` (predict reads no training file)."""
    return config_from_dict(_config(Path("train.csv"), missing)).config


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("predict_fast")
    rng = np.random.default_rng(0)
    lines = [HEADER]
    for i in range(120):
        x1, x2 = rng.normal(size=2)
        note = " ".join(rng.choice(WORDS, 2))
        color = ["red", "green", "blue"][i % 3]
        lines.append(f"{x1:.4f},{x2:.4f},{color},{note},{2 * x1 - x2:.4f}")
    train = write_text(folder / "train.csv", "\n".join(lines) + "\n")
    result = run_experiment(config_from_dict(_config(train)), runs_dir=folder / "runs")
    assert result.status == "completed"
    return Path(result.run_dir)


def _uses_fast_path(run: Path, path: Path) -> bool:
    fmt = detect_format(path, None, None)
    return inputs_module._fast_cells(path, fmt, read_spec(run)) is not None


def _batches(inputs: PredictionInputs) -> dict[str, np.ndarray]:
    parts = list(inputs.dataset.as_numpy_iterator())
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _both(monkeypatch: pytest.MonkeyPatch, fn: Any) -> tuple[Any, Any]:
    """``fn()`` with the fast path, then with it turned off (the row-by-row reader only)."""
    fast = fn()
    with monkeypatch.context() as patch:
        patch.setattr(inputs_module, "_fast_cells", lambda *args: None)
        slow = fn()
    return fast, slow


@pytest.mark.parametrize(
    ("text", "fast", "rows"),
    [
        (COMPLETE, True, [2, 3, 4, 5]),
        (COMPLETE.replace("\n", "\r\n"), True, [2, 3, 4, 5]),
        (HOLES, True, [2, 3, 4, 5, 6]),
        (QUOTED, False, [2, 4]),
        (BLANK, False, [2, 4]),
    ],
    ids=["complete", "crlf", "holes", "quoted-newline", "blank-line"],
)
def test_fast_and_careful_paths_predict_alike(
    run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    fast: bool,
    rows: list[int],
) -> None:
    path = tmp_path / "new.csv"
    path.write_bytes(text.encode())
    assert _uses_fast_path(run, path) is fast
    got, expected = _both(monkeypatch, lambda: predict_file(run, path))
    assert got.text == expected.text and got.notes == expected.notes
    assert [int(line.split(",")[0]) for line in got.text.splitlines()[1:]] == rows


@pytest.mark.parametrize("missing", ["mean", "drop"])
def test_missing_cells_are_filled_or_dropped_alike(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    path = write_text(tmp_path / "holes.csv", HOLES)
    config, spec = _with_missing(missing), read_spec(run)
    fast, slow = _both(monkeypatch, lambda: load_prediction_inputs(config, spec, path))
    assert fast.numbers == slow.numbers and fast.notes == slow.notes
    assert fast.numbers == ([2, 3, 4, 5, 6] if missing == "mean" else [6])
    got, expected = _batches(fast), _batches(slow)
    assert got.keys() == expected.keys() == {"features", "color", "note"}
    for key in got:
        np.testing.assert_array_equal(got[key], expected[key])
    assert got["features"].dtype == np.float32
    if missing == "mean":
        assert got["color"][2:4, 0].tolist() == [str(spec.fill["color"]).encode()] * 2
        assert got["note"][2] == b""  # text: empty is text, not missing
    else:
        assert "4 rows not predicted" in fast.notes[0]
        assert "2 (x2), 3 (x1), 4 (color), 5 (color)" in fast.notes[0]


def test_an_empty_cell_under_missing_error_is_located_alike(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_text(tmp_path / "holes.csv", HOLES)
    config, spec = _with_missing("error"), read_spec(run)

    def message() -> str:
        with pytest.raises(DataError) as caught:
            load_prediction_inputs(config, spec, path)
        return str(caught.value)

    fast, slow = _both(monkeypatch, message)
    assert fast == slow and f"{path}:3:1: column 'x1' is empty" in fast


def test_text_in_a_number_column_is_named_by_the_careful_reader(run: Path, tmp_path: Path) -> None:
    path = write_text(tmp_path / "bad.csv", "x1,x2,color,note\n1,2,red,a\n3,lots,blue,b\n")
    assert not _uses_fast_path(run, path)
    with pytest.raises(DataError, match=r"bad.csv:3:2: column 'x2' holds text 'lots'"):
        load_prediction_inputs(_with_missing("mean"), read_spec(run), path)
