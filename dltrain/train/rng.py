"""Random-generator state that Keras's ``.keras`` format does not keep (for exact resume).

Keras keeps each layer's ``SeedGenerator`` objects in the private ``_seed_generators`` list and
walks layers with the private ``_flatten_layers``; there is no public API for either. If a
Keras release renames them, :func:`seed_generators` raises instead of silently restoring
nothing (a resumed run would then draw different dropout masks than an uninterrupted one);
``tests/test_rng_state.py`` checks they are found on the Keras versions ``pyproject.toml``
allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["restore_rng_states", "save_rng_states", "seed_generators"]


class KerasInternalsChanged(RuntimeError):
    """The private Keras attributes exact resume relies on are gone (a Keras upgrade)."""


def seed_generators(model: Any) -> dict[str, Any]:
    """Every layer's seed generator, keyed ``<layer name>/<index>``.

    Raises:
        KerasInternalsChanged: Keras no longer has the attributes this relies on.
    """
    # A distiller's files hold the student alone; the frozen teacher draws nothing.
    model = getattr(model, "dltrain_student", model)
    if not hasattr(model, "_flatten_layers"):
        raise KerasInternalsChanged("keras.Model._flatten_layers is gone: exact resume needs it")
    found: dict[str, Any] = {}
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if not hasattr(layer, "_seed_generators"):
            raise KerasInternalsChanged(
                f"keras layer {type(layer).__name__} has no _seed_generators: exact resume "
                "cannot save dropout and augmentation random state"
            )
        for i, generator in enumerate(layer._seed_generators):
            found[f"{layer.name}/{i}"] = generator
    return found


def save_rng_states(model: Any, path: Path) -> None:
    """Save the state of every layer's random seed generator (dropout masks, augmentation).

    Keras's ``.keras`` format does not keep them, and without them a resumed run would draw
    different dropout masks than the uninterrupted run.
    """
    import numpy as np

    states = {key: np.asarray(gen.state.numpy()) for key, gen in seed_generators(model).items()}
    np.savez(path, **states)  # type: ignore[arg-type]  # numpy stubs mistype **kwargs


def restore_rng_states(model: Any, path: Path) -> None:
    """Put back what :func:`save_rng_states` saved (missing file: nothing to restore)."""
    import numpy as np

    if not path.is_file():
        return
    generators = seed_generators(model)
    with np.load(path) as saved:
        for key in saved.files:
            if key in generators:
                generators[key].state.assign(saved[key])
