"""The config reference (docs/config.md), generated from the schema so it never drifts."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from dltrain.config import schema, tune_schema

__all__ = ["config_reference_markdown", "json_schema_text"]

_SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("top level", schema.ExperimentConfig),
    ("data (kind: mnist | fashion_mnist)", schema.MnistData),
    ("data (kind: csv)", schema.CsvData),
    ("data (kind: image_folder)", schema.ImageFolderData),
    ("data (kind: audio_folder)", schema.AudioFolderData),
    ("augment", schema.AugmentConfig),
    ("model (type: sequential)", schema.SequentialModel),
    ("model (type: functional)", schema.FunctionalModel),
    ("model.inputs.<name>", schema.InputSpec),
    ("optimizer", schema.OptimizerConfig),
    ("training", schema.TrainingConfig),
    ("training.fine_tune", schema.FineTuneConfig),
    ("training.adversarial", schema.AdversarialConfig),
    ("callbacks", schema.CallbacksConfig),
    ("callbacks.checkpoint", schema.CheckpointConfig),
    ("callbacks.early_stopping", schema.EarlyStoppingConfig),
    ("callbacks.reduce_lr", schema.ReduceLROnPlateauConfig),
    ("callbacks.tensorboard", schema.TensorBoardConfig),
    ("distribute", schema.DistributeConfig),
    ("output", schema.OutputConfig),
    ("tune", schema.TuneConfig),
    ("tune.space.<key> (type: float)", tune_schema.FloatParam),
    ("tune.space.<key> (type: int)", tune_schema.IntParam),
    ("tune.space.<key> (type: categorical)", tune_schema.CategoricalParam),
    ("{class_name, config} objects", schema.ObjectSpec),
]


# Defaults that the schema's value does not tell: (section class, key) -> text.
_DEFAULT_TEXT: dict[tuple[type[BaseModel], str], str] = {
    (schema.ExperimentConfig, "name"): "the file's name",
}

# The layer entry, in the form every example uses (the parsed class_name/config is internal).
_LAYER_SECTION = """## model.layers[i]

One layer: its Keras class as the key, the constructor arguments as the value.

```yaml
layers:
  - Flatten                                  # a class with no arguments
  - Dense: {units: 64, activation: relu}     # class: arguments
  - {name: out, Dense: {units: 10}, inputs: hidden}   # functional models: name and inputs
  - {name: again, shared: out, inputs: other}         # apply layer `out` again (shared weights)
  - Sequential: {layers: [{Dense: {units: 8}}, {Dropout: {rate: 0.5}}]}   # a nested block
```

| key | type | default | meaning |
|---|---|---|---|
| `<LayerClass>` | mapping text → any \\| null | **required** (one) | A `keras.layers` \
class such as `Dense`, `Conv2D`, `LSTM`; its value holds the constructor arguments (Keras \
checks them when the model is built). `Lambda` is refused. |
| `name` | text | from the class | Layer name; functional models refer to layers by it. |
| `inputs` | text \\| list of text | - | Functional models: the input or layer name(s) this \
layer is applied to. |
| `shared` | text | - | Instead of a class: apply the layer of this name again (shared \
weights). |

Keras's long form `{class_name: Dense, config: {units: 64}}` is accepted too; run folders
record the short form.
"""


def _type_name(tp: Any, nested: bool = False) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        inner = _type_name(args[0])
        bounds = [m for m in args[1:] if hasattr(m, "metadata") or type(m).__name__ in ("Gt", "Lt")]
        return inner if not bounds else inner.replace("float", "fraction (0, 1)")
    if origin in (typing.Union, types.UnionType, typing.Literal):
        parts: list[str] = []
        for arg in args:
            name = f"`{arg}`" if origin is typing.Literal else _type_name(arg)
            if name not in parts:
                parts.append(name)
        text = " \\| ".join(parts)
        # A union inside a list or mapping is bracketed: "list of (integer \| null)".
        return f"({text})" if nested and len(parts) > 1 else text
    if origin is list:
        return f"list of {_type_name(args[0], nested=True)}"
    if origin is dict:
        return f"mapping {_type_name(args[0], True)} → {_type_name(args[1], True)}"
    if tp is Any:
        return "any"
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        if issubclass(tp, BaseModel):
            return tp.__name__
        return {"int": "integer", "str": "text", "bool": "true/false", "float": "number"}.get(
            tp.__name__, tp.__name__
        )
    return str(tp).replace("typing.", "")


def _default(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    if (model, name) in _DEFAULT_TEXT:
        return _DEFAULT_TEXT[(model, name)]
    if field.is_required():
        return "**required**"
    factory = field.default_factory
    if factory is not None:
        if isinstance(factory, type) and issubclass(factory, BaseModel):
            return "see its section"
        return f"`{json.dumps(factory())}`"  # type: ignore[call-arg]
    value = field.default
    if value is PydanticUndefined:
        return ""
    return f"`{json.dumps(value)}`"


def config_reference_markdown() -> str:
    """Markdown tables of every config section and field, from the schema's docstrings."""
    out = [
        "# Config reference",
        "",
        "Generated from `dltrain/config/schema.py` by "
        "`python -m dltrain.config.reference > docs/config.md`; do not edit by hand.",
        "Editors can complete and check configs with the JSON Schema in "
        "[config.schema.json](config.schema.json) (see the README).",
        "",
    ]
    for title, model in _SECTIONS:
        if title == "model.inputs.<name>":
            out += _LAYER_SECTION.replace("\\\n", "").splitlines() + [""]
        out += [
            f"## {title}",
            "",
            (model.__doc__ or "").strip().splitlines()[0].replace("``", "`"),
            "",
        ]
        out += ["| key | type | default | meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            doc = " ".join((field.description or "").split()).replace("|", "\\|").replace("``", "`")
            out.append(
                f"| `{name}` | {_type_name(field.annotation)} | {_default(model, name, field)} "
                f"| {doc} |"
            )
        if model is schema.OptimizerConfig:
            out.append(
                "| *other keys* | any | - | Passed to the optimizer's constructor, e.g. "
                "`momentum: 0.9`, `weight_decay: 0.004`, `clipnorm: 1.0`. |"
            )
        if model is schema.ExperimentConfig:
            out.append(
                "| `extends` | text \\| list of text | - | Config file(s) this one builds on, "
                "relative to it: mappings merge key by key, lists and values here replace the "
                "base's. |"
            )
        out.append("")
    return "\n".join(out)


def json_schema_text() -> str:
    """The JSON Schema of the config as written in YAML, as ``dltrain schema`` prints it."""
    from dltrain.config.json_schema import config_json_schema

    return json.dumps(config_json_schema(), indent=2) + "\n"


if __name__ == "__main__":  # pragma: no cover - documentation generator
    import sys

    sys.stdout.write(config_reference_markdown())
