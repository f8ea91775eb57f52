"""A run's report page: headline, config, data card, curves, results, examples, exports,
environment and history, from the run folder's files alone."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from dltrain.config.diff import flatten, format_value
from dltrain.report.html.document import (
    Cell,
    Page,
    definition_list,
    esc,
    missing,
    number,
    table,
)
from dltrain.report.html.run_data import RunData, read_run, to_float
from dltrain.report.html.run_results import (
    curves_section,
    examples_section,
    exports_section,
    file_link,
    results_section,
)

__all__ = ["build_run_page", "read_run"]

_LINKED = ("run.json", "config.yaml", "metrics.csv", "model.txt", "data_spec.json")


def build_run_page(run: RunData, page_dir: Path) -> Page:
    """The page of one run; links are relative to ``page_dir`` (where the page is written)."""
    m = run.manifest
    stamp = run.path.name
    page = Page(
        title=f"{run.name} / {stamp}",
        subtitle=f"dltrain run report, status {m.status}",
        kind="run",
    )
    page.add("headline", "Status and headline", _headline(run, page_dir))
    page.add("config", "Configuration", _config(run))
    page.add("data", "Data card", _data_card(run))
    page.add(
        "model",
        "Model",
        f"<pre>{esc(run.model_text)}</pre>" if run.model_text else missing("No model.txt."),
    )
    page.add("curves", "Curves", curves_section(run))
    page.add("results", "Results on test", results_section(run))
    page.add("examples", "Test examples", examples_section(run))
    page.add("exports", "Explanations, exports and benchmarks", exports_section(run, page_dir))
    page.add("environment", "Environment", _environment(run))
    page.add("history", "History", _history(run))
    page.add("files", "Files", _files(run, page_dir))
    page.data = {"run.json": run.raw_manifest, "metrics.csv": run.metrics}
    return page


def _headline(run: RunData, page_dir: Path) -> str:
    m = run.manifest
    body: list[str] = []
    status = esc(m.status)
    body.append(f'<p>Status: <strong class="status-{status}">{status}</strong>')
    if m.error:
        body.append(f' <span class="warn">({esc(m.error)})</span>')
    body.append("</p>")
    for problem in run.problems:
        body.append(f'<p class="warn">{esc(problem)}</p>')
    test = m.final_metrics.get("test", {})
    if test:
        body.append(table(["test metric", "value"], sorted(test.items()), table_id="test-metrics"))
    else:
        body.append(missing("No test metrics: the run did not reach its test pass."))
    checkpoint = m.test_checkpoint
    facts: list[tuple[str, Any]] = []
    if checkpoint is not None:
        epoch = f", epoch {checkpoint.epoch}" if checkpoint.epoch is not None else ""
        why = f" ({checkpoint.monitor} {number(checkpoint.value)})" if checkpoint.monitor else ""
        facts.append(("test metrics from", f"{checkpoint.file}{epoch}{why}"))
    elif test:
        facts.append(("test metrics from", "the last epoch's weights"))
    if m.best is not None:
        facts.append(("best", f"{m.best.monitor} {number(m.best.value)} at epoch {m.best.epoch}"))
    facts += [
        (
            "epochs",
            f"{number(m.epochs_completed)} of {number(m.epochs_planned)}"
            + (" (stopped early)" if m.stopped_early else ""),
        ),
        ("duration", _seconds(m.timings.get("total_s"))),
        ("started", m.started_at),
        ("finished", m.finished_at),
        ("parameters", number(m.parameters.get("total")) if m.parameters else None),
        ("seed", m.seed),
    ]
    if m.tune is not None:
        facts.append(("trial", f"{m.tune.study} #{m.tune.trial} ({m.tune.state})"))
    body.append(definition_list(facts))
    body.append("<h3>Reproduce</h3>")
    if m.command:
        body.append(f"<p>The command that made it:</p><pre>{esc(shlex.join(m.command))}</pre>")
    else:
        body.append(missing("The command line was not recorded."))
    if (run.path / "config.yaml").is_file():
        again = shlex.join(["dltrain", "run", str(run.path / "config.yaml")])
        body.append(
            f"<p>Its resolved config, with every <code>extends:</code> and <code>--set</code> "
            f"applied (same seed):</p><pre>{esc(again)}</pre>"
        )
    return "".join(body)


def _seconds(value: Any) -> str | None:
    seconds = to_float(value)
    if seconds is None:
        return None
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.1f} s" if minutes else f"{rest:.1f} s"


def _executions(steps: int | None, fused: bool | None) -> str | None:
    if steps is None:
        return None
    return f"{steps} (one XLA program each)" if fused else str(steps)


def _config(run: RunData) -> str:
    m = run.manifest
    body: list[str] = []
    if m.overrides:
        rows = [o.split("=", 1) if "=" in o else [o, ""] for o in m.overrides]
        body.append(
            "<h3>--set overrides</h3>" + table(["key", "value"], rows, table_id="overrides")
        )
    else:
        body.append("<p>No <code>--set</code> overrides.</p>")
    files = m.config_files or ([m.config_file] if m.config_file else [])
    if files:
        rows = []
        for index, name in enumerate(files):
            role = "the config" if index == len(files) - 1 else "extended by the next"
            rows.append([name, role, _keys_set(Path(name))])
        body.append(
            "<h3>Config files (extends: chain, base first)</h3>"
            + table(["file", "role", "keys it sets"], rows, table_id="config-files", sortable=False)
        )
    else:
        body.append(missing("The config files were not recorded (an older run)."))
    if run.config_text is not None:
        body.append(f"<h3>Resolved config (config.yaml)</h3><pre>{esc(run.config_text)}</pre>")
    else:
        body.append(missing("No config.yaml: the run crashed before writing it."))
    return "".join(body)


def _keys_set(path: Path) -> str:
    """The keys a config file sets itself, or why they cannot be shown."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        return "not on this machine"
    except (yaml.YAMLError, UnicodeDecodeError):
        return "unreadable"
    if not isinstance(document, dict):
        return "-"
    keys = [f"{k}={format_value(v)}" for k, v in flatten(document).items() if k != "extends"]
    return ", ".join(keys[:40]) + (f" (+{len(keys) - 40} more)" if len(keys) > 40 else "")


