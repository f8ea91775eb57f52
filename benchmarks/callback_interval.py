"""How often batch-end callbacks run (progress updates, the Ctrl-C / NaN check).

With ``steps_per_execution = k`` Keras calls ``on_train_batch_end`` once per k batches, so
the interrupt check and the progress bar get coarser. This records the time between
consecutive calls in a real run (dltrain's Python API with a recording progress sink, one
fresh process per setting) and reports the median and the largest gap.

    python benchmarks/callback_interval.py [--model mlp|cnn|both] [--spe 1 4 16 64] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from _bench import machine, median, need_fashion_mnist, run, table

CONFIGS = {"mlp": "configs/mnist_mlp.yaml", "cnn": "benchmarks/configs/small_cnn.yaml"}


def child(config: str, spe: int, limit: int) -> dict[str, Any]:
    """Train one epoch and return the gaps between batch-end callbacks (seconds)."""
    import tempfile

    from dltrain.engine.run import run_experiment
    from dltrain.train.sink import NullProgress

    stamps: list[float] = []

    class Recording(NullProgress):
        def batch(self, epoch: int, step: int, logs: dict[str, Any]) -> None:
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as runs:
        run_experiment(
            config,
            [
                "data.kind=fashion_mnist",
                "training.epochs=1",
                f"data.limit={limit}",
                f"training.steps_per_execution={spe}",
                "output.plots=false",
            ],
            runs_dir=runs,
            progress=Recording(),
        )
    gaps = sorted(b - a for a, b in zip(stamps[1:], stamps[2:], strict=False))
    return {
        "calls": len(stamps),
        "median_s": median(gaps),
        "p99_s": gaps[int(0.99 * (len(gaps) - 1))] if gaps else float("nan"),
        "max_s": gaps[-1] if gaps else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn", "both"], default="both")
    parser.add_argument("--spe", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--limit", type=int, default=20000, help="training examples")
    parser.add_argument("--quick", action="store_true", help="spe 1 and 16, 3000 examples")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        config, spe, limit = args.child
        print("RESULT " + json.dumps(child(config, int(spe), int(limit))), flush=True)
        return
    need_fashion_mnist()
    if args.quick:
        args.spe, args.limit = [1, 16], 3000
    print(f"machine: {machine()}", flush=True)
    rows = []
    for model in ["mlp", "cnn"] if args.model == "both" else [args.model]:
        for spe in args.spe:
            cmd = [sys.executable, __file__, "--child", CONFIGS[model], str(spe), str(args.limit)]
            res = run(cmd).json_line()
            print(f"{model} spe={spe}: {res}", file=sys.stderr, flush=True)
            rows.append([model, spe, res["calls"], res["median_s"], res["p99_s"], res["max_s"]])
    print()
    print(f"one epoch of {args.limit} examples, batch 32; gaps between batch-end callbacks")
    print()
    print(
        table(
            ["model", "steps/exec", "callbacks", "median gap (s)", "p99 gap (s)", "max gap (s)"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
