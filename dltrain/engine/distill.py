"""``distill:``: open the teacher run, check it against the student, wrap both for training.

The teacher is opened the way ``init_from`` opens a run (a run folder, ``runs/NAME`` for its
latest run, ``:best``/``:last``), its checkpoint loaded in safe mode and frozen. Teacher and
student must read the same data: the same kind, inputs (names, shapes, dtypes, scaling) and
targets (task, classes). What the run learned from goes to ``run.json`` (``distill``), with the
checkpoint's SHA-256, which ``--resume`` checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dltrain.config import LoadedConfig
from dltrain.config.distill_schema import distill_conflicts
from dltrain.data.spec import DataSpec
from dltrain.engine.init_from import split_init_from
from dltrain.errors import CheckpointError, ConfigError, Problem, UsageError
from dltrain.storage.manifest import DistillRecord
from dltrain.utils.digest import file_sha256

if TYPE_CHECKING:
    import keras

    from dltrain.report.saved_run import SavedRun
    from dltrain.train import Prepared

__all__ = [
    "attach_teacher",
    "check_conflicts",
    "plan_distill",
    "spec_mismatches",
]

_KEY = ("distill", "teacher")


def spec_mismatches(
    teacher: DataSpec,
    student: DataSpec,
    teacher_scale: bool | None = None,
    student_scale: bool | None = None,
) -> list[str]:
    """How the teacher's data differs from the student's, one line each (empty: they match)."""
    out: list[str] = []
    if teacher.kind != student.kind:
        out.append(f"data kind: teacher {teacher.kind}, student {student.kind}")
    if teacher_scale is not None and student_scale is not None and teacher_scale != student_scale:
        out.append(f"data.scale: teacher {teacher_scale}, student {student_scale}")

    def inputs(spec: DataSpec) -> list[str]:
        return [f"{i.name} {list(i.shape)} {i.dtype}" for i in spec.model_inputs]

    if inputs(teacher) != inputs(student):
        out.append(
            f"inputs: teacher {', '.join(inputs(teacher))}; student {', '.join(inputs(student))}"
        )

    def targets(spec: DataSpec) -> list[str]:
        rows = []
        for t in spec.targets:
            classes = f" {t.num_classes} classes" if t.num_classes else ""
            names = f" ({', '.join(t.class_names)})" if t.class_names else ""
            rows.append(f"{t.name}: {t.task}{classes}{names}")
        return rows

    if targets(teacher) != targets(student):
        out.append(
            f"targets: teacher {'; '.join(targets(teacher))}; "
            f"student {'; '.join(targets(student))}"
        )
    return out


def check_conflicts(loaded: LoadedConfig) -> None:
    """Refuse settings ``distill`` cannot be combined with (before TensorFlow is imported).

    Raises:
        ConfigError: each conflicting setting, located.
    """
    found = distill_conflicts(loaded.config)
    if found:
        raise ConfigError(problems=[loaded.problem(key, why) for key, why in found])


@dataclass
class _Teacher:
    saved: SavedRun
    model: keras.Model
    sha256: str


def _scale(config: Any) -> bool | None:
    value = getattr(config.data, "scale", None)
    return value if isinstance(value, bool) else None


def _open_teacher(loaded: LoadedConfig, student_spec: DataSpec) -> _Teacher:
    from dltrain.model import load_model_file
    from dltrain.report.saved_run import open_saved_run

    assert loaded.config.distill is not None
    target, which = split_init_from(loaded.config.distill.teacher)
    try:
        saved = open_saved_run(Path(target), which)
        spec_file = saved.run.path / "data_spec.json"
        if not spec_file.is_file():
            raise CheckpointError(f"{saved.run.path}: no data_spec.json, so its data is unknown")
        teacher_spec = DataSpec.from_json(spec_file.read_text(encoding="utf-8"))
        differences = spec_mismatches(
            teacher_spec,
            student_spec,
            _scale(saved.loaded.config),
            _scale(loaded.config),
        )
        if differences:
            raise ConfigError(
                problems=[
                    loaded.problem(
                        _KEY,
                        f"the teacher ({saved.run.path}) and the student (this config) do not "
                        f"read the same data: {'; '.join(differences)}. A teacher must have "
                        "been trained on the data this config feeds the student",
                    )
                ]
            )
        sha = file_sha256(saved.checkpoint)
        model = load_model_file(saved.checkpoint)
    except (CheckpointError, UsageError) as exc:
        raise ConfigError(problems=[loaded.problem(_KEY, exc.message)]) from None
    return _Teacher(saved, model, sha)


def _check_pair(loaded: LoadedConfig, teacher: _Teacher, student: keras.Model) -> dict[str, str]:
    """The two outputs' kinds; every problem with the pair at once.

    Raises:
        ConfigError: an output that is neither logits nor softmax, or a feature pair whose
            layer is missing or whose shapes differ.
    """
    from dltrain.train.distill import feature_shapes, output_kind

    cfg = loaded.config
    assert cfg.distill is not None
    problems: list[Problem] = []
    kinds = {"teacher": output_kind(teacher.model), "student": output_kind(student)}
    for who, kind in kinds.items():
        if kind not in ("logits", "softmax"):
            problems.append(
                loaded.problem(
                    _KEY if who == "teacher" else ("model",),
                    f"the {who}'s output layer has activation {kind}: distillation needs "
                    "class scores, a last layer with softmax or no activation (logits)",
                )
            )
    for i, pair in enumerate(cfg.distill.features):
        shapes: dict[str, Any] = {}
        for who, model, name in (
            ("teacher", teacher.model, pair.teacher),
            ("student", student, pair.student),
        ):
            try:
                shapes[who] = feature_shapes(model, [name])[name]
            except KeyError:
                layers = ", ".join(layer.name for layer in model.layers)
                problems.append(
                    loaded.problem(
                        ("distill", "features", i, who),
                        f"the {who} has no layer {name!r}; its layers: {layers}",
                    )
                )
        if len(shapes) == 2 and shapes["teacher"] != shapes["student"]:
            problems.append(
                loaded.problem(
                    ("distill", "features", i),
                    f"layer outputs differ in shape: teacher {pair.teacher} "
                    f"{list(shapes['teacher'])}, student {pair.student} "
                    f"{list(shapes['student'])}; pair layers whose outputs have the same shape",
                )
            )
    if problems:
        raise ConfigError(problems=problems)
    return {k: str(v) for k, v in kinds.items()}


def _record(
    loaded: LoadedConfig, teacher: _Teacher, student: keras.Model, kinds: dict[str, str]
) -> DistillRecord:
    cfg = loaded.config.distill
    assert cfg is not None
    run = teacher.saved.run
    return DistillRecord(
        teacher=str(run.path),
        run_id=f"{run.path.parent.name}/{run.path.name}",
        checkpoint=str(teacher.saved.checkpoint),
        sha256=teacher.sha256,
        test_metrics=dict(run.manifest.final_metrics.get("test", {})),
        temperature=cfg.temperature,
        alpha=cfg.alpha,
        features=[pair.model_dump() for pair in cfg.features],
        teacher_parameters=int(teacher.model.count_params()),
        student_parameters=int(student.count_params()),
        outputs=kinds,
    )


def attach_teacher(
    loaded: LoadedConfig, prepared: Prepared, *, recorded: DistillRecord | None = None
) -> DistillRecord | None:
    """Replace ``prepared.model`` (the student) with a compiled distiller around it.

    Args:
        loaded: The config being run (its ``distill``, and where it was written).
        prepared: The student built and compiled (or loaded from a resume point).
        recorded: A resumed run's record: the teacher's checkpoint must be the same file.

    Returns:
        What ``run.json`` records, or ``None`` when the config has no ``distill``.

    Raises:
        ConfigError: at ``distill``: the teacher cannot be opened, reads other data, or does
            not fit the student.
        UsageError: on resume, the teacher's checkpoint changed since the run started.
    """
    cfg = loaded.config
    if cfg.distill is None:
        return None
    check_conflicts(loaded)
    from dltrain.model.compile import compile_arguments
    from dltrain.train.distill import make_distiller

    student = prepared.model
    spec = prepared.datasets.spec
    with prepared.strategy.scope():
        teacher = _open_teacher(loaded, spec)
    if recorded is not None and recorded.sha256 != teacher.sha256:
        raise UsageError(
            f"the teacher's checkpoint {teacher.saved.checkpoint} changed since this run "
            f"started (SHA-256 {recorded.sha256[:12]}... then, {teacher.sha256[:12]}... now): "
            "resuming would not be the same training; start a new run"
        )
    kinds = _check_pair(loaded, teacher, student)
    with loaded.located():
        args = compile_arguments(student, cfg, spec)
    pair = (kinds["teacher"], kinds["student"])

    def wrap(model: keras.Model) -> keras.Model:
        with prepared.strategy.scope():
            made = make_distiller(model, teacher.model, cfg.distill, args, pair)  # type: ignore[arg-type]
        return made

    try:
        prepared.model = wrap(student)
    except ValueError as exc:
        raise ConfigError(problems=[loaded.problem(_KEY, f"keras.distillation: {exc}")]) from None
    prepared.rewrap = wrap
    return _record(loaded, teacher, student, kinds)


def plan_distill(loaded: LoadedConfig) -> list[str] | None:
    """What ``dltrain check`` says about ``distill``: the teacher and both parameter counts.

    Raises:
        ConfigError: the same problems ``run`` would raise before training.
    """
    if loaded.config.distill is None:
        return None
    check_conflicts(loaded)
    from dltrain.data import describe_data, load_datasets
    from dltrain.model import build_model

    cfg = loaded.config
    spec = describe_data(cfg) or load_datasets(cfg, source=loaded.source).spec
    with loaded.located():
        student = build_model(cfg, spec)
    teacher = _open_teacher(loaded, spec)
    kinds = _check_pair(loaded, teacher, student)
    record = _record(loaded, teacher, student, kinds)
    return distill_lines(record)


def distill_lines(record: DistillRecord) -> list[str]:
    """The teacher, its score and the two sizes, as ``check`` prints them."""
    ratio = record.student_parameters / max(record.teacher_parameters, 1)
    scores = ", ".join(f"{k} {v:.4g}" for k, v in record.test_metrics.items())
    return [
        f"distill: teacher {record.checkpoint}",
        f"  teacher run {record.run_id}" + (f" (test: {scores})" if scores else ""),
        f"  parameters: teacher {record.teacher_parameters:,}, student "
        f"{record.student_parameters:,} (student/teacher {ratio:.3f}, "
        f"{1 / ratio if ratio else float('inf'):.1f}x smaller)",
        f"  temperature {record.temperature:g}, alpha {record.alpha:g} (labels), "
        f"{1 - record.alpha:g} (teacher); outputs: teacher {record.outputs.get('teacher')}, "
        f"student {record.outputs.get('student')}",
    ]
