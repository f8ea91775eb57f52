"""``dltrain report`` on real small runs, a real study and a comparison, opened in headless
Chromium: the page's script runs without errors, a screenshot is taken, and sorting works.

Chromium (Debian's ``chromium``) is installed by ``.ci/run``. Each page's script records
errors into the page itself (``#js-errors``) and marks ``data-ready`` when it has run, so the
DOM that ``--dump-dom`` prints after the scripts ran says both; an address ending in
``#sort=TABLE:COLUMN[:desc]`` sorts that table on load.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from datagen import tiny_mlp, write_mnist_npz, write_regression_csv
from tune_configs import write_tune
from typer.testing import CliRunner

import dltrain
from dltrain.cli import app
from dltrain.engine.run import run_experiment

runner = CliRunner()

# The shared tune experiment (tests/tune_configs.py), two quick trials of two parameters.
TUNE = """\
metric: val_mae
trials: 2
sampler: random
pruner: none
space:
  optimizer.learning_rate: {type: float, low: 1.0e-3, high: 5.0e-2, log: true}
  model.layers[0].Dense.units: {type: int, low: 2, high: 16}
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two runs of a tiny MLP (the second with a Dropout inserted) and a two-trial study."""
    root = tmp_path_factory.mktemp("report")
    npz = write_mnist_npz(root / "mnist.npz", n_train=128, n_test=32)
    runs = root / "runs"
    plain = root / "plain.yaml"
    plain.write_text(tiny_mlp(name="rep").format(path=npz))
    dropout = root / "dropout.yaml"
    dropout.write_text(tiny_mlp(name="rep", dropout=0.25).format(path=npz))
    # No XLA: compiling the steps costs more than these tiny runs, and the pages do not care.
    quick = ["training.jit_compile=false"]
    first = run_experiment(plain, quick, runs_dir=runs).run_dir
    second = run_experiment(dropout, quick, runs_dir=runs).run_dir
    csv = write_regression_csv(root / "houses.csv", n=160)
    config = write_tune(root, csv, TUNE, plots=False)
    # One epoch a trial: the page needs trials, not training.
    summary = dltrain.tune(config, ["training.epochs=1", *quick], runs_dir=runs)
    return {
        "root": root,
        "runs": runs,
        "first": first,
        "second": second,
        "study": summary.study_dir,
    }


# ------------------------------------------------------------------------------- browser
def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "dltrain report's browser tests need Debian's chromium (.ci/run installs it)"
    return found


def _browse(page: Path, *args: str, fragment: str = "") -> subprocess.CompletedProcess[str]:
    command = [
        _chromium(),
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        page.resolve().as_uri() + fragment,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def open_page(page: Path, tmp: Path, *, sort: str = "") -> str:
    """The page's DOM after its scripts ran (sorted by ``sort``, ``TABLE:COL[:desc]``), with
    its JavaScript errors failing the test; the same launch takes a screenshot, whose size is
    checked."""
    shot = tmp / f"{page.stem}.png"
    done = _browse(
        page,
        "--dump-dom",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        fragment=f"#sort={sort}" if sort else "",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    errors = re.search(r'<pre id="js-errors">(.*?)</pre>', dom, re.DOTALL)
    assert errors is None, f"JavaScript errors: {html.unescape(errors.group(1))}"
    assert "Uncaught" not in done.stderr, done.stderr[-2000:]
    assert 'data-ready="yes"' in dom, "the page's script did not run to its end"
    assert shot.is_file(), done.stderr[-2000:]
    assert _png_size(shot) == (1280, 2000)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    return dom


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _column(dom: str, table_id: str, column: int) -> list[str]:
    """The text of one column of a table in the DOM, in row order."""
    match = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', dom, re.DOTALL)
    assert match, f"no table {table_id}"
    body = match.group(1).split("<tbody>", 1)[1]
    cells = [
        re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)
    ]
    return [html.unescape(re.sub(r"<[^>]+>", "", row[column])) for row in cells]


def assert_self_contained(page: Path) -> str:
    """No http(s) anywhere, and every relative link leads to a file that exists."""
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    for href in re.findall(r'(?:href|src)="([^"#][^"]*)"', text):
        if href.startswith("data:image/png;base64,"):
            continue
        from urllib.parse import unquote

        assert (page.parent / unquote(href)).exists(), href
    return text


def _embedded(text: str) -> Any:
    match = re.search(
        r'<script type="application/json" id="dltrain-data">(.*?)</script>', text, re.DOTALL
    )
    assert match
    return json.loads(match.group(1))


# --------------------------------------------------------------------------------- pages
def test_a_run_page_in_a_browser(made: dict[str, Any], tmp_path: Path) -> None:
    run: Path = made["first"]
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    page = run / "report.html"
    assert f"run report: {page}" in result.output
    text = assert_self_contained(page)
    manifest = json.loads((run / "run.json").read_text())
    assert _embedded(text)["run.json"] == manifest
    for name, value in manifest["final_metrics"]["test"].items():
        assert f'<td>{name}</td><td data-sort="{value}">{value:.4g}</td>' in text
    assert "confusion matrix" in text and "precision" in text  # the per-class table
    # The gallery: the run's worst test mistakes, each with its image, from plots/.
    examples = json.loads((run / "plots" / "examples.json").read_text())["examples"]
    assert examples and len(examples) <= 24
    assert _column(text, "examples", 1) == [str(e["index"]) for e in examples]
    assert text.count('class="thumb"') == len(examples)
    scores = [e["score"] for e in examples]
    assert scores == sorted(scores, reverse=True)
    assert page.stat().st_size < 3_000_000

    dom = open_page(page, tmp_path, sort="epochs:0:desc")
    assert _column(dom, "epochs", 0) == ["2", "1"]
    assert 'data-sorted="0:desc"' in dom


def test_a_study_page_links_each_trial_page(made: dict[str, Any], tmp_path: Path) -> None:
    study: Path = made["study"]
    result = runner.invoke(app, ["report", str(study)])
    assert result.exit_code == 0, result.output
    page = study / "report.html"
    text = assert_self_contained(page)
    trial_pages = sorted(study.glob("trial-*/*/report.html"))
    assert len(trial_pages) == 2
    for trial in trial_pages:
        assert_self_contained(trial)
    document = json.loads((study / "study.json").read_text())
    values = sorted(t["value"] for t in document["trial_list"])
    assert [t["value"] for t in _embedded(text)["trials"]] == [
        t["value"] for t in document["trial_list"]
    ]
    assert "Only 2 complete trials" in text  # the importances' caution

    dom = open_page(page, tmp_path, sort="trials:2:desc")
    shown = [float(v) for v in _column(dom, "trials", 2)]
    assert shown == pytest.approx(sorted(values, reverse=True), rel=1e-3)


def test_a_comparison_page_matches_layers_by_name(made: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "cmp.html"
    result = runner.invoke(
        app,
        ["report", str(made["first"]), str(made["second"]), "-o", str(out), "--metric", "val_loss"],
    )
    assert result.exit_code == 0, result.output
    text = assert_self_contained(out)
    keys = _column(text, "config-diff", 0)
    # The inserted Dropout is one added layer; the Dense after it is still dense_1.
    assert keys == ["model.layers[dropout]"], keys
    assert "Curves: val_loss" in text
    data = _embedded(text)
    assert [r["run.json"] for r in data["runs"]] == [
        json.loads((made[k] / "run.json").read_text()) for k in ("first", "second")
    ]

    dom = open_page(out, tmp_path, sort="metrics:0:desc")
    names = _column(dom, "metrics", 0)
    assert names == sorted(names, reverse=True)

    default = runner.invoke(app, ["report", str(made["first"]), str(made["second"])])
    assert default.exit_code == 0, default.output
    assert len(list(made["runs"].glob("compare-*.html"))) == 1


def test_the_browser_check_sees_a_script_error(made: dict[str, Any], tmp_path: Path) -> None:
    # The check above is only as good as its failure: a page whose script throws fails it.
    page = made["first"] / "report.html"
    if not page.exists():
        assert runner.invoke(app, ["report", str(made["first"])]).exit_code == 0
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace("</main>", "</main><script>noSuchThing();</script>"))
    with pytest.raises(AssertionError, match="noSuchThing"):
        open_page(broken, tmp_path)
