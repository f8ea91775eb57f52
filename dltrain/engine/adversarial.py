"""``training.adversarial``: refuse what cannot work, then wrap the prepared model.

The checks that need only the config run before TensorFlow is imported
(:func:`check_adversarial`); the one that needs the data (a text or categorical input) runs
once the data is read (:func:`attach_adversarial`). A resumed run wraps the model loaded from
its resume point the same way, so training goes on exactly (docs/robustness.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dltrain.config import LoadedConfig
from dltrain.config.adversarial_schema import adversarial_conflicts, pgd_step_size
from dltrain.errors import ConfigError

if TYPE_CHECKING:
    import keras

    from dltrain.train.prepare import Prepared

__all__ = ["attach_adversarial", "check_adversarial"]

_KEY = ("training", "adversarial")


def check_adversarial(loaded: LoadedConfig) -> None:
    """Refuse settings ``training.adversarial`` cannot be combined with.

    Raises:
        ConfigError: each conflicting setting, located.
    """
    found = adversarial_conflicts(loaded.config)
    if found:
        raise ConfigError(problems=[loaded.problem(key, why) for key, why in found])


def attach_adversarial(loaded: LoadedConfig, prepared: Prepared) -> dict[str, Any] | None:
    """Replace ``prepared.model`` with an adversarially training wrapper around it.

    Returns:
        What ``run.json`` records under ``adversarial`` (the settings, the PGD step used and
        each input's clipping range), or ``None`` when the config has none.

    Raises:
        ConfigError: at ``training.adversarial``: a conflicting setting, an input that is text
            or categorical, or compile arguments Keras refuses for the wrapper.
    """
    cfg = loaded.config
    settings = cfg.training.adversarial
    if settings is None:
        return None
    check_adversarial(loaded)
    from dltrain.model.compile import compile_arguments
    from dltrain.train.adversarial import attack_blockers, input_bounds, make_adversarial

    spec = prepared.datasets.spec
    blockers = attack_blockers(spec)
    if blockers:
        raise ConfigError(problems=[loaded.problem(_KEY, why) for _, why in blockers])
    bounds = input_bounds(spec, cfg)
    with loaded.located():
        args = compile_arguments(prepared.model, cfg, spec)

    def wrap(model: keras.Model) -> keras.Model:
        with prepared.strategy.scope():
            return make_adversarial(model, cfg, bounds, args)

    try:
        prepared.model = wrap(prepared.model)
    except ValueError as exc:
        raise ConfigError(
            problems=[loaded.problem(_KEY, f"cannot train this model adversarially: {exc}")]
        ) from None
    prepared.rewrap = wrap
    record: dict[str, Any] = settings.model_dump()
    if settings.method == "pgd":
        record["step_size"] = pgd_step_size(settings.epsilon, settings.steps, settings.step_size)
    else:
        record.pop("steps")
        record.pop("step_size")
    record["clip"] = {name: list(b) if b else None for name, b in bounds.items()}
    return record
