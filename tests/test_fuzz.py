"""Fuzzing: mutated configs and corrupted CSVs give exit 0 or 2, never a traceback."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from datagen import RUN_CONFIG, run_folder_command, write_run_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.config import config_from_dict
from dltrain.errors import DltrainError

runner = CliRunner()

VALID: dict[str, Any] = {
    "name": "fuzz",
    "seed": 1,
    "data": {"kind": "mnist", "validation": "test", "one_hot": True},
    "model": {
        "type": "sequential",
        "input_shape": [28, 28],
        "layers": [
            {"Flatten": {}},
            {"Dense": {"units": 8, "activation": "relu"}},
            {"Dense": {"units": 10, "activation": "softmax"}},
        ],
    },
    "optimizer": {"name": "adam", "learning_rate": 0.001},
    "loss": "categorical_crossentropy",
    "metrics": ["accuracy"],
    "training": {"epochs": 2, "batch_size": 32},
    "callbacks": {"early_stopping": {"patience": 2}},
}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, prefix + (i,))
    return out


ALL_PATHS = _paths(VALID)


def _mutate(config: dict[str, Any], path: tuple[Any, ...], action: str, value: Any) -> None:
    parent: Any = config
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "drop":
        if isinstance(parent, dict):
            del parent[last]
        else:
            parent.pop(last)
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{last}x"] = parent.pop(last)
    else:
        parent[last] = value


mutation = st.tuples(st.sampled_from(ALL_PATHS), st.sampled_from(["drop", "rename", "set"]), junk)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_configs_exit_0_or_2(tmp_path: Path, mutations: list[Any]) -> None:
    config = copy.deepcopy(VALID)
    for path, action, value in mutations:
        try:
            _mutate(config, path, action, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    target = tmp_path / "fuzz.yaml"
    target.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["check", "--no-config", str(target)])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    if result.exit_code == 2:
        assert "error:" in result.output


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=200))
def test_random_yaml_text_exits_0_or_2(tmp_path: Path, text: str) -> None:
    target = tmp_path / "random.yaml"
    target.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["check", "--no-config", str(target)])
    assert result.exit_code == 2, result.output  # never a valid experiment
    assert "Traceback" not in result.output and "internal error" not in result.output


corruption = st.tuples(
    st.sampled_from(["insert", "delete", "replace", "truncate", "cell"]),
    st.integers(min_value=0, max_value=10_000),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
)


@pytest.fixture(scope="module")
def clean_csv(tmp_path_factory: pytest.TempPathFactory) -> str:
    from datagen import write_regression_csv

    path = write_regression_csv(tmp_path_factory.mktemp("csv") / "clean.csv", n=60, seed=3)
    return path.read_text()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(corruption, min_size=1, max_size=4))
def test_corrupted_csv_is_loaded_or_a_data_error(
    tmp_path: Path, clean_csv: str, changes: list[tuple[str, int, str]]
) -> None:
    text = clean_csv
    for action, position, junk_text in changes:
        at = position % (len(text) + 1)
        if action == "insert":
            text = text[:at] + junk_text + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + len(junk_text) + 1 :]
        elif action == "replace":
            text = text[:at] + junk_text + text[at + len(junk_text) :]
        elif action == "truncate":
            text = text[:at]
        else:
            lines = text.split("\n")
            row = lines[position % len(lines)].split(",")
            row[position % len(row)] = junk_text
            lines[position % len(lines)] = ",".join(row)
            text = "\n".join(lines)
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    loaded = config_from_dict(
        {
            "data": {
                "kind": "csv",
                "path": str(path),
                "target": "y",
                "categorical": ["color"],
                "missing": "drop",
            },
            "model": {"layers": [{"Dense": {"units": 1}}]},
        }
    )
    from dltrain.data import load_datasets

    try:
        datasets = load_datasets(loaded.config)
    except DltrainError as exc:
        assert exc.render().strip()
        return
    assert datasets.train_size > 0


# ------------------------------------------------------------------ run-folder files
run_config_mutation = st.tuples(
    st.sampled_from(_paths(RUN_CONFIG)), st.sampled_from(["drop", "rename", "set"]), junk
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
MANIFEST_FIELDS = ["status", "name", "pid", "epochs_planned", "epochs_completed", "best",
                   "final_metrics", "timings", "resumes", "data", "imports", "started_at", "seed"]
manifest_damage = st.one_of(
    st.binary(max_size=60),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.sampled_from(MANIFEST_FIELDS), json_values, min_size=1, max_size=4).map(
        lambda fields: json.dumps({"status": "interrupted", **fields}).encode()
    ),
)
def _mutated_run_config(changes: list[Any]) -> bytes:
    config = copy.deepcopy(RUN_CONFIG)
    for path, action, value in changes:
        try:
            _mutate(config, path, action, value)
        except (KeyError, IndexError, TypeError):
            continue
    return yaml.safe_dump(config).encode()


config_damage = st.one_of(
    st.binary(max_size=80),
    st.text(max_size=80).map(str.encode),
    st.lists(run_config_mutation, min_size=1, max_size=3).map(_mutated_run_config),
)
cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=5)
metrics_damage = st.one_of(
    st.binary(max_size=80),
    st.lists(st.lists(cells, min_size=1, max_size=4), min_size=1, max_size=4).map(
        lambda rows: "\n".join(",".join(row) for row in [["epoch", "loss", "val_loss"], *rows])
        .encode()
    ),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    damage=st.one_of(
        st.tuples(st.just("run.json"), manifest_damage),
        st.tuples(st.just("config.yaml"), config_damage),
        st.tuples(st.just("metrics.csv"), metrics_damage),
    ),
    command=st.sampled_from(["runs", "compare", "eval", "predict", "resume"]),
)
def test_damaged_run_folders_exit_0_or_2(
    tmp_path_factory: pytest.TempPathFactory, damage: tuple[str, bytes], command: str
) -> None:
    root = tmp_path_factory.mktemp("runs")
    run = write_run_folder(root)
    other = write_run_folder(root, "20250101T000001Z")
    name, content = damage
    (run / name).write_bytes(content)
    data = root / "new.csv"
    data.write_text("x\n1\n")
    result = runner.invoke(app, run_folder_command(command, run, other, data))
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(
        result.exception
    )
