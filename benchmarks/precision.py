"""float32 against mixed_bfloat16 for the shipped CNN, RNN and MLP configs, on real Fashion-MNIST.

The evidence behind ``precision: auto`` (docs/benchmarks.md, "Precision"): for each model,
each seed trains once per policy, each run a fresh ``dltrain run`` process, the two policies
alternating which goes first. Reported per model and policy: the steady epoch (median of
epochs 2..E over every seed), test accuracy over the seeds (mean and standard deviation, of
the checkpoint dltrain tests), and bfloat16's difference in points and time ratio. The host
line names the CPU and whether it has fast bfloat16 (``amx_bf16`` or ``avx512_bf16`` in
/proc/cpuinfo): on a CPU without them bfloat16 is emulated and slower, which is why ``auto``
keeps float32 there.

    python benchmarks/precision.py [--models mlp,cnn,fashion_cnn,rnn] [--seeds 42,43,44]
        [--epochs 2] [--limit N] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from _bench import machine, median, need_fashion_mnist, run_dltrain, table

CONFIGS = {
    "mlp": "configs/mnist_mlp.yaml",
    "cnn": "configs/mnist_cnn.yaml",
    "fashion_cnn": "configs/fashion_mnist_cnn.yaml",
    "rnn": "configs/mnist_rnn.yaml",
}
POLICIES = ("float32", "mixed_bfloat16")


def bf16_flags() -> str:
    """The CPU's bfloat16 flags, or 'none'."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[1].split())
    found = sorted(flags & {"amx_bf16", "avx512_bf16", "avx512f", "avx2"})
    return ", ".join(found) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,cnn,fashion_cnn,rnn")
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="first N examples per split")
    parser.add_argument("--quick", action="store_true", help="mlp, one seed, 2 epochs, 3000")
    args = parser.parse_args()
    need_fashion_mnist()
    models = args.models.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    epochs, limit = args.epochs, args.limit
    if args.quick:
        models, seeds, epochs, limit = ["mlp"], [42], 2, 3000
    print(machine())
    print(f"CPU bfloat16-related flags: {bf16_flags()}")
    rows = []
    for model in models:
        results: dict[str, list[dict[str, Any]]] = {p: [] for p in POLICIES}
        for index, seed in enumerate(seeds):
            order = POLICIES if index % 2 == 0 else POLICIES[::-1]
            for policy in order:
                result = run_dltrain(
                    CONFIGS[model], epochs, limit, [f"seed={seed}", f"precision={policy}"]
                )
                results[policy].append(result)
                print(
                    f"{model} seed {seed} {policy}: epochs "
                    f"{[round(t, 2) for t in result['epoch_times_s']]} s, test accuracy "
                    f"{result['test_accuracy']:.4f}",
                    flush=True,
                )
        summary = {}
        for policy, runs in results.items():
            steady = median(t for r in runs for t in r["epoch_times_s"][1:])
            accuracies = [r["test_accuracy"] for r in runs]
            spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
            summary[policy] = (steady, statistics.mean(accuracies), spread)
            rows.append(
                [model, policy, steady, f"{summary[policy][1]:.4f} ± {spread:.4f}", len(runs)]
            )
        f32, bf16 = summary["float32"], summary["mixed_bfloat16"]
        rows.append(
            [
                model,
                "bf16 vs float32",
                f"{f32[0] / bf16[0]:.2f}× faster",
                f"{(bf16[1] - f32[1]) * 100:+.2f} points",
                "",
            ]
        )
    print()
    print(f"{epochs} epochs, seeds {seeds}, {'full data' if not limit else f'limit {limit}'}")
    print(table(["model", "policy", "steady epoch (s)", "test accuracy", "runs"], rows))


if __name__ == "__main__":
    main()
