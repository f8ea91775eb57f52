"""``run.json`` and a resume point's ``state.json``: the typed records a run folder keeps.

Every writer and reader goes through :class:`RunManifest` (``run.json``) or
:class:`ResumeState` (``state.json``). Manifests written by dltrain 0.1 have no
``schema_version`` and read as version 1; fields this version does not know are kept
(``extra="allow"``) so a newer file survives being updated by an older dltrain.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dltrain.errors import CheckpointError

__all__ = [
    "MANIFEST",
    "SCHEMA_VERSION",
    "BestCheckpoint",
    "CalibrationRecord",
    "CallbackStates",
    "DataFacts",
    "DistillRecord",
    "Drift",
    "EarlyStoppingState",
    "InitFrom",
    "FineTuneRecord",
    "MlflowRecord",
    "ReduceLRState",
    "RestartRecord",
    "ResumeRecord",
    "ResumeState",
    "Rollback",
    "RunManifest",
    "Status",
    "TargetEvaluation",
    "ThresholdRecord",
    "TuneRecord",
    "config_text_digest",
    "read_manifest",
    "read_resume_state",
    "split_metrics",
]

MANIFEST = "run.json"
SCHEMA_VERSION = 2
"""1: dltrain 0.1 (no ``schema_version`` field); 2: this module."""

Status = Literal["created", "running", "completed", "failed", "interrupted"]
Metrics = dict[str, float]
Row = dict[str, int | float]
"""One epoch of ``metrics.csv``: ``epoch`` (an int), then the logged values."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")


class BestCheckpoint(_Section):
    """Which epoch ``checkpoints/best.keras`` holds, and why it is the best."""

    monitor: str
    mode: str
    value: float
    epoch: int


class TestCheckpoint(_Section):
    """The checkpoint the test metrics were computed with."""

    file: str
    monitor: str | None = None
    mode: str | None = None
    value: float | None = None
    epoch: int | None = None


class DataFacts(_Section):
    """Split sizes, the data fingerprint and the warnings shown when the run started."""

    train_size: int | None = None
    validation_size: int | None = None
    test_size: int | None = None
    fingerprint: dict[str, Any] | None = None
    """What the data was: kind, source files with their hashes, per-split shapes and counts."""
    warnings: list[str] = Field(default_factory=list)


class Drift(_Section):
    """A config value a forced resume changed."""

    key: str
    old: Any = None
    new: Any = None


class ResumeRecord(_Section):
    """One ``dltrain run --resume`` of the run."""

    at: str
    from_epoch: int
    command: list[str] = Field(default_factory=list)
    drift: list[Drift] = Field(default_factory=list)
    workers: int | None = None
    """Processes that trained from this resume on (None in manifests from before 0.3)."""
    onednn: bool | None = None
    """Whether TensorFlow's oneDNN kernels ran from this resume on (``platform.onednn`` for
    the run's start; None in manifests from before 0.3)."""


class RestartRecord(_Section):
    """One automatic restart of a multi-worker run by ``dltrain launch --max-restarts``."""

    at: str
    attempt: int
    """1 for the first restart."""
    from_epoch: int
    """Epochs every worker had completed (the resume point the workers restart from)."""
    reason: str
    """Which worker was lost, and how (``worker 1 (pid 4242) killed by SIGKILL``)."""
    workers: int


class InitFrom(_Section):
    """Where ``init_from`` took the starting weights from, and what it copied."""

    run: str
    """The run folder the weights came from."""
    checkpoint: str
    """The ``.keras`` file read."""
    copied: list[str]
    """Layers whose weights were copied (``name <- source name`` where the names differ)."""
    kept_initial: list[str] = Field(default_factory=list)
    """Layers with weights that no source layer matched: they start as initialized."""
    shapes_differ: list[str] = Field(default_factory=list)
    """Layers matched by name but left alone because a weight's shape differs."""
    source_unused: list[str] = Field(default_factory=list)
    """The source's layers with weights that nothing took."""

    def lines(self) -> list[str]:
        """A readable account, for ``dltrain check``."""
        out = [f"copied ({len(self.copied)}): {', '.join(self.copied) or 'none'}"]
        if self.shapes_differ:
            out.append(f"shapes differ, not copied: {'; '.join(self.shapes_differ)}")
        if self.kept_initial:
            out.append(f"initial weights kept: {', '.join(self.kept_initial)}")
        if self.source_unused:
            out.append(f"source layers not used: {', '.join(self.source_unused)}")
        return out


