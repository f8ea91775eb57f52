"""``dltrain check`` after the schema passed: tracking, data, model, tune, every problem at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dltrain.config import LoadedConfig
from dltrain.errors import ConfigError, DltrainError, Problem

if TYPE_CHECKING:
    from dltrain.tune.checks import TunePlan

__all__ = ["CheckResult", "check_config", "inspect_config", "locate_data", "plan_init_from"]


@dataclass
class CheckResult:
    """What ``dltrain check`` shows when every check passed."""

    summary: Any
    data: str | None
    tune: TunePlan | None = None
    init_from: list[str] | None = None
    """``init_from``: the run whose weights would be taken, and which layers match."""
    distill: list[str] | None = None
    """``distill``: the teacher, its score, and teacher and student parameter counts."""
    methodology: list[str] | None = None
    """What the methodology checks found (warnings)."""
    precision: str | None = None
    """The dtype policy ``run`` would use on this machine, and why."""


def check_config(
    loaded: LoadedConfig, tune_check: Callable[[LoadedConfig], TunePlan] | None = None
) -> CheckResult:
    """Run every check on a schema-valid config and report every problem at once.

    The checks are independent: a missing data set does not hide an unknown layer name, since
    image models are built from the config's shapes alone. ``tune_check`` checks the
    ``tune:`` section (the CLI passes :func:`dltrain.tune.check_tune`).

    Raises:
        DltrainError: the one problem found, as raised; ConfigError listing all of them
            when several checks failed.
    """
    from dltrain.data.sharing import sharing_datasets
    from dltrain.engine.adversarial import check_adversarial
    from dltrain.engine.distill import plan_distill
    from dltrain.tracking import check_tracking

    errors: list[DltrainError] = []

    def attempt(check: Callable[[], Any]) -> Any:
        try:
            return check()
        except DltrainError as exc:
            errors.append(exc)
            return None

    attempt(lambda: check_tracking(loaded))
    attempt(lambda: check_adversarial(loaded))  # the data's inputs are checked by run
    with sharing_datasets():  # a folder's files are decoded once, for the summary and model
        found = attempt(lambda: locate_data(loaded))
        findings: list[Any] = []
        summary = attempt(lambda: inspect_config(loaded, findings))
        init = attempt(lambda: plan_init_from(loaded)) if summary is not None else None
        distill = attempt(lambda: plan_distill(loaded)) if summary is not None else None
    tune = None
    if tune_check is not None and loaded.config.tune is not None and not errors:
        tune = attempt(lambda: tune_check(loaded))  # trains nothing, but needs a valid base
    if len(errors) == 1:
        raise errors[0]
    if errors:
        problems: list[Problem] = []
        for exc in errors:
            for problem in exc.problems or [Problem(exc.message)]:
                if str(problem) not in {str(p) for p in problems}:
                    problems.append(problem)
        raise ConfigError(problems=problems)
    from dltrain.config.precision import decide_precision

    choice = decide_precision(loaded.config)
    return CheckResult(
        summary=summary,
        precision=f"precision: {choice.policy} ({choice.reason})",
        data=found,
        tune=tune,
        init_from=init,
        distill=distill,
        methodology=[f"warning: methodology ({f.check}): {f.message}" for f in findings],
    )


def plan_init_from(loaded: LoadedConfig) -> list[str] | None:
    """What ``init_from`` would copy into this config's model (nothing is trained or kept).

    Raises:
        ConfigError: at ``init_from``: the run cannot be opened, or no layer matches.
    """
    if loaded.config.init_from is None:
        return None
    from dltrain.data import describe_data, load_datasets
    from dltrain.engine.init_from import initialize_from
    from dltrain.model import build_model

    cfg = loaded.config
    spec = describe_data(cfg) or load_datasets(cfg, source=loaded.source).spec
    with loaded.located():
        model = build_model(cfg, spec)
    record = initialize_from(loaded, model, apply=False)
    assert record is not None
    return [f"init_from: {record.checkpoint}", *(f"  {line}" for line in record.lines())]


def inspect_config(loaded: LoadedConfig, findings: list[Any] | None = None) -> Any:
    """Build and compile the config's model and summarize it, without training.

    Image configs need no data files (shapes come from the config); CSV configs read the data
    to learn the columns. ``findings``, when given, receives what the methodology checks
    find (with ``checks.strict`` they raise instead).

    Raises:
        ConfigError: a layer, optimizer, loss or metric problem, located in the file.
        DataError: CSV data that cannot be read.
    """
    from dltrain.config.precision import resolved_policy
    from dltrain.data import describe_data, load_datasets
    from dltrain.model import build_model, compile_model, summarize_model
    from dltrain.train.environment import configure_environment

    cfg = loaded.config
    configure_environment(cfg.seed, False, resolved_policy(cfg))
    spec = describe_data(cfg)
    datasets = None
    if spec is None:
        datasets = load_datasets(cfg, source=loaded.source)
        spec = datasets.spec
    from dltrain.train.extra_callbacks import build_extra_callbacks
    from dltrain.train.fine_tune import fine_tune_problems

    with loaded.located():
        model = build_model(cfg, spec)
        compile_model(model, cfg, spec)
        build_extra_callbacks(cfg)  # `callbacks.extra`: names and arguments, before training
        fine_tune = fine_tune_problems(cfg, model)
        if fine_tune:
            raise ConfigError(problems=fine_tune)
    if findings is not None:
        from dltrain.train.checks import methodology_findings, raise_if_strict

        found = methodology_findings(cfg, model, datasets, None)
        with loaded.located():
            raise_if_strict(cfg, found)
        findings.extend(found)
    return summarize_model(model)


def locate_data(loaded: LoadedConfig) -> str | None:
    """Where ``dltrain run`` would read the config's image data, found the same way.

    For MNIST-format data it reads no images: it finds the ``.npz`` or IDX folder by the same
    search order as ``run`` (``data.path``, ``$DLTRAIN_DATA_DIR``, the Keras cache,
    ``/usr/share/datasets``, then a Keras download). Image and audio folders are decoded
    file by file, as ``run`` would (every bad file reported), and summarized: files per split
    and class, sizes, modes or sample rates seen. CSV data (in memory) is summarized: rows
    read, excluded and used, column kinds, empty cells, splits with their class balance or
    target range, text vocabularies (the load is shared with :func:`inspect_config` inside
    ``sharing_datasets``); streamed CSV data only when ``categorical: auto`` inferred kinds.

    Raises:
        DataError: the same error ``run`` gives when the data cannot be found.
    """
    from dltrain.config.schema import CsvData, FolderData, MnistData
    from dltrain.data.mnist import locate_mnist

    data = loaded.config.data
    if isinstance(data, CsvData) and (data.categorical == "auto" or not data.stream):
        from dltrain.data import load_datasets

        datasets = load_datasets(loaded.config, source=loaded.source)
        if not datasets.summary:
            return None
        lines = [f"csv data: {data.path or data.train_path}", *datasets.summary]
        lines += [f"warning: {w}" for w in datasets.warnings]
        return "\n".join(lines[:1] + [f"  {line}" for line in lines[1:]])
    if isinstance(data, FolderData):
        from dltrain.data import load_datasets

        datasets = load_datasets(loaded.config, source=loaded.source)
        lines = [f"{data.kind} data: {data.path or data.index}", *datasets.summary]
        lines += [f"warning: {w}" for w in datasets.warnings]
        return "\n".join(lines[:1] + [f"  {line}" for line in lines[1:]])
    if not isinstance(data, MnistData):
        return None
    how, path = locate_mnist(data)
    return f"{data.kind} data: {path}" + ("" if how == "npz" else " (IDX files)")
