"""Start-up latency: ``dltrain --help``, ``dltrain check``, and the time to the first step.

    python benchmarks/startup.py [--help-runs 10] [--check-runs 5] [--run-repeats 3] [--quick]

Every command is a fresh process; the commands are interleaved (help, check, python, ...) so
that load from other jobs falls on all of them. Targets: ``--help`` under 0.3 s without
importing TensorFlow; ``check`` under 4 s including the TensorFlow import.
"""

from __future__ import annotations

import argparse
import sys

from _bench import DLTRAIN, machine, median, need_fashion_mnist, run, run_dltrain, table

TF_PROBE = (
    "import sys\n"
    "sys.argv = ['dltrain', '--help']\n"
    "from dltrain.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "print('RESULT', int('tensorflow' in sys.modules), int('keras' in sys.modules))\n"
)


# check finds the data as run does (and would try to download MNIST): use the installed
# Fashion-MNIST, as the run below does, so the benchmark works offline.
CHECK_ARGS = ["check", "configs/mnist_mlp.yaml", "--set", "data.kind=fashion_mnist"]
CHECK_LABEL = "dltrain " + " ".join(CHECK_ARGS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--help-runs", type=int, default=10)
    parser.add_argument("--check-runs", type=int, default=5)
    parser.add_argument("--run-repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 / 1 / 1 runs, 6000 examples")
    args = parser.parse_args()
    need_fashion_mnist()
    limit = None
    if args.quick:
        args.help_runs, args.check_runs, args.run_repeats, limit = 3, 1, 1, 6000
    print(f"machine: {machine()}", flush=True)

    probe = run([sys.executable, "-c", TF_PROBE])
    tf_loaded, keras_loaded = (int(v) for v in probe.stdout.split("RESULT")[-1].split())

    python_s: list[float] = []
    tf_s: list[float] = []
    help_s: list[float] = []
    check_s: list[float] = []
    check_rss: list[float] = []
    for i in range(max(args.help_runs, args.check_runs)):
        if i < args.help_runs:
            python_s.append(run([sys.executable, "-c", "pass"]).wall_s)
            help_s.append(run([DLTRAIN, "--help"]).wall_s)
        if i < args.check_runs:
            tf_s.append(run([sys.executable, "-c", "import tensorflow, keras"]).wall_s)
            proc = run([DLTRAIN, *CHECK_ARGS])
            check_s.append(proc.wall_s)
            check_rss.append(proc.peak_rss_mib)

    # Time to first step against `import tensorflow, keras`, in rotated triples: the import,
    # a run that finds the model in the XLA cache (warmed first), a run without the cache.
    run_dltrain("configs/mnist_mlp.yaml", 1, limit)
    sides = ["import", "warm", "cold"]
    times: dict[str, list[float]] = {side: [] for side in sides}
    for i in range(args.run_repeats):
        for side in sides[i % 3 :] + sides[: i % 3]:
            if side == "import":
                wall = run([sys.executable, "-c", "import tensorflow, keras"]).wall_s
                times[side].append(wall)
            else:
                env = {"DLTRAIN_XLA_CACHE": "off"} if side == "cold" else None
                res = run_dltrain("configs/mnist_mlp.yaml", 1, limit, (), env)
                times[side].append(res["process_start_to_first_step_s"])
        print({k: round(v[-1], 2) for k, v in times.items()}, file=sys.stderr, flush=True)
    paired_import, first_step, cold = times["import"], times["warm"], times["cold"]
    ratios = [w / i for w, i in zip(first_step, paired_import, strict=True)]
    cold_ratios = [c / i for c, i in zip(cold, paired_import, strict=True)]

    print()
    rows = [
        ["python -c pass (interpreter alone)", len(python_s), median(python_s), max(python_s), "-"],
        ["dltrain --help", len(help_s), median(help_s), max(help_s), "< 0.3 s"],
        ["python -c 'import tensorflow, keras'", len(tf_s), median(tf_s), max(tf_s), "-"],
        [CHECK_LABEL, len(check_s), median(check_s), max(check_s), "< 4 s"],
        [
            "python -c 'import tensorflow, keras' (paired with the runs below)",
            len(paired_import),
            median(paired_import),
            max(paired_import),
            "-",
        ],
        [
            "dltrain run (Fashion-MNIST MLP): process start to first step",
            len(first_step),
            median(first_step),
            max(first_step),
            "≤ 1.15× the import (issue 29)",
        ],
        [
            "the same, XLA cache off (a model's first run on a machine)",
            len(cold),
            median(cold),
            max(cold),
            "-",
        ],
    ]
    print(table(["command", "runs", "median (s)", "max (s)", "target"], rows))
    print()
    print(
        f"`dltrain --help` imports TensorFlow: {'yes' if tf_loaded else 'no'}; "
        f"Keras: {'yes' if keras_loaded else 'no'}. "
        f"`dltrain check` peak RSS: {median(check_rss):.0f} MiB. "
        "Time to first step is run.json's timings.process_start_to_first_step_s: from the "
        "process's start (interpreter, imports, config, data load, model build, the one-batch "
        "dry run, tracing and compiling the training step) to the end of the first training "
        "step (execution). "
        f"First step / import, median of the paired ratios: {median(ratios):.2f} "
        "(target 1.15, issue 29); "
        f"without the XLA cache: {median(cold_ratios):.2f}."
    )


if __name__ == "__main__":
    main()
