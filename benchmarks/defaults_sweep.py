"""Choosing ``training.steps_per_execution`` and ``training.jit_compile`` from measurements.

Every setting trains the same config in a fresh ``dltrain run`` process; the settings run in
a rotated order in every repeat, and each one's epoch time is divided by the baseline's
(``steps_per_execution=1, jit_compile=false``) from the same repeat, so load from other jobs
falls on both. The median of those ratios is reported (> 1: faster than the baseline).

    python benchmarks/defaults_sweep.py [--model mlp|cnn|both] [--repeats 3] [--epochs 3]
                                        [--quick]

``jit_compile: auto`` is Keras's choice: off on a CPU-only machine, on with a GPU.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from _bench import machine, median, need_fashion_mnist, run_dltrain, steady, table

CONFIGS = {"mlp": "configs/mnist_mlp.yaml", "cnn": "benchmarks/configs/small_cnn.yaml"}
MLP_ARMS = [
    (1, "false"),
    (4, "false"),
    (8, "false"),
    (16, "false"),
    (64, "false"),
    (1, "true"),
    (16, "true"),
    (1, "auto"),
]
CNN_ARMS = [(1, "false"), (16, "false"), (1, "true"), (16, "true"), (16, "auto")]


def sweep(
    model: str, arms: list[tuple[int, str]], epochs: int, repeats: int, limit: int | None
) -> str:
    """Run every arm ``repeats`` times in rotated order; a Markdown table of the results."""
    results: dict[tuple[int, str], list[dict[str, Any]]] = {arm: [] for arm in arms}
    for repeat in range(repeats):
        shift = repeat % len(arms)
        for spe, jit in arms[shift:] + arms[:shift]:
            sets = [f"training.steps_per_execution={spe}", f"training.jit_compile={jit}"]
            res = run_dltrain(CONFIGS[model], epochs, limit, sets)
            results[(spe, jit)].append(res)
            print(
                f"{model} repeat {repeat + 1} spe={spe} jit={jit}: "
                f"epochs {[round(t, 2) for t in res['epoch_times_s']]} "
                f"acc {res['last_val_accuracy']:.4f}",
                file=sys.stderr,
                flush=True,
            )
    base = results[arms[0]]
    rows = []
    for arm in arms:
        rs = results[arm]
        steps = math.ceil(rs[0]["train_size"] / 32)
        epoch = median(steady(r["epoch_times_s"]) for r in rs)
        rows.append(
            [
                model,
                arm[0],
                arm[1],
                median(r["epoch_times_s"][0] for r in rs),
                epoch,
                median(
                    steady(b["epoch_times_s"]) / steady(r["epoch_times_s"])
                    for b, r in zip(base, rs, strict=True)
                ),
                median(r["time_to_first_step_s"] for r in rs),
                median(r["cpu_s"] for r in rs),
                median(r["peak_rss_mib"] for r in rs),
                median(r["last_val_accuracy"] for r in rs),
                # Batch-end callbacks (progress, the Ctrl-C check) fire once per execution.
                epoch * arm[0] / steps,
            ]
        )
    return table(
        [
            "model",
            "steps/exec",
            "jit",
            "epoch 1 (s)",
            "steady epoch (s)",
            "speed-up vs 1/false",
            "first step (s)",
            "process CPU (s)",
            "peak RSS (MiB)",
            "last val acc",
            "s between checks (≤)",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn", "both"], default="both")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="first N examples per split")
    parser.add_argument("--quick", action="store_true", help="1 repeat, 2 epochs, 3000 examples")
    args = parser.parse_args()
    need_fashion_mnist()
    limit = args.limit
    if args.quick:
        args.repeats, args.epochs, limit = 1, 2, 3000
    print(f"machine: {machine()}", flush=True)
    models = ["mlp", "cnn"] if args.model == "both" else [args.model]
    for model in models:
        arms = MLP_ARMS if model == "mlp" else CNN_ARMS
        if args.quick:
            arms = [(1, "false"), (16, "false"), (16, "true")]
        print()
        print(
            f"{model}: {args.repeats} repeats x {args.epochs} epochs, batch 32, "
            f"{f'{limit} examples' if limit else 'full Fashion-MNIST'}"
        )
        print()
        print(sweep(model, arms, args.epochs, args.repeats, limit), flush=True)
    print()
    print(
        "'s between checks' bounds the time between batch-end callbacks (progress, Ctrl-C "
        "check): steady epoch time x steps_per_execution / steps per epoch (an upper bound: "
        "the epoch time includes the validation pass)."
    )


if __name__ == "__main__":
    main()
