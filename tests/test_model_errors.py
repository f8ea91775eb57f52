"""Model-stage errors point at the file, line and key path, and suggest the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dltrain.config import LoadedConfig, load_config
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.errors import ConfigError
from dltrain.model import build_model, compile_model

MNIST = DataSpec(
    "mnist",
    [InputInfo("image", (28, 28))],
    [InputInfo("image", (28, 28))],
    [TargetInfo("label", "multiclass", 10, None, True)],
)
TWO_INPUTS = DataSpec(
    "csv",
    [InputInfo("left", (3,)), InputInfo("right", (2,))],
    [InputInfo("left", (3,)), InputInfo("right", (2,))],
    [TargetInfo("y", "regression")],
)


class Config:
    """A YAML file in a temporary folder, and where its lines are."""

    def __init__(self, tmp_path: Path, text: str) -> None:
        self.text = textwrap.dedent(text).lstrip()
        self.path = tmp_path / "exp.yaml"
        self.path.write_text(self.text)
        self.loaded: LoadedConfig = load_config(self.path)

    def at(self, marker: str) -> str:
        """``exp.yaml:LINE:`` of the first line containing ``marker``."""
        for number, line in enumerate(self.text.splitlines(), start=1):
            if marker in line:
                return f"{self.path}:{number}:"
        raise AssertionError(f"{marker!r} is not in the config")


def build_error(cfg: Config, spec: DataSpec = MNIST) -> str:
    with pytest.raises(ConfigError) as info, cfg.loaded.located():
        build_model(cfg.loaded.config, spec)
    return str(info.value)


def compile_error(cfg: Config, spec: DataSpec = MNIST) -> str:
    model = build_model(cfg.loaded.config, spec)
    with pytest.raises(ConfigError) as info, cfg.loaded.located():
        compile_model(model, cfg.loaded.config, spec)
    return str(info.value)


def sequential(tmp_path: Path, layers: str, extra: str = "") -> Config:
    body = "data: {kind: mnist}\nmodel:\n  layers:\n" + textwrap.indent(
        textwrap.dedent(layers).strip(), "    "
    )
    return Config(tmp_path, body + "\n" + textwrap.dedent(extra))


MLP = """
- Flatten: {}
- Dense: {units: 10, activation: softmax}
"""


def test_unknown_layer_class(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, "- Flatten: {}\n- Dens: {units: 10}")
    message = build_error(cfg)
    assert cfg.at("Dens:") + "7: model.layers[1].Dens: unknown layer class 'Dens' " in message
    assert "(did you mean 'Dense'?)" in message


def test_misspelled_argument_lists_accepted_ones(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, "- Flatten: {}\n- Dense: {unit: 10}")
    message = build_error(cfg)
    assert cfg.at("unit:") in message
    assert "model.layers[1].Dense.unit: Dense has no argument 'unit' (did you mean 'units'?)" in message
    assert "accepted: units, activation," in message


def test_all_layer_problems_are_reported_together(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, """
        - Flaten: {}
        - Dense: {units: 64, activaton: relu}
        - Dense: {units: 10, activation: sofmax}
    """)
    message = build_error(cfg)
    assert message.startswith("3 problems found:")
    assert cfg.at("Flaten") in message and "(did you mean 'Flatten'?)" in message
    assert cfg.at("activaton") in message and "(did you mean 'activation'?)" in message
    assert cfg.at("sofmax") in message
    assert "model.layers[2].Dense.activation: unknown activation 'sofmax'" in message
    assert "(did you mean 'softmax'?)" in message


def test_bad_argument_value_points_at_the_argument(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, "- Flatten: {}\n- Dense: {units: -3}")
    message = build_error(cfg)
    assert cfg.at("units: -3") + "" in message
    assert "model.layers[1].Dense.units:" in message and "positive integer" in message


def test_nested_regularizer_name(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, """
        - Flatten: {}
        - Dense:
            units: 10
            kernel_regularizer: {class_name: L3, config: {l2: 0.1}}
    """)
    message = build_error(cfg)
    assert cfg.at("kernel_regularizer") in message
    assert "model.layers[1].Dense.kernel_regularizer.class_name: unknown regularizer 'L3'" in message


def test_shape_mismatch_names_the_layer_and_line(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, "- Conv2D: {filters: 4, kernel_size: 3}\n" + MLP)
    message = build_error(cfg)
    assert cfg.at("Conv2D") + "7: model.layers[0].Conv2D: Input 0" in message
    assert "expected min_ndim=4, found ndim=3" in message


def test_keras_messages_lose_terminal_escape_codes(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, "- Dense: {units: 5}\n- Reshape: {target_shape: [7, 7]}\n" + MLP)
    message = build_error(cfg)
    assert "model.layers[1].Reshape: The total size of the tensor must be unchanged" in message
    assert "\x1b" not in message


def test_input_shape_must_match_the_data(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, MLP, "")
    text = cfg.text.replace("model:\n", "model:\n  input_shape: [28, 28, 1]\n")
    cfg = Config(tmp_path, text)
    message = build_error(cfg)
    assert cfg.at("input_shape") in message
    assert "model.input_shape: input_shape (28, 28, 1) does not match" in message


def test_output_width_must_fit_the_target(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, "- Flatten: {}\n- Dense: {units: 12, activation: softmax}")
    message = build_error(cfg)
    assert cfg.at("units: 12") in message
    assert "model.layers[1].Dense: outputs 12 values but the target 'label' has 10 classes" in message


def test_lambda_is_refused(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, "- Lambda: {function: 'x'}\n" + MLP)
    message = build_error(cfg)
    assert cfg.at("Lambda") + "7: model.layers[0].Lambda: Lambda layers run arbitrary" in message


FUNCTIONAL = """\
data: {kind: mnist}
model:
  type: functional
  inputs: {image: {}}
  layers:
    - {name: flat, Flatten: {}, inputs: image}
