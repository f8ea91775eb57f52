"""``stream: true`` keeps memory flat: peak RSS on N rows against 10 x N rows.

    python benchmarks/stream_memory.py [--rows 200000] [--factor 10] [--repeats 2] [--quick]

Each size is loaded in its own fresh process (``dltrain.data.load_datasets`` with
``stream: true``, then one epoch of the training pipeline, as ``csv_ingest.py`` does), in
alternating order. Fails (exit 1) when the larger file's median peak RSS is more than 20%
above the smaller one's. The CSV files are written once into /tmp and reused. N should span
several ``data.chunk_rows`` (65,536 rows); below one chunk memory has not reached its steady
state yet.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _bench import machine, median, run, table
from csv_ingest import FEATURES, write_csv

LIMIT = 0.20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="200k vs 1M rows, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        # The smaller file must span several chunks (data.chunk_rows, 65,536 rows): a file
        # within one chunk never reaches the steady state the comparison is about.
        args.rows, args.factor, args.repeats = 200_000, 5, 1
    print(f"machine: {machine()}", flush=True)
    sizes = [args.rows, args.rows * args.factor]
    paths = {}
    for n in sizes:
        path = Path(f"/tmp/dltrain-bench-{n}x{FEATURES + 1}.csv")
        if not path.exists():
            started = time.perf_counter()
            write_csv(path, n)
            print(f"wrote {path} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        paths[n] = path

    script = str(Path(__file__).with_name("csv_ingest.py"))
    results: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
    for repeat in range(args.repeats):
        for n in sizes if repeat % 2 == 0 else sizes[::-1]:
            proc = run([sys.executable, script, "--child", "dltrain stream", str(paths[n])])
            res = {**proc.json_line(), "peak_rss_mib": proc.peak_rss_mib, "wall_s": proc.wall_s}
            results[n].append(res)
            print(f"repeat {repeat + 1} {n} rows: {res}", file=sys.stderr, flush=True)

    rss = {n: median(r["peak_rss_mib"] for r in results[n]) for n in sizes}
    rows = [
        [
            f"{n:,}",
            f"{paths[n].stat().st_size / 2**20:.0f}",
            median(r["load_s"] for r in results[n]),
            median(r["epoch_s"] for r in results[n]),
            rss[n],
        ]
        for n in sizes
    ]
    growth = rss[sizes[1]] / rss[sizes[0]] - 1
    print()
    print(
        table(
            ["rows", "file (MiB)", "scan pass (s)", "train epoch (s)", "peak RSS (MiB)"],
            rows,
        )
    )
    print()
    verdict = "PASS" if growth <= LIMIT else "FAIL"
    print(
        f"peak RSS growth for {args.factor}x the rows: {growth:+.1%} "
        f"(limit +{LIMIT:.0%}): {verdict}"
    )
    if growth > LIMIT:
        sys.exit(1)


if __name__ == "__main__":
    main()
