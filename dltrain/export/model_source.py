"""What an export starts from: the run's Keras model, made to take raw inputs, and its data.

Images reach a trained model scaled (``data.scale``: pixels / 255) by the input pipeline, so
the exported model gets that scaling as a ``Rescaling`` layer in front; CSV models already
normalize and encode raw columns inside (see :mod:`dltrain.data.csv.preprocess`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.config.schema import MnistData
from dltrain.data.spec import DataSpec
from dltrain.errors import CheckpointError, ExportError, UsageError
from dltrain.export.calibration import Calibration
from dltrain.report.saved_run import SavedRun

if TYPE_CHECKING:
    import keras

__all__ = ["ExportSource", "TestSplit", "load_source", "raw_input_model", "read_spec"]


@dataclass
class TestSplit:
    """The test split as the exported model takes it, and what the Keras model made of it."""

    x: dict[str, np.ndarray]
    """Raw inputs by name (pixels as float32 0-255, text as strings)."""
    labels: list[np.ndarray]
    """Per target: class indices, or values (regression)."""
    reference: list[np.ndarray]
    """The checkpoint's outputs, through dltrain's own input pipeline."""


@dataclass
class ExportSource:
    """The model to export and the data that proves (and calibrates) the export."""

    spec: DataSpec
    model: keras.Model
    """The model to export: raw inputs in, the checkpoint's outputs out."""
    test: TestSplit | None = None
    """``None`` when verification is skipped."""
    calibration: dict[str, np.ndarray] = field(default_factory=dict)
    """Seeded training examples for int8 calibration, as the exported model takes them."""
    calibration_record: dict[str, Any] | None = None
    """Where the calibration examples came from and how many (``export.json``)."""
    precision: dict[str, str] | None = None
    """``{checkpoint, export}`` policies when the checkpoint computes in a mixed policy and the
    export in float32 (``export.json``); None when both are float32."""


def raw_input_model(model: keras.Model, data: Any, spec: DataSpec) -> keras.Model:
    """``model`` with the input pipeline's image scaling in front (CSV models: unchanged).

    Args:
        model: The trained model.
        data: The run's ``config.data``.
        spec: The run's data spec.
    """
    if not isinstance(data, MnistData):
        return model
    import keras

    info = spec.raw_inputs[0]
    image = keras.Input(shape=info.shape, dtype="float32", name=info.name)
    # float32 whatever the process's dtype policy: exports compute in float32.
    scale = keras.layers.Rescaling(1.0 / 255.0, name="scale_pixels", dtype="float32")
    x = scale(image) if data.scale else image
    # training=False is stored in the graph: augmentation layers stay off in every export.
    return keras.Model(image, model(x, training=False), name=f"{model.name}_raw_input")


