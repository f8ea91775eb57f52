"""``sharing_datasets``: inside a block, configs whose data would load the same share one load.

A tuning study trains many variants of one experiment. When no variant changes the data,
loading (and, for CSV, parsing and hashing) it again for every trial, and for every end of
every range ``check_tune`` checks, gives the same arrays each time. Inside the block,
:func:`dltrain.data.load_datasets` keeps the first data it loads (the first ``limit`` distinct
ones) and returns it again for every config with the same ``data`` section and ``seed``: the
only config values a built-in loader reads, besides ``training.batch_size``, which is resolved
for each config. Any other config loads its own data, as outside the block.

Nothing else changes: shuffles are keyed by ``(seed, epoch)`` and the splits by ``seed``
(:mod:`dltrain.data.pipeline`), and loading draws from no global random state, so a trial
trains on the same batches in the same order either way. It is a scope rather than an
argument because the data is loaded deep inside the stages (``prepare``, ``inspect_config``),
whose signatures stay as they are. A plugin's ``data.kind`` is never shared: its loader sees
the whole config.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from dltrain.config.schema import CsvData, ExperimentConfig, FolderData, MnistData
from dltrain.data.pipeline import Datasets, resolve_batch

__all__ = ["DataShare", "shared_load", "sharing_datasets"]


@dataclass
class DataShare:
    """What a :func:`sharing_datasets` block holds, and how its loads went."""

    limit: int = 1
    """How many distinct loads the block keeps (``tune.seeds``: one per seed's splits)."""
    kept: dict[str, Datasets] = field(default_factory=dict)
    """The first ``limit`` distinct loads of the block, by key (dropped when it ends)."""
    loads: int = 0
    """Data actually read in the block (shared or not)."""
    reuses: int = 0
    """Loads answered with the shared data instead."""

    @property
    def datasets(self) -> Datasets | None:
        """The first data loaded in the block (None before any, and after the block)."""
        return next(iter(self.kept.values()), None)


_SHARE: ContextVar[DataShare | None] = ContextVar("dltrain_data_share", default=None)


@contextlib.contextmanager
def sharing_datasets(limit: int = 1) -> Iterator[DataShare]:
    """Share the first ``limit`` distinct data loaded in the block with every config that
    would load the same (``limit`` > 1: a study whose trials train each on several seeds,
    which split the data differently).

    A block inside another shares the outer block's data.
    """
    outer = _SHARE.get()
    if outer is not None:
        yield outer
        return
    share = DataShare(limit=limit)
    token = _SHARE.set(share)
    try:
        yield share
    finally:
        _SHARE.reset(token)
        share.kept.clear()  # the arrays go with the block


def shared_load(
    config: ExperimentConfig,
    test_path: Path | None,
    load: Callable[[ExperimentConfig, Path | None], Datasets],
) -> Datasets:
    """``load(config, test_path)``, or the block's shared data when it is the same data.

    Raises:
        DataError: as ``load``; or the config's ``training.batch_size`` does not fit.
    """
    share = _SHARE.get()
    key = _key(config, test_path) if share is not None else None
    if share is None or key is None:
        return load(config, test_path)
    shared = share.kept.get(key)
    if shared is not None:
        share.reuses += 1
        return dataclasses.replace(
            shared,
            batch_size=resolve_batch(config.training.batch_size, shared.train_size),
            warnings=list(shared.warnings),
        )
    datasets = load(config, test_path)
    share.loads += 1
    if len(share.kept) < share.limit:
        share.kept[key] = datasets
    return datasets


def _key(config: ExperimentConfig, test_path: Path | None) -> str | None:
    """Everything a built-in loader's result depends on (None: a plugin's kind)."""
    if not isinstance(config.data, CsvData | MnistData | FolderData):
        return None
    data = config.data.model_dump(mode="json")
    return json.dumps([data, config.seed, str(test_path)], sort_keys=True)
