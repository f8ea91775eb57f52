"""Prediction on CSV: ``dltrain predict`` end to end against a hand-written ``model.predict``.

    python benchmarks/predict_csv.py [--rows 200000] [--repeats 3] [--batch 512]

The file (``--rows`` rows x 20 numeric + 2 categorical features + a numeric target, written
once into /tmp and reused; writing it is not timed). A small MLP (Dense 32 relu -> Dense 1)
is trained once by ``dltrain run`` on 5,000 rows of the same kind (one epoch, not timed);
both sides then predict every row of the big file from that run's ``best.keras``, each in its
own fresh process, in alternating order:

- ``dltrain``: :func:`dltrain.engine.predict.predict_file` (what ``dltrain predict RUN FILE
  -o OUT`` calls: opens the run, loads the model, reads the CSV, predicts, formats the CSV)
  and the text written to a file; then, in the same process, the same steps one by one, to
  say where the time goes: ``read`` (:func:`~dltrain.data.load_prediction_inputs`),
  ``model`` (loading ``best.keras``), ``predict`` (``model.predict``), ``write`` (formatting
  and writing the CSV);
- ``hand-written``: ``keras.saving.load_model``, ``pyarrow.csv.read_csv`` -> NumPy (the 20
  numbers as one float32 matrix, the categories as string tensors) -> ``model.predict(x,
  batch_size=B)`` -> the same CSV (``row`` and ``predicted_y`` with ``%.6g``) through the csv
  module.

Both count from after ``import tensorflow, keras`` (and dltrain) to the written file; the
batch size is the run's (``--batch``). Reported: per repeat and median, each side's seconds
and rows/s, the ratio dltrain / hand-written (the target: at most 1.5), and dltrain's split.
Run alone on the machine; ``--rows 5000 --repeats 1`` checks that it works.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import DLTRAIN, machine, median, run, table

NUMERIC = 20
COLORS = ["red", "green", "blue", "black", "white"]
CITIES = [f"city{i}" for i in range(20)]
TRAIN_ROWS = 5000


def write_csv(path: Path, rows: int, seed: int) -> None:
    """``rows`` rows of ``x0..x19``, ``color``, ``city`` and ``y`` (linear in them, noisy)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = rng.normal(size=NUMERIC)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([f"x{i}" for i in range(NUMERIC)] + ["color", "city", "y"])
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            x = rng.normal(size=(n, NUMERIC)) * 10
            color = rng.integers(0, len(COLORS), n)
            city = rng.integers(0, len(CITIES), n)
            y = x @ weights + 5 * color - city + rng.normal(size=n)
            numbers = [[f"{v:.5f}" for v in row] for row in x.tolist()]
            writer.writerows(
                [*cells, COLORS[c], CITIES[k], f"{t:.5f}"]
                for cells, c, k, t in zip(numbers, color, city, y, strict=True)
            )
    tmp.rename(path)


def train_run(folder: Path, batch: int) -> Path:
    """The run both sides predict with (trained once, not timed)."""
    data = folder / "train.csv"
    write_csv(data, TRAIN_ROWS, seed=1)
    config = {
        "name": "predict_csv",
        "seed": 0,
        "data": {
            "kind": "csv",
            "path": str(data),
            "target": "y",
            "task": "regression",
            "categorical": ["color", "city"],
        },
        "model": {
            "layers": [{"Dense": {"units": 32, "activation": "relu"}}, {"Dense": {"units": 1}}]
        },
        "training": {"epochs": 1, "batch_size": batch},
        "output": {"plots": False},
    }
    path = folder / "predict_csv.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    run([DLTRAIN, "run", str(path), "--runs-dir", str(folder / "runs"), "-q"])
    return next((folder / "runs").glob("*/*/run.json")).parent


def dltrain_side(run_dir: Path, path: Path, out: Path) -> dict[str, Any]:
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    from dltrain.data import load_prediction_inputs
    from dltrain.engine.predict import predict_file, prediction_columns
    from dltrain.export.model_source import read_spec
    from dltrain.model import load_model_file
    from dltrain.report.saved_run import open_saved_run

    start = time.perf_counter()
    predictions = predict_file(run_dir, path)
    out.write_text(predictions.text)
    total = time.perf_counter() - start

    # The same steps one at a time (as predict_file runs them), for the split.
    clock = [time.perf_counter()]

    def lap() -> float:
        clock.append(time.perf_counter())
        return clock[-1] - clock[-2]

    saved = open_saved_run(run_dir, "best")
    spec = read_spec(saved.run.path)
    inputs = load_prediction_inputs(saved.loaded.config, spec, path)
    read = lap()
    model = load_model_file(saved.checkpoint)
    load = lap()
    outputs = model.predict(inputs.dataset, verbose=0)
    predict = lap()
    columns: dict[str, list[Any]] = {"row": list(inputs.numbers)}
    columns.update(prediction_columns(spec.targets, [outputs]))
    with out.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(zip(*columns.values(), strict=True))
    write = lap()
    return {
        "rows": predictions.count,
        "total_s": total,
        "read_s": read,
        "model_s": load,
        "predict_s": predict,
        "write_s": write,
    }