class DistillRecord(_Section):
    """The teacher a distillation run learned from (``distill``), so the run can be traced."""

    teacher: str
    """The run folder the teacher came from."""
    run_id: str
    """The teacher run's ``name/timestamp``."""
    checkpoint: str
    """The teacher's ``.keras`` file read."""
    sha256: str
    """Its SHA-256: ``--resume`` refuses a teacher whose checkpoint changed since."""
    test_metrics: dict[str, float] = Field(default_factory=dict)
    """The teacher run's own test metrics (its ``run.json``)."""
    temperature: float
    alpha: float
    """Weight of the loss on the labels (``1 - alpha`` on the teacher's soft targets)."""
    features: list[dict[str, str]] = Field(default_factory=list)
    teacher_parameters: int
    student_parameters: int
    outputs: dict[str, str] = Field(default_factory=dict)
    """What each model's output is (``logits`` or ``softmax``: probabilities are turned
    back into logits, up to a constant, by a clipped log before the temperature)."""


class Rollback(_Section):
    """One ``on_nan: rollback`` recovery."""

    at_epoch: int
    at_batch: int
    resumed_from_epoch: int
    learning_rate: float


class FineTuneRecord(_Section):
    """When ``training.fine_tune`` started phase 2, and with what."""

    at_epoch: int
    """The first epoch (counting from 0) trained in phase 2: ``fine_tune.after_epoch``."""
    unfrozen_layers: int
    """Layers with weights that became trainable (BatchNormalization layers stay frozen)."""
    learning_rate: float
    """Phase 2's learning rate: ``fine_tune.learning_rate`` or a tenth of phase 1's."""


class JitRecord(_Section):
    """What ``training.jit_compile`` asked for, whether the run used XLA, and why."""

    setting: bool | str
    enabled: bool
    reason: str


class PrecisionRecord(_Section):
    """What ``precision`` asked for, the Keras dtype policy the run used, and why."""

    setting: str
    policy: str
    reason: str


class MlflowRecord(_Section):
    """The MLflow run this run folder is logged to (``--resume`` and ``dltrain sync`` reuse it)."""

    uri: str
    """Tracking server, without any password it was given with."""
    experiment_id: str
    run_id: str

    def web_url(self) -> str | None:
        """The run's page in the MLflow UI, for an http(s) server (None for a database URI)."""
        if not self.uri.startswith(("http://", "https://")):
            return None
        return f"{self.uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"

    def describe(self) -> str:
        """``run 1f2e…: http://host:5000/#/experiments/1/runs/1f2e…`` (the URI without a UI)."""
        return f"run {self.run_id}: {self.web_url() or self.uri}"


class TuneRecord(_Section):
    """A tuning trial's side of the story: which study, which trial, how it ended.

    Written by ``dltrain tune`` when the trial ends, and when a later ``dltrain tune`` finds
    the trial's process gone; older manifests with fewer of these keys still read.
    """

    study: str
    trial: int
    state: str
    """``complete``, ``pruned``, ``failed`` or ``interrupted``."""
    study_dir: str | None = None
    """The study folder (absolute) on the host that ran the trial."""
    metric: str | None = None
    value: float | None = None
    """The trial's value for Optuna: the metric's best epoch (None unless complete or pruned)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The searched values, by their ``tune.space`` keys."""
    pruned_at_epoch: int | None = None
    reason: str | None = None
    """Why the trial failed or was interrupted."""
    duration_s: float | None = None
    seed: int | None = None
    """This run's seed, when the trial trains on several (``tune.seeds``)."""
    seed_value: float | None = None
    """This run's own value when the trial trains on several seeds; ``value`` is their mean."""


class ThresholdRecord(_Section):
    """A binary target's decision threshold, chosen on the validation split
    (``dltrain predict --threshold auto`` uses it; docs/evaluation.md)."""

    value: float
    """An example is positive when its probability is above this."""
    rule: str
    """How it was chosen on ``split``: ``max F1``."""
    split: str = "validation"
    """The split it was chosen on (``test`` where the config validates on the test split)."""
    validation: dict[str, float] = Field(default_factory=dict)
    """F1, precision and recall on that split at the threshold."""
    test: dict[str, float] = Field(default_factory=dict)
    """Accuracy, precision, recall and F1 on test at the threshold."""
    test_at_default: dict[str, float] = Field(default_factory=dict)
    """The same at 0.5, the threshold ``predict`` uses unless told otherwise."""


