"""Every shipped config in ``configs/`` loads, builds and trains; the example CSVs regenerate.

Each config trains for one epoch on a few hundred examples. MNIST cannot be downloaded in tests,
so ``kind: mnist`` configs train on the real Fashion-MNIST files instead (same shapes, same
classes count); ``batch_size: 1`` configs use batches of 32 to stay fast. Plots are drawn once
per plot signature (data, targets, loss, metrics, schedule, model kind and layer types): the
first config of each draws them, and its test checks it did; the rest train with
``output.plots=false``.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import json
import math
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

from dltrain.config import LoadedConfig, load_config
from dltrain.engine.check import inspect_config
from dltrain.engine.run import run_experiment

ROOT = Path(__file__).resolve().parents[1]
CONFIGS_DIR = ROOT / "configs"
DATA_DIR = CONFIGS_DIR / "data"
CONFIGS = sorted(CONFIGS_DIR.rglob("*.yaml"))
IDS = [str(p.relative_to(CONFIGS_DIR)) for p in CONFIGS]
LIMIT = 300
TEXT_LIMIT = 1600
"""The review file starts with 1,097 plot summaries, which the text configs exclude."""


@functools.cache
def _photos() -> Path:
    """The folder examples/fashion_folder.py writes (real Fashion-MNIST PNGs), made once."""
    source = Path("/usr/share/datasets/fashion-mnist")
    if not source.is_dir():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    spec = importlib.util.spec_from_file_location(
        "fashion_folder", ROOT / "examples" / "fashion_folder.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = Path(tempfile.mkdtemp(prefix="dltrain-photos-")) / "photos"
    module.write_folder(source, out, per_class=20, test_per_class=5)
    return out


def _data_overrides(path: Path) -> list[str]:
    """Where a config's data is not shipped: image folders read the example's photos. Text
    configs read the first reviews only (adapting on all 8,000 takes longer than it proves)."""
    data = load_config(path).config.data
    if data.kind == "image_folder":
        return [f"data.path={_photos()}"]
    if getattr(data, "text", None):
        return [f"data.limit={TEXT_LIMIT}"]
    return []


def _smoke_overrides(loaded: LoadedConfig) -> list[str]:
    """One epoch on a few hundred examples, on data available offline."""
    cfg = loaded.config
    overrides = ["training.epochs=1", f"data.limit={LIMIT}"]
    if cfg.data.kind == "mnist":
        overrides.append("data.kind=fashion_mnist")
    if cfg.training.batch_size == 1:
        overrides.append("training.batch_size=32")
    if cfg.distill is not None:
        # Its teacher is a run the user trains first; tests/test_distill.py distills.
        overrides.append("distill=null")
    return overrides


def _plot_signature(path: Path) -> str:
    """What a run's plots depend on: the data and targets (after the smoke overrides), the loss
    and metrics (the curves), a learning-rate schedule or not, and the model's kind and layer
    types (its ``predict`` feeds the test-split plots). Optimizers, sizes, rates and
    regularizers, which most shipped configs vary, do not change what is drawn."""
    loaded = load_config(path)
    resolved = load_config(path, _smoke_overrides(loaded)).to_dict()
    model = resolved["model"]
    layers = sorted({key for layer in model.get("layers", []) for key in layer if key[:1].isupper()})
    rate = resolved.get("optimizer", {}).get("learning_rate")
    return json.dumps(
        {
            "data": resolved["data"],
            "loss": resolved.get("loss"),
            "metrics": resolved.get("metrics"),
            "schedule": isinstance(rate, dict),
            "model": [model.get("type"), layers],
        },
        sort_keys=True,
        default=str,
    )


@functools.cache
def _plotted() -> frozenset[Path]:
    """The configs whose smoke run draws its plots: the first (by name) of each plot signature.
    The others would draw the same plots again from the same code path; they train, evaluate
    and save as shipped, with ``output.plots=false``. A config that does not load is kept
    (its own test then fails, saying why)."""
    seen: set[str] = set()
    kept: set[Path] = set()
    for path in CONFIGS:
        try:
            signature = _plot_signature(path)
        except Exception:  # noqa: BLE001  (reported by the config's own test)
            kept.add(path)
            continue
        if signature not in seen:
            seen.add(signature)
            kept.add(path)
    return frozenset(kept)


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("configs_data_generate", DATA_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHIPPED = [
    "activations.yaml",
    "audio/spoken_digits.yaml",
    "ci/csv.yaml",
    "ci/functional.yaml",
    "ci/image.yaml",
    "csv/linear_regression.yaml",
    "csv/logistic_regression.yaml",
    "csv/mlp_regression.yaml",
    "csv/multi_io.yaml",
    "csv/multiclass.yaml",
    "distill/fashion_mnist_mlp_student.yaml",
    "fashion_mnist_cnn.yaml",
    "gradient_descent/full_batch.yaml",
    "gradient_descent/lr_cosine_warmup.yaml",
    "gradient_descent/lr_exponential.yaml",
    "gradient_descent/lr_piecewise.yaml",
    "gradient_descent/minibatch.yaml",
    "gradient_descent/momentum.yaml",
    "gradient_descent/sgd.yaml",
    "images/fashion_folder.yaml",
    "mnist_cnn.yaml",
    "mnist_functional.yaml",
    "mnist_mlp.yaml",
    "mnist_rnn.yaml",
    "overfitting/augmentation.yaml",
    "overfitting/base.yaml",
    "overfitting/dropout.yaml",
    "overfitting/early_stopping.yaml",
    "overfitting/l2.yaml",
    "robust/fashion_mnist_adversarial.yaml",
    "text/bilstm.yaml",
    "text/embedding.yaml",
    "text/tfidf.yaml",
    "text/transformer.yaml",
    "tune/csv_regression.yaml",
    "tune/fashion_mnist_mlp.yaml",
]
"""Every config the repository ships, by name: one added, moved or lost changes this list."""


def test_configs_are_found() -> None:
    # Every shipped config is collected by the tests below, and nothing else is (a .yml, say,
    # would be skipped silently).
    assert IDS == SHIPPED
    assert not [p for p in CONFIGS_DIR.rglob("*") if p.suffix in (".yml", ".YAML")]


def test_run_names_are_unique() -> None:
    # A file that extends another must name itself, or its runs land in the parent's folder.
    names = {path: load_config(path).config.name for path in CONFIGS}
    seen: dict[str, Path] = {}
    for path, name in names.items():
        assert name not in seen, f"{path} and {seen[name]} share the run name {name!r}"
        seen[name] = path


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_builds(path: Path) -> None:
    loaded = load_config(path, _data_overrides(path))
    summary = inspect_config(loaded)
    assert summary.total_params > 0


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_trains_one_epoch(path: Path, tmp_path: Path) -> None:
    overrides = _smoke_overrides(load_config(path)) + _data_overrides(path)
    if path not in _plotted():
        overrides.append("output.plots=false")
    if path != CONFIGS_DIR / "mnist_mlp.yaml":
        # Compiling one epoch of a few hundred examples with XLA costs more than training it;
        # the main job keeps its `auto` (XLA on for this dense model), as users run it.
        overrides.append("training.jit_compile=false")
    result = run_experiment(path, overrides=overrides, runs_dir=tmp_path)

    assert result.status == "completed", result.message
    run_dir = result.run_dir
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == 1
    with (run_dir / "metrics.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 1
    assert (run_dir / "checkpoints" / "best.keras").is_file()
    test_metrics = manifest["final_metrics"]["test"]
    assert test_metrics and test_metrics == pytest.approx(result.test_metrics)
    assert all(math.isfinite(value) for value in test_metrics.values()), test_metrics
    if path in _plotted():
        assert any((run_dir / "plots").glob("*.png")), "no plots drawn"


def test_generator_reproduces_the_committed_csvs(tmp_path: Path) -> None:
    generator = _load_generator()
    written = generator.generate(tmp_path)
    committed = sorted(DATA_DIR.glob("*.csv"))
    assert sorted(p.name for p in written) == [p.name for p in committed]
    for path in committed:
        fresh = tmp_path / path.name
        assert fresh.read_bytes() == path.read_bytes(), f"{path.name} differs from generate.py"
        assert path.stat().st_size < 300_000, f"{path.name} is too big for the repository"
