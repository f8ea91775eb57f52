"""``training.adversarial`` and ``eval --attack`` refusals, answered without TensorFlow."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.config import config_from_dict, load_config
from dltrain.config.adversarial_schema import pgd_step_size
from dltrain.engine.adversarial import check_adversarial
from dltrain.engine.attack import parse_epsilons
from dltrain.errors import ConfigError, UsageError
from dltrain.report.attack_plot import write_attack_plot

MLP = """\
name: mlp
data: {kind: mnist, validation: 0.1}
model:
  input_shape: [28, 28]
  layers:
    - Flatten: {}
    - Dense: {units: 10, activation: softmax}
training:
  epochs: 1
"""


def _load(tmp_path: Path, overrides: list[str]) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(MLP))
    with pytest.raises(ConfigError) as caught:
        check_adversarial(load_config(path, overrides))
    return caught.value.render()


def test_a_valid_setting_loads_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(MLP)
    cfg = load_config(path, ["training.adversarial={method: pgd, epsilon: 0.03}"]).config
    adv = cfg.training.adversarial
    assert adv is not None
    assert (adv.method, adv.epsilon, adv.ratio, adv.steps, adv.step_size) == (
        "pgd",
        0.03,
        0.5,
        10,
        None,
    )
    assert pgd_step_size(adv.epsilon, adv.steps, adv.step_size) == pytest.approx(0.0075)
    check_adversarial(load_config(path, ["training.adversarial={epsilon: 0.03}"]))  # no conflict


def test_a_saved_config_with_every_default_reads_back(tmp_path: Path) -> None:
    # run.json's config.yaml writes steps: 10 and step_size: null for an FGSM run too.
    path = tmp_path / "c.yaml"
    path.write_text(MLP)
    loaded = load_config(path, ["training.adversarial={epsilon: 0.1}"])
    again = config_from_dict(loaded.to_dict()).config.training.adversarial
    assert again is not None and again.method == "fgsm" and again.steps == 10


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("{epsilon: 0}", "greater than 0"),
        ("{epsilon: -0.1}", "greater than 0"),
        ("{method: fgsm}", "epsilon"),
        ("{epsilon: 0.1, ratio: 0}", "greater than 0"),
        ("{epsilon: 0.1, ratio: 1.5}", "less than or equal to 1"),
        ("{epsilon: 0.1, method: bim}", "'fgsm' or 'pgd'"),
        ("{epsilon: 0.1, epsillon: 0.2}", "epsillon"),
        ("{epsilon: 0.1, steps: 5}", "steps only apply to method: pgd"),
        ("{epsilon: 0.1, method: pgd, steps: 0}", "greater than 0"),
        ("{epsilon: 0.1, method: pgd, step_size: 0}", "greater than 0"),
    ],
)
def test_bad_settings_are_located_config_errors(tmp_path: Path, value: str, fragment: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(MLP)
    with pytest.raises(ConfigError) as caught:
        load_config(path, [f"training.adversarial={value}"])
    message = caught.value.render()
    assert "training.adversarial" in message
    assert fragment in message


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        (["distill={teacher: runs/t}"], "training.adversarial", "cannot be combined with distill"),
        (
            ["training.fine_tune={after_epoch: 1}"],
            "training.adversarial",
            "cannot be combined with training.fine_tune",
        ),
        (["distribute.strategy=multi_worker_mirrored"], "distribute.strategy", "one machine"),
    ],
)
def test_settings_it_cannot_work_with_are_refused(
    tmp_path: Path, overrides: list[str], key: str, fragment: str
) -> None:
    message = _load(tmp_path, ["training.adversarial={epsilon: 0.1}", *overrides])
    assert key in message and fragment in message


def test_epsilons_are_parsed_sorted_with_the_clean_score_first() -> None:
    assert parse_epsilons("0.1, 0.01,0.03,0.1") == [0.0, 0.01, 0.03, 0.1]
    assert parse_epsilons("0") == [0.0]
    for bad in ("abc", "-0.1", "nan", "0.1,,0.2", "inf"):
        with pytest.raises(UsageError, match="--epsilon takes comma-separated numbers"):
            parse_epsilons(bad)


def test_cli_refuses_a_bad_attack_request_with_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["eval", str(tmp_path), "--attack", "fgsm", "--epsilon", "x"])
    assert bad.exit_code == 2 and "--epsilon takes comma-separated numbers" in bad.output
    unknown = runner.invoke(app, ["eval", str(tmp_path), "--attack", "bim"])
    assert unknown.exit_code == 2 and "--attack must be one of fgsm, pgd" in unknown.output
    with_data = runner.invoke(
        app, ["eval", str(tmp_path), "--attack", "fgsm", "--data", str(tmp_path / "x.csv")]
    )
    assert with_data.exit_code == 2 and "drop --data" in with_data.output
    plain_n = runner.invoke(app, ["eval", str(tmp_path), "-n", "5"])
    assert plain_n.exit_code == 2 and "-n applies to --attack" in plain_n.output
    assert "Traceback" not in bad.output + unknown.output + with_data.output + plain_n.output


def test_the_plot_is_written(tmp_path: Path) -> None:
    path = write_attack_plot(
        tmp_path / "attack.png",
        [0.0, 0.01, 0.03],
        [0.9, 0.6, 0.2],
        metric="accuracy",
        title="FGSM on test (10 examples)",
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