class CalibrationRecord(_Section):
    """Expected calibration error on test (the bins are in ``plots/calibration*.json``)."""

    ece: float
    bins: int
    """Equal-width confidence bins over [0, 1]."""
    confidence: str
    """What was binned: the positive class's probability, or the top label's."""
    examples: int


class TargetEvaluation(_Section):
    """One target's evaluation report on test, written when the run ends with plots on."""

    task: str
    split: str = "test"
    checkpoint_epoch: int | None = None
    """The epoch whose weights made the predictions (None: the last epoch's)."""
    accuracy: float | None = None
    macro_f1: float | None = None
    weighted_f1: float | None = None
    classification_report: str | None = None
    """The per-class table's file, relative to the run folder."""
    roc_auc: float | None = None
    average_precision: float | None = None
    threshold: ThresholdRecord | None = None
    calibration: CalibrationRecord | None = None
    r2: float | None = None
    mae: float | None = None
    rmse: float | None = None


class RunManifest(BaseModel):
    """What ``run.json`` records: status, provenance, environment, progress and results."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    schema_version: int = 1
    status: Status
    name: str | None = None
    command: list[str] | None = None
    config_file: str | None = None
    config_files: list[str] = Field(default_factory=list)
    overrides: list[str] = Field(default_factory=list)
    config_hash: str | None = None
    config_sha256: str | None = None
    """sha256 of ``config.yaml`` as written, so ``--resume`` notices a hand-edited one."""
    seed: int | None = None
    deterministic: bool | None = None
    precision: PrecisionRecord | str | None = None
    """The dtype policy: a record since 0.3 (``precision: auto``), the setting's name before."""
    distribute: str | None = None
    workers: int | None = None
    """Processes that trained the run: the ``TF_CONFIG`` cluster's size for
    ``multi_worker_mirrored``, else 1 (None in manifests from before 0.3). A resume records
    its own count in ``resumes``: a different one is not bit-exact (docs/distributed.md)."""
    started_at: str | None = None
    finished_at: str | None = None
    epochs_planned: int | None = None
    epochs_completed: int | None = None
    batch_size: int | None = None
    parameters: dict[str, int] = Field(default_factory=dict)
    data: DataFacts | None = None
    git: dict[str, Any] | None = None
    pid: int | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    platform: dict[str, Any] = Field(default_factory=dict)
    """``system``, ``machine``, ``processor``, ``devices``, and ``onednn``: whether TensorFlow
    ran its oneDNN kernels (``TF_ENABLE_ONEDNN_OPTS``, set by the CLI on x86-64)."""
    timings: dict[str, float] = Field(default_factory=dict)
    final_metrics: dict[str, Metrics] = Field(default_factory=dict)
    """split (``train``, ``validation``, ``test``) -> metric -> value."""
    best: BestCheckpoint | None = None
    test_checkpoint: TestCheckpoint | None = None
    best_epoch_metrics: dict[str, Metrics] | None = None
    stopped_early: bool = False
    error: str | None = None
    resumes: list[ResumeRecord] = Field(default_factory=list)
    rollbacks: list[Rollback] = Field(default_factory=list)
    restarts: list[RestartRecord] = Field(default_factory=list)
    """Automatic restarts after a lost worker (``dltrain launch``, docs/distributed.md)."""
    tune: TuneRecord | None = None
    """For a tuning trial: study, trial number, state, value, params (docs/tuning.md)."""
    imports: list[dict[str, str | None]] = Field(default_factory=list)
    """Plugin modules the config imported: ``{module, file, path, sha256}``; the SHA-256 of
    their code decides whether a resumed or evaluated run may import them again
    (docs/extending.md). Runs from before 0.3 lack ``sha256``: they need ``--trust-imports``."""
    mlflow: MlflowRecord | None = None
    """Set when the run is tracked in MLflow (docs/tracking.md)."""
    jit_compile: JitRecord | None = None
    """Whether XLA compiled the steps (``training.jit_compile: auto`` decides per model)."""
    fine_tune: FineTuneRecord | None = None
    """Set when phase 2 of ``training.fine_tune`` started (docs/guide.md)."""
    steps_per_execution: int | None = None
    """Batches per execution actually used (a divisor of the epoch's steps, docs/config.md)."""
    fused_executions: bool | None = None
    """Whether each execution's training steps ran as one XLA program
    (:mod:`dltrain.train.executions`; ``None``: a run from before it was recorded)."""
    init_from: InitFrom | None = None
    """The run whose weights this one started from (``init_from``) and the layers copied."""
    distill: DistillRecord | None = None
    """The teacher of a distillation run (``distill``): where, which checkpoint, its score."""
    evaluation: dict[str, TargetEvaluation] = Field(default_factory=dict)
    """Per target (by name), the test report of the run's end: per-class scores or R², MAE
    and RMSE, ROC AUC, the decision threshold and calibration (docs/evaluation.md)."""
    methodology: list[dict[str, str]] = Field(default_factory=list)
    """What the methodology checks found when the run started: ``{check, message}``."""

    def updated(self, **fields: Any) -> RunManifest:
        """A copy with ``fields`` replaced, validated like a manifest read from disk."""
        data = self.model_dump()
        data.update(fields)
        return RunManifest.model_validate(data)

    def to_json(self) -> str:
        """The ``run.json`` text (non-finite metrics as JSON's ``NaN``/``Infinity``)."""
        return json.dumps(self.model_dump(mode="python"), indent=2, default=str) + "\n"


