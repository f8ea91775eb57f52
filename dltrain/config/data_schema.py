"""The ``data`` section of the schema: MNIST-format images, CSV tables, image and audio folders."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "AudioFolderData",
    "CsvData",
    "TextColumn",
    "DataConfig",
    "FolderData",
    "Fraction",
    "ImageFolderData",
    "MnistData",
    "Strict",
    "Task",
    "TargetScaling",
]

Fraction = Annotated[float, Field(gt=0, lt=1)]
"""A number strictly between 0 and 1."""

Task = Literal["regression", "binary", "multiclass"]

TargetScaling = Literal["none", "standard", "log"]
"""How a regression target is scaled for training (see ``CsvData.target_scaling``)."""


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors; field docstrings document."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class MnistData(Strict):
    """MNIST-format image data (MNIST, Fashion-MNIST)."""

    kind: Literal["mnist", "fashion_mnist"]
    """Which data set."""
    path: str | None = None
    """A Keras-layout ``.npz`` or a folder of the four IDX files (``.gz`` or raw). Default:
    ``$DLTRAIN_DATA_DIR``, ``~/.keras/datasets/``, ``/usr/share/datasets/<kind>/``, then a
    Keras download."""
    validation: Literal["test"] | Fraction | None = "test"
    """``test`` uses the test split as validation data (the classic Keras example); a fraction
    holds out that share of the training split (seeded); ``null`` trains without validation."""
    one_hot: bool = True
    """Labels as one-hot vectors (for ``categorical_crossentropy``); false gives integer labels
    (for ``sparse_categorical_crossentropy``)."""
    scale: bool = True
    """Scale pixels from 0..255 to [0, 1]."""
    channel_axis: bool = False
    """Add a trailing channel axis (28, 28) -> (28, 28, 1), as Conv2D layers need."""
    limit: PositiveInt | None = None
    """Use only the first N training and test examples (smoke runs)."""


class TextColumn(Strict):
    """How one CSV column of free text becomes model input: a Keras ``TextVectorization``
    layer adapted on the training split, inside the saved model (which takes raw strings)."""

    max_tokens: PositiveInt = 20000
    """Vocabulary size, the padding and out-of-vocabulary tokens included: the most frequent
    tokens of the training split are kept."""
    output_mode: Literal["int", "multi_hot", "count", "tf_idf"] = "int"
    """``int``: a sequence of token ids, the column's own model input (named after the
    column) for ``Embedding``, ``LSTM``, ``Conv1D``, ``MultiHeadAttention``; ``multi_hot``,
    ``count``, ``tf_idf``: a vector of ``max_tokens`` values joining the other features."""
    sequence_length: PositiveInt = 200
    """With ``output_mode: int``: tokens per row, longer rows cut at the end, shorter ones
    padded with 0. ``dltrain check`` shows the share of training rows cut."""
    ngrams: Annotated[int, Field(ge=2, le=5)] | None = None
    """Also count word n-grams up to this length (``2``: bigrams); null: single words."""
    standardize: Literal["lower_and_strip_punctuation", "lower", "strip_punctuation"] | None = (
        "lower_and_strip_punctuation"
    )
    """Text cleaning before splitting into words; null keeps the text as written."""
    split: Literal["whitespace", "character"] = "whitespace"
    """Tokens are words (split at whitespace) or single characters."""
    empty: Literal["text", "missing"] = "text"
    """An empty cell is the empty string (``text``), or a missing value handled by
    ``data.missing`` (``missing``). Tokens such as ``NA`` are text either way."""


class CsvData(Strict):
    """Tabular data from CSV files."""

    kind: Literal["csv"]
    """Tabular data from CSV."""
    path: str | None = None
    """One CSV file; the test split is then cut from it (see ``test``)."""
    train_path: str | None = None
    """Training CSV, when the test data is in another file (``test_path``)."""
    test_path: str | None = None
    """Test CSV with the same columns."""
    delimiter: str | None = None
    """Field separator; default: detected from the first lines."""
    decimal: Literal[".", ","] | None = None
    """Decimal mark of numbers: ``,`` for files such as ``29,1`` (usual with ``;`` as the field
    separator); default: detected, ``,`` when the separator is not a comma, some cells are
    numbers written with a comma and none with a point."""
    header: bool | None = None
    """Whether the first row names the columns; default: detected. Without a header the
    columns are named ``c0``, ``c1``, ..."""
    target: str | list[str]
    """The column(s) to predict. Several targets pair, in order, with the model's outputs."""
    features: list[str] | None = None
    """Feature columns; default: every column that is not a target."""
    categorical: list[str] | Literal["auto"] = Field(default_factory=list)
    """Feature columns holding categories (text or integer codes), one-hot encoded inside
    the model with a vocabulary taken from the training split. ``auto``: every feature
    column with a non-empty cell that is not a number, in any row of ``path`` (or
    ``train_path``) up to ``limit``, is categorical; the others, integer codes included,
    stay numeric (to one-hot integer codes, list every categorical column instead: ``auto``
    and a list do not mix). One extra pass over that file decides it, before loading or
    streaming."""
    text: list[str] | dict[str, TextColumn | None] | None = None
    """Feature columns of free text (reviews, descriptions), each vectorized inside the model
    by ``TextVectorization`` with its vocabulary adapted on the training split: a list of
    columns with the defaults, or a mapping column -> settings (see TextColumn). Text
    columns are neither numeric nor categorical, and need ``stream: false``."""
    exclude: dict[str, list[str]] | None = None
    """Leave out rows whose column holds one of the listed values (compared as written,
    surrounding spaces ignored): ``{category: [plot]}``. Any column of the file; counted in
    the data summary."""
    feature_groups: dict[str, list[str]] | None = None
    """Split the features into several named model inputs (for multi-input functional
    models); default: one input named ``features``."""
    missing: Literal["drop", "mean", "error"] = "error"
    """Empty cells: drop the row, fill with the training mean (numeric) or most frequent
    value (categorical), or report an error naming the first one."""
    test: Fraction | None = 0.2
    """Share of ``path`` held out as the test split (seeded). Ignored with ``test_path``."""
    validation: Fraction | None = 0.2
    """Share of the training split held out as validation data (seeded); null for none."""
    task: Task | dict[str, Task] = "regression"
    """``regression``, ``binary`` or ``multiclass``; a mapping target -> task when targets
    differ."""
    one_hot: bool = False
    """Classification labels as one-hot vectors instead of integer indices."""
    target_scaling: TargetScaling | dict[str, TargetScaling] = "none"
    """How regression targets are scaled for training: ``none``; ``standard`` (minus the
    training mean, over the training standard deviation); ``log`` (the natural logarithm,
    then standardized likewise, for positive skewed targets such as prices: every value must
    be above 0). A mapping target -> mode sets it per target (classification targets cannot
    be named); a single mode applies to every regression target. The statistics come from
    the training split only, and the model trains on the scaled target, so ``loss`` and
    ``val_loss`` are in scaled units; the saved model undoes the scaling in a final layer,
    so metrics, ``eval``, ``predict`` and exports are in the target's own units."""
    stream: bool = False
    """Read the file in chunks through tf.data instead of loading it into memory."""
    chunk_rows: PositiveInt = 65536
    """Rows per chunk when streaming."""
    limit: PositiveInt | None = None
    """Use only the first N rows of each file (smoke runs)."""
    group: str | None = None
    """A column naming a group (a patient, a movie, a user): the ``test`` and ``validation``
    fractions then cut whole groups, so no group is in two splits. The distinct values are
    sorted, permuted by the seed and taken until each split's share of rows is reached (at
    least one group each, one left for training). Not a feature unless listed in
    ``features``; an empty group cell is an error. Needs ``stream: false``."""

    def text_columns(self) -> dict[str, TextColumn]:
        """Every text column with its settings (defaults filled in), in the order written."""
        if not self.text:
            return {}
        if isinstance(self.text, list):
            return {column: TextColumn() for column in self.text}
        return {column: options or TextColumn() for column, options in self.text.items()}

    @field_validator("group")
    @classmethod
    def _group_in_memory(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("stream"):
            raise ValueError(
                "`group` needs the in-memory loader: the groups are cut from every row's "
                "group before the first row is placed; set `stream: false`"
            )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> CsvData:
        if self.path is None and self.train_path is None:
            raise ValueError("give `path` (one file) or `train_path` with `test_path`")
        if self.path is not None and self.train_path is not None:
            raise ValueError("give either `path` or `train_path`, not both")
        if self.train_path is not None and self.test_path is None and self.test is None:
            raise ValueError("`train_path` needs `test_path` or a `test` fraction")
        if self.text and self.stream:
            raise ValueError(
                "text columns need the in-memory loader: the vocabulary is adapted on every "
                "training row before training starts; set `stream: false`"
            )
        return self


class FolderData(Strict):
    """Files sorted by class: a folder of class folders, or an index CSV (images, sounds)."""

    path: str | None = None
    """A folder holding either ``train/`` [``val/`` | ``valid/`` | ``validation/``] [``test/``],
    each with one folder per class (layout A), or one folder per class directly (layout B,
    the splits then cut by ``validation`` and ``test``). With ``label_pattern`` the files may
    lie anywhere below the folder (or below each split folder)."""
    index: str | None = None
    """Instead of ``path``: a CSV with columns ``path,label[,split]`` (layout C), file paths
    relative to the CSV; ``split`` is ``train``, ``validation`` (or ``val``/``valid``) or
    ``test``; rows without a split are cut by the fractions."""
    label_pattern: str | None = None
    """A regular expression whose group 1 is the label, searched in each file's name
    (``^(\\d+)_`` reads 7 from ``7_theo_3.wav``); default: the class folder's name."""
    group_pattern: str | None = None
    """A regular expression whose group 1 names a group (a speaker, a patient) searched in each
    file's name; the fractions then cut whole groups, so no group is in two splits."""
    validation: Fraction | None = 0.2
    """Share held out as validation data when the layout gives no validation split (seeded);
    null for none."""
    test: Fraction | None = 0.2
    """Share held out as the test split when the layout gives none (seeded)."""
    bad_files: Literal["error", "skip"] = "error"
    """A file that cannot be read: ``error`` stops with one message listing every bad file;
    ``skip`` leaves them out and counts them in run.json's warnings."""
    one_hot: bool = False
    """Labels as one-hot vectors (for ``categorical_crossentropy``); default integer labels
    (for ``sparse_categorical_crossentropy``)."""
    limit: PositiveInt | None = None
    """Use only the first N files of each split, in file-name order (smoke runs)."""
    stream: bool | Literal["auto"] = "auto"
    """Decode files batch by batch while training instead of all at once into memory:
    ``auto`` streams when the decoded splits (files x decoded example bytes) would exceed a
    quarter of the machine's physical memory (``SC_PAGE_SIZE x SC_PHYS_PAGES``), ``true``
    always streams, ``false`` never. Every file is still checked once before training, and a
    streamed run sees the same batches as an in-memory one; its exports verify only with
    ``--no-verify`` (docs/data.md)."""

    @model_validator(mode="after")
    def _one_source(self) -> FolderData:
        if (self.path is None) == (self.index is None):
            raise ValueError("give `path` (a folder) or `index` (a CSV of path,label), not both")
        return self

    @field_validator("label_pattern", "group_pattern")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if compiled.groups < 1:
            raise ValueError("the pattern needs a group, like `^(\\d+)_`: group 1 is used")
        return value


class ImageFolderData(FolderData):
    """Image files (PNG, JPEG, BMP, GIF) sorted by class."""

    kind: Literal["image_folder"]
    """Images from files."""
    image_size: tuple[PositiveInt, PositiveInt] = (64, 64)
    """``[height, width]`` every image is resized to (see ``resize``)."""
    resize: Literal["crop", "pad", "stretch"] = "crop"
    """How an image of another shape becomes ``image_size``: ``crop`` keeps the largest centred
    part of that shape, ``pad`` fits the whole image and fills the rest with black, ``stretch``
    scales width and height apart. ``dltrain predict`` resizes alike."""
    color_mode: Literal["rgb", "grayscale"] = "rgb"
    """``rgb`` (3 channels) or ``grayscale`` (1); files in other modes are converted (RGBA
    composited onto black, 16-bit scaled to 8-bit, palette expanded)."""
    scale: bool = True
    """Scale pixels from 0..255 to [0, 1] inside the model (the model takes raw pixels)."""


class AudioFolderData(FolderData):
    """WAV recordings sorted by class."""

    kind: Literal["audio_folder"]
    """Sounds from WAV files."""
    sample_rate: PositiveInt = 16000
    """Samples per second; a file recorded at another rate is an error naming it."""
    duration: PositiveFloat = 1.0
    """Seconds per example: longer clips are cropped (the start kept), shorter ones padded with
    silence at the end."""

    @property
    def samples(self) -> int:
        """Waveform length the model takes."""
        return max(1, int(round(self.sample_rate * self.duration)))


DataConfig = Annotated[
    MnistData | CsvData | ImageFolderData | AudioFolderData,
    Field(discriminator="kind"),
]
