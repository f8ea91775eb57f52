"""Free-text CSV columns: a ``TextVectorization`` vocabulary adapted on the training split.

The vocabulary (and, for ``tf_idf``, the inverse document frequencies) is computed once here
with Keras's own layer and kept as plain data, so the model's layer is rebuilt from it
exactly (checkpoints, ``dltrain check``, exports) and ``data_spec.json`` records it. Keras is
imported when a vocabulary is adapted or a layer built, not on import.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from dltrain.config.schema import TextColumn

__all__ = ["TextVocab", "adapt_text", "vectorizer"]

_BATCH = 4096


@dataclass(frozen=True)
class TextVocab:
    """A text column's adapted vocabulary and what ``dltrain check`` says about it."""

    options: TextColumn
    vocabulary: tuple[str, ...]
    """As ``TextVectorization.get_vocabulary()`` gives it: the special tokens first."""
    idf: tuple[float, ...] | None = None
    """``tf_idf``: one weight per vocabulary entry."""
    rows: int = 0
    """Training rows adapted on."""
    cut: int = 0
    """``int`` mode: training rows with more tokens than ``sequence_length`` (cut)."""
    longest: int = 0
    """``int`` mode: the most tokens in one training row."""

    @property
    def sha256(self) -> str:
        """Of the vocabulary, one token per line (what run.json and data_spec.json record)."""
        return hashlib.sha256("\n".join(self.vocabulary).encode()).hexdigest()

    def describe(self, column: str) -> str:
        """One line for ``dltrain check``."""
        o = self.options
        words = f"{len(self.vocabulary):,} tokens (max_tokens {o.max_tokens:,})"
        if o.output_mode != "int":
            return f"text {column!r}: {o.output_mode}, vocabulary {words}"
        share = self.cut / self.rows if self.rows else 0.0
        return (
            f"text {column!r}: int sequences of {o.sequence_length}, vocabulary {words}; "
            f"{self.cut:,} of {self.rows:,} training rows ({share:.1%}) are longer and cut "
            f"(longest {self.longest:,} tokens)"
        )

    def to_json(self) -> dict[str, Any]:
        """What ``data_spec.json`` records for the column."""
        out: dict[str, Any] = {
            **self.options.model_dump(),
            "vocabulary_size": len(self.vocabulary),
            "vocabulary_sha256": self.sha256,
            "vocabulary": list(self.vocabulary),
        }
        if self.idf is not None:
            out["idf_weights"] = list(self.idf)
        if self.options.output_mode == "int":
            out["training_rows_cut"] = self.cut
        return out


def _layer_options(options: TextColumn) -> dict[str, Any]:
    return {
        "standardize": options.standardize,
        "split": options.split,
        "ngrams": options.ngrams,
    }


def vectorizer(vocab: TextVocab, name: str) -> Any:
    """The column's ``TextVectorization`` layer, built from its adapted vocabulary."""
    import keras

    options = vocab.options
    extra: dict[str, Any] = {}
    if options.output_mode == "int":
        extra["output_sequence_length"] = options.sequence_length
    if vocab.idf is not None:
        extra["idf_weights"] = list(vocab.idf)
    return keras.layers.TextVectorization(
        output_mode=options.output_mode,
        vocabulary=list(vocab.vocabulary),
        name=name,
        **_layer_options(options),
        **extra,
    )


def adapt_text(options: TextColumn, strings: np.ndarray) -> TextVocab:
    """Adapt ``TextVectorization`` on the training split's cells of one column.

    For ``int`` mode it also counts the rows longer than ``sequence_length``; for ``tf_idf``
    it computes the weights Keras's own adapt gives (``log(1 + rows / (1 + rows holding the
    token))``, the out-of-vocabulary entry the mean), through the public multi-hot output.
    """
    import keras

    texts = np.asarray(strings, dtype=object).astype(str)
    mode = "int" if options.output_mode == "int" else "multi_hot"
    layer = keras.layers.TextVectorization(
        max_tokens=options.max_tokens, output_mode=mode, **_layer_options(options)
    )
    layer.adapt(texts, batch_size=_BATCH)
    vocabulary = tuple(str(token) for token in layer.get_vocabulary())
    rows = len(texts)
    if options.output_mode == "int":
        lengths = _token_counts(layer, texts)
        cut = int((lengths > options.sequence_length).sum())
        longest = int(lengths.max()) if rows else 0
        return TextVocab(options, vocabulary, None, rows, cut, longest)
    idf = None
    if options.output_mode == "tf_idf":
        documents = np.zeros(len(vocabulary), dtype=np.float64)
        for start in range(0, rows, _BATCH):
            hot = keras.ops.convert_to_numpy(layer(texts[start : start + _BATCH]))
            documents += hot.sum(axis=0)
        weights = np.log1p(rows / (1.0 + documents))
        weights[0] = weights[1:].mean() if len(weights) > 1 else weights[0]
        idf = tuple(float(w) for w in weights)
    return TextVocab(options, vocabulary, idf, rows)


def _token_counts(layer: Any, texts: np.ndarray) -> np.ndarray:
    """Tokens per row (padding excluded) as an unpadded ``int`` layer sees them."""
    import keras

    counts = np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), _BATCH):
        ids = keras.ops.convert_to_numpy(layer(texts[start : start + _BATCH]))
        counts[start : start + len(ids)] = (ids != 0).sum(axis=1) if ids.ndim == 2 else 0
    return counts
