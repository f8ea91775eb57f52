"""``dltrain report``'s pages: one self-contained offline HTML file for a run, a study or a
comparison, built from the folders' files alone (no TensorFlow, no model loaded).

:func:`build_run_page`, :func:`build_study_page` and :func:`build_comparison_page` return a
:class:`Page`; ``Page.render()`` is the HTML. ``dltrain.engine.report`` picks the page and
writes it (docs/report.md).
"""

from dltrain.report.html.compare_page import build_comparison_page
from dltrain.report.html.document import Page
from dltrain.report.html.run_data import RunData, read_run
from dltrain.report.html.run_page import build_run_page
from dltrain.report.html.study_page import build_study_page

__all__ = [
    "Page",
    "RunData",
    "build_comparison_page",
    "build_run_page",
    "build_study_page",
    "read_run",
]
