"""The exported JSON Schema describes the YAML users write; the generated reference is right.

Validated with a real JSON Schema validator (``jsonschema``), as an editor would. No TensorFlow.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dltrain.config.reference import config_reference_markdown, json_schema_text
from dltrain.config.yaml_source import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
IDS = [str(p.relative_to(ROOT / "configs")) for p in CONFIGS]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(json_schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(validator: jsonschema.Draft202012Validator, text: str) -> list[str]:
    data, _ = parse_yaml(textwrap.dedent(text))
    return [error.message for error in validator.iter_errors(data)]


def test_the_committed_schema_is_the_exported_one() -> None:
    committed = json.loads((ROOT / "docs" / "config.schema.json").read_text())
    assert committed == json.loads(json_schema_text())


def test_shipped_configs_are_found() -> None:
    assert len(CONFIGS) >= 20
    assert any("extends:" in p.read_text() for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_every_shipped_config_validates(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    assert _errors(validator, path.read_text()) == []


MNIST = "data: {kind: mnist}\n"

VALID = {
    "short layers and a bare class": MNIST
    + "model:\n  layers:\n    - Flatten\n    - Dense: {units: 10, activation: softmax}\n",
    "long layer form": MNIST + "model:\n  layers:\n    - {class_name: Dense, config: {units: 3}}\n",
    "functional, inputs as text or list, shared": MNIST
    + """\
model:
  type: functional
  inputs: {image: }
  layers:
    - {name: flat, Flatten: {}, inputs: image}
    - {name: out, Dense: {units: 10}, inputs: [flat]}
    - {name: again, shared: out, inputs: flat}
  outputs: out
""",
    "a file that extends: any part of a section": "extends: base.yaml\ndata: {limit: 300}\n",
    "extends a list": "extends: [a.yaml, b.yaml]\ntraining: {epochs: 3}\n",
    "flag sections": MNIST
    + "model: {layers: [Flatten]}\ncallbacks: {early_stopping: true, tensorboard: false}\n",
    "optimizer arguments": MNIST
    + "model: {layers: [Flatten]}\noptimizer: {name: sgd, learning_rate: 1e-3, momentum: 0.9}\n",
    "callbacks.extra: a mapping, a bare class name, no arguments": MNIST
    + "model: {layers: [Flatten]}\ncallbacks:\n  extra:\n    - CSVLogger: {filename: a.csv}\n"
    + "    - TerminateOnNaN\n    - ProgbarLogger:\n",
}

INVALID = {
    "unknown top-level key": (MNIST + "model: {layers: [Flatten]}\nepochs: 3\n", "'epochs'"),
    "no model and no extends": (MNIST, "'model' is a required property"),
    "layer without a class": (MNIST + "model:\n  layers:\n    - {units: 64}\n", "layers"),
    "layer arguments not a mapping": (MNIST + "model:\n  layers:\n    - Dense: 64\n", "layers"),
    "shared entry with a class": (
        MNIST + "model:\n  layers:\n    - {shared: a, Dense: {}}\n", "layers"),
    "csv without target": ("data: {kind: csv, path: a.csv}\nmodel: {layers: [Flatten]}\n", "kind"),
    "unknown data kind": ("data: {kind: imagenet}\nmodel: {layers: [Flatten]}\n", "imagenet"),
    "typo in a file that extends": ("extends: base.yaml\ntrainig: {epochs: 3}\n", "'trainig'"),
    "bad value in a file that extends": ("extends: base.yaml\ntraining: {epochs: 0}\n", "0"),
    "two callback classes in one entry": (
        MNIST + "model: {layers: [Flatten]}\ncallbacks: {extra: [{A: {}, B: {}}]}\n", "not valid"),
}


@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_written_forms_validate(validator: jsonschema.Draft202012Validator, text: str) -> None:
    assert _errors(validator, text) == []


@pytest.mark.parametrize("case", INVALID.values(), ids=INVALID.keys())
def test_wrong_configs_do_not_validate(
    validator: jsonschema.Draft202012Validator, case: tuple[str, str]
) -> None:
    text, needle = case
    errors = _errors(validator, text)
    assert errors and any(needle in e for e in errors), errors


def _described(node: Any, where: str = "") -> list[str]:
    """Paths of properties in ``node`` that have no description."""
    missing = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if isinstance(prop, dict) and not prop.get("description"):
                missing.append(f"{where}.{name}")
        for key, value in node.items():
            missing += _described(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            missing += _described(item, f"{where}[{i}]")
    return missing


def test_every_property_has_a_description() -> None:
    assert _described(json.loads(json_schema_text())) == []


def test_reference_documents_the_written_forms() -> None:
    text = config_reference_markdown()
    layers = text.split("## model.layers[i]", 1)[1].split("\n## ", 1)[0]
    assert "- Dense: {units: 64, activation: relu}" in layers
    assert "`class_name`" not in layers.split("|---|", 1)[1]  # not a row of the table
    assert "| `name` | text | the file's name |" in text
    assert "list of (integer \\| null) \\| null" in text and "null \\| null" not in text
    assert "| `categorical` | list of text \\| `auto` | `[]` |" in text
    assert "see section" not in text
    optimizer = text.split("## optimizer", 1)[1].split("\n## ", 1)[0]
    assert "| `name` | text | `\"adam\"` | Keras optimizer name" in optimizer
    assert "| `extends` |" in text
