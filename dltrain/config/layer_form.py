"""One way to write a layer everywhere: the short form ``{Dense: {units: 64}}``.

Users write layers in the short form, so key paths read ``model.layers[1].Dense.units`` in
``--set``, in error messages, in ``dltrain compare`` and in tune spaces. The parsed
:class:`~dltrain.config.schema.LayerSpec` keeps Keras's ``{class_name, config}``; this module
turns entries back into the written form (for the run folder's ``config.yaml``) and rewrites
long-form entries of older run folders (and of files that use the long form) on loading.
"""

from __future__ import annotations

import copy
from typing import Any

from dltrain.config.yaml_source import KeyPath, SourceMap, format_path

__all__ = ["layer_key_problem", "short_form", "short_layer", "shorten_layers"]

_LAYERS: KeyPath = ("model", "layers")
_LONG_KEYS = frozenset({"class_name", "config", "name", "inputs", "shared"})


def _is_long(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("class_name"), str)
        and set(entry) <= _LONG_KEYS
    )


def short_layer(entry: Any) -> Any:
    """A long-form layer entry in the short form; any other value unchanged.

    ``{class_name: Dense, config: {units: 8}, name: d}`` -> ``{name: d, Dense: {units: 8}}``;
    a shared entry (``class_name: shared``) -> ``{name, shared, inputs}``.
    """
    if not _is_long(entry):
        return entry
    out: dict[str, Any] = {}
    if entry.get("name") is not None:
        out["name"] = entry["name"]
    if entry["class_name"] == "shared" and entry.get("shared") is not None:
        out["shared"] = entry["shared"]
    else:
        config = entry.get("config")
        out[entry["class_name"]] = {} if config is None else config
    if entry.get("inputs") is not None:
        out["inputs"] = entry["inputs"]
    return out


def short_form(data: Any) -> Any:
    """A copy of config data whose ``model.layers`` entries are in the short form."""
    data = copy.deepcopy(data)
    shorten_layers(data)
    return data


def shorten_layers(data: Any, source: SourceMap | None = None) -> None:
    """Rewrite long-form ``model.layers`` entries of raw config data in place.

    ``source`` (where each value was written) is remapped alongside, so errors about
    ``model.layers[1].Dense.units`` still point at the line that wrote ``config: {units: ..}``.
    """
    model = data.get("model") if isinstance(data, dict) else None
    layers = model.get("layers") if isinstance(model, dict) else None
    if not isinstance(layers, list):
        return
    for index, entry in enumerate(layers):
        if not _is_long(entry):
            continue
        layers[index] = short_layer(entry)
        if source is not None:
            _remap(source, (*_LAYERS, index), str(entry["class_name"]))


def _remap(source: SourceMap, entry_path: KeyPath, class_name: str) -> None:
    n = len(entry_path)
    for path in [p for p in source.locations if p[:n] == entry_path and len(p) > n]:
        head = path[n]
        if head == "config":
            new = (*entry_path, class_name, *path[n + 1 :])
        elif head == "class_name":
            new = (*entry_path, class_name)
        else:
            continue
        source.locations.setdefault(new, source.locations.pop(path))


def layer_key_problem(data: Any, path: KeyPath) -> str | None:
    """Why an override key cannot address a layer entry (``config``/``class_name`` keys).

    Returns:
        A message with the key to write instead, or None when ``path`` is fine.
    """
    if len(path) < 4 or path[:2] != _LAYERS or not isinstance(path[2], int):
        return None
    if path[3] not in ("config", "class_name"):
        return None
    model = data.get("model") if isinstance(data, dict) else None
    layers = model.get("layers") if isinstance(model, dict) else None
    if not isinstance(layers, list) or not 0 <= path[2] < len(layers):
        return None
    entry = layers[path[2]]
    classes = [k for k in entry if k not in ("name", "inputs", "shared")] if isinstance(
        entry, dict
    ) else []
    if len(classes) != 1 or classes[0] in ("config", "class_name"):
        return None
    if path[3] == "class_name":
        return (
            f"layers are written `{classes[0]}: {{arguments}}`; to change the class, replace "
            f"the entry: {format_path(path[:3])}={{NewClass: {{...}}}}"
        )
    better = format_path((*path[:3], classes[0], *path[4:]))
    return (
        f"layers are written `{classes[0]}: {{arguments}}`, so this key is {better}; "
        "received " + format_path(path)
    )
