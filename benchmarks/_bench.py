"""Shared helpers for the benchmark scripts (not part of dltrain, not collected by pytest).

Every measurement runs in a fresh subprocess so that TensorFlow's start-up, graph tracing
and memory are counted the same way for both sides of a comparison. Peak RSS comes from
``/usr/bin/time -v`` when it exists (the child's own peak), else from
``resource.getrusage(RUSAGE_CHILDREN)`` (the largest child so far, so only valid when the
children are measured in increasing order of size; the scripts say which one they used).
"""

from __future__ import annotations

import argparse
import compileall
import csv
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# The dltrain source the children run: this checkout, or a frozen copy (``git archive``) so
# that edits others make to the working tree mid-benchmark cannot change what is measured.
SRC = Path(os.environ.get("DLTRAIN_BENCH_SRC") or REPO).resolve()
if SRC != REPO:
    # Where PYTHONDONTWRITEBYTECODE is set, a copy has no bytecode and none is written, so
    # every child would compile dltrain again (about 0.5 s a command): compile it once here.
    compileall.compile_dir(SRC / "dltrain", quiet=1)
BIN = Path(sys.executable).parent
DLTRAIN = str(BIN / "dltrain") if (BIN / "dltrain").exists() else "dltrain"
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
FASHION = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class Proc:
    """One finished subprocess: wall time, peak RSS, return code, output."""

    wall_s: float
    peak_rss_mib: float
    cpu_s: float
    """User + system CPU seconds of the child (NaN without /usr/bin/time)."""
    returncode: int
    stdout: str
    stderr: str

    def json_line(self, tag: str = "RESULT ") -> dict[str, Any]:
        """The JSON object the child printed on a line starting with ``tag``."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith(tag):
                return json.loads(line[len(tag) :])  # type: ignore[no-any-return]
        raise RuntimeError(f"no {tag!r} line in output:\n{self.stdout}\n{self.stderr[-3000:]}")


def run(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> Proc:
    """Run ``cmd`` to completion; time it and measure its peak resident memory."""
    full_env = {**os.environ, "CI": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    if SRC != REPO:
        # Ahead of the editable install's finder, which Python consults after sys.path.
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SRC), full_env.get("PYTHONPATH", "")) if p
        )
    argv = list(cmd)
    stats_file = None
    if GNU_TIME:
        stats_file = Path(f"/tmp/dltrain-bench-time-{os.getpid()}.txt")
        argv = [GNU_TIME, "-v", "-o", str(stats_file), *argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        argv, env=full_env, cwd=cwd or SRC, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if stats_file is not None:
        text = stats_file.read_text()
        stats_file.unlink()
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        peak_kib = int(match.group(1)) if match else 0
        cpu = sum(
            float(m.group(1))
            for m in re.finditer(r"(?:User|System) time \(seconds\): ([\d.]+)", text)
        )
    else:
        peak_kib = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        cpu = float("nan")
    proc = Proc(wall, peak_kib / 1024, cpu, done.returncode, done.stdout, done.stderr)
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}"
        )
    return proc


def median(values: Iterable[float]) -> float:
    """Median of the values (NaN when there are none)."""
    items = list(values)
    return statistics.median(items) if items else float("nan")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; floats printed with 3 significant digits after the point."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
        return str(value)

    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    """One line describing the machine and the library versions (no TensorFlow import)."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    versions = ", ".join(
        f"{name} {version(name)}" for name in ("tensorflow", "keras", "numpy", "dltrain")
    )
    commit = SRC.name if SRC != REPO else "this checkout"
    return (
        f"dltrain source: {commit}; "
        f"{os.cpu_count()} CPU cores ({cpu}), "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {versions}; peak RSS via "
        f"{'/usr/bin/time -v' if GNU_TIME else 'getrusage(RUSAGE_CHILDREN)'}; "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )


def add_onednn_option(parser: argparse.ArgumentParser) -> None:
    """``--onednn on|off|tensorflow``: which kernels TensorFlow runs in this process."""
    parser.add_argument(
        "--onednn",
        choices=["on", "off", "tensorflow"],
        default="tensorflow",
        help="TensorFlow's oneDNN kernels on (TF_ENABLE_ONEDNN_OPTS=1, as the dltrain CLI sets "
        "on x86-64), off (Eigen's), or TensorFlow's own choice for this CPU (the default)",
    )


def use_onednn(choice: str) -> str:
    """Apply ``--onednn`` (before TensorFlow is first imported: it reads the switch then),
    import TensorFlow, and say which kernels it runs."""
    if choice != "tensorflow":
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if choice == "on" else "0"
    from dltrain.report.provenance import tensorflow_onednn

    kernels = {True: "oneDNN", False: "Eigen", None: "unknown"}[tensorflow_onednn()]
    return f"TensorFlow's kernels: {kernels} (--onednn {choice})"


def need_fashion_mnist() -> None:
    """Exit with a clear message when real Fashion-MNIST is not installed."""
    if not FASHION.is_dir():
        sys.exit(f"{FASHION} not found: apt-get install dataset-fashion-mnist")


def which(name: str) -> str | None:
    """``shutil.which`` (re-exported so scripts import one helper module)."""
    return shutil.which(name)


def run_dltrain(
    config: str,
    epochs: int,
    limit: int | None = None,
    sets: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One ``dltrain run CONFIG -q`` on Fashion-MNIST in a fresh process, and what it recorded.

    Returns per-epoch times (metrics.csv ``epoch_time_s``), time to first step (run.json),
    test accuracy (of best.keras), the last epoch's validation accuracy, wall time, peak RSS.
    """
    runs = Path(tempfile.mkdtemp(prefix="dltrain-bench-"))
    try:
        overrides = ["data.kind=fashion_mnist", f"training.epochs={epochs}", *sets]
        if limit:
            overrides.append(f"data.limit={limit}")
        cmd = [DLTRAIN, "run", config, "--runs-dir", str(runs), "-q"]
        for item in overrides:
            cmd += ["--set", item]
        proc = run(cmd, env=env)
        folder = next(runs.glob("*/*/run.json")).parent
        manifest = json.loads((folder / "run.json").read_text())
        with (folder / "metrics.csv").open() as f:
            rows = list(csv.DictReader(f))
        return {
            "epoch_times_s": [float(r["epoch_time_s"]) for r in rows],
            "time_to_first_step_s": manifest["timings"]["time_to_first_step_s"],
            "process_start_to_first_step_s": manifest["timings"].get(
                "process_start_to_first_step_s"
            ),
            "test_accuracy": manifest["final_metrics"]["test"]["accuracy"],
            "last_val_accuracy": float(rows[-1]["val_accuracy"]),
            "train_size": manifest["data"]["train_size"],
            "jit_compile": (manifest.get("jit_compile") or {}).get("enabled"),
            "steps_per_execution": manifest.get("steps_per_execution"),
            "validation_size": manifest["data"]["validation_size"],
            "wall_s": proc.wall_s,
            "cpu_s": proc.cpu_s,
            "peak_rss_mib": proc.peak_rss_mib,
        }
    finally:
        shutil.rmtree(runs, ignore_errors=True)


def steady(times: Sequence[float]) -> float:
    """Median epoch time without the first epoch (which traces); the first when alone."""
    return median(times[1:]) if len(times) > 1 else times[0]
