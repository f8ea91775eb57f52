"""``run_experiment`` / ``resume_experiment``: config -> data -> model -> train -> report."""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from dltrain.config import LoadedConfig, config_from_dict, load_config
from dltrain.config.diff import config_drift
from dltrain.errors import ConfigError, DltrainError, RunFolderError, TrainingError, UsageError
from dltrain.report.run_files import split_metrics, start_manifest, write_result_plots
from dltrain.report.run_folder import RunFolder, utc_now
from dltrain.train.environment import quiet_tensorflow

__all__ = ["RunResult", "resume_experiment", "run_experiment"]

_EXIT = {"completed": 0, "failed": 1, "interrupted": 130}


@dataclass
class RunResult:
    """What a run produced."""

    run_dir: Path
    status: str
    exit_code: int
    epochs_completed: int
    test_metrics: dict[str, float] = field(default_factory=dict)
    final_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    best: dict[str, Any] | None = None
    message: str | None = None
    stopped_early: bool = False


def _load(config: Any, overrides: Sequence[str]) -> LoadedConfig:
    if isinstance(config, LoadedConfig):
        return config
    if isinstance(config, str | Path):
        return load_config(Path(config), overrides)
    if isinstance(config, dict):
        return config_from_dict(config, overrides)
    raise UsageError(f"config must be a path or a mapping; received {type(config).__name__}")


def _check_writable(root: Path) -> None:
    # Folders made only for the probe are removed again: a start that fails later (data not
    # found, bad model) must not leave an empty runs/ behind; RunFolder.create makes them.
    made = [p for p in (root, *root.parents) if not p.exists()]
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # another run started and wrote into it: keep it
                break
    except OSError as exc:
        raise RunFolderError(
            f"{root}: the runs folder is not writable ({exc.strerror}); "
            "choose another with --runs-dir"
        ) from exc


@dataclass
class _Prepared:
    datasets: Any
    model: Any
    strategy: Any
    multi_worker: bool

    def session(self) -> AbstractContextManager[None]:
        """Where the model may train, evaluate and predict (multi-worker needs patches)."""
        if not self.multi_worker:
            return nullcontext()
        from dltrain.train.distributed import multi_worker_fit

        batch = next(iter(self.datasets.test_dataset(self.datasets.batch_size).take(1)))
        return multi_worker_fit(self.model, self.strategy, batch)


def _prepare(loaded: LoadedConfig, model_path: Path | None = None) -> _Prepared:
    """Seed, load the data, build and compile the model (or load it from a checkpoint)."""
    from dltrain.data import load_datasets
    from dltrain.model import build_model, compile_model, load_model_file
    from dltrain.train.environment import configure_environment, make_strategy

    cfg = loaded.config
    multi_worker = cfg.distribute.strategy == "multi_worker_mirrored"
    if multi_worker:
        from dltrain.train.distributed import worker_role

        worker_role()  # fails early, with advice, when TF_CONFIG is missing
        if cfg.training.on_nan == "rollback":
            raise ConfigError(
                problems=[
                    loaded.problem(
                        ("training", "on_nan"),
                        "on_nan: rollback is not supported with multi_worker_mirrored; use stop",
                    )
                ]
            )
    # The strategy comes first: a multi-worker strategy must exist before other TF work.
    strategy = make_strategy(cfg.distribute.strategy, cfg.distribute.device, cfg.distribute.devices)
    configure_environment(cfg.seed, cfg.deterministic, cfg.precision)
    datasets = load_datasets(cfg)
    with strategy.scope():
        if model_path is not None:
            model = load_model_file(model_path)
        else:
            model = build_model(loaded, datasets.spec)
            compile_model(model, loaded, datasets.spec)
    if multi_worker:
        model.steps_per_execution = 1  # see train/loop.py: multi-step executions fail there
    return _Prepared(datasets, model, strategy, multi_worker)


def _dry_run(loaded: LoadedConfig, model: Any, datasets: Any) -> list[str]:
    """Evaluate one batch: proves outputs fit targets and learns the logged metric names."""
    from dltrain.train.loop import check_callbacks

    batch = datasets.test_dataset(min(datasets.batch_size, 64)).take(1)
    try:
        logs = model.evaluate(batch, return_dict=True, verbose=0)
    except (ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            problems=[
                loaded.problem(
                    ("loss",) if ("loss",) in loaded.source.locations else ("model",),
                    f"the model's outputs do not fit the data's targets: {first}",
                )
            ]
        ) from exc
    names = list(logs)
    check_callbacks(loaded, names, datasets.validation_size > 0)
    return names