def load_source(
    saved: SavedRun,
    spec: DataSpec,
    *,
    verify: bool,
    calibrate: bool,
    calibration: Calibration | None = None,
) -> ExportSource:
    """Load the checkpoint, and the run's data when verifying or calibrating.

    Args:
        saved: The opened run and checkpoint.
        spec: The run's data spec.
        verify: Read the test split and the checkpoint's outputs on it.
        calibrate: Draw calibration examples (int8), as ``calibration`` says (default: 300
            seeded training examples, :mod:`dltrain.export.calibration`).

    Raises:
        CheckpointError: an unreadable checkpoint.
        DataError: the run's data cannot be read.
        ExportError: the data is streamed from disk, so its splits are not held as arrays.
    """
    from dltrain.model import load_model_file
    from dltrain.model.saving import float32_twin

    config = saved.loaded.config
    trained = load_model_file(saved.checkpoint)
    # A mixed-precision checkpoint is exported computing in float32 (same weights), and
    # verified against that float32 model: what the artifact computes.
    twin = float32_twin(trained)
    keras_model = twin if twin is not None else trained
    source = ExportSource(spec, raw_input_model(keras_model, config.data, spec))
    if twin is not None:
        source.precision = {"checkpoint": trained.dtype_policy.name, "export": "float32"}
    if not (verify or calibrate):
        return source
    from dltrain.config.precision import resolved_policy
    from dltrain.data import load_datasets
    from dltrain.data.pipeline import ArraySource
    from dltrain.train.environment import configure_environment

    configure_environment(config.seed, False, resolved_policy(config, saved.run.manifest.precision))
    datasets = load_datasets(config)
    arrays = datasets.source
    if not isinstance(arrays, ArraySource):
        raise ExportError(
            f"{saved.run.path}: the run's data is streamed from disk (data.stream: true, or "
            "auto with a folder too large for memory), so its splits are not held in memory "
            "to verify or calibrate the export; use --no-verify (and no int8 quantization)"
        )
    if verify:
        test = datasets.test_dataset(datasets.evaluation_batch("test"))
        predicted = keras_model.predict(test, verbose=0)
        reference = list(predicted) if isinstance(predicted, list | tuple) else [predicted]
        source.test = TestSplit(
            x=_as_model_inputs(arrays.x["test"], arrays.cast_uint8),
            labels=[np.asarray(y) for y in arrays.labels("test")],
            reference=[np.asarray(r, dtype=np.float32) for r in reference],
        )
    if calibrate:
        choice = calibration or Calibration()
        if choice.kind == "file":
            assert choice.path is not None
            source.calibration = _calibration_file(choice.path, spec)
        else:
            split = choice.split or "train"
            if split not in arrays.x:
                raise UsageError(
                    f"--calibration split:{split}: the run has no {split} split of its own "
                    f"(data.validation: {config.data.validation}); give a number of training "
                    "examples instead"
                )
            picked = arrays.x[split]
            if choice.kind == "sample":
                n = arrays.size(split)
                rng = np.random.default_rng(config.seed)
                pick = np.sort(rng.choice(n, size=min(choice.examples, n), replace=False))
                picked = {k: v[pick] for k, v in picked.items()}
            source.calibration = _as_model_inputs(picked, arrays.cast_uint8)
        used = len(next(iter(source.calibration.values())))
        source.calibration_record = choice.record(used, config.seed)
    return source


def _calibration_file(path: Path, spec: DataSpec) -> dict[str, np.ndarray]:
    """A ``.npz`` of raw inputs by name, checked against the run's inputs."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as exc:
        raise UsageError(f"--calibration {path}: unreadable .npz ({exc})") from None
    problems = []
    for info in spec.raw_inputs:
        if info.name not in arrays:
            problems.append(f"no array {info.name!r} (has: {', '.join(arrays) or 'none'})")
            continue
        shape = tuple(arrays[info.name].shape[1:])
        expected = tuple(info.shape)
        if len(shape) != len(expected) or any(
            e is not None and e != s for e, s in zip(expected, shape, strict=False)
        ):
            problems.append(
                f"{info.name}: examples of shape {list(shape)}, the model takes {list(expected)}"
            )
    if problems:
        raise UsageError(f"--calibration {path}: " + "; ".join(problems))
    out = {info.name: arrays[info.name] for info in spec.raw_inputs}
    return {k: v.astype(np.float32) if v.dtype.kind in "iuf" else v for k, v in out.items()}


def _as_model_inputs(x: dict[str, np.ndarray], cast_uint8: bool) -> dict[str, np.ndarray]:
    """Stored split arrays -> what the exported model takes: MNIST pixels as float32 0-255;
    image folders' pixels as the uint8 their model takes (``cast_uint8`` off)."""
    if not cast_uint8:
        return dict(x)
    return {k: v.astype(np.float32) if v.dtype == np.uint8 else v for k, v in x.items()}


def read_spec(run_dir: Path) -> DataSpec:
    """The run's ``data_spec.json``.

    Raises:
        CheckpointError: missing or unreadable.
    """
    spec_file = run_dir / "data_spec.json"
    try:
        return DataSpec.from_json(spec_file.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{spec_file}: unreadable data spec ({exc})") from exc
