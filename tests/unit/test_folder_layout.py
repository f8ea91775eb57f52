"""Folder layouts: which file is which class and split, seeded cuts, groups, located errors.

The files are empty dummies: decoding is not planned here. No TensorFlow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dltrain.config.data_schema import AudioFolderData, ImageFolderData
from dltrain.data.folders.layout import Entry, FolderPlan, plan_folder
from dltrain.data.folders.split import natural_key
from dltrain.errors import DataError

IMAGES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif"})
WAV = frozenset({".wav"})
FSDD = Path(__file__).resolve().parents[3] / "shared" / "data" / "fsdd" / "recordings"


def _touch(root: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        paths.append(path)
    return paths


def _classes(root: Path, per_class: dict[str, int], ext: str = ".png") -> None:
    for label, count in per_class.items():
        _touch(root, *(f"{label}/{label}_{i:03d}{ext}" for i in range(count)))


def _data(**fields: Any) -> ImageFolderData:
    for key in ("path", "index"):
        if key in fields:
            fields[key] = str(fields[key])
    return ImageFolderData(kind="image_folder", **fields)


def _plan(seed: int = 0, extensions: frozenset[str] = IMAGES, **fields: Any) -> FolderPlan:
    return plan_folder(_data(**fields), seed, extensions)


def _error(seed: int = 0, extensions: frozenset[str] = IMAGES, **fields: Any) -> str:
    with pytest.raises(DataError) as err:
        _plan(seed, extensions, **fields)
    return str(err.value)


def _names(entries: Iterable[Entry]) -> list[str]:
    return [e.path.name for e in entries]


def _all(plan: FolderPlan) -> list[Path]:
    return sorted(e.path for entries in plan.splits.values() for e in entries)


# ---------------------------------------------------------------- layout A: split folders


@pytest.mark.parametrize("val_name", ["val", "valid", "validation"])
def test_split_folders_used_as_given(tmp_path: Path, val_name: str) -> None:
    _classes(tmp_path / "train", {"cat": 3, "dog": 2})
    _classes(tmp_path / val_name, {"cat": 1, "dog": 1})
    _classes(tmp_path / "test", {"cat": 2, "dog": 1})
    plan = _plan(path=tmp_path)
    assert plan.layout == "split folders"
    assert plan.class_names == ("cat", "dog")
    assert {e.path.parent.parent.name for e in plan.splits["train"]} == {"train"}
    assert {e.path.parent.parent.name for e in plan.splits["validation"]} == {val_name}
    assert {e.path.parent.parent.name for e in plan.splits["test"]} == {"test"}
    assert plan.counts() == {
        "train": {"cat": 3, "dog": 2},
        "validation": {"cat": 1, "dog": 1},
        "test": {"cat": 2, "dog": 1},
    }
    assert plan.labels("train").tolist() == [0, 0, 0, 1, 1]
    assert plan.labels("test").dtype == np.int64
    assert {e.split for e in plan.splits["validation"]} == {"validation"}
    assert plan.warnings == []


def test_split_folders_cut_missing_validation_from_train(tmp_path: Path) -> None:
    _classes(tmp_path / "train", {"a": 10, "b": 10})
    _classes(tmp_path / "test", {"a": 2, "b": 2})
    plan = _plan(path=tmp_path, validation=0.2, test=0.5)
    # The given test split is kept whole; data.test does not cut train.
    assert len(plan.splits["test"]) == 4
    assert plan.counts()["validation"] == {"a": 2, "b": 2}
    assert plan.counts()["train"] == {"a": 8, "b": 8}
    assert all(e.path.parent.parent.name == "train" for e in plan.splits["validation"])


def test_split_folders_cut_test_then_validation(tmp_path: Path) -> None:
    _classes(tmp_path / "train", {"a": 10})
    plan = _plan(path=tmp_path, validation=0.5, test=0.2)
    # test: round(10 x 0.2) = 2 of the whole; validation: round(8 x 0.5) = 4 of the rest.
    assert [len(plan.splits[s]) for s in ("train", "validation", "test")] == [4, 4, 2]


def test_no_validation_key_without_fraction(tmp_path: Path) -> None:
    _classes(tmp_path / "train", {"a": 4, "b": 4})
    _classes(tmp_path / "test", {"a": 1, "b": 1})
    plan = _plan(path=tmp_path, validation=None)
    assert set(plan.splits) == {"train", "test"}
    assert len(plan.splits["train"]) == 8


def test_two_validation_folders_named(tmp_path: Path) -> None:
    _classes(tmp_path / "train", {"a": 2})
    _classes(tmp_path / "val", {"a": 1})
    _classes(tmp_path / "validation", {"a": 1})
    message = _error(path=tmp_path)
    assert str(tmp_path) in message and "val/" in message and "validation/" in message


def test_empty_train_folder(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    _classes(tmp_path / "test", {"a": 1})
    message = _error(path=tmp_path)
    assert f"{tmp_path / 'train'}: no " in message and ".png" in message


def test_class_only_in_validation_is_error_naming_folder(tmp_path: Path) -> None:
    _classes(tmp_path / "train", {"a": 2, "b": 2})
    _classes(tmp_path / "val", {"a": 1, "zebra": 1})
    message = _error(path=tmp_path)
    assert f"{tmp_path / 'val'}: class 'zebra'" in message and "validation split" in message


def test_class_missing_from_test_warns(tmp_path: Path) -> None:
    _classes(tmp_path / "train", {"a": 2, "b": 2})
    _classes(tmp_path / "test", {"a": 1})
    plan = _plan(path=tmp_path, validation=None)
    assert any("test split" in w and "'b'" in w for w in plan.warnings)


def test_other_folders_beside_train_warn(tmp_path: Path) -> None:
    _classes(tmp_path / "train", {"a": 2, "b": 2})
    _classes(tmp_path / "extra", {"a": 1})
    plan = _plan(path=tmp_path, validation=None, test=0.5)
    assert any("'extra'" in w for w in plan.warnings)
    assert all("extra" not in e.path.parts for e in plan.splits["test"])


# ---------------------------------------------------------------- layout B: class folders


def test_class_folders_cut_and_natural_class_order(tmp_path: Path) -> None:
    _classes(tmp_path, {"10": 5, "2": 5, "1": 5})
    plan = _plan(path=tmp_path, validation=0.2, test=0.2)
    assert plan.layout == "class folders"
    assert plan.class_names == ("1", "2", "10")
    assert plan.counts() == {
        "train": {"1": 3, "2": 3, "10": 3},
        "test": {"1": 1, "2": 1, "10": 1},
        "validation": {"1": 1, "2": 1, "10": 1},
    }
    assert all(e.split is None for s in plan.splits.values() for e in s)
    assert _all(plan) == sorted((tmp_path).rglob("*.png"))
    for entries in plan.splits.values():
        assert [e.path for e in entries] == sorted(e.path for e in entries)


def test_files_found_recursively_in_class_folders(tmp_path: Path) -> None:
    _touch(tmp_path, "a/x/deep/1.png", "a/2.png", "b/3.png", "b/y/4.PNG")
    plan = _plan(path=tmp_path, validation=None, test=None)
    assert [(e.path.name, e.label) for e in plan.splits["train"]] == [
        ("2.png", "a"),
        ("1.png", "a"),
        ("3.png", "b"),
        ("4.PNG", "b"),
    ]
    assert plan.splits["test"] == []


def test_stratified_cut_takes_each_class_share(tmp_path: Path) -> None:
    _classes(tmp_path, {"big": 50, "small": 10, "pair": 2, "one": 1})
    plan = _plan(path=tmp_path, validation=None, test=0.2)
    assert plan.counts()["test"] == {"big": 10, "one": 0, "pair": 1, "small": 2}
    assert plan.counts()["train"] == {"big": 40, "one": 1, "pair": 1, "small": 8}
    assert any("test split" in w and "'one'" in w for w in plan.warnings)


def test_seeded_split_is_deterministic_and_seed_dependent(tmp_path: Path) -> None:
    _classes(tmp_path, {"a": 20, "b": 20})

    def test_files(seed: int) -> list[str]:
        return _names(_plan(seed, path=tmp_path).splits["test"])

    assert test_files(7) == test_files(7)
    assert test_files(7) != test_files(8)


def test_split_independent_of_listing_order(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    names = [f"{i:02d}.png" for i in range(12)]
    _touch(one / "a", *names)
    _touch(two / "a", *reversed(names))  # created in the other order
    assert _names(_plan(3, path=one).splits["test"]) == _names(_plan(3, path=two).splits["test"])


def test_files_directly_in_path_are_an_error(tmp_path: Path) -> None:
    _classes(tmp_path, {"a": 2})
    _touch(tmp_path, "loose1.png", "loose2.jpg")
    message = _error(path=tmp_path)
    assert str(tmp_path) in message and "loose1.png" in message and "loose2.jpg" in message
    assert "class folder" in message and "label_pattern" in message


def test_empty_class_folder_warns(tmp_path: Path) -> None:
    _classes(tmp_path, {"a": 3, "b": 3})
    (tmp_path / "empty").mkdir()
    plan = _plan(path=tmp_path, validation=None, test=None)
    assert any(str(tmp_path / "empty") in w and "empty" in w for w in plan.warnings)
    assert plan.class_names == ("a", "b")


def test_hidden_files_and_folders_ignored_silently(tmp_path: Path) -> None:
    _classes(tmp_path, {"a": 2})
    _touch(tmp_path, ".DS_Store", "a/.hidden.png", ".cache/x.png", "a/.git/y.png", ".z.txt")
    plan = _plan(path=tmp_path, validation=None, test=None)
    assert _names(plan.splits["train"]) == ["a_000.png", "a_001.png"]
    assert plan.warnings == []


def test_other_extensions_left_out_with_one_warning(tmp_path: Path) -> None:
    _classes(tmp_path, {"a": 2})
    _touch(tmp_path, *(f"a/notes{i}.txt" for i in range(7)), "a/clip.wav")
    plan = _plan(path=tmp_path, validation=None, test=None)
    assert len(plan.splits["train"]) == 2
    [warning] = plan.warnings
    assert "8 files" in warning and "notes0.txt" in warning and "3 more" in warning


def test_extensions_match_any_case(tmp_path: Path) -> None:
    _touch(tmp_path, "a/x.WAV", "a/y.Wav", "a/z.png")
    plan = _plan(extensions=WAV, path=tmp_path, validation=None, test=None)
    assert _names(plan.splits["train"]) == ["x.WAV", "y.Wav"]


def test_missing_path(tmp_path: Path) -> None:
    assert f"{tmp_path / 'nope'}: folder not found" in _error(path=tmp_path / "nope")


def test_path_is_a_file(tmp_path: Path) -> None:
    [file] = _touch(tmp_path, "f.png")
    assert f"{file}: is not a folder" in _error(path=file)


def test_no_files_names_the_extensions(tmp_path: Path) -> None:
    _touch(tmp_path, "a/x.txt")
    message = _error(extensions=WAV, path=tmp_path)
    assert str(tmp_path) in message and ".wav" in message


# ---------------------------------------------------------------- label_pattern


def test_label_pattern_reads_names_anywhere_below(tmp_path: Path) -> None:
    _touch(tmp_path, "x/3_a.png", "x/y/10_b.png", "2_c.png", "z/3_d.png")
    plan = _plan(path=tmp_path, label_pattern=r"^(\d+)_", validation=None, test=None)
    assert plan.class_names == ("2", "3", "10")
    assert {e.path.name: e.label for e in plan.splits["train"]} == {
        "3_a.png": "3",
        "10_b.png": "10",
        "2_c.png": "2",
        "3_d.png": "3",
    }


def test_label_pattern_in_split_folders(tmp_path: Path) -> None:
    _touch(tmp_path, "train/1_a.png", "train/sub/2_b.png", "test/1_c.png")
    plan = _plan(path=tmp_path, label_pattern=r"^(\d+)_", validation=None)
    assert plan.labels("train").tolist() == [0, 1]
    assert [e.label for e in plan.splits["test"]] == ["1"]


def test_label_pattern_mismatches_all_listed(tmp_path: Path) -> None:
    bad = _touch(tmp_path, "a/nolabel.png", "b/other.png")
    _touch(tmp_path, "1_ok.png")
    message = _error(path=tmp_path, label_pattern=r"^(\d+)_")
    assert all(str(path) in message for path in bad)
    assert "2 problems" in message and "label_pattern" in message


# ---------------------------------------------------------------- group_pattern


def _speakers(root: Path, speakers: Iterable[str], digits: int = 3, takes: int = 2) -> None:
    _touch(
        root, *(f"{d}_{s}_{t}.wav" for s in speakers for d in range(digits) for t in range(takes))
    )


LABEL, GROUP = r"^(\d+)_", r"^\d+_([a-z]+)_"


def _groups_by_split(plan: FolderPlan) -> dict[str, set[str | None]]:
    return {name: {e.group for e in entries} for name, entries in plan.splits.items()}


def test_groups_never_in_two_splits(tmp_path: Path) -> None:
    _speakers(tmp_path, ["ann", "bob", "cid", "dan", "eve", "fay", "gus", "hal"])
    for seed in range(5):
        plan = _plan(seed, WAV, path=tmp_path, label_pattern=LABEL, group_pattern=GROUP, test=0.25)
        groups = _groups_by_split(plan)
        assert len(groups["test"]) == 2 and len(groups["validation"]) == 1
        assert len(groups["train"]) == 5
        assert not groups["train"] & groups["test"]
        assert not groups["train"] & groups["validation"]
        assert not groups["test"] & groups["validation"]


def test_group_cut_depends_on_seed(tmp_path: Path) -> None:
    _speakers(tmp_path, [f"s{c}" for c in "abcdefghij"])
    pattern = r"^\d+_(s[a-z])_"

    def test_groups(seed: int) -> frozenset[str | None]:
        plan = _plan(seed, WAV, path=tmp_path, label_pattern=LABEL, group_pattern=pattern)
        return frozenset(_groups_by_split(plan)["test"])

    assert test_groups(1) == test_groups(1)
    assert len({test_groups(seed) for seed in range(6)}) > 1


def test_group_pattern_mismatches_all_listed(tmp_path: Path) -> None:
    _speakers(tmp_path, ["ann", "bob"])
    bad = _touch(tmp_path, "1_X_1.wav", "2_Y_1.wav")
    message = _error(extensions=WAV, path=tmp_path, label_pattern=LABEL, group_pattern=GROUP)
    assert all(
        f"{path}: the file name does not match data.group_pattern" in message for path in bad
    )


def test_too_few_groups(tmp_path: Path) -> None:
    _speakers(tmp_path, ["ann", "bob"])
    message = _error(extensions=WAV, path=tmp_path, label_pattern=LABEL, group_pattern=GROUP)
    assert "2 groups" in message and "need at least 3" in message
    assert "data.test=0.2" in message and "data.validation=0.2" in message


def test_group_in_two_given_splits_warns(tmp_path: Path) -> None:
    _speakers(tmp_path / "train", ["ann", "bob"])
    _speakers(tmp_path / "test", ["bob", "cid"])
    plan = _plan(
        extensions=WAV,
        path=tmp_path,
        label_pattern=LABEL,
        group_pattern=GROUP,
        validation=None,
    )
    [warning] = plan.warnings
    assert "'bob'" in warning and "'ann'" not in warning and "'cid'" not in warning


def test_free_spoken_digit_speakers(tmp_path: Path) -> None:
    if not FSDD.is_dir():
        pytest.skip(f"the Free Spoken Digit recordings are not at {FSDD}")
    data = AudioFolderData(
        kind="audio_folder",
        path=str(FSDD),
        label_pattern=LABEL,
        group_pattern=GROUP,
        test=0.2,
        validation=0.25,
    )
    plan = plan_folder(data, 0, WAV)
    groups = _groups_by_split(plan)
    assert [len(groups[s]) for s in ("train", "validation", "test")] == [3, 1, 1]
    assert len(set().union(*groups.values())) == 5
    assert plan.class_names == tuple(str(d) for d in range(10))
    assert sum(len(s) for s in plan.splits.values()) == len(list(FSDD.glob("*.wav")))
    assert plan.splits["test"][0].path.name.split("_")[1] in groups["test"]


# ---------------------------------------------------------------- layout C: index CSV


def _index(root: Path, text: str) -> Path:
    path = root / "index.csv"
    path.write_text(text)
    return path


def test_index_csv_with_given_and_cut_splits(tmp_path: Path) -> None:
    _touch(tmp_path, *(f"img/{i}.png" for i in range(12)))
    outside = _touch(tmp_path / "elsewhere", "abs.png")[0]
    rows = [f"img/{i}.png,{'ab'[i % 2]}," for i in range(10)]
    rows += ["img/10.png,a,val", "img/11.png,b,Test", f"{outside},b,train"]
    index = _index(tmp_path, "path,label,split\n" + "\n".join(rows) + "\n")
    plan = _plan(index=index, test=0.3, validation=0.2)
    assert plan.layout == "index CSV"
    assert _names(plan.splits["validation"]) == ["10.png"]
    assert _names(plan.splits["test"]) == ["11.png"]
    assert len(plan.splits["train"]) == 11
    assert outside in {e.path for e in plan.splits["train"]}


def test_index_without_split_column_is_cut(tmp_path: Path) -> None:
    _touch(tmp_path, *(f"{i}.png" for i in range(10)))
    index = _index(tmp_path, "label,path\n" + "".join(f"c,{i}.png\n" for i in range(10)))
    plan = _plan(index=index, test=0.2, validation=None)
    assert plan.counts() == {"train": {"c": 8}, "test": {"c": 2}}


def test_index_label_from_pattern_without_label_column(tmp_path: Path) -> None:
    _touch(tmp_path, "a/1_x.png", "a/2_y.png")
    index = _index(tmp_path, "path\na/1_x.png\na/2_y.png\n")
    plan = _plan(index=index, label_pattern=r"^(\d+)_", test=None, validation=None)
    assert [e.label for e in plan.splits["train"]] == ["1", "2"]


def test_index_every_bad_row_located(tmp_path: Path) -> None:
    _touch(tmp_path, "ok.png", "nolabel.png", "badsplit.png")
    index = _index(
        tmp_path,
        "path,label,split\nok.png,a,\nmissing.png,a,\nnolabel.png,,\nbadsplit.png,a,holdout\n",
    )
    message = _error(index=index)
    assert f"{index}:3: {tmp_path / 'missing.png'}: file not found" in message
    assert f"{index}:4: empty label" in message
    assert f"{index}:5: unknown split 'holdout'" in message
    assert "3 problems" in message


def test_index_file_listed_twice(tmp_path: Path) -> None:
    _touch(tmp_path, "x.png")
    index = _index(tmp_path, "path,label\nx.png,a\n./x.png,b\n")
    message = _error(index=index)
    assert f"{index}:3: {tmp_path / 'x.png'} is listed twice (also line 2)" in message


def test_index_missing_column_in_header(tmp_path: Path) -> None:
    index = _index(tmp_path, "file,label\nx.png,a\n")
    message = _error(index=index)
    assert f"{index}:1: no column 'path' in the header" in message


def test_index_class_only_in_test_names_line(tmp_path: Path) -> None:
    _touch(tmp_path, "1.png", "2.png", "3.png")
    index = _index(tmp_path, "path,label,split\n1.png,a,train\n2.png,a,test\n3.png,z,test\n")
    message = _error(index=index, validation=None)
    assert f"{index}:4: class 'z' is in the test split" in message


def test_index_missing_file(tmp_path: Path) -> None:
    message = _error(index=tmp_path / "none.csv")
    assert f"{tmp_path / 'none.csv'}: file not found" in message


# ---------------------------------------------------------------- limit and helpers


def test_limit_keeps_first_files_of_each_split(tmp_path: Path) -> None:
    _classes(tmp_path / "train", {"a": 5, "b": 5})
    _classes(tmp_path / "test", {"a": 3, "b": 3})
    plan = _plan(path=tmp_path, limit=4, validation=None)
    assert _names(plan.splits["train"]) == ["a_000.png", "a_001.png", "a_002.png", "a_003.png"]
    assert len(plan.splits["test"]) == 4
    # The classes stay those of the whole training split, so labels keep their meaning.
    assert plan.class_names == ("a", "b")
    assert plan.counts()["train"] == {"a": 4, "b": 0}


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["img10", "img9", "10", "2", "a", "B", "img9b"]
    assert sorted(names, key=natural_key) == ["2", "10", "a", "B", "img9", "img9b", "img10"]


def test_every_problem_at_once_across_kinds(tmp_path: Path) -> None:
    _touch(tmp_path, "train/a/1.png", "train/stray.png", "val/a/2.png", "valid/a/3.png")
    message = _error(path=tmp_path)
    assert "stray.png" in message and "valid/" in message
    assert re.search(r"\d+ problems found", message)
