"""``dltrain eval RUN --attack fgsm|pgd``: a saved model's metrics under adversarial attack.

Each epsilon (raw input units, docs/robustness.md) perturbs every example of the split against
the model's own loss (:mod:`dltrain.train.adversarial`), and the model is evaluated on the
result with its compiled loss and metrics, as ``dltrain eval`` evaluates the clean split.
Epsilon 0 is always included: the clean score, the same numbers ``eval`` reports. The table
goes to ``attack-<method>-<split>-<stamp>.json`` beside ``eval``'s result files, with a plot of
the score against epsilon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dltrain.config.adversarial_schema import pgd_step_size
from dltrain.engine.evaluate import CheckpointFacts, describe_checkpoint, split_dataset
from dltrain.errors import UsageError
from dltrain.report.saved_run import open_saved_run
from dltrain.storage import utc_now

__all__ = ["AttackResult", "AttackRow", "attack_target", "parse_epsilons"]

METHODS = ("fgsm", "pgd")
_SPLITS = ("test", "validation", "train")


@dataclass(frozen=True)
class AttackRow:
    """The model's metrics on the split perturbed with one epsilon."""

    epsilon: float
    metrics: dict[str, float]
    max_change: float
    """The largest change of any input value actually made (at most ``epsilon``)."""


@dataclass
class AttackResult:
    """Metrics per epsilon and the files they were written to."""

    method: str
    split: str
    examples: int
    rows: list[AttackRow]
    plotted: str
    """The metric on the plot: ``accuracy`` where the model has it, else ``loss``."""
    checkpoint: Path
    written: Path | None = None
    plot: Path | None = None
    note: str | None = None
    facts: CheckpointFacts | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """The attack's settings as recorded (steps, step size, seed, clipping per input)."""


def parse_epsilons(text: str) -> list[float]:
    """``0.01,0.03,0.1`` -> ``[0.0, 0.01, 0.03, 0.1]``: sorted, unique, with 0 (clean) first.

    Raises:
        UsageError: a value that is not a finite number >= 0.
    """
    values = {0.0}
    for part in text.split(","):
        word = part.strip()
        try:
            value = float(word)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise UsageError(
                "--epsilon takes comma-separated numbers >= 0 in the input's raw units, like "
                f"0.01,0.03,0.1; received {word!r}"
            )
        values.add(value)
    return sorted(values)


def attack_target(
    target: Path,
    *,
    method: str,
    epsilons: list[float],
    steps: int = 10,
    step_size: float | None = None,
    split: str = "test",
    limit: int | None = None,
    checkpoint: str = "best",
    trust_imports: bool = False,
) -> AttackResult:
    """Evaluate a run's checkpoint on its ``split`` perturbed by ``method`` at each epsilon.

    Args:
        target: A run folder, ``runs/NAME`` or a ``.keras`` file inside a run folder.
        method: ``fgsm`` or ``pgd``.
        epsilons: The sizes to try (raw input units); 0, the clean score, is always added.
        steps: PGD's steps; ``step_size`` its step (default ``2.5 * epsilon / steps``).
        split: ``test``, ``validation`` or ``train`` (unshuffled).
        limit: Only the first ``limit`` examples of the split.

    Raises:
        UsageError: an unknown method or split, bad steps or limit, a model with a text or
            categorical input (named), or a run without the split.
        CheckpointError: an unreadable run or checkpoint.
        DataError: the data cannot be read.
    """
    if method not in METHODS:
        raise UsageError(f"--attack must be one of {', '.join(METHODS)}; received {method!r}")
    if split not in _SPLITS:
        raise UsageError(f"--split must be one of {', '.join(_SPLITS)}; received {split!r}")
    if steps < 1 or (step_size is not None and not step_size > 0):
        raise UsageError(f"--steps must be >= 1 and --step-size > 0; received {steps}, {step_size}")
    if limit is not None and limit < 1:
        raise UsageError(f"-n must be at least 1; received {limit}")
    saved = open_saved_run(target, checkpoint, trust_imports=trust_imports)
    facts = describe_checkpoint(saved.run, saved.checkpoint)
    from dltrain.config.precision import resolved_policy
    from dltrain.data.ahead import loading_ahead

    cfg = saved.loaded.config
    # The data is read while TensorFlow is imported (by the imports in the block).
    with loading_ahead(cfg) as loaded_data:
        from dltrain.model import load_model_file
        from dltrain.train.adversarial import attack_blockers, input_bounds
        from dltrain.train.environment import configure_environment

        configure_environment(cfg.seed, False, resolved_policy(cfg, saved.run.manifest.precision))
        datasets = loaded_data()
    blockers = attack_blockers(datasets.spec)
    if blockers:
        raise UsageError(
            f"{saved.run.path}: cannot attack this model: " + "; ".join(why for _, why in blockers)
        )
    batch = datasets.evaluation_batch(split)
    dataset = split_dataset(datasets, split, cfg.seed, saved.run.path)
    bounds = input_bounds(datasets.spec, cfg)
    model = load_model_file(saved.checkpoint)
    clean = _collect(dataset, limit)
    step = _attack_function(model, bounds, method, steps)
    rows = [
        _attack_row(model, clean, step, epsilon, steps, step_size, cfg.seed)
        for epsilon in sorted({0.0, *epsilons})
    ]
    plotted = "accuracy" if "accuracy" in rows[0].metrics else "loss"
    settings: dict[str, Any] = {"seed": cfg.seed, "batch_size": batch}
    if method == "pgd":
        settings["steps"] = steps
        settings["step_size"] = step_size if step_size is not None else "2.5 * epsilon / steps"
    settings["clip"] = {name: list(b) if b else None for name, b in bounds.items()}
    result = AttackResult(
        method,
        split,
        sum(len(_first(x)) for x, _ in clean),
        rows,
        plotted,
        saved.checkpoint,
        note=saved.note,
        facts=facts,
        settings=settings,
    )
    _write(saved.run, result, cfg.output.plots)
    return result


