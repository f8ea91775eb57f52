"""``init_from: RUN[:best|last]``: start a new run from another run's weights.

The other run is opened the way ``dltrain eval`` opens one (a run folder, ``runs/NAME`` for its
latest run, or a ``.keras`` file in one), its checkpoint loaded in safe mode, and the weights
of layers that match by name copied into the freshly built model
(:func:`dltrain.model.transfer.transfer_weights`). What was copied and what was not goes to
``dltrain check`` and the run's ``run.json`` (``init_from``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dltrain.config import LoadedConfig
from dltrain.errors import CheckpointError, ConfigError, UsageError
from dltrain.storage.manifest import InitFrom

if TYPE_CHECKING:
    import keras

__all__ = ["initialize_from", "split_init_from"]

_KEY = ("init_from",)


def split_init_from(value: str) -> tuple[str, str]:
    """``RUN[:best|last]`` -> (RUN, checkpoint name); ``best`` when none is given."""
    target, sep, which = value.rpartition(":")
    if sep and which in ("best", "last"):
        return target, which
    return value, "best"


def initialize_from(
    loaded: LoadedConfig, model: keras.Model, *, apply: bool = True, trust_imports: bool = False
) -> InitFrom | None:
    """Copy the matching weights of the run ``init_from`` names into ``model``.

    Args:
        loaded: The config being run (its ``init_from``, and where it was written).
        model: The model just built for it (changed in place when ``apply``).
        apply: False only reports what would be copied (``dltrain check``).
        trust_imports: The other run's plugins may be imported (``--trust-imports``).

    Returns:
        What was copied, or ``None`` when the config has no ``init_from``.

    Raises:
        ConfigError: at ``init_from``: the run or checkpoint cannot be opened, or no layer
            matches.
    """
    value = loaded.config.init_from
    if value is None:
        return None
    from dltrain.model import load_model_file
    from dltrain.model.transfer import transfer_weights
    from dltrain.report.saved_run import open_saved_run

    target, which = split_init_from(value)
    try:
        saved = open_saved_run(Path(target), which, trust_imports=trust_imports)
        source = load_model_file(saved.checkpoint)
    except (CheckpointError, UsageError) as exc:
        raise ConfigError(problems=[loaded.problem(_KEY, exc.message)]) from None
    transfer = transfer_weights(source, model, apply=apply)
    record = InitFrom(
        run=str(saved.run.path),
        checkpoint=str(saved.checkpoint),
        copied=transfer.matched,
        kept_initial=transfer.unmatched,
        shapes_differ=transfer.mismatched,
        source_unused=transfer.source_unmatched,
    )
    if not transfer.matched:
        detail = "; ".join(record.lines()[1:]) or "the source has no layer with weights"
        raise ConfigError(
            problems=[
                loaded.problem(
                    _KEY,
                    f"no layer of {saved.checkpoint} matches this model's layers by name and "
                    f"shape ({detail}); name the layers alike (`name:` in each entry)",
                )
            ]
        )
    return record
