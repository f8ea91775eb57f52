"""Plain PNG files decoded inside the ``tf.data`` graph (streamed image folders).

For the files :func:`dltrain.data.images.png.plain_png` vouches for, ``tf.io.decode_png``
gives Pillow's pixels exactly (``tests/test_folder_stream.py`` compares the batches), in
TensorFlow's threads instead of Python's (docs/benchmarks.md, "Image-folder ingest").
"""

from __future__ import annotations

from typing import Any

__all__ = ["decode_png_batch"]


def decode_png_batch(files: Any, size: tuple[int, int], channels: int) -> Any:
    """A ``(len(files), height, width, channels)`` uint8 tensor of the PNG files named by the
    string tensor ``files``."""
    import tensorflow as tf

    def one(path: Any) -> Any:
        return tf.io.decode_png(tf.io.read_file(path), channels=channels)

    spec = tf.TensorSpec((*size, channels), tf.uint8)
    return tf.map_fn(one, files, fn_output_signature=spec, parallel_iterations=16)
