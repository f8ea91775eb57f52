"""CSV runs: permutation importance of the raw columns, integrated gradients per numeric
column, and per-token integrated gradients of text columns."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.explain.figures import HighlightedRow, token_page, write_importance_bars
from dltrain.explain.forward import explained_units, model_forward, predict_first
from dltrain.explain.gradients import completeness, integrated_gradients
from dltrain.explain.methods import Context
from dltrain.explain.permutation import Direction, permutation_importance, raw_columns
from dltrain.explain.record import SummaryRow, write_csv
from dltrain.explain.sanity import randomization_check
from dltrain.explain.text import split_at_embedding, token_attributions
from dltrain.storage import atomic_write_text

if TYPE_CHECKING:
    import keras

__all__ = ["run_feature_ig", "run_permutation", "run_tokens"]

_TOP = 10
"""Rows of the terminal's table."""


def run_permutation(ctx: Context) -> None:
    """Shuffle each raw column ``repeats`` times; ``permutation.csv`` and ``.png``."""
    model, sample = ctx.model, ctx.sample

    def evaluate(inputs: dict[str, np.ndarray]) -> dict[str, float]:
        import tensorflow as tf

        value = next(iter(inputs.values())) if len(inputs) == 1 else inputs
        # Through tf.data: Keras's array adapter refuses the object arrays of text columns.
        data = tf.data.Dataset.from_tensor_slices((value, sample.y)).batch(ctx.batch)
        logs = model.evaluate(data, return_dict=True, verbose=0)
        return {k: float(v) for k, v in logs.items()}

    score = ctx.score or evaluate
    first = score(sample.inputs)
    directions, unknown = _directions(model, list(first))
    ctx.out.notes += [
        f"{name} left out: Keras cannot tell whether it should rise or fall" for name in unknown
    ]
    result = permutation_importance(
        sample.inputs,
        score,
        raw_columns(ctx.spec),
        directions=directions,
        repeats=ctx.repeats,
        seed=ctx.seed,
    )
    metrics = result.metrics
    rows = [
        [r.column, m, r.mean(m), r.std(m), result.baseline[m], *r.drops[m]]
        for r in result.rows
        for m in metrics
    ]
    repeat_columns = [f"drop_{i + 1}" for i in range(ctx.repeats)]
    write_csv(
        ctx.folder / "permutation.csv",
        ["column", "metric", "mean_drop", "std_drop", "baseline", *repeat_columns],
        rows,
    )
    loss = metrics[0]
    write_importance_bars(
        ctx.folder / "permutation.png",
        [r.column for r in result.rows],
        [r.mean(loss) for r in result.rows],
        [r.std(loss) for r in result.rows],
        xlabel=f"increase of {loss} when the column is shuffled (mean ± sd, {ctx.repeats} repeats)",
        title=f"Permutation importance, {ctx.out.split} split",
    )
    out = ctx.out
    out.files += ["permutation.csv", "permutation.png"]
    out.settings.update(
        repeats=ctx.repeats,
        metrics=directions,
        baseline=result.baseline,
    )
    out.summary_title = f"permutation importance ({ctx.repeats} repeats, {ctx.out.split} split)"
    other = metrics[1] if len(metrics) > 1 else None
    out.value_label = f"{loss} increase"
    out.summary = [
        SummaryRow(
            r.column,
            r.mean(loss),
            r.std(loss),
            f"{other} worse by {r.mean(other):.4g} ± {r.std(other):.2g}" if other else "",
        )
        for r in result.rows
    ]
    out.notes.append(
        "permutation importance is measured, not attributed: it has no completeness or "
        "randomized-model check; its spread over the repeats is the ± shown"
    )


def _directions(model: keras.Model, logged: list[str]) -> tuple[dict[str, Direction], list[str]]:
    """The loss and the run's first metric, each with Keras's own notion of better; and the
    metric left out when Keras cannot tell (a multi-output model's prefixed names)."""
    from dltrain.errors import ConfigError
    from dltrain.train.monitors import resolve_mode

    metrics = ["loss"] + [k for k in logged if k != "loss" and not k.endswith("loss")][:1]
    directions: dict[str, Direction] = {}
    unknown: list[str] = []
    for name in metrics:
        try:
            directions[name] = resolve_mode(model, name, "auto", ("explain", name))
        except ConfigError:
            unknown.append(name)
    return directions, unknown


