"""dltrain against the same model written by hand in Keras, on real Fashion-MNIST.

Each side runs in a fresh subprocess; the order alternates from repeat to repeat (dltrain
first, then the hand script; then the other way round), so a CPU-heavy job elsewhere on the
machine hits both sides alike. Ratios are taken within each pair and the median is reported.

    python benchmarks/train_vs_keras.py [--model mlp|cnn|rnn|fashion_cnn] [--epochs 3]
        [--repeats 3] [--limit N] [--no-verbose-arm] [--hand-onednn] [--dltrain-eigen] [--quick]

The hand-written sides run with TensorFlow's own kernel choice for this CPU unless
``--hand-onednn`` adds one with ``TF_ENABLE_ONEDNN_OPTS=1``; the dltrain side runs as the CLI
does (oneDNN on x86-64) unless ``--dltrain-eigen`` adds one with Eigen's kernels: together they
show what of a convolutional model's gain is the kernels and what is dltrain's loop.

The target measure is the training time, the sum of the epoch times: "train: hand / dltrain"
in the ratio table (3.0 means dltrain trains in a third of the time). For the MLP the script
also measures this CPU's sgemm rate (``hardware_floor.py``) and prints dltrain's training
time as a multiple of the floor (the model's FLOPs per epoch / the sgemm rate).

Per-epoch time is the time from ``on_epoch_begin`` to ``on_epoch_end`` (training plus the
validation pass): dltrain records it as ``epoch_time_s`` in metrics.csv, the hand script with
a callback. "steady" is the median over epochs 2..E (the first epoch also traces the graphs).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from _bench import REPO, machine, median, need_fashion_mnist, run, run_dltrain, steady, table
from hardware_floor import mlp_flops_per_epoch, sgemm_gflops

HAND = str(REPO / "benchmarks" / "hand_keras.py")
CONFIGS = {
    "mlp": "configs/mnist_mlp.yaml",
    "cnn": "configs/mnist_cnn.yaml",
    "rnn": "configs/mnist_rnn.yaml",
    "fashion_cnn": "configs/fashion_mnist_cnn.yaml",
}


def run_hand(
    model: str, epochs: int, limit: int | None, verbose: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """One run of the hand-written script, in a fresh process."""
    cmd = [sys.executable, HAND, "--model", model, "--epochs", str(epochs), "--verbose", verbose]
    if limit:
        cmd += ["--limit", str(limit)]
    proc = run(cmd, env=env)
    result = proc.json_line()
    result["last_val_accuracy"] = result["test_accuracy"]
    return {**result, "wall_s": proc.wall_s, "cpu_s": proc.cpu_s, "peak_rss_mib": proc.peak_rss_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(CONFIGS), default="mlp")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="first N examples per split")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-verbose-arm",
        action="store_true",
        help="skip the third arm: the hand script with Keras's default verbose (progress bar)",
    )
    parser.add_argument("--set", action="append", default=[], help="extra dltrain --set")
    parser.add_argument(
        "--cold-arm",
        action="store_true",
        help="another dltrain side with the XLA compilation cache off (DLTRAIN_XLA_CACHE=off): "
        "what the first run of a model on a machine costs",
    )
    parser.add_argument(
        "--arm",
        action="append",
        default=[],
        metavar="NAME=KEY=VALUE[,KEY=VALUE]",
        help="another dltrain side with these --set overrides, e.g. "
        "'spe15=training.steps_per_execution=15'",
    )
    parser.add_argument(
        "--hand-onednn",
        action="store_true",
        help="another hand-written side with TF_ENABLE_ONEDNN_OPTS=1 (the oneDNN kernels the "
        "dltrain CLI turns on on x86-64, where TensorFlow leaves them off by itself)",
    )
    parser.add_argument(
        "--dltrain-eigen",
        action="store_true",
        help="another dltrain side with TF_ENABLE_ONEDNN_OPTS=0 (TensorFlow's Eigen kernels)",
    )
    parser.add_argument("--quick", action="store_true", help="1 repeat, 2 epochs, 6000 examples")
    args = parser.parse_args()
    need_fashion_mnist()
    limit = args.limit
    config = CONFIGS[args.model]
    if args.quick:
        args.epochs, args.repeats, limit = 2, 1, 6000

    print(f"machine: {machine()}", flush=True)
    # The default side uses the user's XLA cache: one run first, so that every measured run
    # finds the model compiled, as every run after a model's first on a machine does.
    run_dltrain(config, 1, limit, args.set)
    arms: dict[str, Any] = {
        "dltrain": lambda: run_dltrain(config, args.epochs, limit, args.set),
        "keras (verbose=0)": lambda: run_hand(args.model, args.epochs, limit, "0"),
    }
    if not args.no_verbose_arm:
        arms["keras (verbose=auto)"] = lambda: run_hand(args.model, args.epochs, limit, "auto")
    if args.cold_arm:
        arms["dltrain (no XLA cache)"] = lambda: run_dltrain(
            config, args.epochs, limit, args.set, {"DLTRAIN_XLA_CACHE": "off"}
        )
    if args.hand_onednn:
        arms["keras (verbose=0, oneDNN)"] = lambda: run_hand(
            args.model, args.epochs, limit, "0", {"TF_ENABLE_ONEDNN_OPTS": "1"}
        )
    if args.dltrain_eigen:
        arms["dltrain (Eigen kernels)"] = lambda: run_dltrain(
            config, args.epochs, limit, args.set, {"TF_ENABLE_ONEDNN_OPTS": "0"}
        )
    for spec in args.arm:
        name, _, sets = spec.partition("=")
        extra = [*args.set, *sets.split(",")]
        arms[f"dltrain {name}"] = lambda extra=extra: run_dltrain(config, args.epochs, limit, extra)
    names = list(arms)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        # Rotate the order so that no side always runs first (or last).
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            res = arms[name]()
            results[name].append(res)
            print(
                f"repeat {repeat + 1} {name}: epochs {[round(t, 2) for t in res['epoch_times_s']]}"
                f" wall {res['wall_s']:.1f}s rss {res['peak_rss_mib']:.0f} MiB",
                file=sys.stderr,
                flush=True,
            )

    rows = []
    for name in names:
        rs = results[name]
        rows.append(
            [
                name,
                median(r["epoch_times_s"][0] for r in rs),
                median(steady(r["epoch_times_s"]) for r in rs),
                median(r["wall_s"] for r in rs),
                median(r["cpu_s"] for r in rs),
                median(r["time_to_first_step_s"] for r in rs),
                median(r["peak_rss_mib"] for r in rs),
                median(r["last_val_accuracy"] for r in rs),
                median(r["test_accuracy"] for r in rs),
            ]
        )
    print()
    print(
        f"{args.model}, {args.repeats} repeats x {args.epochs} epochs, "
        f"{f'{limit} examples per split' if limit else 'full Fashion-MNIST'}; "
        "medians over repeats"
    )
    print()
    print(
        table(
            [
                "side",
                "epoch 1 (s)",
                "steady epoch (s)",
                "total wall (s)",
                "process CPU (s)",
                "first step (s)",
                "peak RSS (MiB)",
                "last-epoch test acc",
                "reported test acc",
            ],
            rows,
        )
    )
    print()
    ratio_rows = []
    for ours in [n for n in names if n.startswith("dltrain")]:
        for theirs in [n for n in names if n.startswith("keras")]:
            pairs = list(zip(results[ours], results[theirs], strict=True))
            ratio_rows.append(
                [
                    f"{theirs} vs {ours}",
                    median(sum(h["epoch_times_s"]) / sum(d["epoch_times_s"]) for d, h in pairs),
                    median(
                        steady(h["epoch_times_s"]) / steady(d["epoch_times_s"]) for d, h in pairs
                    ),
                    median(h["epoch_times_s"][0] / d["epoch_times_s"][0] for d, h in pairs),
                    median(h["wall_s"] / d["wall_s"] for d, h in pairs),
                    median(h["cpu_s"] / d["cpu_s"] for d, h in pairs),
                    median(d["peak_rss_mib"] / h["peak_rss_mib"] for d, h in pairs),
                ]
            )
    print(
        table(
            [
                "pair (same repeat)",
                "train (sum of epochs): hand / dltrain",
                "steady epoch: hand / dltrain",
                "epoch 1: hand / dltrain",
                "wall: hand / dltrain",
                "CPU: hand / dltrain",
                "peak RSS: dltrain / hand",
            ],
            ratio_rows,
        )
    )
    print()
    if args.model == "mlp":
        facts = results["dltrain"][0]
        flops = mlp_flops_per_epoch(facts["train_size"], facts["validation_size"])
        rate = sgemm_gflops()
        floor_s = flops / (rate * 1e9)
        print(
            f"hardware floor: {flops / 1e9:.1f} GFLOP per epoch (training + validation pass) "
            f"/ sgemm {rate:.0f} GFLOP/s = {floor_s:.3f} s per epoch"
        )
        for name in names:
            per_epoch = median(
                sum(r["epoch_times_s"]) / len(r["epoch_times_s"]) for r in results[name]
            )
            print(f"- {name}: {per_epoch:.3f} s per epoch = {per_epoch / floor_s:.1f}x the floor")
        print()
    print(
        "dltrain's reported test accuracy is that of checkpoints/best.keras (lowest val_loss); "
        "'last-epoch test acc' is the last epoch's val_accuracy (validation = test here), "
        "comparable to the hand script's model.evaluate after fit."
    )


if __name__ == "__main__":
    main()
