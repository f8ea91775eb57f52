"""tf2onnx logs unsupported ops instead of failing; the export names them and says what to use."""

from __future__ import annotations

import logging

from dltrain.export.onnx_format import _UnsupportedOps


def _record(text: str) -> logging.LogRecord:
    return logging.LogRecord("tf2onnx.tfonnx", logging.ERROR, __file__, 1, text, None, None)


def test_complex_fft_ops_point_to_stft_spectrogram() -> None:
    handler = _UnsupportedOps()
    handler.emit(_record("Tensorflow op [m/mel/Imag: Imag] is not supported"))
    handler.emit(_record("Unsupported ops: Counter({'Real': 1, 'Imag': 1})"))
    assert handler.ops == ["Real", "Imag"]
    message = handler.message()
    assert message.startswith("--format onnx: tf2onnx cannot convert the TensorFlow ops Imag, Real")
    assert "use STFTSpectrogram" in message


def test_other_ops_are_named_without_the_fft_hint() -> None:
    handler = _UnsupportedOps()
    handler.emit(_record("Unsupported ops: Counter({'StringSplitV2': 2})"))
    assert handler.message() == "--format onnx: tf2onnx cannot convert the TensorFlow op StringSplitV2"
