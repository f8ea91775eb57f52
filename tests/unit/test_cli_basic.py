"""The CLI's fast paths: help, version, schema and config errors never import TensorFlow."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from probes import run_each, run_probe
from typer.testing import CliRunner

from dltrain import __version__
from dltrain.cli import app

runner = CliRunner()

FAST = [["--help"], ["schema"], ["run", "--help"], ["check", "--help"], ["--version"]]


def test_fast_commands_do_not_import_tensorflow() -> None:
    assert run_each(FAST) == [[args, 0, []] for args in FAST]


def test_config_errors_do_not_import_tensorflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "data: {kind: mnist}\nmodel: {layers: [{Dense: {units: 2}}]}\ntraining: {epochs: 0}\n"
    )
    for command in ("check", "run"):
        proc = run_probe(command, str(bad), cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "bad.yaml:3:" in proc.stderr and "training.epochs" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert "HEAVY=\n" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_schema_is_json_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    result = runner.invoke(app, ["schema", "-o", str(out)])
    assert result.exit_code == 0
    schema = json.loads(out.read_text())
    assert schema["title"] == "ExperimentConfig"
    # A complete file needs data and model; a file that `extends` another does not.
    assert "data" in schema["$defs"]["ExperimentConfig"]["required"]
    assert schema["if"] == {"not": {"required": ["extends"]}}
    assert "training" in schema["properties"]
    assert "epochs" in json.dumps(schema)


def test_missing_config_is_exit_2() -> None:
    result = runner.invoke(app, ["check", "does-not-exist.yaml"])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "check", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "Traceback" in result.output


def test_run_without_config_or_resume_is_usage_error() -> None:
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 2
    assert "--resume" in result.output


COMMANDS = ["check", "schema", "run", "eval", "predict", "runs", "compare", "launch", "report"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_shows_flags_bare_and_arguments_in_capitals(command: str | None) -> None:
    result = runner.invoke(app, [command, "--help"] if command else ["--help"],
                           env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    # Positional arguments: one style, CAPITALS in {required} or [optional] brackets.
    after = usage.split("[OPTIONS]", 1)[1]
    for token in after.split():
        assert re.fullmatch(r"(\{[A-Z_]+\}|\[[A-Z_]+\])(\.\.\.)?|COMMAND|\[ARGS\]\.\.\.", token), usage


def test_help_flag_lines() -> None:
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "120"})
    quiet = next(line for line in result.output.splitlines() if "--quiet" in line)
    assert re.sub(r"[│\s]+", " ", quiet).strip() == "--quiet -q Only the final metrics."


def test_only_commands_that_run_a_model_enter_the_xla_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "xla"
    monkeypatch.setenv("DLTRAIN_XLA_CACHE", str(cache))
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)  # the test session's own cache, if set
    (tmp_path / "runs").mkdir()
    for args in (["runs", str(tmp_path / "runs")], ["compare", str(tmp_path / "a")], ["schema"]):
        runner.invoke(app, args)
        assert not cache.exists(), args  # listing, comparing, schema: never trimmed or hashed
    failed = runner.invoke(app, ["eval", str(tmp_path / "missing")])
    assert failed.exit_code == 2
    assert cache.is_dir()  # eval runs a model: it enters the cache (before it finds no run)


def test_a_full_xla_cache_folder_is_one_warning_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fault-probes-2 M5: a cache folder on a full disk failed every XLA-compiled run.
    import shutil

    monkeypatch.setenv("DLTRAIN_XLA_CACHE", str(tmp_path / "xla"))
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)  # the test session's own cache, if set
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1, 1, 4096))
    result = runner.invoke(app, ["eval", str(tmp_path / "missing")])
    assert result.exit_code == 2  # the command's own error, the cache only warned
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert str(tmp_path / "xla") in warnings[0] and "0.0 MiB free" in warnings[0]
    assert "DLTRAIN_XLA_CACHE=off" in warnings[0]
