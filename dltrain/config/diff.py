"""Comparing resolved configs key by key (for ``--resume`` drift and ``dltrain compare``)."""

from __future__ import annotations

from typing import Any

from dltrain.config.layer_form import short_form

__all__ = ["config_drift", "flatten", "format_value"]


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists as ``{"a.b[0].c": leaf}``; empty containers are leaves."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value} if prefix else {}


def config_drift(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every key whose value differs.

    Layers compare in the short form, so an older run folder's long-form ``config.yaml``
    differs from today's resolved config only where a value does.
    """
    a, b = flatten(short_form(old)), flatten(short_form(new))
    keys = sorted(set(a) | set(b))
    return [(k, a.get(k, "-"), b.get(k, "-")) for k in keys if a.get(k, "-") != b.get(k, "-")]


def format_value(value: Any) -> str:
    """A config value as a user writes it in YAML: ``1e-5`` (never rounded), ``true``, ``null``.

    Floats use Python's shortest round-tripping form with the exponent's padding dropped
    (``1e-05`` -> ``1e-5``), so ``1e-5`` and ``2e-5`` stay apart.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        if "e" in text:
            mantissa, exponent = text.split("e")
            sign = "-" if exponent.startswith("-") else ""
            text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
        return text
    if isinstance(value, list) and not value:
        return "[]"
    if isinstance(value, dict) and not value:
        return "{}"
    return str(value)
