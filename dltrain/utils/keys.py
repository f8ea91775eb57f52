"""Key paths and "did you mean": the leaf that every stage uses to say where and what.

Nothing here imports anything of dltrain's, YAML or TensorFlow.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = ["KeyPath", "did_you_mean", "format_path"]

KeyPath = tuple[str | int, ...]
"""A path into a config: ``("model", "layers", 1, "Dense", "units")``."""


def format_path(path: Iterable[str | int]) -> str:
    """Render a key path the way users write it: ``model.layers[1].Dense.units``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out



def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: typos, including swapped neighbours, cost 1."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    lowered = {c.lower(): c for c in choices}
    if not lowered:
        return ""
    key = name.lower()
    # Fewest edits first; among equals, the most similar overall (adamm -> Adam, not AdamW).
    best = min(
        lowered,
        key=lambda c: (_edit_distance(key, c), -difflib.SequenceMatcher(None, key, c).ratio()),
    )
    if _edit_distance(key, best) <= max(1, len(key) // 3):
        return f" (did you mean {lowered[best]!r}?)"
    close = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""
