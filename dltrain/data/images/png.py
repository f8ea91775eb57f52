"""Which PNG files TensorFlow's ``tf.io.decode_png`` decodes to Pillow's pixels exactly.

Streamed image folders (``data.stream``) decode inside the ``tf.data`` graph when every file of
a split is a PNG that needs none of :mod:`dltrain.data.images.decode`'s conversions: 8 bits
per sample, grayscale (colour type 0) read as ``grayscale`` or RGB (colour type 2) read as
``rgb``, already ``image_size``, no transparency (``tRNS``) and no EXIF orientation
(``eXIf``). PNG is lossless, so both decoders give the same bytes. Headers only; no
TensorFlow here.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

__all__ = ["plain_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEAD = 4096
_COLOR_TYPES = {"grayscale": 0, "rgb": 2}


def plain_png(paths: Sequence[Path], size: tuple[int, int], color_mode: str) -> bool:
    """Whether every file is such a PNG of ``size`` (height, width) in ``color_mode``; False
    for an unreadable file (the check pass names it)."""
    for path in paths:
        try:
            with path.open("rb") as file:
                head = file.read(_HEAD)
        except OSError:
            return False
        if not _plain(head, size, _COLOR_TYPES.get(color_mode, -1)):
            return False
    return True


def _plain(head: bytes, size: tuple[int, int], color_type: int) -> bool:
    if not head.startswith(_SIGNATURE) or head[12:16] != b"IHDR" or len(head) < 33:
        return False
    width, height, depth, kind = struct.unpack_from(">IIBB", head, 16)
    if (height, width) != tuple(size) or depth != 8 or kind != color_type:
        return False
    offset = 8
    while offset + 8 <= len(head):
        (length,) = struct.unpack_from(">I", head, offset)
        chunk = head[offset + 4 : offset + 8]
        if chunk == b"IDAT":
            return True  # tRNS and eXIf come before the image data
        if chunk in (b"tRNS", b"eXIf"):
            return False
        offset += 12 + length
    return False
