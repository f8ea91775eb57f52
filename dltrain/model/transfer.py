"""Copy weights from one model into another, layer by layer, matched by name (``init_from``).

Layers with weights are paired by name. Keras names the layers a config does not name
(``dense``, ``dense_1``, ...) from a counter that runs on within a process, so two builds of
the same config can disagree on the numbers: automatically named layers left over are paired
by their order among the layers of their class (the first ``Dense`` with the first ``Dense``).
A pair is copied only when every weight has the same shape; everything else is listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import keras

__all__ = ["Transfer", "transfer_weights"]


@dataclass
class Transfer:
    """What :func:`transfer_weights` copied and what it left alone."""

    matched: list[str] = field(default_factory=list)
    """Layers (this model's names) whose weights were copied, ``name <- source name`` where
    the names differ."""
    unmatched: list[str] = field(default_factory=list)
    """This model's layers with weights that kept their initial weights: no source layer."""
    source_unmatched: list[str] = field(default_factory=list)
    """The source's layers with weights that nothing took."""
    mismatched: list[str] = field(default_factory=list)
    """Pairs left alone because a weight's shape differs, with both shapes."""


def _weighted(model: keras.Model) -> list[Any]:
    return [layer for layer in model.layers if layer.weights]


def _auto_named(layer: Any) -> bool:
    base = re.sub(r"(?<!^)(?=[A-Z])", "_", type(layer).__name__).lower()
    return re.fullmatch(rf"{re.escape(base)}(_\d+)?", layer.name) is not None


def _pairs(source: list[Any], target: list[Any]) -> list[tuple[Any, Any]]:
    by_name = {layer.name: layer for layer in source}
    pairs = [(by_name[t.name], t) for t in target if t.name in by_name]
    taken = {id(s) for s, _ in pairs} | {id(t) for _, t in pairs}
    rest_source = [s for s in source if id(s) not in taken and _auto_named(s)]
    rest_target = [t for t in target if id(t) not in taken and _auto_named(t)]
    for cls in dict.fromkeys(type(t) for t in rest_target):
        mine = [t for t in rest_target if type(t) is cls]
        theirs = [s for s in rest_source if type(s) is cls]
        pairs += list(zip(theirs, mine, strict=False))
    return pairs


def transfer_weights(source: keras.Model, target: keras.Model, *, apply: bool = True) -> Transfer:
    """Copy ``source``'s weights into ``target`` where layers match (see the module docstring).

    Args:
        source: The model to take weights from (another run's checkpoint).
        target: The model being initialized; changed in place when ``apply``.
        apply: False only reports what would be copied (``dltrain check``).
    """
    sources, targets = _weighted(source), _weighted(target)
    result = Transfer()
    used: set[int] = set()
    for theirs, mine in _pairs(sources, targets):
        used.add(id(theirs))
        label = mine.name if mine.name == theirs.name else f"{mine.name} <- {theirs.name}"
        shapes = [tuple(w.shape) for w in mine.weights]
        given = [tuple(w.shape) for w in theirs.weights]
        if shapes != given:
            result.mismatched.append(f"{label}: source {given}, here {shapes}")
            continue
        if apply:
            mine.set_weights(theirs.get_weights())
        result.matched.append(label)
    paired = {m.split(" <- ")[0] for m in result.matched}
    paired |= {m.split(":")[0].split(" <- ")[0] for m in result.mismatched}
    result.unmatched = [t.name for t in targets if t.name not in paired]
    result.source_unmatched = [s.name for s in sources if id(s) not in used]
    return result
