"""``precision: auto``: which policy each device and model family gets, and why (no TensorFlow).

The device is given to the decision, so every branch is checked on any host: bfloat16 only
for convolutional image models on AMX / AVX512-BF16 CPUs or GPUs of compute capability 8.0+.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dltrain.config.precision import (
    Device,
    PrecisionChoice,
    cpu_flags,
    decide_precision,
    recorded_policy,
    resolved_policy,
)
from dltrain.config.schema import ExperimentConfig
from dltrain.storage.manifest import PrecisionRecord

AVX2 = Device(frozenset({"fpu", "sse2", "avx2", "fma"}))
AMX = Device(frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
AVX512_BF16 = Device(frozenset({"avx512f", "avx512_bf16"}))

CNN = [
    {"Reshape": {"target_shape": [28, 28, 1]}},
    {"Conv2D": {"filters": 8, "kernel_size": 3, "activation": "relu"}},
    {"MaxPooling2D": {"pool_size": 2}},
    {"Dropout": {"rate": 0.25}},
    {"Flatten": {}},
    {"Dense": {"units": 10, "activation": "softmax"}},
]
MLP = [{"Flatten": {}}, {"Dense": {"units": 32, "activation": "relu"}}, {"Dense": {"units": 10}}]
RNN = [{"LSTM": {"units": 16}}, {"Dense": {"units": 10, "activation": "softmax"}}]


def config(layers: list[Any], *, kind: str = "fashion_mnist", **extra: Any) -> ExperimentConfig:
    data: dict[str, Any] = {"kind": kind}
    if kind == "csv":
        data = {"kind": "csv", "path": "t.csv", "target": "y"}
    return ExperimentConfig.model_validate(
        {"data": data, "model": {"input_shape": [28, 28], "layers": layers}, **extra}
    )


def test_auto_is_the_default_and_explicit_policies_are_kept_whatever_the_device() -> None:
    assert ExperimentConfig.model_fields["precision"].default == "auto"
    for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
        choice = decide_precision(config(MLP, precision=policy), AVX2)
        assert choice == PrecisionChoice(policy, policy, f"precision: {policy}")


def test_a_convolutional_image_model_gets_bfloat16_only_where_the_cpu_has_it() -> None:
    on_avx2 = decide_precision(config(CNN), AVX2)
    assert (on_avx2.setting, on_avx2.policy) == ("auto", "float32")
    assert "no fast bfloat16" in on_avx2.reason and "emulated" in on_avx2.reason
    on_amx = decide_precision(config(CNN), AMX)
    assert on_amx.policy == "mixed_bfloat16"
    assert "amx_bf16, avx512_bf16" in on_amx.reason and "(Conv2D)" in on_amx.reason
    assert decide_precision(config(CNN), AVX512_BF16).policy == "mixed_bfloat16"
    unknown = decide_precision(config(CNN), Device(None))
    assert unknown.policy == "float32" and "cannot be read" in unknown.reason


def test_gpus_decide_by_compute_capability_not_the_cpu() -> None:
    ampere = Device(frozenset({"avx2"}), (("NVIDIA A100", (8, 0)),))
    choice = decide_precision(config(CNN), ampere)
    assert choice.policy == "mixed_bfloat16" and "NVIDIA A100" in choice.reason
    turing = Device(AMX.cpu_flags, (("Tesla T4", (7, 5)),))
    choice = decide_precision(config(CNN), turing)
    assert choice.policy == "float32" and "Tesla T4 (7.5)" in choice.reason
    unknown = Device(AMX.cpu_flags, (("GPU:0", None),))
    assert "compute capability unknown" in decide_precision(config(CNN), unknown).reason


@pytest.mark.parametrize(
    ("layers", "kind", "said"),
    [
        (MLP, "fashion_mnist", "no convolution"),
        (RNN, "mnist", "recurrent layers (LSTM)"),
        (
            [{"Bidirectional": {"layer": {"GRU": {"units": 4}}}}, *CNN[1:]],
            "mnist",
            "recurrent layers (Bidirectional)",
        ),
        ([{"Conv1D": {"filters": 4, "kernel_size": 3}}, {"Dense": {"units": 1}}], "csv", "csv"),
    ],
)
def test_dense_recurrent_and_non_image_models_keep_float32_even_with_amx(
    layers: list[Any], kind: str, said: str
) -> None:
    choice = decide_precision(config(layers, kind=kind), AMX)
    assert choice.policy == "float32" and said in choice.reason


def test_convolutions_inside_a_nested_block_count() -> None:
    block = {"Sequential": {"layers": [CNN[1], {"BatchNormalization": {}}, CNN[2]]}}
    layers = [CNN[0], block, {"GlobalAveragePooling2D": {}}, CNN[-1]]
    choice = decide_precision(config(layers), AMX)
    assert choice.policy == "mixed_bfloat16" and "(Conv2D)" in choice.reason


def test_cpu_flags_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\nflags\t\t: fpu avx2\n"
    )
    assert cpu_flags(info) == frozenset({"fpu", "avx2", "amx_bf16"})
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert cpu_flags(arm) == frozenset({"fp", "asimd", "bf16"})
    assert cpu_flags(tmp_path / "missing") is None


def test_recorded_policy_reads_records_and_older_strings() -> None:
    record = PrecisionRecord(setting="auto", policy="mixed_bfloat16", reason="auto: ...")
    assert recorded_policy(record) == "mixed_bfloat16"
    assert recorded_policy("float32") == "float32"  # run.json before precision: auto
    assert recorded_policy(None) is None and recorded_policy("auto") is None


def test_a_saved_runs_recorded_policy_wins_over_this_machines_choice() -> None:
    # eval, explain, attack and export configure what the run trained with.
    record = PrecisionRecord(setting="auto", policy="mixed_bfloat16", reason="auto: ...")
    assert resolved_policy(config(MLP), record) == "mixed_bfloat16"
    assert resolved_policy(config(MLP), "float32") == "float32"
    assert resolved_policy(config(MLP)) == "float32"  # none recorded: decided here
