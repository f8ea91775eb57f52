"""Run every methodology check that applies to a prepared run (see :mod:`.methodology`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dltrain.config.schema import ExperimentConfig
from dltrain.errors import ConfigError, Problem
from dltrain.train.methodology import (
    Finding,
    duplicate_findings,
    first_loss_finding,
    leakage_findings,
    loss_findings,
    validation_findings,
)

if TYPE_CHECKING:
    from dltrain.data import Datasets

__all__ = ["methodology_findings", "raise_if_strict"]


def methodology_findings(
    config: ExperimentConfig, model: Any, datasets: Datasets | None, first_loss: float | None
) -> list[Finding]:
    """Every finding for this config, its built (compiled) model and its data.

    ``datasets`` ``None``: the data was not read (``dltrain check`` on MNIST-format data);
    ``first_loss`` ``None``: no untrained first batch (a resumed model, or ``check``).
    """
    findings = validation_findings(config)
    if datasets is None:
        return findings
    spec = datasets.spec
    # An adversarial run's wrapper is compiled alike; its inner model has the output layers.
    model = getattr(model, "dltrain_student", model)
    if config.distill is None:
        from dltrain.model.compile import output_losses

        pairs = output_losses(model)
        if pairs and len(pairs) == len(spec.targets):
            names = [name for name, _ in pairs]
            findings += loss_findings(model, [loss for _, loss in pairs], spec.targets, names)
    if first_loss is not None and (found := first_loss_finding(first_loss, spec)) is not None:
        findings.append(found)
    source = datasets.source
    x = getattr(source, "x", None)
    if isinstance(x, dict) and "train" in x and "test" in x:
        findings += duplicate_findings(x["train"], x["test"])
        plain = getattr(source, "plain", {})
        if spec.kind == "csv" and "train" in plain:
            findings += leakage_findings(x["train"], plain["train"], spec)
    return findings


def raise_if_strict(config: ExperimentConfig, findings: list[Finding]) -> None:
    """Under ``checks: {strict: true}`` every finding is an error.

    Raises:
        ConfigError: one problem per finding, at ``checks.strict``.
    """
    if not config.checks.strict or not findings:
        return
    raise ConfigError(
        problems=[
            Problem(f"{f.check}: {f.message}", path="checks.strict", key=("checks", "strict"))
            for f in findings
        ]
    )
