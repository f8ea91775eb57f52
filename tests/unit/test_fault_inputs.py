"""Hostile inputs end in exit 2 and a short message (issue 12, points 8-10). No TensorFlow.

``predict -o`` never writes into a run folder or over its input; config files are small regular
files and an error quotes at most one line of a file that is not a config; deep nesting, a
seed out of range and damaged run-folder files are errors, not crashes.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from datagen import write_run_folder
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.config import load_config
from dltrain.errors import ConfigError, UsageError

runner = CliRunner()

MINIMAL = "name: x\ndata: {kind: mnist}\nmodel: {input_shape: [28, 28], layers: [Flatten]}\n"


def invoke(args: list[str]) -> Any:
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not (result.exception and not isinstance(result.exception, SystemExit)), result.exception
    return result


# ------------------------------------------------------------------ 8. predict -o
@pytest.fixture
def run_and_input(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "new.csv"
    data.write_text("x,y\n1,2\n")
    return write_run_folder(tmp_path / "runs"), data


@pytest.mark.parametrize("inside", ["run.json", "config.yaml", "metrics.csv",
                                    "checkpoints/best.keras", "predictions.csv"])
def test_predict_never_writes_into_a_run_folder(
    run_and_input: tuple[Path, Path], inside: str
) -> None:
    run, data = run_and_input
    target = run / inside
    before = target.read_bytes() if target.exists() else None
    result = invoke(["predict", str(run), str(data), "-o", str(target), "--overwrite"])
    assert result.exit_code == 2
    assert f"inside the run folder {run}" in result.output
    assert (target.read_bytes() if target.exists() else None) == before


def test_predict_refuses_its_input_an_existing_file_and_a_folder(
    run_and_input: tuple[Path, Path], tmp_path: Path
) -> None:
    run, data = run_and_input
    result = invoke(["predict", str(run), str(data), "-o", str(data), "--overwrite"])
    assert result.exit_code == 2 and "is the input" in result.output
    assert data.read_text() == "x,y\n1,2\n"
    existing = tmp_path / "old.csv"
    existing.write_text("keep me")
    result = invoke(["predict", str(run), str(data), "-o", str(existing)])
    assert result.exit_code == 2 and "already exists; add --overwrite" in result.output
    assert existing.read_text() == "keep me"
    result = invoke(["predict", str(run), str(data), "-o", str(tmp_path)])
    assert result.exit_code == 2 and "is a folder; give a file name" in result.output


def test_a_link_to_the_input_is_the_input(tmp_path: Path) -> None:
    from dltrain.storage.output_file import check_output_file

    data = tmp_path / "in.csv"
    data.write_text("x\n1\n")
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    with pytest.raises(UsageError, match="is the input"):
        check_output_file(link, inputs=[data], overwrite=True)
    check_output_file(tmp_path / "out.csv", inputs=[data])  # a new file is fine
    (tmp_path / "out.csv").write_text("old")
    check_output_file(tmp_path / "out.csv", inputs=[data], overwrite=True)


# ------------------------------------------------------------- 9. config files
def _limited() -> None:
    # 2 GiB of address space: a regression that reads /dev/zero fails fast instead of
    # taking the machine's memory.
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.parametrize("target", ["/dev/zero", "pipe.yaml", "folder"])
def test_extends_refuses_devices_fifos_and_folders(tmp_path: Path, target: str) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "folder").mkdir()
    config = tmp_path / "c.yaml"
    config.write_text(f"extends: {target}\n" + MINIMAL)
    # A subprocess with a deadline: a FIFO opened for reading would block for ever.
    result = subprocess.run(
        [sys.executable, "-m", "dltrain", "check", str(config)],
        capture_output=True, text=True, timeout=120, preexec_fn=_limited, cwd=tmp_path,
    )
    said = "is a folder" if target == "folder" else "not a regular file"
    assert result.returncode == 2 and said in result.stderr, result.stderr


def test_config_files_over_the_size_limit_are_not_read(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:  # sparse: nothing is written, the size alone refuses it
        handle.truncate(4 * 1024 * 1024 + 1)
    config = tmp_path / "c.yaml"
    config.write_text("extends: big.yaml\n" + MINIMAL)
    with pytest.raises(ConfigError, match="at most 4,194,304 bytes"):  # MAX_CONFIG_BYTES
        load_config(config)
    result = invoke(["check", str(big)])
    assert result.exit_code == 2 and "at most" in result.output


def test_a_file_that_is_not_a_config_is_quoted_one_line_at_most(tmp_path: Path) -> None:
    secrets = tmp_path / "shadow"
    lines = [f"user{i}:$6$secret{i}:20228:0:99999:7:::" for i in range(20)]
    secrets.write_text("\n".join(lines) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"extends: {secrets}\n" + MINIMAL)
    result = invoke(["check", str(config)])
    assert result.exit_code == 2
    assert "not a dltrain config" in result.output and f"{secrets}:1:1" in result.output
    assert not any(f"secret{i}" in result.output for i in range(1, 20))


def test_a_config_of_typos_still_gets_did_you_mean(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("trainning: {epochs: 3}\n")
    config = tmp_path / "c.yaml"
    config.write_text("extends: base.yaml\n" + MINIMAL)
    with pytest.raises(ConfigError, match=r"did you mean 'training'"):
        load_config(config)


# ---------------------------------------------------- 10. nesting, seed, run folders
@pytest.mark.parametrize("levels", [80, 5000])
def test_deep_nesting_is_a_config_error(tmp_path: Path, levels: int) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(MINIMAL + "description: " + "[" * levels + "]" * levels + "\n")
    result = invoke(["check", str(config)])
    assert result.exit_code == 2 and "nested" in result.output
    deep = "[" * levels + "]" * levels
    result = invoke(["check", str(tmp_path / "c.yaml"), "--set", f"seed={deep}"])
    assert result.exit_code == 2 and "nested" in result.output


def test_deep_flow_nesting_is_refused_where_it_passes_the_limit() -> None:
    from dltrain.config.yaml_source import MAX_DEPTH, parse_yaml

    text = "model:\n  layers: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ConfigError) as err:
        parse_yaml(text, "c.yaml")
    # The 65th bracket of line 2 (after "  layers: "), found without recursing into the rest.
    assert str(err.value) == (
        f"c.yaml:2:{len('  layers: ') + MAX_DEPTH + 1}: invalid YAML: nested too deeply "
        f"(a config has at most {MAX_DEPTH} levels)"
    )
    nested = "a: " + "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH + "\n"
    with pytest.raises(ConfigError, match="nested more than 64 levels deep"):
        parse_yaml(nested, "c.yaml")  # at the limit the parse itself sees the depth


def test_seed_must_fit_numpy(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(MINIMAL)
    assert load_config(config, ["seed=4294967295"]).config.seed == 2**32 - 1
    with pytest.raises(ConfigError, match="less than or equal to 4294967295; received 4294967296"):
        load_config(config, ["seed=4294967296"])
