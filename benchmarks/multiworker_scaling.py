"""Multi-worker scaling on loopback: per-epoch time with 1, 2 and 4 workers, and how much
of it is communication.

For each worker count N it measures two things on Fashion-MNIST (the global batch and the
training set are the same for every N, so an epoch is the same work in total):

1. ``dltrain launch --workers N``: the chief's per-epoch time ``t_N`` (median of the epochs
   after the first, which traces), from ``metrics.csv``.
2. The no-communication baseline: N independent ``dltrain run`` processes at the same time,
   each with the per-worker share of the job (batch ``B/N``, ``L/N`` training examples, one
   device, no collectives): their per-epoch time ``c_N``. It does the same computation per
   process under the same CPU contention as the N workers, without the all-reduces and the
   step-by-step synchronisation.

The communication share is ``(t_N - c_N) / t_N``: the part of an epoch the workers spend
exchanging gradients and waiting for each other. Speedup is ``t_1 / t_N``. On loopback the N
workers share one machine's cores, so the speedup is bounded by the cores (see
docs/distributed.md for what to expect on real hosts).

    python benchmarks/multiworker_scaling.py [--workers 1 2 4] [--limit 12000] [--epochs 4]
    python benchmarks/multiworker_scaling.py --quick   # 1 and 2 workers, tiny: proves it runs
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import DLTRAIN, SRC, machine, need_fashion_mnist, run, steady, table

CONFIG = "configs/mnist_mlp.yaml"


def _sets(epochs: int, limit: int, batch: int, extra: list[str]) -> list[str]:
    items = [
        "data.kind=fashion_mnist",
        f"data.limit={limit}",
        f"training.epochs={epochs}",
        f"training.batch_size={batch}",
        "output.plots=false",
        *extra,
    ]
    return [arg for item in items for arg in ("--set", item)]


def _epoch_times(runs: Path) -> list[list[float]]:
    """Per-epoch times of every run folder under ``runs``."""
    found = []
    for metrics in sorted(runs.glob("*/*/metrics.csv")):
        with metrics.open() as f:
            found.append([float(r["epoch_time_s"]) for r in csv.DictReader(f)])
    return found


def workers_epoch_s(n: int, epochs: int, limit: int, batch: int, extra: list[str]) -> float:
    """``t_N``: the chief's steady per-epoch time with ``n`` launched workers."""
    runs = Path(tempfile.mkdtemp(prefix="dltrain-bench-"))
    try:
        # --force: more workers than cores is the point here (launch refuses it otherwise).
        cmd = [DLTRAIN, "launch", "--workers", str(n), "--force", CONFIG, "--runs-dir", str(runs)]
        run([*cmd, *_sets(epochs, limit, batch, extra)])
        (times,) = _epoch_times(runs)
        return steady(times)
    finally:
        shutil.rmtree(runs, ignore_errors=True)


def baseline_epoch_s(n: int, epochs: int, limit: int, batch: int, extra: list[str]) -> float:
    """``c_N``: N concurrent single-device runs of one worker's share; their mean epoch."""
    runs = Path(tempfile.mkdtemp(prefix="dltrain-bench-"))
    try:
        cmd = [DLTRAIN, "run", CONFIG, "-q", "--runs-dir", str(runs)]
        share = _sets(epochs, max(limit // n, 1), max(batch // n, 1), extra)
        procs = [
            subprocess.Popen(
                [*cmd, *share],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                cwd=SRC,  # CONFIG is relative to the checkout, as for the launch side
            )
            for _ in range(n)
        ]
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"baseline run exited {proc.returncode}\n{err[-3000:]}")
        times = _epoch_times(runs)
        return sum(steady(t) for t in times) / len(times)
    finally:
        shutil.rmtree(runs, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--limit", type=int, default=12000, help="training examples")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=128, help="global batch size")
    parser.add_argument(
        "--set", dest="extra", action="append", default=[], help="more overrides (both sides)"
    )
    parser.add_argument("--quick", action="store_true", help="1 and 2 workers, 1000 examples")
    args = parser.parse_args()
    need_fashion_mnist()
    if args.quick:
        args.workers, args.limit, args.epochs = [1, 2], 1000, 2
    print(f"machine: {machine()}", flush=True)
    rows: list[list[Any]] = []
    first: float | None = None
    for n in args.workers:
        started = time.perf_counter()
        t_n = workers_epoch_s(n, args.epochs, args.limit, args.batch, args.extra)
        c_n = baseline_epoch_s(n, args.epochs, args.limit, args.batch, args.extra)
        first = first or t_n
        share = max(t_n - c_n, 0.0) / t_n
        result = {"workers": n, "epoch_s": t_n, "baseline_epoch_s": c_n, "comm_share": share}
        print(json.dumps(result), f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        rows.append([n, t_n, c_n, f"{100 * share:.0f}%", first / t_n])
    print()
    print(
        f"{args.limit} Fashion-MNIST training examples, global batch {args.batch}, "
        f"{args.epochs} epochs, {CONFIG}; median epoch after the first"
    )
    print()
    print(
        table(
            ["workers", "epoch (s)", "no-communication epoch (s)", "communication", "speedup"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