class EarlyStoppingState(_Section):
    """Early stopping's progress (``ResumableEarlyStopping.get_state``)."""

    wait: int
    best: float | None
    """The best monitored value so far (``inf``/``-inf`` before the first epoch)."""
    best_epoch: int
    stopped_epoch: int


class ReduceLRState(_Section):
    """Learning-rate reduction's progress (the rate itself is the optimizer's)."""

    wait: int
    best: float | None
    cooldown_counter: int


class CallbackStates(_Section):
    """The stateful callbacks' progress; a section is absent when its callback is off."""

    early_stopping: EarlyStoppingState | None = None
    reduce_lr: ReduceLRState | None = None


class ResumeState(BaseModel):
    """A resume point's ``state.json``: what exact resume needs besides the saved model.

    The model file holds the weights and the optimizer's state; the point's folder also holds
    the layers' random-generator states and early stopping's best weights (``.npz`` files).
    """

    model_config = ConfigDict(extra="allow")

    epochs_completed: int
    best: BestCheckpoint | None = None
    """What ``best.keras`` holds at this epoch (None until an epoch improved)."""
    learning_rate: float
    """The optimizer's rate at the end of the epoch (a rollback scales it)."""
    callbacks: CallbackStates = Field(default_factory=CallbackStates)
    rows: list[Row] = Field(default_factory=list)
    """``metrics.csv``'s rows so far: ``--resume`` rebuilds the file from them if it is lost
    (points written by dltrain 0.1 have none)."""

    def to_json(self) -> str:
        """The ``state.json`` text (non-finite values as JSON's ``NaN``/``Infinity``)."""
        return json.dumps(self.model_dump(mode="python"), indent=2, default=float) + "\n"


def config_text_digest(text: str) -> str:
    """sha256 of ``config.yaml`` as written: ``run.json`` keeps it to notice hand edits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(path: Path) -> RunManifest:
    """Read and validate a ``run.json``.

    Raises:
        CheckpointError: missing, unreadable, not JSON, or fields of the wrong type.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(data, dict) or "status" not in data:
        raise CheckpointError(f"{path}: not a dltrain manifest (no 'status')")
    try:
        return RunManifest.model_validate(data)
    except ValidationError as exc:
        raise CheckpointError(f"{path}: damaged manifest: {_invalid(exc)}") from None


def read_resume_state(path: Path) -> ResumeState:
    """Read and validate a resume point's ``state.json``.

    Raises:
        CheckpointError: missing, unreadable, not JSON, or fields of the wrong type.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a resume state")
    try:
        return ResumeState.model_validate(data)
    except ValidationError as exc:
        raise CheckpointError(f"{path}: damaged resume state: {_invalid(exc)}") from None


def _invalid(exc: ValidationError) -> str:
    """The first few fields pydantic refused, on one line."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (received {e.get('input')!r:.60})"
        for e in exc.errors()[:5]
    )


def split_metrics(row: dict[str, float]) -> dict[str, Metrics]:
    """``{"loss": .., "val_loss": ..}`` -> ``{"train": {"loss": ..}, "validation": {...}}``."""
    out: dict[str, Metrics] = {"train": {}, "validation": {}}
    for key, value in row.items():
        if key in ("epoch", "learning_rate", "epoch_time_s"):
            continue
        if key.startswith("val_"):
            out["validation"][key[4:]] = value
        else:
            out["train"][key] = value
    if not out["validation"]:
        del out["validation"]
    return out
