"""Plugins without TensorFlow: ``imports``, the dataset-kind registry, schema, entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dltrain import plugins
from dltrain.cli import app
from dltrain.config import load_config
from dltrain.data import load_datasets
from dltrain.errors import ConfigError, UsageError

runner = CliRunner()

SQUARES = '''
import numpy as np
from pydantic import BaseModel, ConfigDict

import dltrain
from dltrain.data import datasets_from_arrays


class SquaresData(BaseModel):
    """y = x^2 on a grid."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    examples: int = 64
    """Points per split."""


@dltrain.register_dataset("squares", config=SquaresData)
def load_squares(section, config, test_path):
    x = np.linspace(-1, 1, section.examples, dtype="float32")[:, None]
    return datasets_from_arrays(
        config, {"train": (x, x[:, 0] ** 2), "test": (x, x[:, 0] ** 2)}, task="regression"
    )
'''

CONFIG = """\
imports:
  - tp_squares
data:
  kind: squares
  examples: 32
model: {layers: [Dense: {units: 1}]}
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder holding the ``tp_squares`` plugin; its registrations are undone afterwards."""
    (tmp_path / "tp_squares.py").write_text(SQUARES)
    kinds = dict(plugins._KINDS)
    modules = set(sys.modules)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    plugins._KINDS.clear()
    plugins._KINDS.update(kinds)
    for name in set(sys.modules) - modules:
        if name.startswith("tp_"):
            del sys.modules[name]


def test_failing_imports_are_config_errors_at_their_lines(plugin_dir: Path) -> None:
    (plugin_dir / "tp_broken.py").write_text("raise RuntimeError('no GPU here\\nmore')\n")
    config = plugin_dir / "exp.yaml"
    config.write_text(
        CONFIG.replace("  - tp_squares\n", "  - tp_squares\n  - tp_missing\n  - tp_broken\n")
    )
    result = runner.invoke(app, ["check", str(config)])
    assert result.exit_code == 2
    assert "exp.yaml:3:5: imports[1]: no module named 'tp_missing'" in result.output
    assert "exp.yaml:4:5: imports[2]: importing 'tp_broken' failed: RuntimeError: no GPU here" in (
        result.output
    )
    assert "more" not in result.output and "Traceback" not in result.output


def test_a_plugin_module_found_beside_an_extended_file(plugin_dir: Path) -> None:
    base = plugin_dir / "base"
    base.mkdir()
    (plugin_dir / "tp_squares.py").rename(base / "tp_squares.py")
    (base / "base.yaml").write_text(CONFIG)
    other = plugin_dir / "other"
    other.mkdir()
    (other / "exp.yaml").write_text("extends: ../base/base.yaml\n")
    loaded = load_config(other / "exp.yaml")
    assert [m.module for m in loaded.imports] == ["tp_squares"]
    assert loaded.imports[0].path == str(base.resolve())
    assert str(base) not in sys.path  # only on sys.path while importing


def test_registered_kind_validates_with_its_own_section(plugin_dir: Path) -> None:
    config = plugin_dir / "exp.yaml"
    config.write_text(CONFIG)
    loaded = load_config(config)
    assert type(loaded.config.data).__name__ == "SquaresData"
    assert loaded.config.data.kind == "squares"
    datasets = load_datasets(loaded.config)
    assert (datasets.train_size, datasets.test_size, datasets.spec.kind) == (32, 32, "squares")
    assert datasets.spec.targets[0].task == "regression"

    config.write_text(CONFIG.replace("examples: 32", "exampels: 32"))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "exp.yaml:5:3: data.exampels: unknown key 'exampels' (did you mean 'examples'?)" in (
        info.value.render()
    )
    config.write_text(CONFIG.replace("kind: squares", "kind: squeres"))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "exp.yaml:4:3: data.kind: unknown data kind 'squeres' (did you mean 'squares'?)" in (
        info.value.render()
    )
    assert "mnist, fashion_mnist, csv, image_folder, audio_folder, squares" in info.value.render()


def test_unimported_kind_is_unknown(plugin_dir: Path) -> None:
    config = plugin_dir / "exp.yaml"
    config.write_text(CONFIG.replace("imports:\n  - tp_squares\n", ""))
    with pytest.raises(ConfigError, match=r"exp.yaml:2:3: data.kind: unknown data kind 'squares'"):
        load_config(config)


def test_schema_shows_an_imported_kind(plugin_dir: Path) -> None:
    plain = runner.invoke(app, ["schema"])
    assert plain.exit_code == 0 and "SquaresData" not in plain.output
    result = runner.invoke(app, ["schema", "--import", "tp_squares"])
    assert result.exit_code == 0, result.output
    # The strict form (a file without `extends:`) lists every kind under its discriminator.
    data = json.loads(result.output)["$defs"]["ExperimentConfig"]["properties"]["data"]
    assert data["discriminator"]["mapping"]["squares"] == "#/$defs/SquaresData"
    bad = runner.invoke(app, ["schema", "--import", "tp_nothing"])
    assert bad.exit_code == 2 and "no module named 'tp_nothing'" in bad.output


def test_register_dataset_refuses_builtin_kinds() -> None:
    from pydantic import BaseModel

    with pytest.raises(ValueError, match="not one of mnist"):
        plugins.register_dataset("csv", config=BaseModel)


def _entry_point_package(root: Path, module: str, source: str) -> None:
    (root / f"{module}.py").write_text(source)
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[dltrain.plugins]\nsquares = {module}\n")


def _schema_in_fresh_process(root: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(root), *sys.path])
    return subprocess.run(
        [sys.executable, "-m", "dltrain", "schema"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        cwd=root,
        timeout=120,
    )


def test_installed_packages_register_through_entry_points(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    _entry_point_package(good, "tp_installed", SQUARES)
    _entry_point_package(bad, "tp_failing", "import tp_not_installed\n")
    proc = _schema_in_fresh_process(good)
    assert proc.returncode == 0, proc.stderr
    strict = json.loads(proc.stdout)["$defs"]["ExperimentConfig"]
    assert "squares" in strict["properties"]["data"]["discriminator"]["mapping"]
    proc = _schema_in_fresh_process(bad)
    assert proc.returncode == 2
    assert "plugin 'squares' (tp_failing, from tp_failing) failed to load" in proc.stderr
    assert "No module named 'tp_not_installed'" in textwrap.dedent(proc.stderr)


def test_a_plugin_calling_sys_exit_is_a_failed_import(plugin_dir: Path) -> None:
    # Probe L8: `sys.exit(0)` while importing made `dltrain run` exit 0 having done nothing.
    (plugin_dir / "tp_exiter.py").write_text("import sys\nsys.exit(0)\n")
    config = plugin_dir / "exp.yaml"
    config.write_text(CONFIG.replace("  - tp_squares\n", "  - tp_exiter\n"))
    result = runner.invoke(app, ["run", str(config), "--runs-dir", str(plugin_dir / "runs")])
    assert result.exit_code == 2, result.output
    assert "exp.yaml:2:5: imports[0]: importing 'tp_exiter' failed: SystemExit: 0" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert not (plugin_dir / "runs").exists()


MARKING = "from pathlib import Path\nPath(__file__).with_name('{name}.imported').write_text('x')\n"


def test_a_saved_run_without_recorded_hashes_needs_consent(plugin_dir: Path) -> None:
    # run.json from before hashes were recorded: it still reads, and its plugin needs consent.
    sent = plugin_dir / "sent"
    sent.mkdir()
    (sent / "tp_old.py").write_text(MARKING.format(name="tp_old"))
    recorded = [{"module": "tp_old", "file": str(sent / "tp_old.py"), "path": str(sent)}]
    with pytest.raises(UsageError) as info:
        plugins.import_saved_plugins(["tp_old"], recorded, plugin_dir / "run", trust=False)
    assert f"imports[0]: 'tp_old' is not installed here; the run imported it from {sent}" in (
        str(info.value)
    )
    assert not (sent / "tp_old.imported").exists()
    plugins.import_saved_plugins(["tp_old"], recorded, plugin_dir / "run", trust=True)
    assert (sent / "tp_old.imported").exists()


def test_a_saved_runs_plugin_that_the_environment_provides_is_imported_from_there(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installed (here: on sys.path): imported without consent, and the recorded folder, which
    # holds another module of that name, is not put in front of it.
    mine, sent = plugin_dir / "mine", plugin_dir / "sent"
    for folder in (mine, sent):
        folder.mkdir()
        (folder / "tp_env.py").write_text(MARKING.format(name="tp_env"))
    monkeypatch.syspath_prepend(str(mine))
    recorded = [{"module": "tp_env", "file": str(sent / "tp_env.py"), "path": str(sent)}]
    plugins.import_saved_plugins(["tp_env"], recorded, plugin_dir / "run", trust=False)
    assert (mine / "tp_env.imported").exists()
    assert not (sent / "tp_env.imported").exists()


def test_a_plugin_package_is_hashed_whole(tmp_path: Path) -> None:
    # Importing pkg.sub runs pkg/__init__.py too; a changed submodule is another plugin.
    package = tmp_path / "tp_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "sub.py").write_text("A = 1\n")
    before = plugins.code_digest(package)
    (package / "sub.py").write_text("A = 2\n")
    assert plugins.code_digest(package) != before