def _first(x: Any) -> Any:
    return next(iter(x.values())) if isinstance(x, dict) else x


def _collect(dataset: Any, limit: int | None) -> list[tuple[Any, Any]]:
    """The split's batches as tensors (the first ``limit`` examples)."""
    import tensorflow as tf

    out: list[tuple[Any, Any]] = []
    left = limit
    for batch in dataset:
        x, y = batch[0], batch[1]
        if left is not None:
            if left <= 0:
                break
            x, y = tf.nest.map_structure(lambda t, keep=left: t[:keep], (x, y))
            left -= int(len(_first(x)))
        out.append((x, y))
    return out


def _attack_function(model: Any, bounds: dict[str, Any], method: str, steps: int) -> Any:
    """One traced attack for every epsilon and batch (epsilon and step are tensors)."""
    import tensorflow as tf

    from dltrain.train.adversarial import Attack, float_view, perturb

    pgd = method == "pgd"
    view = float_view(model)

    def run(x: Any, y: Any, seed: Any, epsilon: Any, step: Any) -> Any:
        attack = Attack("pgd" if pgd else "fgsm", epsilon, steps if pgd else 1, step)
        return perturb(model, view, attack, bounds, x, y, None, seed)

    return tf.function(run, reduce_retracing=True)


def _attack_row(
    model: Any,
    clean: list[tuple[Any, Any]],
    step: Any,
    epsilon: float,
    steps: int,
    step_size: float | None,
    seed: int,
) -> AttackRow:
    import numpy as np
    import tensorflow as tf

    if epsilon == 0:
        batches = clean
    else:
        eps = tf.constant(epsilon, tf.float32)
        size = tf.constant(pgd_step_size(epsilon, steps, step_size), tf.float32)
        batches = [
            (step(x, y, tf.constant([seed, i], tf.int64), eps, size), y)
            for i, (x, y) in enumerate(clean)
        ]
    change = 0.0
    for (adv, _), (x, _) in zip(batches, clean, strict=True):
        for a, c in zip(tf.nest.flatten(adv), tf.nest.flatten(x), strict=True):
            diff = np.abs(np.asarray(a, np.float64) - np.asarray(c, np.float64))
            change = max(change, float(diff.max()) if diff.size else 0.0)
    logs = model.evaluate(_batches(batches), return_dict=True, verbose=0)
    return AttackRow(epsilon, {k: float(v) for k, v in logs.items()}, change)


def _batches(batches: list[tuple[Any, Any]]) -> Any:
    import tensorflow as tf

    first_x, first_y = batches[0]
    signature = tf.nest.map_structure(
        lambda t: tf.TensorSpec([None, *t.shape[1:]], t.dtype), (first_x, first_y)
    )
    return tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=signature)


def _write(run: Any, result: AttackResult, plots: bool) -> None:
    now = utc_now()
    stem = f"attack-{result.method}-{result.split}-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
    facts = result.facts
    result.written = run.write_json(
        f"{stem}.json",
        {
            "method": result.method,
            "split": result.split,
            "examples": result.examples,
            "checkpoint": str(result.checkpoint),
            "checkpoint_epoch": facts.epoch if facts else None,
            "checkpoint_detail": facts.detail if facts else None,
            "epsilon_units": "the raw input the saved model takes (docs/robustness.md)",
            **result.settings,
            "rows": [
                {"epsilon": r.epsilon, "max_change": r.max_change, "metrics": r.metrics}
                for r in result.rows
            ],
            "at": now.isoformat(),
        },
    )
    if plots:
        from dltrain.report.attack_plot import write_attack_plot

        result.plot = write_attack_plot(
            run.path / f"{stem}.png",
            [r.epsilon for r in result.rows],
            [r.metrics[result.plotted] for r in result.rows],
            metric=result.plotted,
            title=f"{result.method.upper()} on {result.split} ({result.examples} examples)",
        )
