"""Config differences between runs with layers matched by name, not by list position.

With positions, inserting a Dropout shifts every later layer and every one of them shows as
changed; matched by name, the Dropout is one added layer and the rest compare with their
namesakes. A layer's name is its ``name:`` (functional models, or a ``name`` argument), else
the one Keras gives it: the class in snake case, ``_1``, ``_2``... for later ones of the
same class (``dense``, ``dense_1``), as ``model.txt`` shows.
"""

from __future__ import annotations

import re
from typing import Any

from dltrain.config.diff import flatten, format_value
from dltrain.config.layer_form import short_form

__all__ = ["MISSING", "config_differences", "layer_names"]

MISSING = "-"
"""A value a run does not have."""


def _snake(name: str) -> str:
    # Keras's to_snake_case: "BatchNormalization" -> "batch_normalization", "Conv2D" -> "conv2d".
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _layer_class(layer: dict[str, Any]) -> str | None:
    classes = [k for k in layer if k[:1].isupper()]
    return classes[0] if classes else None


def layer_names(layers: list[Any]) -> list[str]:
    """The name of each layer of a config's ``model.layers`` (short form), in order."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for index, layer in enumerate(layers):
        explicit: Any = None
        cls: str | None = None
        if isinstance(layer, dict):
            cls = _layer_class(layer)
            args = layer.get(cls) if cls else None
            explicit = layer.get("name") or (args.get("name") if isinstance(args, dict) else None)
        if explicit:
            name = str(explicit)
        else:
            base = _snake(cls) if cls else f"layer{index}"
            count = seen.get(base, 0)
            seen[base] = count + 1
            name = base if count == 0 else f"{base}_{count}"
        while name in names:  # two layers named alike in a hand-edited config: keep both
            name += "'"
        names.append(name)
    return names


def _describe_layer(layer: Any) -> str:
    """``Dropout(rate=0.5)``: a layer in one cell."""
    if not isinstance(layer, dict):
        return format_value(layer)
    cls = _layer_class(layer)
    args = layer.get(cls) if cls else None
    inner = ", ".join(
        f"{k}={format_value(v)}" for k, v in (args.items() if isinstance(args, dict) else [])
    )
    extra = ", ".join(f"{k}={format_value(v)}" for k, v in layer.items() if k != cls)
    both = ", ".join(part for part in (inner, extra) if part)
    return f"{cls or 'layer'}({both})"


def _keyed(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(every key but the layers, flattened; the layers by name)."""
    model = config.get("model") if isinstance(config.get("model"), dict) else None
    layers = model.get("layers") if model else None
    if not isinstance(layers, list):
        return flatten(config), {}
    rest = {**config, "model": {k: v for k, v in model.items() if k != "layers"}}  # type: ignore[union-attr]
    return flatten(rest), dict(zip(layer_names(layers), layers, strict=True))


def config_differences(configs: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """``(key, value per config)`` for every key whose value differs between the configs.

    Layer keys read ``model.layers[dense_1].Dense.units``; a layer that only some configs have
    is one row ``model.layers[dropout]`` with its description where it exists. Absent values
    are :data:`MISSING`.
    """
    shaped = [_keyed(short_form(config)) for config in configs]
    flats = [flat for flat, _ in shaped]
    layer_maps = [layers for _, layers in shaped]
    rows = _differing(flats)
    # Layer rows in the merged order of the runs' layer lists (the first run's, then new ones).
    names = list(dict.fromkeys(name for layers in layer_maps for name in layers))
    for name in names:
        present = [name in layers for layers in layer_maps]
        key = f"model.layers[{name}]"
        if not all(present):
            rows.append(
                (
                    key,
                    [
                        _describe_layer(layers[name]) if name in layers else MISSING
                        for layers in layer_maps
                    ],
                )
            )
            continue
        inner = [flatten(layers[name], key) for layers in layer_maps]
        rows.extend(_differing(inner))
    return rows


def _differing(flats: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    keys = list(dict.fromkeys(k for flat in flats for k in flat))
    rows: list[tuple[str, list[Any]]] = []
    for key in keys:
        values = [flat.get(key, MISSING) for flat in flats]
        # 1 == 1.0 == True in Python; compare types too, so `1` against `true` shows up.
        if len({(type(v).__name__, repr(v)) for v in values}) > 1:
            rows.append((key, values))
    return rows
