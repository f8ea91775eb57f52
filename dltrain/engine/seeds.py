"""``dltrain run CONFIG --seeds N``: the same experiment with N seeds, and its spread.

The runs are ordinary run folders under one group folder, ``<runs>/<name>/seeds-<time>/``
(``seed-42/<time>/``, ``seed-43/<time>/``, ...): eval, predict, export, report and ``--resume``
work on each as on any run. ``seeds.json`` in the group folder is rewritten (atomically)
after every run, so an interrupted group keeps what it finished.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dltrain.config import load_config
from dltrain.engine.run import RunResult, run_experiment
from dltrain.errors import UsageError
from dltrain.report.seed_stats import SEEDS_FILE, MetricSpread, spread
from dltrain.storage.atomic import atomic_write_text
from dltrain.storage.run_folder import RunFolder, utc_now
from dltrain.train.sink import ProgressSink

__all__ = ["SEEDS_FILE", "SeedsResult", "run_seeds"]

_TIMESTAMP = "%Y%m%dT%H%M%SZ"


@dataclass
class SeedsResult:
    """The group folder, each seed's run, and the spread of the completed runs' test metrics."""

    folder: Path
    seeds: list[int]
    runs: list[RunResult] = field(default_factory=list)
    summary: dict[str, MetricSpread] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every run completed, else the first run's non-zero code."""
        return next((r.exit_code for r in self.runs if r.exit_code), 0)

    def to_json(self) -> dict[str, Any]:
        """What ``seeds.json`` holds."""
        completed = [r for r in self.runs if r.status == "completed"]
        return {
            "seeds": self.seeds,
            "runs": [
                {
                    "seed": seed,
                    "run_dir": str(run.run_dir.relative_to(self.folder)),
                    "status": run.status,
                    "test": run.test_metrics,
                }
                for seed, run in zip(self.seeds, self.runs, strict=False)
            ],
            "completed": len(completed),
            "test": {name: s.to_json() for name, s in self.summary.items()},
            "interval": "95 % Student t interval of the mean over the completed runs",
        }


def run_seeds(
    config: Path,
    count: int,
    overrides: Sequence[str] = (),
    *,
    name: str | None = None,
    runs_dir: Path | None = None,
    progress: ProgressSink | None = None,
    command: Sequence[str] | None = None,
    on_seed: Callable[[int, int, int], None] | None = None,
    on_run_folder: Callable[[Path], None] | None = None,
) -> SeedsResult:
    """Run the config with seeds ``seed, seed+1, ..., seed+count-1`` (``seed`` from the config
    after ``overrides``), each into its own run folder of one group folder.

    ``on_seed(i, count, seed)`` is called before each run (the CLI says which one starts).

    Raises:
        UsageError: ``count`` below 2.
        ConfigError, DataError, RunFolderError: as ``run_experiment`` raises them, before or
            at the first run (later runs are the same experiment).
    """
    if count < 2:
        raise UsageError(f"--seeds {count}: give at least 2 seeds (one run is dltrain run)")
    more = [*overrides, *([f"name={name}"] if name is not None else [])]
    cfg = load_config(config, more).config
    root = Path(runs_dir or cfg.output.runs_dir or "runs")
    RunFolder.check_root(root)
    stamp = utc_now().strftime(_TIMESTAMP)
    folder = root / cfg.name / f"seeds-{stamp}"
    folder.mkdir(parents=True, exist_ok=False)
    seeds = [cfg.seed + i for i in range(count)]
    result = SeedsResult(folder, seeds)
    for i, seed in enumerate(seeds):
        if on_seed is not None:
            on_seed(i + 1, count, seed)
        try:
            run = run_experiment(
                config,
                overrides=[*more, f"seed={seed}"],
                name=f"seed-{seed}",
                runs_dir=folder,
                progress=progress,
                command=command,
                on_run_folder=on_run_folder,
            )
        except BaseException:
            # A bad config or data stops the first run before it writes anything: leave no
            # empty group folder behind (later runs' folders are kept, as every run's is).
            if not any(folder.iterdir()):
                folder.rmdir()
            raise
        result.runs.append(run)
        completed = [r.test_metrics for r in result.runs if r.status == "completed"]
        result.summary = spread(completed)
        atomic_write_text(folder / SEEDS_FILE, json.dumps(result.to_json(), indent=2) + "\n")
        if run.exit_code == 130:
            break  # interrupted: keep what is done, start nothing new
    return result