def _data_card(run: RunData) -> str:
    data = run.manifest.data
    if data is None:
        return missing("No data facts in run.json (the run stopped before loading data).")
    body: list[str] = []
    sizes = [
        ("train", data.train_size),
        ("validation", data.validation_size),
        ("test", data.test_size),
    ]
    body.append(table(["split", "examples"], sizes, table_id="split-sizes", sortable=False))
    fingerprint = data.fingerprint or {}
    facts = [("kind", fingerprint.get("kind")), ("source", fingerprint.get("source"))]
    body.append(definition_list(facts))
    files = [f for f in fingerprint.get("files") or [] if isinstance(f, dict)]
    if files:
        rows = [[f.get("name") or f.get("path"), f.get("bytes"), f.get("sha256")] for f in files]
        body.append(
            "<h3>Source files</h3>"
            + table(["file", "bytes", "sha256"], rows, table_id="data-files")
        )
    else:
        body.append(missing("Source files and hashes: not recorded."))
    body.append("<h3>Class balance</h3>" + _class_balance(fingerprint))
    if data.warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in data.warnings)
        body.append(f'<h3>Warnings</h3><ul class="warn">{items}</ul>')
    else:
        body.append("<p>No data warnings.</p>")
    return "".join(body)


def _class_balance(fingerprint: dict[str, Any]) -> str:
    splits = fingerprint.get("splits")
    if not isinstance(splits, dict):
        return missing("Not recorded.")
    columns: dict[str, dict[str, dict[str, Any]]] = {}  # target -> split -> class -> count
    for split, facts in splits.items():
        counts = facts.get("class_counts") if isinstance(facts, dict) else None
        for target, per_class in (counts or {}).items():
            if isinstance(per_class, dict):
                columns.setdefault(str(target), {})[str(split)] = per_class
    if not columns:
        return "<p>No classes (a regression target, or not recorded).</p>"
    body: list[str] = []
    for target, per_split in columns.items():
        names = list(dict.fromkeys(c for counts in per_split.values() for c in counts))
        split_names = list(per_split)
        rows = [[name, *(per_split[s].get(name) for s in split_names)] for name in names]
        body.append(
            f"<p>{esc(target)}</p>"
            + table(["class", *split_names], rows, table_id=f"classes-{target}")
        )
    return "".join(body)


def _on_off(value: Any) -> str | None:
    return None if value is None else ("on" if value else "off")


