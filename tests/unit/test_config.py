"""The config stage: located errors, extends, overrides, paths. No TensorFlow here."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dltrain.config import config_from_dict, load_config
from dltrain.config.overrides import parse_key_path
from dltrain.config.schema import CsvData, MnistData, SequentialModel
from dltrain.errors import ConfigError

MLP = """\
name: mlp
data:
  kind: mnist
model:
  input_shape: [28, 28]
  layers:
    - Flatten: {}
    - Dense: {units: 512, activation: relu}
    - Dense: {units: 10, activation: softmax}
optimizer: {name: adam, learning_rate: 1e-3}
loss: categorical_crossentropy
training:
  epochs: 10
  batch_size: 32
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides or [])
    return info.value.render()


def test_valid_config_loads_with_defaults(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, MLP))
    cfg = loaded.config
    assert isinstance(cfg.data, MnistData) and cfg.data.validation == "test"
    assert isinstance(cfg.model, SequentialModel)
    assert [layer.class_name for layer in cfg.model.layers] == ["Flatten", "Dense", "Dense"]
    assert cfg.model.layers[1].config == {"units": 512, "activation": "relu"}
    assert cfg.optimizer.learning_rate == pytest.approx(1e-3)
    assert isinstance(cfg.optimizer.learning_rate, float)
    assert cfg.training.epochs == 10 and cfg.seed == 42


