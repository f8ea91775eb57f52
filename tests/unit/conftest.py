"""The fast layer's guard: a unit test that imports TensorFlow or Keras fails, by name.

An import watcher notes the first place in our code (a test or dltrain) that imports either.
Each test is checked on its own, so the offending test is named with that place; a test module
that imports them at collection fails the first unit test of a unit-only session, naming the
line. Both work under pytest-xdist, where each worker runs its own share.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_HEAVY = ("tensorflow", "keras")
_UNIT = Path(__file__).parent
_ROOT = _UNIT.parent.parent


class _Watch(importlib.abc.MetaPathFinder):
    """Finds nothing; remembers who asked for TensorFlow or Keras first."""

    def __init__(self) -> None:
        self.first: str | None = None

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if name in _HEAVY and self.first is None:
            frame = sys._getframe(1)
            while frame is not None:
                file = Path(frame.f_code.co_filename)
                ours = file.is_relative_to(_ROOT) and not file.is_relative_to(_ROOT / ".venv")
                if ours and file.name != "conftest.py":
                    self.first = f"{file.relative_to(_ROOT)}:{frame.f_lineno}"
                    break
                frame = frame.f_back  # type: ignore[assignment]
        return None


_WATCH = _Watch()
sys.meta_path.insert(0, _WATCH)


def _loaded() -> set[str]:
    return {name for name in _HEAVY if name in sys.modules}


def _where() -> str:
    return f" (first imported at {_WATCH.first})" if _WATCH.first else ""


@pytest.fixture(scope="session", autouse=True)
def _nothing_heavy_at_collection(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    only_unit = all(Path(str(item.path)).is_relative_to(_UNIT) for item in items)
    heavy = sorted(_loaded())
    if only_unit and heavy:
        pytest.fail(
            f"tests/unit imported {', '.join(heavy)} while collecting{_where()}: the fast "
            "layer must not (move the test to tests/, or import lazily)",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _no_tensorflow(request: pytest.FixtureRequest) -> Iterator[None]:
    before = _loaded()
    yield
    new = sorted(_loaded() - before)
    if new:
        pytest.fail(
            f"{request.node.nodeid} imported {', '.join(new)}{_where()}: tests/unit must not "
            "(move the test to tests/, or make the code it calls import them lazily)",
            pytrace=False,
        )


@pytest.fixture
def unrendered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Figures are built (every ``scatter``, ``hist``, title) but not rasterized: ``save_png``
    writes a placeholder, and a report page's inline SVG is a stand-in holding the figure's
    texts (title, labels, legend) as ``<text>``. For tests about what is drawn or which files
    and sections appear, not about the pixels: rendering a 10,000-point scatter took most of
    such a test's time, and laying out a page's curves most of a page test's."""
    import importlib
    from html import escape

    from matplotlib.text import Text

    from dltrain.report import plots

    def placeholder(fig: Any, path: Path, *, tight: bool = True) -> Path:
        return plots.write_plot_file(path, b"\x89PNG placeholder")

    def stand_in(fig: Any) -> str:
        texts = [t.get_text() for t in fig.findobj(Text) if t.get_text()]
        body = "".join(f"<text>{escape(t)}</text>" for t in texts)
        return f'<div class="figure"><svg>{body}</svg></div>'

    monkeypatch.setattr(plots, "save_png", placeholder)
    # By module: the name dltrain.tune is the tune() function (dltrain/__init__.py).
    study_plots = importlib.import_module("dltrain.tune.study_plots")
    monkeypatch.setattr(study_plots, "save_png", placeholder)
    figures = importlib.import_module("dltrain.report.html.figures")
    monkeypatch.setattr(figures, "figure_svg", stand_in)
