"""CSV ingest: rows/s and peak memory of loading a large numeric CSV through dltrain.

    python benchmarks/csv_ingest.py [--rows 1000000] [--repeats 2] [--quick]

The file (``--rows`` rows x 20 numeric features + a numeric target, written once into /tmp
and reused; writing it is not timed) is loaded by each reader in its own fresh process:

- ``dltrain in-memory``: ``dltrain.data.load_datasets`` with ``kind: csv`` (test 0.2,
  validation 0.2, regression), then one epoch of the training pipeline is iterated;
- ``dltrain stream``: the same with ``stream: true`` (one statistics pass, then the epoch
  re-reads the file);
- ``numpy.loadtxt`` and ``pandas.read_csv`` (when pandas is importable) for reference;
- ``baseline``: the interpreter with TensorFlow imported, reading nothing.

The readers run in a rotated order in every repeat; medians are reported.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

from _bench import machine, median, run, table

FEATURES = 20
BATCH = 256


def write_csv(path: Path, rows: int) -> None:
    """``rows`` rows of 20 features and a target (a noisy linear function of them)."""
    import numpy as np

    rng = np.random.default_rng(0)
    weights = rng.normal(size=FEATURES)
    header = ",".join([f"x{i}" for i in range(FEATURES)] + ["y"])
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        f.write(header + "\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            x = rng.normal(size=(n, FEATURES)) * 10
            y = x @ weights + rng.normal(size=n)
            np.savetxt(f, np.column_stack([x, y]), fmt="%.5f", delimiter=",")
    tmp.rename(path)


def child(mode: str, path: str) -> dict[str, Any]:
    """Load ``path`` the way ``mode`` says; timings in seconds."""
    started = time.perf_counter()
    if mode == "baseline":
        import tensorflow  # noqa: F401

        return {"load_s": 0.0}
    if mode == "numpy.loadtxt":
        import numpy as np

        array = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
        return {"load_s": time.perf_counter() - started, "rows": int(array.shape[0])}
    if mode == "pandas.read_csv":
        import pandas as pd

        frame = pd.read_csv(path)
        return {"load_s": time.perf_counter() - started, "rows": int(len(frame))}

    from dltrain.config import config_from_dict
    from dltrain.data import load_datasets

    config = config_from_dict(
        {
            "name": "csv_ingest",
            "data": {
                "kind": "csv",
                "path": path,
                "target": "y",
                "task": "regression",
                "stream": mode == "dltrain stream",
            },
            "model": {
                "type": "functional",
                "inputs": {"features": {}},
                "layers": [{"name": "out", "Dense": {"units": 1}, "inputs": "features"}],
                "outputs": ["out"],
            },
            "training": {"epochs": 1, "batch_size": BATCH},
        }
    ).config
    import tensorflow  # noqa: F401  (imported before the clock starts for the load)

    imported = time.perf_counter()
    datasets = load_datasets(config)
    loaded = time.perf_counter()
    ds, steps = datasets.train_dataset(BATCH, seed=config.seed, epochs=1)
    seen = 0
    for x, _ in ds:
        seen += int(x.shape[0])
    done = time.perf_counter()
    return {
        "import_s": imported - started,
        "load_s": loaded - imported,
        "epoch_s": done - loaded,
        "rows": datasets.train_size + datasets.validation_size + datasets.test_size,
        "train_rows": seen,
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="100k rows, 1 repeat")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(*args.child)), flush=True)
        return
    if args.quick:
        args.rows, args.repeats = 100_000, 1
    print(f"machine: {machine()}", flush=True)
    path = Path(f"/tmp/dltrain-bench-{args.rows}x{FEATURES + 1}.csv")
    if not path.exists():
        started = time.perf_counter()
        write_csv(path, args.rows)
        print(f"wrote {path} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    size_mib = path.stat().st_size / 2**20

    modes = ["baseline", "dltrain in-memory", "dltrain stream", "numpy.loadtxt"]
    has_pandas = importlib.util.find_spec("pandas") is not None
    if has_pandas:
        modes.append("pandas.read_csv")
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for repeat in range(args.repeats):
        shift = repeat % len(modes)
        for mode in modes[shift:] + modes[:shift]:
            proc = run([sys.executable, __file__, "--child", mode, str(path)])
            res = {**proc.json_line(), "peak_rss_mib": proc.peak_rss_mib, "wall_s": proc.wall_s}
            results[mode].append(res)
            print(f"repeat {repeat + 1} {mode}: {res}", file=sys.stderr, flush=True)

    rows = []
    for mode in modes:
        rs = results[mode]
        load = median(r["load_s"] for r in rs)
        epoch = median(r.get("epoch_s", float("nan")) for r in rs) if "epoch_s" in rs[0] else None
        rows.append(
            [
                mode,
                load if mode != "baseline" else "-",
                f"{args.rows / load:,.0f}" if load else "-",
                epoch if epoch is not None else "-",
                f"{rs[0]['train_rows'] / epoch:,.0f}" if epoch else "-",
                median(r["peak_rss_mib"] for r in rs),
                median(r["wall_s"] for r in rs),
            ]
        )
    print()
    print(
        f"{args.rows:,} rows x {FEATURES + 1} columns ({size_mib:.0f} MiB), "
        f"{args.repeats} repeats, medians; epoch = one pass over the training split "
        f"(64% of the rows) in batches of {BATCH}"
    )
    print()
    print(
        table(
            [
                "reader",
                "load (s)",
                "load rows/s",
                "train epoch (s)",
                "epoch rows/s",
                "peak RSS (MiB)",
                "process wall (s)",
            ],
            rows,
        )
    )
    if not has_pandas:
        print()
        print("pandas is not installed in this environment: no pandas.read_csv row.")


if __name__ == "__main__":
    main()