def test_shipped_classic_config_is_the_keras_example() -> None:
    cfg = load_config(Path(__file__).parents[2] / "configs" / "mnist_mlp.yaml").config
    assert isinstance(cfg.model, SequentialModel)
    layers = [(spec.class_name, spec.config) for spec in cfg.model.layers]
    assert layers == [
        ("Flatten", {}),
        ("Dense", {"units": 512, "activation": "relu"}),
        ("Dense", {"units": 10, "activation": "softmax"}),
    ]
    assert cfg.model.input_shape == [28, 28]
    assert cfg.optimizer.name == "adam" and cfg.loss == "categorical_crossentropy"
    assert cfg.metrics == ["accuracy"]
    assert (cfg.training.epochs, cfg.training.batch_size) == (10, 32)
    assert isinstance(cfg.data, MnistData)
    assert cfg.data.validation == "test" and cfg.data.one_hot


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("ep0chs: 3\n", 1, "unknown key 'ep0chs'"),
        ("trainning: {epochs: 3}\n", 1, "unknown key 'trainning' (did you mean 'training'?)"),
    ],
)
def test_top_level_typos(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    message = errors_of(write(tmp_path, text + MLP))
    assert f"c.yaml:{line}:1" in message and fragment in message


# A dozen deliberately broken configs: (change to MLP, expected line, key path, fragment).
BROKEN = [
    (
        "training:\n  epochs: 10",
        "training:\n  epoch: 10",
        13,
        "training.epoch",
        "did you mean 'epochs'",
    ),
    ("  epochs: 10", "  epochs: 0", 13, "training.epochs", "greater than 0; received 0"),
    ("  batch_size: 32", "  batch_size: -4", 14, "training.batch_size", "received -4"),
    ("  batch_size: 32", "  batch_size: lots", 14, "training.batch_size", "'full'"),
    ("  kind: mnist", "  kind: mnsit", 3, "data.kind", "did you mean 'mnist'"),
    (
        "data:\n  kind: mnist",
        "data:\n  kind: mnist\n  validation: 1.5",
        4,
        "data.validation",
        "less than 1",
    ),
    (
        "  input_shape: [28, 28]",
        "  input_shape: [28, -1]",
        5,
        "model.input_shape[1]",
        "received -1",
    ),
    (
        "    - Dense: {units: 512, activation: relu}",
        "    - Dense: 512",
        8,
        "model.layers[1].Dense",
        "mapping",
    ),
    (
        "    - Flatten: {}",
        "    - Flatten: {}\n      Dense: {}",
        7,
        "model.layers[0]",
        "exactly one layer class",
    ),
    ("model:\n", "model:\n  type: sequentail\n", 5, "model.type", "did you mean 'sequential'"),
    (
        "optimizer: {name: adam, learning_rate: 1e-3}",
        "optimizer: {name: adam, learning_rate: -1e-3}",
        10,
        "optimizer.learning_rate",
        "greater than 0",
    ),
    ("name: mlp", "name: 'my run/1'", 1, "name", "pattern"),
    ("  epochs: 10", "  epochs: ten", 13, "training.epochs", "valid integer"),
]


@pytest.mark.parametrize(("old", "new", "line", "path", "fragment"), BROKEN)
def test_broken_configs_point_at_line_and_key(
    tmp_path: Path, old: str, new: str, line: int, path: str, fragment: str
) -> None:
    assert old in MLP
    message = errors_of(write(tmp_path, MLP.replace(old, new, 1)))
    assert f"c.yaml:{line}:" in message, message
    assert f"{path}:" in message, message
    assert fragment in message, message


def test_all_problems_reported_together(tmp_path: Path) -> None:
    text = MLP.replace("  epochs: 10", "  epochs: -1").replace(
        "  kind: mnist", "  kind: mnist\n  colour: red"
    )
    message = errors_of(write(tmp_path, text))
    assert "data.colour: unknown key 'colour'" in message
    assert "training.epochs:" in message
    assert "2 problems" in message


def test_nested_unknown_key_lists_allowed_when_no_close_match(tmp_path: Path) -> None:
    message = errors_of(write(tmp_path, MLP.replace("  epochs: 10", "  epochs: 10\n  zzz: 1")))
    assert "unknown key 'zzz'; allowed keys: epochs, batch_size" in message


@pytest.mark.parametrize(
    ("text", "fragment", "line"),
    [
        ("name: [unclosed\n", "invalid YAML", 2),
        ("a: 1\na: 2\n", "duplicate key 'a'", 2),
        ("- 1\n- 2\n", "expected a mapping", 1),
        ("x: !!python/object:os.system {}\n", "invalid YAML", 1),
    ],
)
def test_yaml_level_errors(tmp_path: Path, text: str, fragment: str, line: int) -> None:
    message = errors_of(write(tmp_path, text))
    assert fragment in message and f"c.yaml:{line}" in message


def test_missing_empty_and_folder(tmp_path: Path) -> None:
    assert "no such file" in errors_of(tmp_path / "nope.yaml")
    assert "the file is empty" in errors_of(write(tmp_path, "   \n# only a comment\n"))
    assert "is a folder" in errors_of(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert "not a UTF-8 text file" in errors_of(binary)


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
        for i in range(1, 8)
    ]
    assert "too many values" in errors_of(write(tmp_path, "\n".join(lines) + "\n"))


def test_scientific_notation_is_a_float(tmp_path: Path) -> None:
    text = MLP.replace("learning_rate: 1e-3", "learning_rate: 5E-4") + "description: 1e3 steps\n"
    cfg = load_config(write(tmp_path, text)).config
    assert cfg.optimizer.learning_rate == pytest.approx(5e-4)


def test_extends_chain_and_set_precedence(tmp_path: Path) -> None:
    write(tmp_path, MLP, "base.yaml")
    (tmp_path / "sub").mkdir()
    write(tmp_path, "extends: ../base.yaml\ntraining: {epochs: 3}\nseed: 1\n", "sub/mid.yaml")
    child = write(tmp_path, "extends: sub/mid.yaml\nseed: 7\n", "child.yaml")
    loaded = load_config(child, ["training.batch_size=full", "seed=9"])
    cfg = loaded.config
    assert cfg.training.epochs == 3  # from mid, over base's 10
    assert cfg.training.batch_size == "full"  # --set over everything
    assert cfg.seed == 9
    assert cfg.model.layers[1].config["units"] == 512  # inherited from base
    assert [p.name for p in loaded.files] == ["base.yaml", "mid.yaml", "child.yaml"]
    assert loaded.overrides == ["training.batch_size=full", "seed=9"]
    assert cfg.name == "mlp"  # base's name is kept: the file stem is only a default


def test_errors_in_extended_file_point_into_that_file(tmp_path: Path) -> None:
    write(tmp_path, MLP.replace("  epochs: 10", "  epochs: -5"), "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nseed: 3\n", "child.yaml")
    assert "base.yaml:13:" in errors_of(child)


def test_extends_cycle_and_missing(tmp_path: Path) -> None:
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    assert "cycle" in errors_of(tmp_path / "a.yaml")
    missing = write(tmp_path, "extends: nowhere.yaml\nseed: 1\n", "m.yaml")
    message = errors_of(missing)
    assert "m.yaml:1:" in message and "nowhere.yaml" in message


def test_set_unknown_key_is_named(tmp_path: Path) -> None:
    message = errors_of(write(tmp_path, MLP), ["training.epoch=3"])
    assert "--set training.epoch=3" in message
    assert "unknown key 'epoch' (did you mean 'epochs'?)" in message


def test_set_values_are_yaml_typed_data(tmp_path: Path) -> None:
    path = write(tmp_path, MLP)
    cfg = load_config(
        path,
        [
            "model.layers[1].Dense.units=64",
            "optimizer.learning_rate=2e-3",
            "description=__import__('os').system('x')",
            "callbacks.early_stopping=true",
        ],
    ).config
    assert cfg.model.layers[1].config["units"] == 64
    assert cfg.optimizer.learning_rate == pytest.approx(2e-3)
    assert cfg.description == "__import__('os').system('x')"
    assert cfg.callbacks.early_stopping is not None and cfg.callbacks.early_stopping.patience == 5


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("training.epochs", "KEY.PATH=VALUE"),
        ("model.layers[9].Dense.units=3", "no item [9]"),
        ("training.epochs.x=3", "not a mapping"),
        ("a..b=1", "key path"),
    ],
)
def test_bad_overrides(tmp_path: Path, override: str, fragment: str) -> None:
    assert fragment in errors_of(write(tmp_path, MLP), [override])


