"""Speed levers against the defaults: XLA, execution size, thread pools, oneDNN.

    python benchmarks/levers.py [--model mlp|cnn|rnn] [--repeats 3] [--epochs 2] [--limit N]

Every arm is a fresh ``dltrain run`` of the model's config (``--set`` overrides or
environment variables TensorFlow reads at start-up); the arms run in a rotated order in every
repeat and each arm's training time (sum of its epoch times, validation passes included) is
divided by the defaults' from the same repeat. The median of those ratios is reported
(> 1: the lever makes training faster than the defaults). A lever becomes a default only with
evidence here (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from _bench import machine, median, need_fashion_mnist, run_dltrain, table

CONFIGS = {
    "mlp": "configs/mnist_mlp.yaml",
    "cnn": "configs/mnist_cnn.yaml",
    "rnn": "configs/mnist_rnn.yaml",
}
Arm = tuple[str, list[str], dict[str, str]]
COMMON: list[Arm] = [
    ("defaults", [], {}),
    ("1 intra-op thread", [], {"TF_NUM_INTRAOP_THREADS": "1"}),
    ("1 inter-op thread", [], {"TF_NUM_INTEROP_THREADS": "1"}),
    ("oneDNN off", [], {"TF_ENABLE_ONEDNN_OPTS": "0"}),
]
ARMS: dict[str, list[Arm]] = {
    "mlp": [
        *COMMON,
        ("jit_compile false", ["training.jit_compile=false"], {}),
        ("steps_per_execution 75", ["training.steps_per_execution=75"], {}),
        ("XLA legacy CPU runtime", [], {"XLA_FLAGS": "--xla_cpu_use_thunk_runtime=false"}),
    ],
    "cnn": [
        *COMMON,
        ("jit_compile true", ["training.jit_compile=true"], {}),
        ("steps_per_execution 64", ["training.steps_per_execution=64"], {}),
    ],
    "rnn": [
        *COMMON,
        ("jit_compile true", ["training.jit_compile=true"], {}),
        ("steps_per_execution 64", ["training.steps_per_execution=64"], {}),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(CONFIGS), default="mlp")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="first N examples per split")
    parser.add_argument("--quick", action="store_true", help="1 repeat, 2 epochs, 3000 examples")
    args = parser.parse_args()
    need_fashion_mnist()
    if args.quick:
        args.repeats, args.epochs, args.limit = 1, 2, 3000
    print(f"machine: {machine()}", flush=True)
    arms = ARMS[args.model]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in arms}
    for repeat in range(args.repeats):
        shift = repeat % len(arms)
        for name, sets, env in arms[shift:] + arms[:shift]:
            res = run_dltrain(CONFIGS[args.model], args.epochs, args.limit, sets, env)
            results[name].append(res)
            print(
                f"repeat {repeat + 1} {name}: epochs {[round(t, 2) for t in res['epoch_times_s']]}",
                file=sys.stderr,
                flush=True,
            )
    base = results["defaults"]
    rows = []
    for name, _, _ in arms:
        rs = results[name]
        pairs = list(zip(base, rs, strict=True))
        rows.append(
            [
                name,
                median(sum(r["epoch_times_s"]) for r in rs),
                median(sum(b["epoch_times_s"]) / sum(r["epoch_times_s"]) for b, r in pairs),
                median(r["cpu_s"] for r in rs),
                str(rs[0]["jit_compile"]),
                rs[0]["steps_per_execution"],
                median(r["last_val_accuracy"] for r in rs),
            ]
        )
    print()
    size = f"{args.limit} examples per split" if args.limit else "full Fashion-MNIST"
    print(f"{args.model}, {args.repeats} repeats x {args.epochs} epochs, {size}")
    print()
    headers = [
        "lever",
        "training time (s)",
        "speed-up vs defaults",
        "process CPU (s)",
        "XLA",
        "steps/exec used",
        "last val acc",
    ]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
