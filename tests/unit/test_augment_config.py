"""``augment:`` at the config boundary: what the schema takes and refuses, by key. No TensorFlow."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dltrain.config import load_config
from dltrain.config.schema import AugmentConfig
from dltrain.errors import ConfigError

BASE = """\
data: {kind: mnist, channel_axis: true}
model:
  layers:
    - Flatten: {}
    - Dense: {units: 10, activation: softmax}
"""


def write(tmp_path: Path, augment: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(BASE + textwrap.dedent(augment))
    return path


def test_the_keys_keep_their_order() -> None:
    # The layers run in this order and each key's seed is `seed` + its place here: reordering
    # the fields would change what existing configs draw (and what a --resume continues).
    assert list(AugmentConfig.model_fields) == [
        "flip",
        "rotate",
        "zoom",
        "translate",
        "contrast",
        "brightness",
        "shift",
        "noise",
    ]


def test_a_full_section_loads(tmp_path: Path) -> None:
    text = """\
    augment:
      flip: horizontal_and_vertical
      rotate: 0.1
      zoom: 0.2
      translate: 0.05
      contrast: 0.3
      brightness: 0.2
      noise: 0.01
    """
    augment = load_config(write(tmp_path, text)).config.augment
    assert augment is not None
    assert augment.flip == "horizontal_and_vertical" and augment.zoom == pytest.approx(0.2)
    assert augment.shift is None and augment.noise == pytest.approx(0.01)
    assert load_config(write(tmp_path, "")).config.augment is None


def test_bad_values_and_keys_are_located(tmp_path: Path) -> None:
    text = """\
    augment:
      flip: diagonal
      rotate: 1.5
      noise: 0
      zoon: 0.1
    """
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    keys = {problem.path for problem in info.value.problems}
    assert keys == {"augment.flip", "augment.rotate", "augment.noise", "augment.zoon"}
    rendered = info.value.render()
    assert "c.yaml:7:" in rendered and "c.yaml:10:" in rendered  # flip's line, zoon's line
    assert "zoom" in rendered  # did you mean
