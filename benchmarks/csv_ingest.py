"""CSV ingest: time to first step and peak memory of training on a large numeric CSV.

    python benchmarks/csv_ingest.py [--rows 1000000] [--small 1000] [--repeats 3] [--quick]
                                    [--no-readers]

The files (``--rows`` and ``--small`` rows x 20 numeric features + a numeric target, the
same columns, written once into /tmp and reused; writing them is not timed) are used twice.

**Ingest against pyarrow** (what issue 15's target measures): ``dltrain run`` of a one-Dense
regression config on the big file and on the small one, each in a fresh process, and
``pyarrow.csv.read_csv`` of the big file in a fresh process, in alternating order; per repeat
``ingest = time_to_first_step(big) - time_to_first_step(small)`` (run.json's
``timings.time_to_first_step_s``: what reading the rows costs, start-up cancelled out) and
``ratio = ingest / pyarrow``. Reported: medians of the repeats, the big run's peak RSS, and
the load average before each repeat (``os.getloadavg()``).

**Readers** (unless ``--no-readers``): the big file loaded by each reader in its own fresh
process:

- ``dltrain in-memory``: ``dltrain.data.load_datasets`` with ``kind: csv`` (test 0.2,
  validation 0.2, regression), then one epoch of the training pipeline is iterated;
- ``dltrain stream``: the same with ``stream: true`` (one statistics pass, then the epoch
  re-reads the file);
- ``pyarrow.csv.read_csv``, ``numpy.loadtxt`` and ``pandas.read_csv`` (when pandas is
  importable) for reference;
- ``baseline``: the interpreter with TensorFlow imported, reading nothing.

The readers run in a rotated order in every repeat; medians are reported.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import DLTRAIN, machine, median, run, table

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
    if mode == "pyarrow.csv.read_csv":
        import pyarrow.csv

        frame = pyarrow.csv.read_csv(path)
        return {"load_s": time.perf_counter() - started, "rows": int(frame.num_rows)}
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


def run_config(path: Path) -> dict[str, Any]:
    """The ``dltrain run`` config: one Dense unit on the 20 features (regression on ``y``)."""
    return {
        "name": "csv_ingest",
        "seed": 42,
        "data": {"kind": "csv", "path": str(path), "target": "y", "task": "regression"},
        "model": {"type": "sequential", "layers": [{"Dense": {"units": 1}}]},
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "loss": "mse",
        "training": {"epochs": 1, "batch_size": 1024},
    }


def first_step(path: Path) -> dict[str, Any]:
    """``dltrain run`` on ``path`` in a fresh process: time to first step, peak RSS, wall."""
    folder = Path(tempfile.mkdtemp(prefix="dltrain-bench-csv-"))
    try:
        config = folder / "csv_ingest.yaml"
        config.write_text(json.dumps(run_config(path)))  # JSON is YAML
        proc = run([DLTRAIN, "run", str(config), "--runs-dir", str(folder / "runs"), "-q"])
        manifest = json.loads(next((folder / "runs").glob("*/*/run.json")).read_text())
        return {
            "first_step_s": manifest["timings"]["time_to_first_step_s"],
            "peak_rss_mib": proc.peak_rss_mib,
            "wall_s": proc.wall_s,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def evaluation(path: Path, repeats: int) -> None:
    """``dltrain eval`` of one run on ``path``, ``repeats`` times: wall time, peak RSS."""
    folder = Path(tempfile.mkdtemp(prefix="dltrain-bench-eval-"))
    try:
        config = folder / "csv_ingest.yaml"
        config.write_text(json.dumps(run_config(path)))
        run([DLTRAIN, "run", str(config), "--runs-dir", str(folder / "runs"), "-q"])
        target = next((folder / "runs").glob("*/*/run.json")).parent
        walls, rss = [], []
        for repeat in range(repeats):
            proc = run([DLTRAIN, "eval", str(target)])
            walls.append(proc.wall_s)
            rss.append(proc.peak_rss_mib)
            print(f"eval {repeat + 1}: {proc.wall_s:.2f} s", file=sys.stderr, flush=True)
        print()
        print(f"`dltrain eval` of a run on {path.name}, {repeats} times")
        print()
        print(
            table(
                ["repeats", "median wall (s)", "max wall (s)", "peak RSS (MiB)"],
                [[repeats, median(walls), max(walls), median(rss)]],
            )
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def against_pyarrow(big: Path, small: Path, repeats: int) -> None:
    """Ingest time (first-step difference, big - small file) against pyarrow's read_csv."""
    rows = []
    for repeat in range(repeats):
        load = os.getloadavg()[0]
        order = ["big", "small", "pyarrow"] if repeat % 2 == 0 else ["pyarrow", "small", "big"]
        res: dict[str, dict[str, Any]] = {}
        for side in order:
            if side == "pyarrow":
                proc = run([sys.executable, __file__, "--child", "pyarrow.csv.read_csv", str(big)])
                res[side] = {**proc.json_line(), "peak_rss_mib": proc.peak_rss_mib}
            else:
                res[side] = first_step(big if side == "big" else small)
        ingest = res["big"]["first_step_s"] - res["small"]["first_step_s"]
        row = {
            "load": load,
            "big": res["big"]["first_step_s"],
            "small": res["small"]["first_step_s"],
            "ingest": ingest,
            "pyarrow": res["pyarrow"]["load_s"],
            "ratio": ingest / res["pyarrow"]["load_s"],
            "rss": res["big"]["peak_rss_mib"],
            "small_rss": res["small"]["peak_rss_mib"],
        }
        rows.append(row)
        print(f"repeat {repeat + 1} first step: {row}", file=sys.stderr, flush=True)
    keys = ["load", "big", "small", "ingest", "pyarrow", "ratio", "rss", "small_rss"]
    print()
    print(
        f"Ingest against pyarrow: {big.name} vs {small.name}, {repeats} paired repeats "
        "(alternating order)"
    )
    print()
    headers = [
        "repeat",
        "load avg",
        "first step, big (s)",
        "first step, small (s)",
        "ingest = difference (s)",
        "pyarrow read_csv (s)",
        "ingest / pyarrow",
        "peak RSS, big (MiB)",
        "peak RSS, small (MiB)",
    ]
    body = [[str(i + 1), *[r[k] for k in keys]] for i, r in enumerate(rows)]
    body.append(["median", *[median(r[k] for r in rows) for k in keys]])
    print(table(headers, body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="50k rows, 3 repeats (1 for the readers)"
    )
    parser.add_argument("--no-readers", action="store_true", help="only the pyarrow comparison")
    parser.add_argument(
        "--eval-repeats",
        type=int,
        default=0,
        help="also time `dltrain eval` of a run on the big file, this many times (0: not)",
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(*args.child)), flush=True)
        return
    if args.quick:
        args.rows = 50_000
    print(f"machine: {machine()}", flush=True)
    paths = []
    for rows in (args.rows, args.small):
        path = Path(f"/tmp/dltrain-bench-{rows}x{FEATURES + 1}.csv")
        if not path.exists():
            started = time.perf_counter()
            write_csv(path, rows)
            print(f"wrote {path} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        paths.append(path)
    path = paths[0]
    size_mib = path.stat().st_size / 2**20
    against_pyarrow(path, paths[1], args.repeats)
    if args.eval_repeats:
        evaluation(path, args.eval_repeats)
    if args.no_readers:
        return
    if args.quick:
        args.repeats = 1

    modes = ["baseline", "dltrain in-memory", "dltrain stream", "pyarrow.csv.read_csv"]
    modes.append("numpy.loadtxt")
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
