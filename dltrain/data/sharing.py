"""``sharing_datasets``: inside a block, configs whose data would load the same share one load.

A tuning study trains many variants of one experiment. When no variant changes the data,
loading (and, for CSV, parsing and hashing) it again for every trial, and for every end of
every range ``check_tune`` checks, gives the same arrays each time. Inside the block,
:func:`dltrain.data.load_datasets` keeps the first data it loads and returns it again for
every config with the same ``data`` section and ``seed``: the only config values a built-in
loader reads, besides ``training.batch_size``, which is resolved for each config. Any other
config loads its own data, as outside the block.

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
from dataclasses import dataclass
from pathlib import Path

from dltrain.config.schema import CsvData, ExperimentConfig, FolderData, MnistData
from dltrain.data.pipeline import Datasets, resolve_batch

__all__ = ["DataShare", "shared_load", "sharing_datasets"]


@dataclass
class DataShare:
    """What a :func:`sharing_datasets` block holds, and how its loads went."""

    key: str | None = None
    datasets: Datasets | None = None
    """The first data loaded in the block (dropped when the block ends)."""
    loads: int = 0
    """Data actually read in the block (shared or not)."""
    reuses: int = 0
    """Loads answered with the shared data instead."""


_SHARE: ContextVar[DataShare | None] = ContextVar("dltrain_data_share", default=None)


@contextlib.contextmanager
def sharing_datasets() -> Iterator[DataShare]:
    """Share the first data loaded in the block with every config that would load the same.

    A block inside another shares the outer block's data.
    """
    outer = _SHARE.get()
    if outer is not None:
        yield outer
        return
    share = DataShare()
    token = _SHARE.set(share)
    try:
        yield share
    finally:
        _SHARE.reset(token)
        share.key = share.datasets = None  # the arrays go with the block


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
    if share.datasets is not None and share.key == key:
        share.reuses += 1
        shared = share.datasets
        return dataclasses.replace(
            shared,
            batch_size=resolve_batch(config.training.batch_size, shared.train_size),
            warnings=list(shared.warnings),
        )
    datasets = load(config, test_path)
    share.loads += 1
    if share.datasets is None:
        share.key, share.datasets = key, datasets
    return datasets


def _key(config: ExperimentConfig, test_path: Path | None) -> str | None:
    """Everything a built-in loader's result depends on (None: a plugin's kind)."""
    if not isinstance(config.data, CsvData | MnistData | FolderData):
        return None
    data = config.data.model_dump(mode="json")
    return json.dumps([data, config.seed, str(test_path)], sort_keys=True)
