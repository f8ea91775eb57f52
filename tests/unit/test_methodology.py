"""Methodology checks fire on crafted cases and stay silent on clean ones (no TensorFlow)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from dltrain.config import config_from_dict
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.errors import ConfigError
from dltrain.train.checks import raise_if_strict
from dltrain.train.methodology import (
    Finding,
    duplicate_findings,
    first_loss_finding,
    leakage_findings,
    loss_findings,
    validation_findings,
)

MNIST = {"kind": "fashion_mnist", "path": "/nowhere"}


def _config(**body: Any) -> Any:
    return config_from_dict({"model": {"layers": ["Flatten"]}, **body}).config


def test_test_split_as_validation_is_found_only_when_something_is_chosen_on_it() -> None:
    (found,) = validation_findings(_config(data=MNIST))
    assert found.check == "test_as_validation"
    assert "checkpoint kept by val_loss is chosen on the test split" in found.message
    assert "data.validation: 0.1" in found.message
    stopping = _config(data=MNIST, callbacks={"early_stopping": {"patience": 2}})
    assert "early stopping on val_loss are chosen" in validation_findings(stopping)[0].message
    assert validation_findings(_config(data={**MNIST, "validation": 0.1})) == []
    chosen_on_loss = _config(data=MNIST, callbacks={"checkpoint": {"monitor": "loss"}})
    assert validation_findings(chosen_on_loss) == []


@dataclass
class _Activation:
    __name__: str


def _model(activation: str | None, units: int) -> Any:
    layer = SimpleNamespace(
        activation=_Activation(activation) if activation else None,
        output=SimpleNamespace(shape=(None, units)),
    )
    return SimpleNamespace(get_layer=lambda name: layer)


class _Loss:
    def __init__(self, name: str, from_logits: bool) -> None:
        self.config = {"name": name, "from_logits": from_logits}

    def get_config(self) -> dict[str, Any]:
        return self.config


MULTI = TargetInfo("y", "multiclass", num_classes=3)
BINARY = TargetInfo("y", "binary", num_classes=2)
REGRESSION = TargetInfo("y", "regression")


@pytest.mark.parametrize(
    ("activation", "units", "loss", "target", "check", "words"),
    [
        (
            "softmax",
            3,
            _Loss("sparse_categorical_crossentropy", True),
            MULTI,
            "loss_activation",
            "softmax output with a from_logits=True loss",
        ),
        ("sigmoid", 3, "categorical_crossentropy", MULTI, "loss_activation", "use softmax"),
        (
            "softmax",
            1,
            "categorical_crossentropy",
            BINARY,
            "loss_activation",
            "one unit with categorical_crossentropy",
        ),
        ("sigmoid", 1, "mse", BINARY, "loss_task", "a regression loss (mse) on the binary"),
        (
            "linear",
            3,
            "sparse_categorical_crossentropy",
            MULTI,
            "loss_activation",
            "a linear output with sparse_categorical_crossentropy",
        ),
    ],
)
def test_a_loss_that_does_not_fit_is_found(
    activation: str, units: int, loss: Any, target: TargetInfo, check: str, words: str
) -> None:
    found = loss_findings(_model(activation, units), [loss], [target], ["out"])
    assert check in {f.check for f in found}
    assert any(words in f.message for f in found), found


@pytest.mark.parametrize(
    ("activation", "units", "loss", "target"),
    [
        ("softmax", 3, "sparse_categorical_crossentropy", MULTI),
        ("linear", 3, _Loss("sparse_categorical_crossentropy", True), MULTI),
        ("sigmoid", 1, "binary_crossentropy", BINARY),
        ("linear", 1, "mse", REGRESSION),
    ],
)
def test_a_fitting_loss_is_silent(
    activation: str, units: int, loss: Any, target: TargetInfo
) -> None:
    assert loss_findings(_model(activation, units), [loss], [target], ["out"]) == []


def _spec(*targets: TargetInfo, inputs: tuple[InputInfo, ...] = ()) -> DataSpec:
    return DataSpec("csv", list(inputs), [], list(targets))


def test_first_loss_far_from_ln_c_is_found() -> None:
    spec = _spec(TargetInfo("y", "multiclass", num_classes=10))
    assert first_loss_finding(math.log(10) * 1.1, spec) is None
    found = first_loss_finding(14.7, spec)
    assert found is not None and "ln 10 = 2.3" in found.message
    assert first_loss_finding(14.7, _spec(REGRESSION)) is None


def test_test_examples_copied_from_training_are_counted() -> None:
    rng = np.random.default_rng(0)
    train = {"image": rng.integers(0, 255, (50, 4, 4), dtype=np.uint8)}
    test = {
        "image": np.concatenate(
            [train["image"][:3], rng.integers(0, 255, (7, 4, 4), dtype=np.uint8)]
        )
    }
    (found,) = duplicate_findings(train, test)
    assert found.message.startswith("3 of 10 test examples (30.0%)")
    texts = {"review": np.array(["good", "bad"]), "features": np.ones((2, 1), np.float32)}
    other = {"review": np.array(["good", "fine"]), "features": np.zeros((2, 1), np.float32)}
    # Every raw input must match: the same review with other numbers is a new example.
    assert duplicate_findings(texts, other) == []
    # Text held as UTF-8 bytes, as the pipeline may hold it, compares alike.
    reviews = np.array(["très bien".encode(), b"dull"], dtype=object)
    (found,) = duplicate_findings({"r": reviews}, {"r": np.array(["très bien".encode()])})
    assert found.message.startswith("1 of 1 test examples")
    as_bytes = np.array(["très bien".encode(), b"dull"])  # numpy's S dtype
    assert len(duplicate_findings({"r": as_bytes}, {"r": as_bytes[:1]})) == 1


def test_duplicates_of_numbers_need_every_input_to_match() -> None:
    rng = np.random.default_rng(2)
    train = {"a": rng.normal(size=(500, 3)).astype(np.float32), "b": np.arange(500.0)}
    test = {"a": train["a"][[5, 6, 7, 8]].copy(), "b": np.array([5.0, 6.0, -1.0, 8.0])}
    test["a"][3, 2] = np.nextafter(test["a"][3, 2], np.float32(1))  # one bit off
    # Rows 5 and 6 are copies; 7 has other numbers in b, 8 differs in one bit of a.
    (found,) = duplicate_findings(train, test)
    assert found.message.startswith("2 of 4 test examples (50.0%)")
    assert duplicate_findings(train, {"a": test["a"][2:], "b": test["b"][2:]}) == []


def test_a_single_feature_that_predicts_the_target_is_found() -> None:
    rng = np.random.default_rng(1)
    n = 400
    y = rng.integers(0, 3, n)
    noise = rng.normal(size=n)
    leak = y * 10.0 + rng.normal(scale=0.1, size=n)
    x = {"features": np.stack([noise, leak], axis=1).astype(np.float32)}
    columns = InputInfo("features", (2,), "float32", ("noise", "leak"))
    spec = _spec(TargetInfo("label", "multiclass", num_classes=3), inputs=(columns,))
    (found,) = leakage_findings(x, [y], spec)
    assert found.check == "leakage" and "column 'leak' alone predicts 'label'" in found.message
    price = rng.normal(size=n) * 1000 + 5000
    regression = _spec(TargetInfo("price", "regression"), inputs=(columns,))
    (copied,) = leakage_findings({"features": np.stack([noise, price], 1)}, [price], regression)
    assert "column 'leak'" in copied.message
    clean = {"features": np.stack([noise, rng.normal(size=n)], axis=1)}
    assert leakage_findings(clean, [y], spec) == []


def test_strict_makes_every_finding_an_error() -> None:
    findings = [Finding("duplicates", "3 of 10"), Finding("leakage", "column 'x'")]
    raise_if_strict(_config(data=MNIST), findings)  # warnings only by default
    with pytest.raises(ConfigError) as error:
        raise_if_strict(_config(data=MNIST, checks={"strict": True}), findings)
    assert [str(p) for p in error.value.problems] == [
        "checks.strict: duplicates: 3 of 10",
        "checks.strict: leakage: column 'x'",
    ]