def run_feature_ig(ctx: Context) -> None:
    """Integrated gradients per numeric column from the training mean; completeness and the
    randomized-model check per numeric input."""
    sample = ctx.sample
    predictions = predict_first(ctx.model, sample.inputs, ctx.batch)
    units = explained_units(predictions)
    means = ctx.train_means()
    randomized = ctx.randomized()
    names: list[str] = []
    per_row: list[np.ndarray] = []
    for name in ctx.kind.numeric:
        columns = next(i.columns for i in ctx.spec.raw_inputs if i.name == name)
        x = sample.inputs[name].astype(np.float32)
        baseline = means[name]
        forward = model_forward(ctx.model, name, sample.inputs, units)
        attr, f_x, f_b = integrated_gradients(forward, x, baseline, steps=ctx.steps)
        rand_forward = model_forward(randomized, name, sample.inputs, units)
        rand_attr, _, _ = integrated_gradients(rand_forward, x, baseline, steps=ctx.steps)
        suffix = "" if len(ctx.kind.numeric) == 1 else f":{name}"
        ctx.out.checks[f"completeness{suffix}"] = completeness(attr, f_x, f_b, ctx.steps).to_json()
        ctx.out.checks[f"randomization{suffix}"] = randomization_check(
            attr, rand_attr, signed=True
        ).to_json()
        names += list(columns)
        per_row.append(attr.reshape(len(attr), -1))
        ctx.out.settings.setdefault("baseline", {}).update(
            {c: float(v) for c, v in zip(columns, np.ravel(baseline), strict=True)}
        )
    attributions = np.concatenate(per_row, axis=1)
    mean_abs = np.abs(attributions).mean(axis=0)
    mean = attributions.mean(axis=0)
    order = np.argsort(-mean_abs)
    write_csv(
        ctx.folder / "integrated_gradients.csv",
        ["column", "mean_abs_attribution", "mean_attribution"],
        [[names[i], float(mean_abs[i]), float(mean[i])] for i in order],
    )
    write_csv(
        ctx.folder / "attributions.csv",
        ["row", *names],
        [[int(r), *map(float, a)] for r, a in zip(sample.rows, attributions, strict=True)],
    )
    write_importance_bars(
        ctx.folder / "integrated_gradients.png",
        [names[i] for i in order],
        [float(mean_abs[i]) for i in order],
        None,
        xlabel="mean |attribution| (output units, from the training mean)",
        title=f"Integrated gradients per column, {ctx.out.split} split",
    )
    ctx.out.files += ["integrated_gradients.csv", "attributions.csv", "integrated_gradients.png"]
    ctx.out.settings.update(steps=ctx.steps, baseline_kind="training-split mean per column")
    ctx.out.summary_title = f"integrated gradients per column ({len(sample)} rows)"
    ctx.out.value_label = "mean |attribution|"
    ctx.out.summary = [
        SummaryRow(names[i], float(mean_abs[i]), None, f"mean {mean[i]:+.4g}") for i in order
    ]


def run_tokens(ctx: Context) -> None:
    """Per-token integrated gradients for a sample of rows: ``tokens.csv``, ``tokens.html``."""
    sample = ctx.sample
    column = ctx.kind.token_columns[0]
    vocabulary = [str(t) for t in ctx.spec.text[column].get("vocabulary", [])]
    split = split_at_embedding(ctx.model)
    predictions = predict_first(ctx.model, sample.inputs, ctx.batch)
    units = explained_units(predictions)
    found = token_attributions(split, sample.inputs, units, steps=ctx.steps)
    rand_split = split_at_embedding(ctx.randomized())
    rand = token_attributions(rand_split, sample.inputs, units, steps=ctx.steps)
    shown = found.ids != 0
    ctx.out.checks["completeness"] = completeness(
        found.attributions, found.f_x, found.f_baseline, ctx.steps
    ).to_json()
    ctx.out.checks["randomization"] = randomization_check(
        found.attributions[shown][None], rand.attributions[shown][None], pooled=True, signed=True
    ).to_json()

    def token(i: int) -> str:
        return vocabulary[i] if 0 <= i < len(vocabulary) else f"#{i}"

    table: list[list[Any]] = []
    rows: list[HighlightedRow] = []
    totals: dict[str, list[float]] = defaultdict(list)
    target = ctx.spec.targets[0]
    for k, row in enumerate(sample.rows):
        pairs = [
            (token(int(i)), float(a))
            for i, a in zip(found.ids[k], found.attributions[k], strict=True)
            if i != 0
        ]
        for position, (word, value) in enumerate(pairs):
            table.append([int(row), position, word, value])
            totals[word].append(value)
        rows.append(
            HighlightedRow(
                int(row),
                pairs,
                _caption(predictions[k], units[k], sample.labels[k], target.class_names),
            )
        )
    write_csv(ctx.folder / "tokens.csv", ["row", "position", "token", "attribution"], table)
    about = _unit_name(units, target.class_names, predictions.shape[1])
    atomic_write_text(
        ctx.folder / "tokens.html",
        token_page(
            rows,
            title=f"Token attributions, column {column!r}, {ctx.out.split} split",
            legend=f"Red pushes the output towards {about}, blue away from it; hover a token "
            "for its value (integrated gradients through the embedding, "
            f"{ctx.steps} steps, baseline: the padding token).",
        ),
    )
    ctx.out.files += ["tokens.csv", "tokens.html"]
    ctx.out.settings.update(
        steps=ctx.steps, column=column, baseline_kind="padding-token embedding", explained=about
    )
    ranked = sorted(totals.items(), key=lambda kv: float(np.mean(kv[1])))
    chosen = ranked[::-1][: _TOP // 2] + ranked[: _TOP // 2][::-1]
    ctx.out.summary_title = f"tokens, most for and against {about} ({len(sample)} rows)"
    ctx.out.value_label = "mean attribution"
    ctx.out.summary = [
        SummaryRow(word, float(np.mean(v)), None, f"{len(v)}x") for word, v in chosen
    ]


def _unit_name(units: np.ndarray, class_names: tuple[str, ...] | None, width: int) -> str:
    if width == 1:
        return f"{class_names[1]!r}" if class_names and len(class_names) == 2 else "the output"
    return "each row's predicted class"


def _caption(
    prediction: np.ndarray, unit: int, label: Any, class_names: tuple[str, ...] | None
) -> str:
    names = list(class_names or [])
    true = names[int(label)] if names and 0 <= int(label) < len(names) else f"{label}"
    if len(prediction) == 1:
        return f"output {float(prediction[0]):.3f}, true {true}"
    predicted = names[unit] if unit < len(names) else str(unit)
    return f"predicted {predicted} ({float(prediction[unit]):.3f}), true {true}"
