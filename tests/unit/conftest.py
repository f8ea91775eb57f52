"""The fast layer's guard: a unit test that imports TensorFlow or Keras fails, by name.

Each test is checked on its own (the modules it brought in), so the offender is named; a test
module that imports them at collection is caught by the session check in tests/conftest.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

_HEAVY = ("tensorflow", "keras")


def _loaded() -> set[str]:
    return {name for name in _HEAVY if name in sys.modules}


@pytest.fixture(autouse=True)
def _no_tensorflow(request: pytest.FixtureRequest) -> Iterator[None]:
    before = _loaded()
    yield
    new = sorted(_loaded() - before)
    if new:
        pytest.fail(
            f"{request.node.nodeid} imported {', '.join(new)}: tests/unit must not "
            "(move the test to tests/, or make the code it calls import them lazily)",
            pytrace=False,
        )
