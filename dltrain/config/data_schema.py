"""The ``data`` section of the schema: MNIST-format images or CSV tables."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

__all__ = ["CsvData", "DataConfig", "Fraction", "MnistData", "Strict", "Task"]

Fraction = Annotated[float, Field(gt=0, lt=1)]
"""A number strictly between 0 and 1."""

Task = Literal["regression", "binary", "multiclass"]


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
    categorical: list[str] = Field(default_factory=list)
    """Feature columns holding categories (text or integer codes), one-hot encoded inside
    the model with a vocabulary taken from the training split."""
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
    stream: bool = False
    """Read the file in chunks through tf.data instead of loading it into memory."""
    chunk_rows: PositiveInt = 65536
    """Rows per chunk when streaming."""
    limit: PositiveInt | None = None
    """Use only the first N rows of each file (smoke runs)."""

    @model_validator(mode="after")
    def _one_source(self) -> CsvData:
        if self.path is None and self.train_path is None:
            raise ValueError("give `path` (one file) or `train_path` with `test_path`")
        if self.path is not None and self.train_path is not None:
            raise ValueError("give either `path` or `train_path`, not both")
        if self.train_path is not None and self.test_path is None and self.test is None:
            raise ValueError("`train_path` needs `test_path` or a `test` fraction")
        return self


DataConfig = Annotated[
    MnistData | CsvData,
    Field(discriminator="kind"),
]
