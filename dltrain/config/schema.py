"""The typed schema of an experiment config.

Everything a YAML file may say is declared here, with a docstring per field (these become the
JSON Schema descriptions that editors show). Unknown keys are errors everywhere except where a
section passes arguments straight to a Keras constructor (layer arguments, optimizer arguments):
Keras itself checks those when the model is built.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Tag,
    field_validator,
    model_validator,
)

from dltrain.config.adversarial_schema import AdversarialConfig
from dltrain.config.callbacks_schema import (
    CallbacksConfig,
    CheckpointConfig,
    EarlyStoppingConfig,
    ReduceLROnPlateauConfig,
    TensorBoardConfig,
)
from dltrain.config.data_schema import (
    AudioFolderData,
    CsvData,
    DataConfig,
    FolderData,
    Fraction,
    ImageFolderData,
    MnistData,
    Strict,
    TextColumn,
)
from dltrain.config.distill_schema import DistillConfig, FeaturePair
from dltrain.config.tracking_schema import MlflowConfig, TrackingConfig
from dltrain.config.tune_schema import TuneConfig

__all__ = [
    "AdversarialConfig",
    "AudioFolderData",
    "AugmentConfig",
    "CallbacksConfig",
    "CheckpointConfig",
    "CsvData",
    "DataConfig",
    "DistillConfig",
    "DistributeConfig",
    "EarlyStoppingConfig",
    "ExperimentConfig",
    "FeaturePair",
    "FineTuneConfig",
    "FolderData",
    "FunctionalModel",
    "ImageFolderData",
    "InputSpec",
    "LayerSpec",
    "MlflowConfig",
    "MnistData",
    "ModelConfig",
    "ObjectSpec",
    "OptimizerConfig",
    "OutputConfig",
    "ReduceLROnPlateauConfig",
    "SequentialModel",
    "TensorBoardConfig",
    "TextColumn",
    "TrackingConfig",
    "TrainingConfig",
    "TuneConfig",
]

Shape = list[PositiveInt | None]
ModuleName = Annotated[str, Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")]
"""A dotted Python module name."""


class ObjectSpec(Strict):
    """A Keras object in its serialized form: ``{class_name: ..., config: {...}}``."""

    class_name: str
    """Keras class or registered name, e.g. ``ExponentialDecay`` or ``L2``."""
    config: dict[str, Any] = Field(default_factory=dict)
    """Constructor arguments of that class."""


NamedObject = str | ObjectSpec
"""A Keras object given by name (``"mse"``) or as ``{class_name, config}``."""


# -------------------------------------------------------------------------- model


class LayerSpec(Strict):
    """One layer: ``{LayerClass: {arguments}}``, plus ``name`` and ``inputs`` in functional models.

    ``{name: b, shared: a, inputs: x}`` applies the already defined layer ``a`` again (shared
    weights). ``{Sequential: {layers: [...]}}`` nests a block of layers.
    """

    class_name: str
    """The Keras layer class, e.g. ``Dense`` (written as the entry's key)."""
    config: dict[str, Any] = Field(default_factory=dict)
    """Its constructor arguments."""
    name: str | None = None
    """Layer name (functional models refer to layers by it)."""
    inputs: list[str] | None = None
    """Functional models: the input or layer name(s) this layer is applied to."""
    shared: str | None = None
    """Apply the layer of this name again instead of creating a new one."""

    @model_validator(mode="before")
    @classmethod
    def _split_class_key(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            if isinstance(value, str):
                # A bare class name with no arguments, e.g. `- Flatten`.
                return {"class_name": value}
            return value
        if "class_name" in value:
            return value
        reserved = {"name", "inputs", "shared"}
        class_keys = [k for k in value if k not in reserved]
        out = {k: value[k] for k in reserved if k in value}
        if isinstance(out.get("inputs"), str):
            out["inputs"] = [out["inputs"]]
        if "shared" in value:
            if class_keys:
                raise ValueError(
                    f"a `shared` entry reuses a layer and takes no class; remove {class_keys[0]!r}"
                )
            out["class_name"] = "shared"
            return out
        if len(class_keys) != 1:
            got = ", ".join(repr(k) for k in class_keys) or "none"
            raise ValueError(
                "a layer entry needs exactly one layer class as its key, like "
                f"`Dense: {{units: 10}}`; received {got}"
            )
        key = class_keys[0]
        out["class_name"] = key
        args = value[key]
        out["config"] = {} if args is None else args
        return out

    @field_validator("config", mode="before")
    @classmethod
    def _config_is_mapping(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(
                f"layer arguments must be a mapping like `{{units: 10}}`; received {value!r}"
            )
        return value


class InputSpec(Strict):
    """A named input of a functional model."""

    shape: Shape | None = None
    """Shape without the batch axis; default: taken from the data."""
    dtype: str = "float32"
    """Element type."""


class SequentialModel(Strict):
    """A stack of layers (``keras.Sequential``)."""

    type: Literal["sequential"] = "sequential"
    """Model kind."""
    name: str | None = None
    """Keras model name."""
    input_shape: Shape | None = None
    """Shape of one example without the batch axis; default: taken from the data."""
    layers: list[LayerSpec] = Field(min_length=1)
    """The layers, in order."""


class FunctionalModel(Strict):
    """A graph of layers (Keras functional API): several inputs, outputs, shared layers."""

    type: Literal["functional"]
    """Model kind."""
    name: str | None = None
    """Keras model name."""
    inputs: dict[str, InputSpec] = Field(min_length=1)
    """Named inputs; ``{}`` takes the shape from the data."""
    layers: list[LayerSpec] = Field(min_length=1)
    """Named layers, each with ``inputs``."""
    outputs: list[str] = Field(min_length=1)
    """Names of the layers whose results are the model's outputs, in target order."""

    @field_validator("inputs", mode="before")
    @classmethod
    def _null_input_specs(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value

    @field_validator("outputs", mode="before")
    @classmethod
    def _one_output(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def _model_type(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type", "sequential")
        return kind if isinstance(kind, str) else None
    return getattr(value, "type", None)


ModelConfig = Annotated[
    Annotated[SequentialModel, Tag("sequential")] | Annotated[FunctionalModel, Tag("functional")],
    Discriminator(
        _model_type,
        custom_error_type="invalid_model_type",
        custom_error_message="model.type must be 'sequential' or 'functional'",
    ),
]


class OptimizerConfig(Strict):
    """A Keras optimizer by name; every other key is passed to its constructor."""

    # Other keys (momentum, weight_decay, ...) go to the constructor, which Keras checks.
    model_config = ConfigDict(extra="allow")

    name: str = "adam"
    """Keras optimizer name: sgd, adam, adamw, rmsprop, adagrad, nadam, ..."""
    learning_rate: PositiveFloat | ObjectSpec | None = None
    """A number, or a schedule such as
    ``{class_name: ExponentialDecay, config: {initial_learning_rate: 0.1, decay_steps: 1000,
    decay_rate: 0.9}}``; default: the optimizer's own."""


# ----------------------------------------------------------------------- training


class FineTuneConfig(Strict):
    """The second phase of transfer learning: unfreeze the backbone and train on, slower."""

    after_epoch: PositiveInt
    """Epochs of phase 1, which trains the model as built (its ``trainable: false`` layers
    frozen, so the new top learns); phase 2 starts at this epoch (counting from 0) and runs to
    ``training.epochs``, which must be larger."""
    unfreeze: Literal["all"] | PositiveInt = "all"
    """``all`` frozen layers, or the last K layers of each frozen backbone (a nested model at
    the top level holding frozen layers, counting its own layers from its end); a model without
    a backbone unfreezes its frozen top-level layers (K: the last K of them).
    BatchNormalization layers stay frozen, as Keras's transfer-learning guide advises."""
    learning_rate: PositiveFloat | None = None
    """Learning rate of phase 2 (a fresh optimizer of the configured kind); default a tenth of
    ``optimizer.learning_rate``, which must then be a number, not a schedule."""


class TrainingConfig(Strict):
    """How ``model.fit`` runs."""

    epochs: PositiveInt = 10
    """Number of passes over the training data."""
    batch_size: PositiveInt | Literal["full"] = 32
    """Examples per gradient step: 1 is stochastic gradient descent, ``full`` one batch of the
    whole training set (batch gradient descent), anything between is mini-batch."""
    shuffle: bool = True
    """Shuffle the training data every epoch (seeded, so runs and resumes repeat exactly)."""
    steps_per_execution: PositiveInt = 16
    """Batches run per call into the compiled training function (fewer Python round trips:
    1.6x faster on the classic MLP, see docs/benchmarks.md). The largest divisor of the
    epoch's steps up to this value is used, so epochs end exactly where they should; progress
    and the Ctrl-C check then happen every that many batches."""
    jit_compile: bool | Literal["auto"] = "auto"
    """XLA compilation of the train, test and predict steps. ``auto`` decides per model: with
    a GPU, XLA when every layer supports it; CPU only, XLA when every layer is dense,
    elementwise or an LSTM (measured faster; exact resume verified), not for convolutions
    (measured slower) or other recurrent layers (not measured: set ``true`` to try). run.json
    records the choice and the reason."""
    class_weight: dict[int, NonNegativeFloat] | Literal["balanced"] | None = None
    """Per-class loss weights for classification, or ``balanced``."""
    on_nan: Literal["stop", "rollback"] = "stop"
    """When the loss becomes NaN/Inf: stop the run (failed), or reload the last good epoch with
    a lower learning rate."""
    max_rollbacks: NonNegativeInt = 3
    """How many NaN rollbacks are allowed before the run fails."""
    rollback_factor: Fraction = 0.5
    """Learning-rate multiplier applied at each NaN rollback."""
    fine_tune: FineTuneConfig | None = None
    """Unfreeze frozen layers (a pretrained backbone) after some epochs, with a lower learning
    rate, in the same run (see docs/guide.md, transfer learning)."""
    adversarial: AdversarialConfig | None = None
    """Adversarial training: each batch mixes clean examples with FGSM or PGD perturbations
    made against the current weights (docs/robustness.md); checkpoints hold the plain model."""


class AugmentConfig(Strict):
    """Random changes to training examples, as Keras preprocessing layers at the model's start.

    They act only while training: evaluation, ``predict`` and exports see the examples as
    they are. They run on the raw input, in this order, before the data's own preprocessing;
    each is seeded from ``seed``. Image keys need images of shape (height, width, channels)
    (MNIST: ``data.channel_axis: true``); ``shift`` needs a 1-D float waveform (audio);
    ``noise`` any float input. The model must have one input.
    """

    flip: Literal["horizontal", "vertical", "horizontal_and_vertical"] | None = None
    """Mirror images at random (``RandomFlip``)."""
    rotate: Fraction | None = None
    """Rotate by up to this share of a full turn either way (``RandomRotation``)."""
    zoom: Fraction | None = None
    """Zoom in or out by up to this share, the same on both axes (``RandomZoom``)."""
    translate: Fraction | None = None
    """Move by up to this share of the height and of the width (``RandomTranslation``)."""
    contrast: Fraction | None = None
    """Scale each channel's contrast by a factor from 1 - x to 1 + x (``RandomContrast``)."""
    brightness: Fraction | None = None
    """Change brightness by up to this share of the pixel range, either way
    (``RandomBrightness``; the range is 0..255 for uint8 pixels, 0..1 for scaled ones)."""
    shift: Fraction | None = None
    """Audio: move the waveform in time by up to this share of the clip, filling with silence
    (``RandomTranslation`` along time)."""
    noise: PositiveFloat | None = None
    """Add Gaussian noise of this standard deviation to a float input, such as a waveform
    (``GaussianNoise``)."""


class DistributeConfig(Strict):
    """tf.distribute strategy."""

    strategy: Literal["default", "mirrored", "multi_worker_mirrored", "one_device"] = "default"
    """``mirrored``: all local GPUs; ``multi_worker_mirrored``: the cluster in ``TF_CONFIG``;
    ``one_device``: the device in ``device``. ``batch_size`` is the global batch."""
    device: str | None = None
    """Device for ``one_device``, e.g. ``/gpu:0``."""
    devices: list[str] | None = None
    """Devices for ``mirrored``; default: all visible GPUs (or the CPU)."""


class ChecksConfig(Strict):
    """Methodology checks (docs/methodology.md): the test split chosen on, losses that do not
    fit the output or the task, an untrained loss far from ln C, test examples copied from
    training, a single feature that predicts the target."""

    strict: bool = False
    """Make every finding an error (exit 2, before training) instead of a warning."""


class OutputConfig(Strict):
    """Where and what a run writes."""

    runs_dir: str | None = None
    """Folder that holds run folders; default ``runs`` in the working directory (the CLI's
    ``--runs-dir`` wins)."""
    plots: bool = True
    """Write PNG plots into ``plots/``."""


class ExperimentConfig(Strict):
    """One experiment: data, model, optimizer, loss, metrics and how to train."""

    name: str = Field(default="experiment", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Run name; runs are written to ``<runs_dir>/<name>/<UTC timestamp>/``. Default: the
    config file's name."""
    description: str | None = None
    """Free text, shown by ``dltrain runs``."""
    imports: list[ModuleName] | None = None
    """Python modules to import before the rest is checked, found beside the config file (and
    the files it extends) or on ``sys.path``: they register custom layers, losses, metrics,
    callbacks... (``@keras.saving.register_keras_serializable``) and dataset kinds
    (``@dltrain.register_dataset``). See docs/extending.md."""
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 42
    """Seeds Python, NumPy, TensorFlow and data shuffling (0 to 2**32 - 1: NumPy's range)."""
    deterministic: bool = False
    """Bit-identical reruns (TensorFlow op determinism); slower."""
    data: DataConfig
    """Where the data comes from."""
    model: ModelConfig
    """The network."""
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    """The optimizer (default Adam)."""
    loss: NamedObject | dict[str, NamedObject] | None = None
    """Keras loss by name, or per output name; default from the task (categorical
    cross-entropy for one-hot labels, sparse for integer labels, binary cross-entropy, MSE)."""
    loss_weights: dict[str, float] | None = None
    """Weight of each output's loss in a multi-output model."""
    metrics: list[NamedObject] | dict[str, list[NamedObject]] | None = None
    """Keras metrics, or per output name; default ``accuracy`` for classification and
    ``mae`` for regression."""
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    """Epochs, batch size and the training loop."""
    callbacks: CallbacksConfig = Field(default_factory=CallbacksConfig)
    """Checkpoints, early stopping, LR schedule on plateau, TensorBoard."""
    distribute: DistributeConfig = Field(default_factory=DistributeConfig)
    """Multi-device / multi-worker training."""
    precision: Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"] = "auto"
    """Keras dtype policy; mixed policies keep the output layer in float32. ``auto``:
    ``mixed_bfloat16`` for convolutional image models on a device with bfloat16 matrix units
    (AMX or AVX512-BF16 CPUs, GPUs of compute capability 8.0 or later), float32 otherwise;
    the choice and its reason are recorded in run.json (docs/benchmarks.md, "Precision")."""
    output: OutputConfig = Field(default_factory=OutputConfig)
    """Where runs are written."""
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    """Methodology checks: warnings by default, errors with ``strict: true``."""
    tune: TuneConfig | None = None
    """Hyperparameter search for ``dltrain tune`` (see docs/tuning.md); ``dltrain run`` ignores
    it."""
    tracking: TrackingConfig | None = None
    """Experiment tracking besides the run folder (MLflow); off by default."""
    augment: AugmentConfig | None = None
    """Data augmentation in training (images: flip, rotate, zoom, translate, contrast,
    brightness; audio: shift, noise), built from Keras preprocessing layers inside the model."""
    init_from: str | None = Field(default=None, pattern=r"^[^:]+(:(best|last))?$")
    """Start from another run's weights: ``RUN`` or ``RUN:best`` (its best checkpoint) or
    ``RUN:last``; layers are matched by name (listed by ``dltrain check`` and in run.json)."""
    distill: DistillConfig | None = None
    """Train this model (the student) from a trained teacher run with Keras's
    ``keras.distillation``; the saved checkpoints are the student alone (docs/guide.md)."""
