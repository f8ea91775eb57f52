"""dltrain explain's NumPy parts: permutation importance with a fake model, the rank
correlation and the randomized-model verdict, completeness, and the refusal message."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.explain.gradients import completeness
from dltrain.explain.methods import METHODS, applicable, refuse
from dltrain.explain.permutation import Column, Score, permutation_importance, raw_columns
from dltrain.explain.sample import run_kind
from dltrain.explain.sanity import randomization_check, spearman


def _table(n: int = 400, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 2)).astype(np.float32)  # column 0 informative, 1 noise
    words = rng.choice(np.array([b"red", b"blue"], dtype=object), size=(n, 1))
    y = 3.0 * features[:, 0] + 2.0 * (words[:, 0] == b"red")
    return {"features": features, "color": words}, y


def _mse_score(y: np.ndarray) -> Score:
    def score(x: dict[str, np.ndarray]) -> dict[str, float]:
        predicted = 3.0 * x["features"][:, 0] + 2.0 * (x["color"][:, 0] == b"red")
        error = predicted - y
        return {"loss": float(np.mean(error**2)), "accuracy": float(np.mean(np.abs(error) < 1))}

    return score


COLUMNS = [
    Column("signal", "features", 0),
    Column("noise", "features", 1),
    Column("color", "color", None),
]


def test_permutation_ranks_the_informative_column_above_noise() -> None:
    x, y = _table()
    result = permutation_importance(
        x,
        _mse_score(y),
        COLUMNS,
        directions={"loss": "min", "accuracy": "max"},
        repeats=4,
        seed=7,
    )
    order = [row.column for row in result.rows]
    assert order == ["signal", "color", "noise"]
    by_name = {row.column: row for row in result.rows}
    assert by_name["signal"].mean("loss") > 5.0  # 2 * 9 * var(x1) expected
    assert by_name["noise"].mean("loss") == 0.0 and by_name["noise"].std("loss") == 0.0
    # The metric that should rise (accuracy) drops: the oriented drop is positive.
    assert by_name["signal"].mean("accuracy") > 0.3
    assert len(by_name["signal"].drops["loss"]) == 4
    assert result.baseline == {"loss": 0.0, "accuracy": 1.0}


def test_permutation_is_seeded_and_leaves_the_input_alone() -> None:
    x, y = _table()
    before = {k: v.copy() for k, v in x.items()}

    def drops(columns: list[Column], seed: int) -> dict[str, list[float]]:
        result = permutation_importance(
            x, _mse_score(y), columns, directions={"loss": "min"}, repeats=3, seed=seed
        )
        return {r.column: r.drops["loss"] for r in result.rows}

    first = drops(COLUMNS, 1)
    assert drops(COLUMNS, 1) == first  # seeded
    assert drops(COLUMNS[::-1], 1) == first  # a column's shuffles do not depend on the others
    assert drops(COLUMNS, 2)["signal"] != first["signal"]
    for key in x:
        np.testing.assert_array_equal(x[key], before[key])


def test_raw_columns_split_a_numeric_input_into_its_columns() -> None:
    spec = DataSpec(
        kind="csv",
        raw_inputs=[
            InputInfo("features", (2,), "float32", ("x1", "x2")),
            InputInfo("color", (1,), "string", ("color",)),
            InputInfo("text", (), "string", ("text",)),
        ],
        model_inputs=[],
        targets=[TargetInfo("y", "regression")],
        text={"text": {"output_mode": "int"}},
    )
    assert raw_columns(spec) == [
        Column("x1", "features", 0),
        Column("x2", "features", 1),
        Column("color", "color", None),
        Column("text", "text", None),
    ]
    kind = run_kind(spec)
    assert kind.numeric == ("features",) and kind.token_columns == ("text",)
    assert not kind.images
    assert applicable(kind) == ["permutation", "integrated_gradients", "tokens"]


def test_spearman_matches_known_values() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spearman(a, a**3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.ones(5)) == 0.0
    # Ties share their mean rank: ranks (1.5, 1.5, 3) and (1, 2, 3) -> 0.866.
    assert spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(
        np.sqrt(3) / 2
    )


def test_randomization_check_fails_a_method_that_ignores_the_model() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((8, 12, 12))

    def stub(weights: np.ndarray) -> np.ndarray:  # "attributions" that never read weights
        return images * 2.0

    trained, shuffled = rng.normal(size=144), rng.permutation(rng.normal(size=144))
    check = randomization_check(stub(trained), stub(shuffled))
    assert check.spearman == pytest.approx(1.0) and not check.passed and not check.pooled
    # Maps that depend on the weights: independent for the two models.
    real = randomization_check(images * trained.reshape(12, 12), images * shuffled.reshape(12, 12))
    assert real.passed and real.spearman < 0.5
    # A randomized model that finds nothing anywhere: undefined correlations, counted.
    empty = randomization_check(images, np.zeros_like(images))
    assert empty.passed and empty.spearman == 0.0 and empty.constant == 8


def test_randomization_check_pools_few_values_per_example() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 3))
    check = randomization_check(a, a + 1e-3)
    assert check.pooled and not check.passed and check.constant == 0
    assert randomization_check(a, rng.normal(size=(50, 3))).passed


def test_completeness_summarizes_the_gap_per_example() -> None:
    attributions = np.array([[0.5, 0.5], [1.0, 0.0], [0.2, 0.2]])
    f_x, f_b = np.array([1.0, 1.0, 1.0]), np.array([0.0, 0.0, 0.0])
    check = completeness(attributions, f_x, f_b, steps=64, tolerance=0.05)
    assert check.median_gap == 0.0 and check.max_gap == pytest.approx(0.6)
    assert check.max_relative == pytest.approx(0.6) and check.passed
    assert not completeness(attributions * 0.5, f_x, f_b, steps=64).passed


def test_refusal_names_the_method_the_run_and_what_applies() -> None:
    spec = DataSpec(
        kind="fashion_mnist",
        raw_inputs=[InputInfo("image", (28, 28, 1))],
        model_inputs=[],
        targets=[TargetInfo("label", "multiclass", 10)],
    )
    kind = run_kind(spec)
    assert not METHODS["permutation"].applies(kind)
    message = str(refuse("permutation", kind, METHODS["permutation"].needs))
    assert "--method permutation" in message and "an image input" in message
    assert "integrated_gradients, saliency, gradcam" in message
    no_conv = str(refuse("gradcam", kind, "a convolution layer", has_conv=False))
    assert "gradcam" not in no_conv.split("apply:")[1]


def test_token_page_escapes_every_token_and_runs_no_script() -> None:
    from dltrain.explain.figures import HighlightedRow, token_page

    rows = [
        HighlightedRow(3, [("<script>alert(1)</script>", 0.4), ("&", -0.2)], 'said "<b>"'),
        HighlightedRow(7, [("fine", 0.0)], "output 0.5"),
    ]
    page = token_page(rows, title="t <i>", legend="red: for")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&amp;" in page and "&lt;b&gt;" in page and "t &lt;i&gt;" in page
    # The strongest token is fully coloured, the rest scaled against it; red for, blue against.
    assert "rgba(220,50,47,1.000)" in page and "rgba(38,139,210,0.500)" in page
    assert page.count('class="row"') == 2


def test_the_terminal_shows_the_top_rows_the_checks_and_the_folder(tmp_path: Path) -> None:
    from dltrain.cli.render.explain import render_explanation
    from dltrain.engine.explain import ExplainResult
    from dltrain.explain.gradients import completeness as summarize
    from dltrain.explain.record import Explanation, SummaryRow

    out = Explanation(
        method="integrated_gradients",
        split="test",
        examples=12,
        split_size=64,
        seed=3,
        checkpoint="checkpoints/best.keras",
        settings={"checkpoint_detail": "epoch 2"},
        summary_title="integrated gradients per column",
        value_label="mean |attribution|",
        summary=[SummaryRow(f"c{i}", 1.0 / (i + 1), None, "") for i in range(12)],
    )
    attributions = np.array([[0.5, 0.5], [1.0, 0.0]])
    out.checks["completeness"] = summarize(attributions, np.ones(2), np.zeros(2), 128).to_json()
    out.checks["randomization"] = randomization_check(
        np.eye(12), np.eye(12)[::-1], signed=True
    ).to_json()
    buffer = io.StringIO()
    render_explanation(Console(file=buffer, width=200), ExplainResult(out, tmp_path / "x"))
    text = buffer.getvalue()
    assert "integrated_gradients on 12 of 64 test examples" in text
    assert "c9" in text and "c10 " not in text and "(2 more in the CSV)" in text
    assert "completeness: median relative gap 0.00% (max 0.00%), 128 trapezoid steps" in text
    assert "tolerance 5%: passed" in text
    assert "randomization: Spearman" in text and "(signed, median per example)" in text
    assert f"written: {tmp_path / 'x'}" in text
