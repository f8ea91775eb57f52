"""The pieces of a report page: escaped text, sortable tables, inline figures, embedded data.

A page is one file that works offline on any machine: figures are inline SVG (matplotlib's
object API, text kept as text so they stay small), images are PNG data URIs, and the only
script is the few lines below that sort tables. Nothing on the page names a network resource;
matplotlib's SVG header (its DOCTYPE, namespaces and RDF metadata, all URLs) is cut away,
which HTML5's inline SVG does not need.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "MISSING_TEXT",
    "Cell",
    "Page",
    "definition_list",
    "esc",
    "figure_svg",
    "json_safe",
    "missing",
    "number",
    "png_image",
    "table",
]

MISSING_TEXT = "not recorded"
"""What a page says where the run folder lacks a piece."""


def esc(value: object) -> str:
    """``value`` as HTML text."""
    return html.escape(str(value), quote=True)


def missing(what: str) -> str:
    """A paragraph that says a piece is missing (never an error: old runs lack pieces)."""
    return f'<p class="missing">{esc(what)}</p>'


def number(value: Any) -> str:
    """A metric for display: 4 significant digits, integers whole, ``-`` for none."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"  # sizes and counts read from JSON as floats: 27,000
        return f"{value:.4g}"
    return str(value)


@dataclass
class Cell:
    """A table cell: its HTML, and the value it sorts by (numbers sort as numbers)."""

    html: str
    sort: str | float | None = None