def test_parse_key_path() -> None:
    assert parse_key_path("model.layers[1].Dense.units") == ("model", "layers", 1, "Dense", "units")


def test_paths_resolve_relative_to_the_file_that_wrote_them(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    write(
        tmp_path,
        MLP.replace("  kind: mnist", "  kind: mnist\n  path: ../data/mnist.npz"),
        "configs/base.yaml",
    )
    (tmp_path / "other").mkdir()
    child = write(tmp_path, "extends: ../configs/base.yaml\n", "other/child.yaml")
    cfg = load_config(child).config
    assert cfg.data.path == str((tmp_path / "data" / "mnist.npz").resolve())


def test_csv_needs_a_source(tmp_path: Path) -> None:
    text = "data: {kind: csv, target: y}\nmodel: {layers: [{Dense: {units: 1}}]}\n"
    message = errors_of(write(tmp_path, text))
    assert "give `path`" in message and "c.yaml:1:" in message


def test_csv_config_and_functional_model(tmp_path: Path) -> None:
    text = """\
    data:
      kind: csv
      path: data/auto.csv
      target: mpg
      categorical: [origin]
      missing: drop
      task: regression
    model:
      type: functional
      inputs: {features: {}}
      layers:
        - {name: h1, Dense: {units: 64, activation: relu}, inputs: features}
        - {name: out, Dense: {units: 1}, inputs: h1}
      outputs: out
    callbacks: {early_stopping: {patience: 2}, tensorboard: true}
    """
    cfg = load_config(write(tmp_path, text)).config
    assert isinstance(cfg.data, CsvData)
    assert cfg.data.path == str(tmp_path / "data" / "auto.csv")
    assert cfg.model.type == "functional"
    assert cfg.model.outputs == ["out"] and cfg.model.layers[0].inputs == ["features"]
    assert cfg.callbacks.tensorboard is not None


def test_config_from_dict_and_yaml_round_trip(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, MLP))
    again = config_from_dict(loaded.to_dict())
    assert again.config == loaded.config
    assert again.digest() == loaded.digest()
    assert "Dense" in loaded.to_yaml()


def test_generated_docs_are_current() -> None:
    from dltrain.config.reference import config_reference_markdown, json_schema_text

    docs = Path(__file__).parents[2] / "docs"
    assert (docs / "config.md").read_text() == config_reference_markdown(), (
        "docs/config.md is stale: python -m dltrain.config.reference > docs/config.md"
    )
    assert (docs / "config.schema.json").read_text() == json_schema_text(), (
        "docs/config.schema.json is stale: dltrain schema -o docs/config.schema.json"
    )


