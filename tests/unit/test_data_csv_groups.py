"""``data.group``: CSV splits cut by whole groups (no TensorFlow needed)."""

from __future__ import annotations

import bz2
import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dltrain.config import config_from_dict
from dltrain.config.schema import CsvData
from dltrain.data import load_datasets
from dltrain.data.csv.arrays import LoadedArrays, load_csv_arrays
from dltrain.data.csv.groups import cut_groups
from dltrain.data.csv.layout import resolve_sources
from dltrain.data.csv.stats import TEST, TRAIN, VALIDATION
from dltrain.errors import ConfigError, DataError

_CORPUS = Path(__file__).parents[2] / ".." / "shared" / "data"
_CORPUS_FILE = _CORPUS / "rotten_tomatoes_corpus_full.csv.bz2"


def _body(**data: Any) -> dict[str, Any]:
    return {"data": {"kind": "csv", **data}, "model": {"layers": ["Flatten"]}}


def _csv_data(**data: Any) -> CsvData:
    parsed = config_from_dict(_body(**data)).config.data
    assert isinstance(parsed, CsvData)
    return parsed


def _load(seed: int = 0, **data: Any) -> LoadedArrays:
    csv_data = _csv_data(**data)
    return load_csv_arrays(csv_data, resolve_sources(csv_data), seed)


def _grouped_csv(path: Path, sizes: list[int], *, hole: int | None = None) -> Path:
    """Group ``g`` has ``sizes[g]`` rows; ``x`` repeats the group id so splits reveal it."""
    lines = ["gid,x,y"]
    row = 0
    for group, size in enumerate(sizes):
        for _ in range(size):
            cell = "" if row == hole else f"g{group}"
            lines.append(f"{cell},{group},{row % 7}")
            row += 1
    path.write_text("\n".join(lines) + "\n")
    return path


def _groups_by_split(loaded: LoadedArrays) -> dict[str, set[int]]:
    return {k: set(s.x["features"][:, 0].astype(int)) for k, s in loaded.splits.items()}


def test_no_group_in_two_splits_and_shares_near_fractions(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = _grouped_csv(tmp_path / "g.csv", list(rng.integers(1, 12, size=120)))
    loaded = _load(path=str(path), target="y", group="gid", features=["x"], test=0.2)
    seen = _groups_by_split(loaded)
    assert not (seen["train"] & seen["test"] or seen["train"] & seen["validation"])
    assert not seen["test"] & seen["validation"]
    total = sum(len(s) for s in loaded.splits.values())
    assert abs(len(loaded.splits["test"]) / total - 0.2) < 0.05
    assert abs(len(loaded.splits["validation"]) / total - 0.8 * 0.2) < 0.05
    assert loaded.groups == {k: len(v) for k, v in seen.items()}


def test_group_is_not_a_default_feature_and_is_seeded(tmp_path: Path) -> None:
    path = _grouped_csv(tmp_path / "g.csv", [3] * 40)
    loaded = _load(path=str(path), target="y", group="gid")
    assert loaded.spec.raw_inputs[0].columns == ("x",) and not loaded.warnings
    again = _load(path=str(path), target="y", group="gid")
    other = _load(seed=5, path=str(path), target="y", group="gid")
    assert _groups_by_split(loaded) == _groups_by_split(again)
    assert _groups_by_split(loaded) != _groups_by_split(other)
    listed = _load(
        path=str(path), target="y", group="gid", features=["x", "gid"], categorical=["gid"]
    )
    assert any("the model sees the group id" in w for w in listed.warnings)


def test_cut_groups_leaves_training_a_group_and_counts_too_few() -> None:
    codes = cut_groups(np.array(["a", "b", "b", "c"], dtype=object), 0, 0.9, 0.9, "gid")
    assert sorted(set(codes.tolist())) == [TRAIN, VALIDATION, TEST]
    with pytest.raises(DataError, match="has 2 groups;.*needs at least 3") as err:
        cut_groups(np.array(["a", "b"], dtype=object), 0, 0.2, 0.2, "gid")
    assert err.value.key == ("data", "group")
    only_test = cut_groups(np.array(["a", "b"], dtype=object), 0, 0.5, None, "gid")
    assert sorted(only_test.tolist()) == [TRAIN, TEST]


def test_empty_group_cell_is_located(tmp_path: Path) -> None:
    path = _grouped_csv(tmp_path / "g.csv", [2] * 10, hole=5)
    with pytest.raises(DataError, match=r"g\.csv:7:1: column 'gid' \(data.group\) is empty"):
        _load(path=str(path), target="y", group="gid", missing="drop")


def test_unknown_group_column_and_stream_refused(tmp_path: Path) -> None:
    path = _grouped_csv(tmp_path / "g.csv", [2] * 10)
    with pytest.raises(DataError, match="no column 'gdi' \\(did you mean 'gid'") as err:
        _load(path=str(path), target="y", group="gdi")
    assert err.value.key == ("data", "group")
    with pytest.raises(ConfigError, match="data.group.*in-memory loader"):
        config_from_dict(_body(path=str(path), target="y", group="gid", stream=True))


def test_test_file_overlap_warns_and_fingerprint_counts_groups(tmp_path: Path) -> None:
    train = _grouped_csv(tmp_path / "train.csv", [4] * 20)
    test = _grouped_csv(tmp_path / "test.csv", [2] * 3)
    data = _body(train_path=str(train), test_path=str(test), target="y", group="gid")
    datasets = load_datasets(config_from_dict(data).config)
    splits = datasets.fingerprint["splits"]
    assert splits["test"]["groups"] == 3 and splits["test"]["examples"] == 6
    assert splits["train"]["groups"] + splits["validation"]["groups"] == 20
    assert splits["validation"]["examples"] == 4 * splits["validation"]["groups"]
    assert any(
        "3 groups of data.group 'gid' also in the training file" in w for w in datasets.warnings
    )


@pytest.mark.skipif(not _CORPUS_FILE.is_file(), reason="../shared/data is not here")
def test_rotten_tomatoes_by_movie(tmp_path: Path) -> None:
    path = tmp_path / "rt.csv"
    with bz2.open(_CORPUS_FILE, "rt", newline="") as source, path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["movie_name", "length", "plot"])
        for row in csv.DictReader(source):
            writer.writerow([row["movie_name"], len(row["text"]), int(row["category"] == "plot")])
    csv_data = _csv_data(path=str(path), target="plot", task="binary", group="movie_name")
    sources = resolve_sources(csv_data)
    loaded = load_csv_arrays(csv_data, sources, 3)
    with path.open(newline="") as handle:
        movies = np.array([r["movie_name"] for r in csv.DictReader(handle)], dtype=object)
    codes = cut_groups(movies, 3, 0.2, 0.2, "movie_name")
    for code in (VALIDATION, TEST):
        assert not set(movies[codes == code]) & set(movies[codes == TRAIN])
    assert {k: len(s) for k, s in loaded.splits.items()} == {
        "train": int((codes == TRAIN).sum()),
        "validation": int((codes == VALIDATION).sum()),
        "test": int((codes == TEST).sum()),
    }
    assert sum(loaded.groups.values()) == len(set(movies))
    assert abs((codes == TEST).mean() - 0.2) < 0.02
