"""The JSON Schema of the YAML a user writes (``dltrain schema``, docs/config.schema.json).

Pydantic's schema describes the *parsed* config: layers as ``{class_name, config}``, no
``extends``, every section complete. Editors check the file as written, so this module adjusts
that schema to the written forms the loader accepts:

* layer entries in the short form ``- Dense: {units: 64}``, a bare ``- Flatten``, a shared
  layer ``{name, shared, inputs}``, ``inputs`` as one name or a list (the long
  ``{class_name, config}`` form is still accepted, as the loader does);
* ``extends:`` at the top level; a file that extends another is checked leniently (no
  section or key is required, since the base file supplies them);
* flag sections (``early_stopping: true``), one output name as text, ``inputs: {image: }``.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["config_json_schema"]

_REF = "#/$defs/"
_PARTIAL = "Partial"

_LAYER_CLASS_KEY = "^[A-Z][A-Za-z0-9_]*$"
_INPUTS = {
    "description": "Functional models: the input or layer name this layer is applied to, or a "
    "list of names (layers such as Concatenate take several).",
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
}
_LAYER_NAME = {
    "description": "Layer name; functional models refer to layers by it.",
    "type": "string",
}

_LAYER_ENTRY: dict[str, Any] = {
    "title": "Layer",
    "description": (
        "One layer, written as its Keras class with the constructor arguments: "
        "`- Dense: {units: 64, activation: relu}` (or a bare `- Flatten`). Functional models add "
        "`name` and `inputs`; `{name: b, shared: a, inputs: x}` applies layer `a` again (shared "
        "weights); `{Sequential: {layers: [...]}}` nests a block of layers."
    ),
    "anyOf": [
        {"type": "string", "pattern": _LAYER_CLASS_KEY, "description": "A layer class with no "
         "arguments, e.g. `Flatten`."},
        {
            "type": "object",
            "properties": {"name": _LAYER_NAME, "inputs": _INPUTS},
            "patternProperties": {
                _LAYER_CLASS_KEY: {
                    "description": "The Keras layer class (e.g. `Dense`); its value holds the "
                    "constructor arguments (e.g. `{units: 64, activation: relu}`).",
                    "type": ["object", "null"],
                }
            },
            "additionalProperties": False,
            # At least one key besides name/inputs: the layer class.
            "not": {"propertyNames": {"enum": ["name", "inputs"]}},
            "maxProperties": 3,
        },
        {
            "type": "object",
            "properties": {
                "name": _LAYER_NAME,
                "inputs": _INPUTS,
                "shared": {
                    "description": "Apply the layer of this name again (shared weights) "
                    "instead of creating a new one.",
                    "type": "string",
                },
            },
            "required": ["shared"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "description": "Keras's own long form, `{class_name: Dense, config: {units: 64}}`.",
            "properties": {
                "class_name": {"type": "string", "description": "The Keras layer class."},
                "config": {"type": ["object", "null"], "description": "Its arguments."},
                "name": _LAYER_NAME,
                "inputs": _INPUTS,
            },
            "required": ["class_name"],
            "additionalProperties": False,
        },
    ],
}

_EXTENDS = {
    "description": "A config file (or list of files, relative to this one) this file builds "
    "on: mappings merge key by key, lists and values here replace the base's.",
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
}

# Sections that `true` switches on with their defaults and `false` switches off.
_FLAG_SECTIONS = ("early_stopping", "reduce_lr", "tensorboard")


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an experiment YAML file as users write it."""
    from dltrain.config.plugin_schema import experiment_model

    # With the dataset kinds that imported plugins registered.
    full = experiment_model().model_json_schema()
    defs: dict[str, Any] = full.pop("$defs")
    defs["LayerSpec"] = _LAYER_ENTRY
    for name in _FLAG_SECTIONS:
        prop = defs["CallbacksConfig"]["properties"][name]
        prop["anyOf"].insert(1, {"type": "boolean"})
    defs["TrackingConfig"]["properties"]["mlflow"]["anyOf"].insert(1, {"type": "boolean"})
    functional = defs["FunctionalModel"]["properties"]
    functional["outputs"] = {
        "description": functional["outputs"]["description"],
        "anyOf": [{"type": "string"}, {k: v for k, v in functional["outputs"].items()
                                        if k != "description"}],
    }
    functional["inputs"]["additionalProperties"] = {
        "anyOf": [{"$ref": _REF + "InputSpec"}, {"type": "null"}]
    }
    full["properties"]["extends"] = _EXTENDS

    # Lenient copies of the sections for a file that extends another.
    partial = {name + _PARTIAL: _relaxed(body) for name, body in defs.items()
               if name not in ("LayerSpec", "ObjectSpec")}
    top = _relaxed(copy.deepcopy(full))
    strict = copy.deepcopy(full)
    for key in ("title", "description"):
        strict.pop(key, None)
    defs.update(partial)
    defs["ExperimentConfig"] = strict
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **top,
        # Without `extends`, the file must be complete and is checked strictly.
        "if": {"not": {"required": ["extends"]}},
        "then": {"$ref": _REF + "ExperimentConfig"},
        "$defs": dict(sorted(defs.items())),
    }


def _relaxed(node: Any) -> Any:
    """``node`` with nothing required and unions matched loosely, refs pointing at partials."""
    if isinstance(node, list):
        return [_relaxed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("required", "discriminator", "minProperties"):
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith(_REF):
            target = value[len(_REF):]
            out[key] = value if target in ("LayerSpec", "ObjectSpec") else value + _PARTIAL
        elif key == "oneOf":
            # Without the discriminating key, several alternatives may match a fragment.
            out["anyOf"] = _relaxed(value)
        elif key == "properties":
            out[key] = {name: _relaxed(prop) for name, prop in value.items()}
        else:
            out[key] = _relaxed(value)
    return out
