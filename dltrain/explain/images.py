"""Image runs: integrated gradients, saliency and Grad-CAM maps, their checks, and grids of
the sample's images per class and of its worst mistakes with the maps laid over them."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from dltrain.explain.figures import heat, write_image_grid
from dltrain.explain.forward import explained_units, model_forward, predict_first
from dltrain.explain.gradcam import grad_cam, last_conv_layer
from dltrain.explain.gradients import completeness, integrated_gradients, saliency
from dltrain.explain.methods import Context, refuse
from dltrain.explain.record import SummaryRow, write_csv
from dltrain.explain.sanity import randomization_check
from dltrain.storage import atomic_write_bytes

__all__ = ["run_image_method"]

_PER_CLASS = 4
"""Images per class in ``classes.png``."""
_MISTAKES = 12
"""Images in ``mistakes.png``."""


def run_image_method(ctx: Context, method: str) -> None:
    """Attribute each sampled image to its pixels (``method``: integrated_gradients,
    saliency or gradcam) and write the maps, the grids and the checks."""
    sample, model = ctx.sample, ctx.model
    ((name, raw),) = sample.inputs.items()
    x = raw.astype(np.float32)
    predictions = predict_first(model, sample.inputs, ctx.batch)
    units = explained_units(predictions)
    if method == "gradcam":
        layer = last_conv_layer(model)
        if layer is None:
            raise refuse(method, ctx.kind, "a convolution layer (Conv2D, ...) in the model", False)
        maps = grad_cam(model, layer, x, units)
        randomized = ctx.randomized()
        rand_maps = grad_cam(randomized, last_conv_layer(randomized), x, units)
        ctx.out.settings.update(layer=layer.name)
        attributions, rand_attributions, heat_maps = maps, rand_maps, maps
    else:
        forward = model_forward(model, name, sample.inputs, units)
        rand_forward = model_forward(ctx.randomized(), name, sample.inputs, units)
        if method == "saliency":
            attributions = saliency(forward, x, batch=ctx.batch)
            rand_attributions = saliency(rand_forward, x, batch=ctx.batch)
        else:
            baseline = np.zeros(x.shape[1:], dtype=np.float32)
            attributions, f_x, f_b = integrated_gradients(forward, x, baseline, steps=ctx.steps)
            rand_attributions, _, _ = integrated_gradients(
                rand_forward, x, baseline, steps=ctx.steps
            )
            ctx.out.checks["completeness"] = completeness(
                attributions, f_x, f_b, ctx.steps
            ).to_json()
            ctx.out.settings.update(steps=ctx.steps, baseline_kind="all-zero image")
        heat_maps = heat(attributions)
    ctx.out.checks["randomization"] = randomization_check(
        attributions, rand_attributions, signed=method == "integrated_gradients"
    ).to_json()
    _write_outputs(ctx, method, x, heat_maps, predictions, units)
    buffer = io.BytesIO()
    np.save(buffer, attributions.astype(np.float32))
    atomic_write_bytes(ctx.folder / "attributions.npy", buffer.getvalue())
    ctx.out.files.append("attributions.npy")


def _write_outputs(
    ctx: Context,
    method: str,
    x: np.ndarray,
    maps: np.ndarray,
    predictions: np.ndarray,
    units: np.ndarray,
) -> None:
    sample = ctx.sample
    target = ctx.spec.targets[0]
    classify = target.task != "regression"
    names = list(target.class_names or [str(i) for i in range(max(predictions.shape[1], 2))])
    labels = sample.labels.astype(np.int64) if classify else np.zeros(len(sample), np.int64)
    predicted = units if predictions.shape[1] > 1 else (predictions[:, 0] > 0.5).astype(np.int64)
    confidence = np.take_along_axis(predictions, units[:, None], axis=1)[:, 0]
    write_csv(
        ctx.folder / "examples.csv",
        ["row", "true", "predicted", "confidence", "heat_mean"],
        [
            [
                int(r),
                names[labels[i]],
                names[predicted[i]],
                float(confidence[i]),
                float(maps[i].mean()),
            ]
            for i, r in enumerate(sample.rows)
        ],
    )
    label = method.replace("_", " ")
    cells: list[tuple[int, str]] = []
    for c in range(len(names)):
        members = np.flatnonzero(labels == c)[:_PER_CLASS]
        cells += [(int(i), _caption(names, predicted[i], labels[i])) for i in members]
        cells += [(-1, "")] * (_PER_CLASS - len(members))
    write_image_grid(
        ctx.folder / "classes.png",
        x,
        maps,
        cells,
        columns=_PER_CLASS * 2 if len(names) > 5 else _PER_CLASS,
        title=f"{label}: {_PER_CLASS} {ctx.out.split} images per class (predicted / true)",
    )
    ctx.out.files += ["examples.csv", "classes.png"]
    wrong = np.flatnonzero(predicted != labels)
    worst = wrong[np.argsort(-confidence[wrong])][:_MISTAKES]
    if classify and len(worst):
        write_image_grid(
            ctx.folder / "mistakes.png",
            x,
            maps,
            [
                (int(i), f"{_caption(names, predicted[i], labels[i])}\n{confidence[i]:.2f}")
                for i in worst
            ],
            columns=6,
            title=f"{label}: the most confident mistakes in the sample (predicted / true, "
            "confidence)",
        )
        ctx.out.files.append("mistakes.png")
    ctx.out.summary_title = f"{label} on {len(sample)} {ctx.out.split} images, per class"
    ctx.out.value_label = "accuracy in sample"
    summary: list[SummaryRow] = []
    for c, class_name in enumerate(names):
        members = labels == c
        if members.any():
            accuracy = float((predicted[members] == c).mean())
            summary.append(SummaryRow(class_name, accuracy, None, f"{int(members.sum())} images"))
    ctx.out.summary = summary


def _caption(names: list[str], predicted: Any, true: Any) -> str:
    return f"{names[int(predicted)]} / {names[int(true)]}"
