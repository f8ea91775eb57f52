"""Keras preprocessing layers for CSV data, built from training-split statistics.

Normalization and category lookup live inside the model (and its ``.keras`` file) so a saved
model takes raw rows. Only built-in layers with plain-data configs are used, so the model
loads with ``safe_mode=True``. Keras is imported when the layers are built, not on import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dltrain.data.csv.columns import ColumnPlan, input_name
from dltrain.data.csv.stats import TabularStats
from dltrain.data.csv.text import vectorizer

__all__ = ["build_preprocess"]


def build_preprocess(
    plan: ColumnPlan, stats: TabularStats
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A function: raw symbolic inputs by name -> model inputs (one per feature group).

    Per group: ``Normalization`` (fixed training mean/variance) of its numeric input, then a
    ``StringLookup`` one-hot (training vocabulary + one out-of-vocabulary slot, so unseen
    categories at predict time do not fail) per categorical column, and the vector of each
    ``multi_hot``/``count``/``tf_idf`` text column, concatenated. An ``int`` text column is a
    model input of its own: its ``TextVectorization`` token ids.
    """
    groups = {g: tuple(cols) for g, cols in plan.groups.items()}
    categorical = set(plan.categorical)
    numeric_columns = set(plan.numeric)
    mean = dict(stats.mean)
    variance = dict(stats.variance)
    vocab = {c: list(v) for c, v in stats.vocab.items()}
    texts = dict(stats.text)
    sequences = plan.sequences

    def preprocess(inputs: dict[str, Any]) -> dict[str, Any]:
        import keras

        lookups: dict[str, Any] = {}
        out: dict[str, Any] = {}

        def vectorize(col: str) -> Any:
            raw = input_name(col)
            if raw not in lookups:
                lookups[raw] = vectorizer(texts[col], f"{raw}_vectorize")
            return lookups[raw](inputs[raw])

        for group, cols in groups.items():
            name = input_name(group)
            parts = []
            numeric = [c for c in cols if c in numeric_columns]
            if numeric:
                layer = keras.layers.Normalization(
                    mean=[mean[c] for c in numeric],
                    variance=[variance[c] for c in numeric],
                    name=f"{name}_normalize",
                )
                parts.append(layer(inputs[name]))
            for col in cols:
                if col in texts and col not in sequences:
                    parts.append(vectorize(col))
                if col not in categorical:
                    continue
                raw = input_name(col)
                if raw not in lookups:
                    # A column in several groups shares one lookup layer.
                    lookups[raw] = keras.layers.StringLookup(
                        vocabulary=vocab[col],
                        output_mode="one_hot",
                        num_oov_indices=1,
                        name=f"{raw}_lookup",
                    )
                parts.append(lookups[raw](inputs[raw]))
            if len(parts) == 1:
                out[name] = parts[0]
            elif parts:
                out[name] = keras.layers.Concatenate(name=f"{name}_concat")(parts)
        for col in sequences:
            out[input_name(col)] = vectorize(col)
        return out

    return preprocess
