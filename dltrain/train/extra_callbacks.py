"""``callbacks.extra``: any Keras callback, built-in or registered, by class name."""

from __future__ import annotations

import keras

from dltrain.config.schema import ExperimentConfig
from dltrain.errors import ConfigError, Problem
from dltrain.model.objects import CALLBACK, resolve
from dltrain.model.problems import SpecError
from dltrain.utils.keys import format_path

__all__ = ["build_extra_callbacks"]


def build_extra_callbacks(config: ExperimentConfig) -> list[keras.callbacks.Callback]:
    """Construct every ``callbacks.extra`` entry, in order.

    Called once per run, by :func:`dltrain.train.prepare.plan_callbacks` before the run
    folder exists (so a wrong name or argument stops the run before its first step); training
    uses the objects built then, so a constructor runs once per run (and per ``--resume``).

    Raises:
        ConfigError: an unknown class (with "did you mean") or arguments its constructor
            rejects (Keras's reason), each at the entry's key path.
    """
    built: list[keras.callbacks.Callback] = []
    problems: list[Problem] = []
    for index, entry in enumerate(config.callbacks.extra or []):
        ((name, args),) = entry.items()
        path = ("callbacks", "extra", index, name)
        try:
            built.append(resolve(CALLBACK, {"class_name": name, "config": args}, path))
        except SpecError as error:
            # Arguments are written directly under the class name, not under `config`.
            where = tuple(p for p in error.path if p not in ("config", "class_name"))
            problems.append(Problem(error.message, path=format_path(where), key=where))
    if problems:
        raise ConfigError(problems=problems)
    return built