@pytest.mark.parametrize(
    ("typo", "choices", "expected"),
    [
        ("adma", ["Adamax", "Adam", "Nadam"], "Adam"),
        ("epoch", ["epochs", "batch_size"], "epochs"),
        ("Dens", ["DepthwiseConv2D", "Dense"], "Dense"),
        ("learnin_rate", ["learning_rate", "name"], "learning_rate"),
        ("adamm", ["AdamW", "Adam"], "Adam"),
    ],
)
def test_did_you_mean_prefers_the_nearest_typo(typo: str, choices: list[str], expected: str) -> None:
    from dltrain.config import did_you_mean

    assert did_you_mean(typo, choices) == f" (did you mean {expected!r}?)"
    assert did_you_mean("zzzzzz", choices) == ""


# ------------------------------------------------- one key form: model.layers[1].Dense.units
LONG_FORM_SAVED = {
    "name": "old",
    "data": {"kind": "mnist"},
    "model": {
        "type": "sequential",
        "layers": [
            {"class_name": "Flatten", "config": {}},
            {"class_name": "Dense", "config": {"units": 64, "activation": "relu"}},
            {"class_name": "Dense", "config": {"units": 10}, "name": "out"},
        ],
    },
}


def test_resolved_config_writes_layers_in_the_short_form(tmp_path: Path) -> None:
    import yaml

    loaded = load_config(write(tmp_path, MLP))
    layers = loaded.to_dict()["model"]["layers"]
    assert layers[1] == {"Dense": {"units": 512, "activation": "relu"}}
    assert "class_name" not in loaded.to_yaml()
    saved = yaml.safe_load(loaded.to_yaml())
    assert config_from_dict(saved, ["model.layers[1].Dense.units=7"]).config.model.layers[
        1
    ].config["units"] == 7


def test_functional_and_shared_layers_round_trip_in_the_short_form(tmp_path: Path) -> None:
    text = """\
    data: {kind: mnist}
    model:
      type: functional
      inputs: {image: }
      layers:
        - {name: flat, Flatten: {}, inputs: image}
        - {name: d, Dense: {units: 4}, inputs: flat}
        - {name: again, shared: d, inputs: flat}
      outputs: [d, again]
    """
    loaded = load_config(write(tmp_path, text))
    layers = loaded.to_dict()["model"]["layers"]
    assert layers[0] == {"name": "flat", "Flatten": {}, "inputs": ["image"]}
    assert layers[2] == {"name": "again", "shared": "d", "inputs": ["flat"]}
    assert config_from_dict(loaded.to_dict()).config == loaded.config


def test_set_in_the_short_form_applies_to_an_older_long_form_saved_config() -> None:
    from dltrain.config.diff import config_drift

    # What an older run folder's config.yaml holds: every key, layers in the long form.
    saved = config_from_dict(LONG_FORM_SAVED).config.model_dump(mode="json", exclude_none=True)
    assert saved["model"]["layers"][1]["class_name"] == "Dense"
    loaded = config_from_dict(saved, ["model.layers[1].Dense.units=32"])
    assert loaded.config.model.layers[1].config == {"units": 32, "activation": "relu"}
    assert loaded.config.model.layers[2].name == "out"
    # The drift --resume reports uses the same key form, and nothing else differs.
    assert config_drift(saved, loaded.to_dict()) == [
        ("model.layers[1].Dense.units", 64, 32)
    ]


def test_set_errors_name_the_override(tmp_path: Path) -> None:
    path = write(tmp_path, MLP)
    message = errors_of(path, ["model.layers[9].Dense.units=3"])
    assert message.startswith("--set model.layers[9].Dense.units=3: "), message
    assert "no item [9] here (a list of 3)" in message
    message = errors_of(path, ["model.layers[1].config.units=3"])
    assert message.startswith("--set model.layers[1].config.units=3: "), message
    assert "model.layers[1].Dense.units" in message and "c.yaml" not in message
    message = errors_of(path, ["model.layers[1].class_name=Conv2D"])
    assert "replace the entry: model.layers[1]={NewClass: {...}}" in message
    # A misspelt section made up by the override is reported at the override, not at line 1.
    message = errors_of(path, ["trainig.epochs=1"]).splitlines()[-1].strip()
    assert message == (
        "--set trainig.epochs=1: trainig: unknown key 'trainig' (did you mean 'training'?)"
    ), message


def test_long_form_file_errors_point_at_the_written_line(tmp_path: Path) -> None:
    text = """\
    data: {kind: mnist}
    model:
      layers:
        - class_name: Dense
          config: {units: 3}
          inputs: 5
    """
    message = errors_of(write(tmp_path, text))
    assert "c.yaml:6:" in message and "model.layers[0].inputs" in message