def hand_side(run_dir: Path, path: Path, out: Path, batch: int) -> dict[str, Any]:
    import keras
    import numpy as np
    import pyarrow.csv
    import tensorflow as tf

    start = time.perf_counter()
    model = keras.saving.load_model(run_dir / "checkpoints" / "best.keras")
    table = pyarrow.csv.read_csv(path)
    features = np.empty((table.num_rows, NUMERIC), dtype=np.float32)
    for i in range(NUMERIC):
        features[:, i] = table.column(f"x{i}").to_numpy()
    x: dict[str, Any] = {"features": features}
    for name in ("color", "city"):
        # Keras takes strings as tensors, not NumPy arrays.
        strings = table.column(name).to_numpy(zero_copy_only=False).astype(str)
        x[name] = tf.constant(strings.reshape(-1, 1))
    predicted = model.predict(x, batch_size=batch, verbose=0)
    with out.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["row", "predicted_y"])
        writer.writerows(
            zip(range(2, 2 + len(predicted)), (f"{v:.6g}" for v in predicted[:, 0]), strict=True)
        )
    return {"rows": int(len(predicted)), "total_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", "--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=512, help="the run's training.batch_size")
    parser.add_argument("--child", nargs=4, metavar=("SIDE", "RUN", "CSV", "OUT"))
    args = parser.parse_args()
    if args.child:
        side, run_dir, path, out = args.child
        result = (
            dltrain_side(Path(run_dir), Path(path), Path(out))
            if side == "dltrain"
            else hand_side(Path(run_dir), Path(path), Path(out), args.batch)
        )
        print("RESULT " + json.dumps(result), flush=True)
        return
    print(f"machine: {machine()}")
    print(f"CPU flags: {cpu_flags()}", flush=True)
    path = Path(f"/tmp/dltrain-bench-predict-{args.rows}x{NUMERIC + 3}.csv")
    if not path.exists():
        write_csv(path, args.rows, seed=0)
    folder = Path(tempfile.mkdtemp(prefix="dltrain-bench-predict-"))
    try:
        run_dir = train_run(folder, args.batch)
        rows = []
        for repeat in range(args.repeats):
            load = os.getloadavg()[0]
            order = ["dltrain", "hand"] if repeat % 2 == 0 else ["hand", "dltrain"]
            res: dict[str, dict[str, Any]] = {}
            for side in order:
                out = folder / f"{side}.csv"
                cmd = [sys.executable, __file__, "--batch", str(args.batch), "--child", side]
                res[side] = run([*cmd, str(run_dir), str(path), str(out)]).json_line()
            if (folder / "dltrain.csv").read_text() != (folder / "hand.csv").read_text():
                sys.exit("the two sides wrote different predictions")
            mine, hand = res["dltrain"], res["hand"]
            rows.append(
                {
                    "load": load,
                    "dltrain_s": mine["total_s"],
                    "hand_s": hand["total_s"],
                    "dltrain_rows_s": mine["rows"] / mine["total_s"],
                    "hand_rows_s": hand["rows"] / hand["total_s"],
                    "ratio": mine["total_s"] / hand["total_s"],
                    **{k: mine[f"{k}_s"] for k in ("read", "model", "predict", "write")},
                }
            )
            print(f"repeat {repeat + 1}: {rows[-1]}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    keys = list(rows[0])
    print()
    print(
        f"{args.rows:,} rows x {NUMERIC} numeric + 2 categorical columns, batch {args.batch}, "
        f"{args.repeats} repeats (alternating order), medians last"
    )
    print()
    headers = [
        "repeat",
        "load avg",
        "dltrain (s)",
        "hand-written (s)",
        "dltrain rows/s",
        "hand-written rows/s",
        "dltrain / hand-written",
        "dltrain read (s)",
        "dltrain model load (s)",
        "dltrain predict (s)",
        "dltrain write (s)",
    ]
    body = [[str(i + 1), *[r[k] for k in keys]] for i, r in enumerate(rows)]
    body.append(["median", *[median(r[k] for r in rows) for k in keys]])
    print(table(headers, body))


def cpu_flags() -> str:
    """The vector and matrix extensions of this CPU that matter to TensorFlow's kernels."""
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next(
        (ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []
    )
    return " ".join(f for f in wanted if f in flags) or "none of " + " ".join(wanted)


if __name__ == "__main__":
    main()
