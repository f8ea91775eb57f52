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
    ("model (type: sequential)", schema.SequentialModel),
    ("model (type: functional)", schema.FunctionalModel),
    ("model.layers[i]", schema.LayerSpec),
    ("model.inputs.<name>", schema.InputSpec),
    ("optimizer", schema.OptimizerConfig),
    ("training", schema.TrainingConfig),
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


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        inner = _type_name(args[0])
        bounds = [m for m in args[1:] if hasattr(m, "metadata") or type(m).__name__ in ("Gt", "Lt")]
        return inner if not bounds else inner.replace("float", "fraction (0, 1)")
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"mapping {_type_name(args[0])} → {_type_name(args[1])}"
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        if issubclass(tp, BaseModel):
            return tp.__name__
        return {"int": "integer", "str": "text", "bool": "true/false", "float": "number"}.get(
            tp.__name__, tp.__name__
        )
    return str(tp).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        return "see section" if isinstance(field.default_factory, type) else "`[]`/`{}`"
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
        out += [
            f"## {title}",
            "",
            (model.__doc__ or "").strip().splitlines()[0].replace("``", "`"),
            "",
        ]
        out += ["| key | type | default | meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            doc = " ".join((field.description or "").split()).replace("|", "\\|").replace("``", "`")
            out.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {doc} |")
        out.append("")
    return "\n".join(out)


def json_schema_text() -> str:
    """The JSON Schema of the config, as ``dltrain schema`` prints it."""
    return json.dumps(schema.ExperimentConfig.model_json_schema(), indent=2) + "\n"


if __name__ == "__main__":  # pragma: no cover - documentation generator
    import sys

    sys.stdout.write(config_reference_markdown())