def _cell(value: Any) -> Cell:
    if isinstance(value, Cell):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        finite = not isinstance(value, float) or math.isfinite(value)
        return Cell(esc(number(value)), float(value) if finite else None)
    return Cell(esc("-" if value is None else value))


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    table_id: str | None = None,
    sortable: bool = True,
) -> str:
    """An HTML table; a sortable one sorts by a column when its header is clicked.

    Cells are plain values (escaped; numbers shown with 4 significant digits and sorted as
    numbers) or :class:`Cell` for HTML such as links.
    """
    attrs = ' class="sortable"' if sortable else ""
    if table_id:
        attrs += f' id="{esc(table_id)}"'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body: list[str] = []
    for row in rows:
        cells = []
        for value in row:
            cell = _cell(value)
            key = "" if cell.sort is None else f' data-sort="{esc(cell.sort)}"'
            cells.append(f"<td{key}>{cell.html}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def definition_list(items: Iterable[tuple[str, Any]]) -> str:
    """Facts as ``term: value`` lines (values escaped; ``None`` shown as missing)."""
    lines = [
        f"<dt>{esc(term)}</dt><dd>{esc(MISSING_TEXT if value is None else value)}</dd>"
        for term, value in items
    ]
    return f"<dl>{''.join(lines)}</dl>"


_SVG_START = re.compile(r"<svg\b")
_METADATA = re.compile(r"<metadata>.*?</metadata>", re.DOTALL)
_NAMESPACES = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')


def figure_svg(fig: Figure) -> str:
    """``fig`` as inline SVG with no URL in it (no DOCTYPE, namespaces or metadata)."""
    import matplotlib

    buffer = io.StringIO()
    # Text as <text> (not glyph paths): a tenth of the size; a fixed salt keeps ids stable.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "dltrain-report"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", pad_inches=0.1)
    text = buffer.getvalue()
    match = _SVG_START.search(text)
    text = text[match.start() :] if match else text
    text = _METADATA.sub("", text)
    return f'<div class="figure">{_NAMESPACES.sub("", text)}</div>'


def png_image(path: Path, alt: str, *, css_class: str = "plot") -> str | None:
    """An ``<img>`` holding the PNG at ``path`` as a data URI, or None when it is unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(b"\x89PNG"):
        return None
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="{css_class}" alt="{esc(alt)}" src="data:image/png;base64,{encoded}">'


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as strings (``JSON.parse`` refuses bare ``NaN``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2327;
background:#fff}
header{background:#23395d;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;opacity:.85}
nav{padding:6px 24px;background:#eef1f5;border-bottom:1px solid #d5dae1;font-size:13px}
nav a{margin-right:12px;color:#23395d}
main{padding:8px 24px 40px;max-width:1200px}
section{margin-top:18px}h2{font-size:17px;border-bottom:1px solid #d5dae1;padding-bottom:3px}
h3{font-size:15px;margin-bottom:4px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border:1px solid #d5dae1;padding:3px 8px;text-align:left;vertical-align:top}
td[data-sort]{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f5f8}table.sortable th{cursor:pointer;user-select:none}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:6px 0}
dt{font-weight:600}dd{margin:0;word-break:break-all}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px;max-height:420px}
.missing{color:#8a6d3b;font-style:italic}.warn{color:#a94442}
.status-completed{color:#2e7d32}.status-failed,.status-unreadable{color:#c62828}
.status-interrupted,.status-running,.status-stale{color:#ef6c00}
.figure svg{max-width:100%;height:auto}.figures{display:flex;flex-wrap:wrap;gap:12px}
img.plot{max-width:560px;width:100%;border:1px solid #eee}
img.thumb{width:56px;height:auto;image-rendering:pixelated}
code{background:#f3f5f8;padding:1px 4px}
"""

# Installed first, in its own script, so it also sees the errors of the script after it.
_ERRORS = """
window.dltrainErrors=[];
window.addEventListener("error",function(e){
  window.dltrainErrors.push(String(e.message||e));
  var box=document.getElementById("js-errors");
  if(!box){box=document.createElement("pre");box.id="js-errors";
    (document.body||document.documentElement).appendChild(box);}
  box.textContent=window.dltrainErrors.join("\\n");
});
"""

# Click a header to sort (again: the other way). "#sort=TABLE_ID:COLUMN[:desc]" in the
# address sorts on load, so a sorted view can be linked to (and tested without a mouse).
_SORT = """
(function(){
function key(td){
  var s=td.getAttribute("data-sort");
  if(s!==null&&s!==""&&!isNaN(Number(s))){return [0,Number(s)];}
  return [1,td.textContent.trim().toLowerCase()];
}
function sortBy(table,col,desc){
  var body=table.tBodies[0];if(!body){return;}
  var rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){
    var x=key(a.cells[col]||a),y=key(b.cells[col]||b);
    if(x[0]!==y[0]){return x[0]-y[0];}
    var c=x[1]<y[1]?-1:(x[1]>y[1]?1:0);return desc?-c:c;
  });
  rows.forEach(function(r){body.appendChild(r);});
  var ths=table.tHead.rows[0].cells;
  for(var i=0;i<ths.length;i++){ths[i].className="";}
  ths[col].className=desc?"desc":"asc";
  table.setAttribute("data-sorted",col+(desc?":desc":":asc"));
}
var tables=document.querySelectorAll("table.sortable");
Array.prototype.forEach.call(tables,function(table){
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,col){
    th.addEventListener("click",function(){sortBy(table,col,th.className==="asc");});
  });
});
var m=/^#sort=([\\w-]+):(\\d+)(:desc)?$/.exec(window.location.hash);
if(m){var t=document.querySelector('table[id="'+m[1]+'"]');if(t){sortBy(t,Number(m[2]),!!m[3]);}}
document.body.setAttribute("data-ready","yes");
})();
"""


@dataclass
class Page:
    """One report page: a header, sections with a table of contents, embedded JSON data."""

    title: str
    subtitle: str = ""
    kind: str = "run"
    sections: list[tuple[str, str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    """Embedded as ``<script type="application/json" id="dltrain-data">`` for scripts."""

    def add(self, anchor: str, title: str, body: str) -> None:
        """Add a section (``anchor`` is its id, for the table of contents)."""
        self.sections.append((anchor, title, body))

    def render(self) -> str:
        """The whole page as HTML text."""
        # Sections' ids are "sec-..." so that they never take a table's id ("trials").
        nav = "".join(f'<a href="#sec-{esc(a)}">{esc(t)}</a>' for a, t, _ in self.sections)
        body = "".join(
            f'<section id="sec-{esc(a)}"><h2>{esc(t)}</h2>{b}</section>'
            for a, t, b in self.sections
        )
        data = json.dumps(json_safe(self.data), indent=None, default=str)
        # "</" inside a script would end it early: JSON allows "<\/" for the same text.
        data = data.replace("</", "<\\/")
        subtitle = f"<p>{esc(self.subtitle)}</p>" if self.subtitle else ""
        return (
            "<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="dltrain report">'
            f"<title>{esc(self.title)}</title><style>{_STYLE}</style>"
            f"<script>{_ERRORS}</script></head>"
            f'<body data-kind="{esc(self.kind)}">'
            f"<header><h1>{esc(self.title)}</h1>{subtitle}</header>"
            f"<nav>{nav}</nav><main>{body}</main>"
            f'<script type="application/json" id="dltrain-data">{data}</script>'
            f"<script>{_SORT}</script></body></html>\n"
        )
