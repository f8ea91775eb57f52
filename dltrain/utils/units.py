"""Human-readable quantities shared by the text outputs."""

from __future__ import annotations

__all__ = ["format_bytes"]


def format_bytes(count: int) -> str:
    """``1706200`` -> ``1.6 MiB`` (binary units, one decimal)."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
