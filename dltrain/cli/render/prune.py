"""``dltrain prune``'s output: one line per run, what went and what it freed, and a total."""

from __future__ import annotations

from rich.console import Console

from dltrain.storage.prune import PruneResult
from dltrain.utils.units import format_bytes

__all__ = ["render_prune"]


def render_prune(console: Console, results: list[PruneResult], *, dry_run: bool) -> bool:
    """One line per run and a total; True when a removal failed midway."""
    if not results:
        console.print("no run folders found", markup=False)
        return False
    verb = "would free" if dry_run else "freed"
    total = 0
    for result in results:
        if result.skipped is not None:
            console.print(f"{result.run}: left as it is: {result.skipped}", markup=False)
            continue
        total += result.freed_bytes
        console.print(f"{result.run}: {_line(result, verb)}", markup=False)
        if result.error is not None:
            console.print(f"{result.run}: {result.error}", markup=False, style="red")
    pruned = sum(1 for r in results if r.skipped is None)
    left = len(results) - pruned
    console.print(
        f"total: {verb} {format_bytes(total)} in {_count(pruned, 'run')}"
        + (f" ({left} left as they are)" if left > 1 else " (1 left as it is)" if left else ""),
        markup=False,
    )
    return any(r.error is not None for r in results)


def _line(result: PruneResult, verb: str) -> str:
    kept = (
        f"kept resume point {result.kept.name}, best.keras and last.keras"
        if result.kept is not None
        else ""
    )
    if not result.removed:
        return f"nothing to remove ({kept})" if kept else "nothing to remove"
    parts: list[str] = []
    if result.whole_checkpoints:
        parts.append(
            "all checkpoints (not among the study's best trials; run.json, metrics.csv and "
            "plots stay)"
        )
    elif result.points:
        names = ", ".join(p.name for p in result.points)
        parts.append(f"resume point{'s' if len(result.points) > 1 else ''} {names}")
    others = result.leftovers
    if others:
        names = ", ".join(p.relative_to(result.run).as_posix() for p in others)
        parts.append(f"{_count(len(others), 'leftover')} ({names})")
    text = f"{verb} {format_bytes(result.freed_bytes)}: {'; '.join(parts)}"
    return f"{text}; {kept}" if kept else text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
