"""``dltrain check`` finds image data as ``run`` would; a failed start leaves no ``runs/``."""

from __future__ import annotations

from pathlib import Path

import pytest
from datagen import write_mnist_idx_dir, write_mnist_npz
from typer.testing import CliRunner

from dltrain.cli import app

runner = CliRunner()

CONFIG = """\
name: check_me
data: {{kind: {kind}{path}}}
model:
  layers:
    - Flatten: {{}}
    - Dense: {{units: 10, activation: softmax}}
training: {{epochs: 1, jit_compile: false}}
"""


def _config(tmp_path: Path, kind: str = "mnist", path: Path | None = None) -> Path:
    target = tmp_path / "c.yaml"
    target.write_text(CONFIG.format(kind=kind, path=f", path: {path}" if path else ""))
    return target


def test_check_fails_like_run_when_image_data_is_missing(
    tmp_path: Path, no_sources: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path)
    monkeypatch.chdir(tmp_path)
    checked = runner.invoke(app, ["check", str(config)])
    ran = runner.invoke(app, ["run", str(config)])
    assert checked.exit_code == ran.exit_code == 2, checked.output
    error = checked.output[checked.output.index("error:") :]
    assert error == ran.output[ran.output.index("error:") :]
    assert "mnist data not found and the Keras download failed" in error
    assert "config OK" not in checked.output and "# " not in checked.output  # no YAML first
    assert "install Fashion-MNIST" in error and "--set data.kind=fashion_mnist" in error
    assert not (tmp_path / "runs").exists()  # the failed start left no empty runs/


def test_check_reports_a_missing_data_set_and_a_bad_layer_together(
    tmp_path: Path, no_sources: list[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(_config(tmp_path).read_text().replace("Dense:", "Dens:"))
    result = runner.invoke(app, ["check", "--no-config", str(config)])
    assert result.exit_code == 2, result.output
    error = result.output[result.output.index("error:") :]
    assert error.startswith("error: 2 problems found:")
    assert "mnist data not found and the Keras download failed" in error
    assert f"{config}:6:7: model.layers[1].Dens: unknown layer class 'Dens' (did you mean 'Dense'?)" in error
    assert "Traceback" not in result.output and "config OK" not in result.output


def test_offline_error_points_at_installed_fashion_mnist(
    tmp_path: Path, no_sources: list[str]
) -> None:
    write_mnist_idx_dir(tmp_path / "system" / "fashion-mnist", 4, 3)
    result = runner.invoke(app, ["check", "--no-config", str(_config(tmp_path))])
    assert result.exit_code == 2
    assert (
        f"Quickest fix: Fashion-MNIST is installed in {tmp_path / 'system' / 'fashion-mnist'}; "
        "train on it instead with --set data.kind=fashion_mnist"
    ) in result.output
    fine = runner.invoke(
        app, ["check", "--no-config", str(_config(tmp_path)), "--set", "data.kind=fashion_mnist"]
    )
    assert fine.exit_code == 0, fine.output
    assert f"fashion_mnist data: {tmp_path / 'system' / 'fashion-mnist'} (IDX files)" in fine.output


def test_check_finds_data_path_and_shows_yaml_after_checks(
    tmp_path: Path, no_sources: list[str]
) -> None:
    npz = write_mnist_npz(tmp_path / "m.npz", 8, 4)
    result = runner.invoke(app, ["check", str(_config(tmp_path, path=npz))])
    assert result.exit_code == 0, result.output
    assert f"mnist data: {npz}" in result.output and "config OK" in result.output
    assert result.output.index("(resolved)") < result.output.index("config OK")
    # The dtype policy `run` would use here, and why (a dense model: float32 on any device).
    assert "precision: float32 (auto: no convolution" in result.output
    assert no_sources == []  # nothing downloaded when the data is at hand
    folder = write_mnist_idx_dir(tmp_path / "idx", 4, 3)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    broken = runner.invoke(app, ["check", str(_config(tmp_path, path=folder))])
    assert broken.exit_code == 2
    assert "missing IDX file(s) t10k-labels-idx1-ubyte" in broken.output