def run_experiment(
    config: Any,
    overrides: Sequence[str] = (),
    *,
    name: str | None = None,
    runs_dir: Path | None = None,
    progress: Any = None,
    command: Sequence[str] | None = None,
    clock: Callable[[], datetime] = utc_now,
    callbacks: Sequence[Any] = (),
) -> RunResult:
    """Train from a config (file path, mapping or :class:`LoadedConfig`) and write a run folder.

    ``callbacks`` are extra Keras callbacks (for example a tuner's pruning callback), run
    after the built-in ones and before the epoch recorder.

    Raises:
        ConfigError, DataError: bad config or data (nothing is written).
        RunFolderError: the runs folder is not writable.
    """
    started = time.perf_counter()
    loaded = _load(config, overrides)
    if name is not None:
        loaded = config_from_dict(loaded.to_dict(), [f"name={name}"])
    cfg = loaded.config
    root = Path(runs_dir or cfg.output.runs_dir or "runs")
    scratch = _worker_scratch(cfg.distribute.strategy)
    if scratch is not None:
        root = scratch  # not the chief: a private folder outside runs/, removed at the end
    try:
        _check_writable(root)
        quiet_tensorflow()
        prepared = _prepare(loaded)
        with prepared.session():
            _dry_run(loaded, prepared.model, prepared.datasets)
            run = RunFolder.create(root, cfg.name, clock)
            start_manifest(run, loaded, prepared.model, prepared.datasets, command, clock)
            with _interrupt_recorded(run):
                return _train_and_report(
                    loaded, prepared, run, progress, started, resume=None, rows=[],
                    callbacks=callbacks,
                )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _worker_scratch(strategy: str) -> Path | None:
    """A temporary runs folder for multi-worker processes other than the chief."""
    if strategy != "multi_worker_mirrored":
        return None
    from dltrain.train.distributed import worker_role

    if worker_role().is_chief:
        return None
    return Path(tempfile.mkdtemp(prefix="dltrain-worker-"))


def _failure_reason(exc: BaseException) -> str:
    """The line of a TensorFlow/Keras error that says what went wrong.

    Graph errors start with "Graph execution error:" and the Python stack that defined the
    failing op; the reason is the first line after that stack.
    """
    noise = ("Graph execution error", "Detected at node", "File ", "[[", "The above")
    for line in str(exc).splitlines():
        text = line.strip()
        if text and not line.startswith((" ", "\t")) and not text.startswith(noise):
            return text
    return str(exc).strip().splitlines()[0] if str(exc).strip() else "no message"


@contextmanager
def _interrupt_recorded(run: RunFolder) -> Iterator[None]:
    """A second Ctrl-C, wherever it lands: the manifest must still say what happened."""
    try:
        yield
    except KeyboardInterrupt:
        if run.manifest.get("status") == "running":
            run.update(
                status="interrupted",
                error="interrupted twice: stopped at once",
                finished_at=utc_now().isoformat(),
            )
        raise


def _train_and_report(
    loaded: LoadedConfig,
    prepared: _Prepared,
    run: RunFolder,
    progress: Any,
    started: float,
    *,
    resume: Any,
    rows: list[dict[str, float]],
    callbacks: Sequence[Any] = (),
) -> RunResult:
    from dltrain.model import load_model_file
    from dltrain.progress import SilentProgress
    from dltrain.train.loop import evaluation_batch_size, fit_model

    sink = progress or SilentProgress()
    for warning in getattr(prepared.datasets, "warnings", []):
        sink.message(f"warning: {warning}")  # also kept in run.json under data.warnings
    timings = dict(run.manifest.get("timings") or {})
    try:
        outcome = fit_model(
            prepared.model,
            prepared.datasets,
            loaded,
            run,
            sink,
            resume=resume,
            rows=rows,
            load_checkpoint=load_model_file,
            extra_callbacks=callbacks,
        )
    except DltrainError as exc:
        run.update(status="failed", error=exc.render(), finished_at=utc_now().isoformat())
        raise
    except Exception as exc:
        # Keras/TensorFlow failed mid-training: the run keeps what it wrote and says why.
        message = f"{type(exc).__name__}: {_failure_reason(exc)}"
        run.update(status="failed", error=message, finished_at=utc_now().isoformat())
        raise TrainingError(f"training failed: {message} (run folder: {run.path})") from exc

    timings["train_s"] = round(timings.get("train_s", 0.0) + outcome.train_s, 3)
    if outcome.first_step_s is not None and "time_to_first_step_s" not in timings:
        timings["time_to_first_step_s"] = round(outcome.first_step_s - started, 3)
    model = outcome.model
    result = RunResult(
        run.path,
        outcome.status,
        _EXIT[outcome.status],
        outcome.epochs_completed,
        best=outcome.best,
        stopped_early=outcome.stopped_early,
    )
    final = dict(run.manifest.get("final_metrics") or {})
    if outcome.status == "completed":
        best_path = run.checkpoints / "best.keras"
        if best_path.is_file():
            model.load_weights(best_path)
            best_epoch = int((outcome.best or {}).get("epoch", 0))
            best_row = next((r for r in outcome.rows if r["epoch"] == best_epoch), None)
            run.update(
                test_checkpoint={"file": "checkpoints/best.keras", **(outcome.best or {})},
                # The test metrics come from this epoch's weights, not the last epoch's.
                best_epoch_metrics=split_metrics(best_row) if best_row else None,
            )
        batch = evaluation_batch_size(prepared.datasets.batch_size, prepared.datasets.train_size)
        test_ds = prepared.datasets.test_dataset(batch)
        test = model.evaluate(test_ds, return_dict=True, verbose=0)
        final["test"] = {k: float(v) for k, v in test.items()}
        result.test_metrics = final["test"]
        if loaded.config.output.plots:
            write_result_plots(run, model, prepared.datasets, test_ds, outcome.rows)
    else:
        if outcome.status == "interrupted":
            tmp = run.checkpoints / ".last.interrupted.tmp.keras"
            model.save(tmp)
            os.replace(tmp, run.checkpoints / "last.keras")
            result.message = (
                f"{outcome.error}. Resume with: dltrain run --resume {shlex.quote(str(run.path))}"
            )
        else:
            result.message = f"training failed: {outcome.error}"
        if loaded.config.output.plots and outcome.rows:
            from dltrain.report.plots import write_training_plots

            write_training_plots(run.plots, outcome.rows)
    timings["total_s"] = round(timings.get("total_s", 0.0) + time.perf_counter() - started, 3)
    result.final_metrics = final
    run.update(
        status=outcome.status,
        error=outcome.error,
        stopped_early=outcome.stopped_early,
        epochs_completed=outcome.epochs_completed,
        final_metrics=final,
        best=outcome.best,
        timings=timings,
        finished_at=utc_now().isoformat(),
    )
    return result