def _environment(run: RunData) -> str:
    m = run.manifest
    facts: list[tuple[str, Any]] = [
        (f"{name} version", version) for name, version in sorted(m.versions.items())
    ]
    platform = m.platform or {}
    facts += [
        ("platform", platform.get("system")),
        ("devices", ", ".join(str(d) for d in platform.get("devices") or []) or None),
        ("oneDNN kernels (TensorFlow)", _on_off(platform.get("onednn"))),
        ("precision", m.precision),
        ("distribution", m.distribute),
        ("workers", m.workers),
        ("batch size", m.batch_size),
        ("steps per execution", _executions(m.steps_per_execution, m.fused_executions)),
        ("deterministic", m.deterministic),
    ]
    if m.jit_compile is not None:
        jit = m.jit_compile
        facts.append(("XLA", f"{_on_off(jit.enabled)} (setting {jit.setting}: {jit.reason})"))
    else:
        facts.append(("XLA", None))
    if m.git:
        dirty = " (uncommitted changes)" if m.git.get("dirty") else ""
        facts.append(("git commit", f"{m.git.get('commit')}{dirty}"))
    facts += [(f"timing {k}", _seconds(v)) for k, v in sorted(m.timings.items())]
    return definition_list(facts)


def _history(run: RunData) -> str:
    m = run.manifest
    body: list[str] = []
    if m.resumes:
        rows = [
            [
                r.at,
                r.from_epoch,
                shlex.join(r.command),
                "; ".join(f"{d.key}: {d.old} -> {d.new}" for d in r.drift) or "-",
            ]
            for r in m.resumes
        ]
        body.append(
            "<h3>Resumes</h3>"
            + table(["at", "from epoch", "command", "forced changes"], rows, table_id="resumes")
        )
    if m.rollbacks:
        rows = [
            [r.at_epoch, r.at_batch, r.resumed_from_epoch, r.learning_rate] for r in m.rollbacks
        ]
        body.append(
            "<h3>Rollbacks (on_nan)</h3>"
            + table(
                ["at epoch", "at batch", "resumed from epoch", "new learning rate"],
                rows,
                table_id="rollbacks",
            )
        )
    if m.restarts:
        rows = [[r.at, r.attempt, r.from_epoch, r.reason, r.workers] for r in m.restarts]
        body.append(
            "<h3>Worker restarts</h3>"
            + table(["at", "attempt", "from epoch", "reason", "workers"], rows, table_id="restarts")
        )
    if m.status in ("interrupted", "failed") or m.error:
        body.append(
            f'<p class="warn">Status {esc(m.status)} after {m.epochs_completed or 0} epochs: '
            f"{esc(m.error or 'no reason recorded')}</p>"
        )
    if m.fine_tune is not None:
        body.append(
            f"<p>Fine-tuning started at epoch {m.fine_tune.at_epoch}: "
            f"{m.fine_tune.unfrozen_layers} layers unfrozen, learning rate "
            f"{number(m.fine_tune.learning_rate)}.</p>"
        )
    if m.init_from is not None:
        body.append(
            f"<p>Started from the weights of {esc(m.init_from.run)} "
            f"({esc('; '.join(m.init_from.lines()))}).</p>"
        )
    evaluations = run.json_files("eval-*.json")
    if evaluations:
        rows = [
            [p.name, ", ".join(f"{k} {number(v)}" for k, v in sorted(_metrics(doc).items()))]
            for p, doc in evaluations
        ]
        body.append(
            "<h3>Later evaluations (dltrain eval)</h3>"
            + table(["file", "metrics"], rows, table_id="evaluations")
        )
    if not body:
        body.append("<p>Trained in one go: no resume, rollback, restart or interruption.</p>")
    return "".join(body)


def _metrics(document: dict[str, Any]) -> dict[str, Any]:
    metrics = document.get("metrics")
    return metrics if isinstance(metrics, dict) else {}


def _files(run: RunData, page_dir: Path) -> str:
    rows: list[list[Any]] = []
    for name in _LINKED:
        path = run.path / name
        size = path.stat().st_size if path.is_file() else None
        rows.append([file_link(path, page_dir), size])
    for folder in ("plots", "checkpoints", "export", "explain", "logs"):
        path = run.path / folder
        if path.is_dir():
            count = sum(1 for p in path.rglob("*") if p.is_file())
            rows.append([file_link(path, page_dir, f"{folder}/"), Cell(esc(f"{count} files"))])
    return table(["file", "bytes"], rows, table_id="files")
