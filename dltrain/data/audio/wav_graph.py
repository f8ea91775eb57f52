"""Plain 16-bit mono WAV files decoded inside the ``tf.data`` graph (streamed audio folders).

TensorFlow's ``tf.audio.decode_wav`` turns each 16-bit sample into ``value / 32768`` as
float32, and ``desired_samples`` crops a longer clip (its start kept) and pads a shorter one
with zeros: exactly what :func:`dltrain.data.audio.wav.read_waves` gives for such files
(``tests/test_folder_stream.py`` compares them batch for batch). Decoding in the graph runs in
TensorFlow's threads instead of Python's: a streamed folder of one-second clips is fed at
20,400-24,200 clips a second on 2 cores instead of 6,400-6,900 (docs/benchmarks.md,
"Audio-folder ingest"). Only splits whose every file
:func:`~dltrain.data.audio.wav.plain_mono_pcm16` vouches for take this path; the others keep
the Python reader.
"""

from __future__ import annotations

from typing import Any

__all__ = ["decode_wav_batch"]


def decode_wav_batch(files: Any, samples: int) -> Any:
    """A ``(len(files), samples)`` float32 tensor of the WAV files named by the string tensor
    ``files``."""
    import tensorflow as tf

    def one(path: Any) -> Any:
        wave = tf.audio.decode_wav(
            tf.io.read_file(path), desired_channels=1, desired_samples=samples
        )
        return wave.audio[:, 0]

    return tf.map_fn(
        one,
        files,
        fn_output_signature=tf.TensorSpec((samples,), tf.float32),
        parallel_iterations=16,
    )