# ----------------------------------------------------------------------- resume


def resume_experiment(
    run_dir: Path,
    overrides: Sequence[str] = (),
    *,
    force: bool = False,
    progress: Any = None,
    command: Sequence[str] | None = None,
    config_path: Path | None = None,
) -> RunResult:
    """Continue an interrupted (or, with more epochs, a finished) run in its own folder.

    Raises:
        CheckpointError: the folder is not a readable run.
        UsageError: the config would change (without ``force``) or there is nothing to do.
    """
    started = time.perf_counter()
    if config_path is not None:
        raise UsageError(
            "--resume uses the run's saved config.yaml; do not give a CONFIG file "
            "(extend with --set training.epochs=N)"
        )
    run = RunFolder.open(run_dir)
    saved_text = (
        (run.path / "config.yaml").read_text(encoding="utf-8")
        if (run.path / "config.yaml").is_file()
        else None
    )
    if saved_text is None:
        raise UsageError(f"{run.path}: no config.yaml; this run cannot be resumed")
    saved = yaml.safe_load(saved_text)
    loaded = config_from_dict(saved, overrides)
    drift = [d for d in config_drift(saved, loaded.to_dict()) if d[0] != "training.epochs"]
    if drift and not force:
        lines = "\n".join(f"  {k}: {old!r} -> {new!r}" for k, old, new in drift)
        raise UsageError(
            "--resume only allows changing training.epochs; these would change:\n"
            f"{lines}\nadd --force to resume anyway (the drift is recorded in run.json)"
        )
    from dltrain.train.state import latest_resume_point

    point = latest_resume_point(run.checkpoints)
    done = point.epochs_completed if point else 0
    epochs = loaded.config.training.epochs
    if done >= epochs:
        raise UsageError(
            f"{run.path}: already trained {done} of {epochs} epochs; extend it with "
            f"--set training.epochs={done + 5}, say"
        )
    if run.manifest.get("status") == "completed" and epochs == saved.get("training", {}).get(
        "epochs"
    ):
        # Early stopping ended it: going on would undo that decision.
        raise UsageError(
            f"{run.path}: completed (stopped early after epoch {done}); to train on anyway, "
            f"extend it with --set training.epochs={epochs + 5}, say"
        )
    if loaded.config.distribute.strategy == "multi_worker_mirrored":
        raise UsageError(
            "--resume of multi-worker runs is not supported: the workers' states live on "
            "their own machines; start a new run (see docs/distributed.md)"
        )
    quiet_tensorflow(run.path / "logs" / "warnings.log")
    prepared = _prepare(loaded, model_path=point.model_path if point else None)
    _dry_run(loaded, prepared.model, prepared.datasets)
    rows = [
        {
            k: (int(float(v)) if k == "epoch" else float(v))
            for k, v in row.items()
            if v not in ("", None)
        }
        for row in run.read_metrics()
        if float(row.get("epoch", 0)) <= done
    ]
    history = list(run.manifest.get("resumes") or [])
    history.append(
        {
            "at": utc_now().isoformat(),
            "from_epoch": done,
            "command": list(command or []),
            "drift": [{"key": k, "old": o, "new": n} for k, o, n in drift],
        }
    )
    if drift or "training.epochs" in {d[0] for d in config_drift(saved, loaded.to_dict())}:
        run.write_text("config.yaml", loaded.to_yaml())
    run.update(
        status="running",
        resumes=history,
        epochs_planned=epochs,
        error=None,
        config_hash=loaded.digest(),
    )
    with _interrupt_recorded(run):
        return _train_and_report(loaded, prepared, run, progress, started, resume=point, rows=rows)