%s
  outputs: [%s]
"""


def functional(tmp_path: Path, layers: str, outputs: str = "out") -> Config:
    return Config(tmp_path, FUNCTIONAL % (textwrap.indent(textwrap.dedent(layers).strip(), "    "),
                                          outputs))


def test_undefined_reference_suggests_a_name(tmp_path: Path) -> None:
    cfg = functional(tmp_path, """
        - {name: hidden, Dense: {units: 8}, inputs: flat}
        - {name: out, Dense: {units: 10}, inputs: hiden}
    """)
    message = build_error(cfg)
    assert cfg.at("inputs: hiden") in message
    assert "model.layers[2].inputs: layer 'out' takes 'hiden', which is not an input" in message
    assert "(did you mean 'hidden'?)" in message


def test_cycle_is_named(tmp_path: Path) -> None:
    cfg = functional(tmp_path, """
        - {name: a, Add: {}, inputs: [flat, b]}
        - {name: b, Dense: {units: 784}, inputs: a}
        - {name: out, Dense: {units: 10}, inputs: b}
    """)
    message = build_error(cfg)
    assert cfg.at("name: a,") in message
    assert "layers form a cycle: a -> b -> a" in message


def test_unused_layer(tmp_path: Path) -> None:
    cfg = functional(tmp_path, """
        - {name: extra, Dense: {units: 3}, inputs: flat}
        - {name: out, Dense: {units: 10}, inputs: flat}
    """)
    message = build_error(cfg)
    assert cfg.at("name: extra") + "" in message
    assert "model.layers[1].name: layer 'extra' is not used by any output" in message


def test_bad_output_name(tmp_path: Path) -> None:
    cfg = functional(tmp_path, "- {name: out, Dense: {units: 10}, inputs: flat}", "outt")
    message = build_error(cfg)
    assert cfg.at("outputs:") in message
    assert "model.outputs[0]: output 'outt' is not an input or layer (did you mean 'out'?)" in message


def test_duplicate_names(tmp_path: Path) -> None:
    cfg = functional(tmp_path, """
        - {name: flat, Dense: {units: 10}, inputs: image}
        - {name: out, Dense: {units: 10}, inputs: flat}
    """)
    message = build_error(cfg)
    assert cfg.at("{name: flat, Dense") in message
    assert "model.layers[1].name: duplicate name 'flat'" in message


def test_inputs_bind_by_name_when_there_are_several(tmp_path: Path) -> None:
    cfg = Config(tmp_path, """\
        data: {kind: mnist}
        model:
          type: functional
          inputs: {left: {}, rigth: {}}
          layers:
            - {name: both, Concatenate: {}, inputs: [left, rigth]}
            - {name: out, Dense: {units: 1}, inputs: both}
          outputs: [out]
    """)
    message = build_error(cfg, TWO_INPUTS)
    assert cfg.at("inputs: {left") in message
    assert "model.inputs.rigth: the data has no input named 'rigth' (did you mean 'right'?)" in message
    assert "it provides: left, right" in message


def test_unknown_optimizer_loss_metric_and_schedule(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, MLP, """
        optimizer:
          name: adamm
          learning_rate: {class_name: ExponentialDecy, config: {initial_learning_rate: 0.1}}
        loss: categorical_crossentropyy
        metrics: [accuracy, precison]
    """)
    message = compile_error(cfg)
    assert message.startswith("4 problems found:")
    assert cfg.at("class_name: ExponentialDecy") in message
    assert "optimizer.learning_rate.class_name: unknown learning-rate schedule 'ExponentialDecy'" in message
    assert "(did you mean 'ExponentialDecay'?)" in message
    assert cfg.at("loss:") + "1: loss: unknown loss 'categorical_crossentropyy'" in message
    assert "(did you mean 'categorical_crossentropy'?)" in message
    assert cfg.at("metrics:") in message
    assert "metrics[1]: unknown metric 'precison' (did you mean 'Precision'?)" in message


def test_unknown_optimizer_name(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, MLP, "optimizer: {name: adamm}\n")
    message = compile_error(cfg)
    assert cfg.at("adamm") in message
    assert "optimizer.name: unknown optimizer 'adamm' (did you mean 'Adam'?)" in message


def test_misspelled_optimizer_argument(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, MLP, "optimizer:\n  name: sgd\n  momentun: 0.9\n")
    message = compile_error(cfg)
    assert cfg.at("momentun") in message
    assert "optimizer.momentun: SGD has no argument 'momentun' (did you mean 'momentum'?)" in message


def test_per_output_settings_name_real_outputs(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, "- Flatten: {}\n- {name: label, Dense: {units: 10}}", """
        loss: {lable: categorical_crossentropy}
        loss_weights: {label: 1.0, other: 2.0}
    """)
    message = compile_error(cfg)
    assert cfg.at("lable") in message
    assert "loss.lable: the model has no output named 'lable' (did you mean 'label'?)" in message
    assert cfg.at("other") in message and "loss_weights.other:" in message


def test_functional_shape_mismatch_names_the_layer_and_its_inputs(tmp_path: Path) -> None:
    cfg = functional(tmp_path, """
        - {name: wide, Dense: {units: 4}, inputs: flat}
        - {name: joined, Add: {}, inputs: [flat, wide]}
        - {name: out, Dense: {units: 10}, inputs: joined}
    """)
    message = build_error(cfg)
    assert cfg.at("name: joined") in message
    assert "model.layers[2].Add: layer 'joined': " in message
    assert "(inputs: [(None, 784), (None, 4)])" in message


def test_nested_and_wrapped_layers_are_checked_in_place(tmp_path: Path) -> None:
    cfg = sequential(tmp_path, """
        - Reshape: {target_shape: [28, 28]}
        - Bidirectional:
            layer: {LSTMM: {units: 4}}
        - Sequential:
            layers:
              - Dense: {units: 8, kernel_initializer: glorot_unifrom}
              - Dense: {units: 10}
    """)
    message = build_error(cfg)
    assert cfg.at("LSTMM") in message
    assert "model.layers[1].Bidirectional.layer.LSTMM: unknown layer class 'LSTMM'" in message
    assert cfg.at("glorot_unifrom") in message
    assert (
        "model.layers[2].Sequential.layers[0].Dense.kernel_initializer: unknown initializer "
        "'glorot_unifrom' (did you mean 'glorot_uniform'?)"
    ) in message


@pytest.mark.parametrize(
    ("setting", "wanted"),
    [("loss: mse2", "loss: unknown loss 'mse2' (did you mean 'mse'?)"),
     ("loss: msle_", "loss: unknown loss 'msle_' (did you mean 'msle'?)"),
     ("metrics: [maee]", "metrics[0]: unknown metric 'maee' (did you mean 'mae'?)")],
)
def test_short_loss_and_metric_names_are_suggested(tmp_path: Path, setting: str, wanted: str) -> None:
    cfg = sequential(tmp_path, MLP, setting + "\n")
    assert wanted in compile_error(cfg)
