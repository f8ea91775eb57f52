"""Image files (PNG, JPEG, BMP, GIF) decoded by Pillow into uint8 arrays of one size and mode.

Every image goes through the same steps, in this order, so training and ``dltrain predict``
see the same pixels:

1. **Open and decode.** Only the PNG, JPEG, BMP and GIF decoders are tried (a GIF gives its
   first frame). The whole file is decoded: a truncated file is a bad file ("truncated"), never
   a silently grey-padded image (``ImageFile.LOAD_TRUNCATED_IMAGES`` stays off). Pillow's
   decompression-bomb guard is kept: an image over twice ``PIL.Image.MAX_IMAGE_PIXELS`` is a bad
   file, one over it raises Pillow's ``DecompressionBombWarning`` (a bad file too where
   warnings are errors).
2. **Orientation.** The EXIF orientation tag is applied (``ImageOps.exif_transpose``), so a
   phone photo stands the way it was shot.
3. **Colour**, to 8 bits per channel:

   - palette (``P``, ``PA``) is expanded to RGB, or RGBA when it has transparency;
   - alpha (``RGBA``, ``LA``, ``PA``, a transparent palette) is composited onto black: each
     channel becomes ``round(value * alpha / 255)``, so a fully transparent pixel is 0;
   - 16-bit grayscale (``I;16``, ``I;16B``, ``I;16L``, and ``I`` clipped to 0..65535) becomes
     ``round(value / 257)``, so 65535 is 255; 16-bit colour PNGs (RGB, RGBA, and grayscale
     with alpha) reach us at 8 bits already: Pillow's decoder keeps each sample's high byte;
   - 32-bit float (``F``) is clipped to 0..255 and rounded (NaN becomes 0);
   - bilevel (``1``) becomes 0 and 255; CMYK and YCbCr are converted to RGB by Pillow;
   - then ``rgb`` copies a grayscale image into 3 channels, and ``grayscale`` takes Pillow's
     ITU-R 601-2 luma of an RGB image: ``L = R * 299/1000 + G * 587/1000 + B * 114/1000``.

4. **Size** ``(height, width)``, bilinear: ``crop`` resizes the largest centred part with the
   target's aspect ratio (``ImageOps.fit``), ``pad`` fits the whole image and centres it on
   black (``ImageOps.pad``), ``stretch`` resizes width and height apart. An image already that
   size is not resampled (its pixels are kept exactly). A JPEG much larger than the target is
   decoded at 1/2, 1/4 or 1/8 scale first (Pillow's ``draft``, still at least the target size),
   which is what makes a folder of phone photos quick to read.

The result is ``uint8 (height, width, channels)``: 3 channels for ``rgb``, 1 for ``grayscale``.
No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.JpegImagePlugin import JpegImageFile

from dltrain.data.folders.decoded import BadFile, Decoded, decode_files, file_problem
from dltrain.errors import first_line

__all__ = ["COLOR_MODES", "FORMATS", "RESIZE_MODES", "BadImage", "decode_image", "decode_images"]

FORMATS = ("PNG", "JPEG", "BMP", "GIF")
COLOR_MODES = {"rgb": 3, "grayscale": 1}
RESIZE_MODES = ("crop", "pad", "stretch")

_ALPHA = ("RGBA", "LA")
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_ORIENTATION = 0x0112
_TURNED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_LIMIT_REASON = "too large for Pillow's decompression-bomb guard (PIL.Image.MAX_IMAGE_PIXELS)"


class BadImage(BadFile):
    """An image file cannot be read: not an image, truncated, undecodable or of an unsupported
    mode (``path`` and ``reason`` say which and why)."""


def decode_image(path: Path, size: tuple[int, int], color_mode: str, resize: str) -> np.ndarray:
    """One image file as ``uint8 (height, width, channels)`` (see the module's steps).

    Args:
        path: The image file.
        size: ``(height, width)``.
        color_mode: ``rgb`` (3 channels) or ``grayscale`` (1).
        resize: ``crop``, ``pad`` or ``stretch``.

    Raises:
        BadImage: not an image, truncated, cannot be decoded, or an unsupported mode.
        ValueError: an unknown ``color_mode`` or ``resize``, or a size below 1.
    """
    _check_arguments(size, color_mode, resize)
    return _decode(path, size, color_mode, resize)[0]


def decode_images(
    paths: Sequence[Path],
    size: tuple[int, int],
    color_mode: str,
    resize: str,
    workers: int | None = None,
) -> Decoded:
    """Decode many image files in parallel threads (Pillow releases the GIL while decoding).

    Args:
        paths: The files, in the order of the result's rows.
        size: ``(height, width)``.
        color_mode: ``rgb`` or ``grayscale``.
        resize: ``crop``, ``pad`` or ``stretch``.
        workers: Threads; default one per core, at most 8. The result does not depend on it.

    Returns:
        The good images as ``uint8 (n, height, width, channels)``, their indices, each bad file
        with its reason, and what the good files were on disk: ``seen["size"]`` counts
        ``"WxH"``, ``seen["mode"]`` Pillow's modes (``"L"``, ``"RGBA"``, ``"I;16"``).
    """
    _check_arguments(size, color_mode, resize)
    shape = (size[0], size[1], COLOR_MODES[color_mode])

    def decode_into(path: Path, row: np.ndarray) -> dict[str, str]:
        row[...], facts = _decode(path, size, color_mode, resize)
        return facts

    return decode_files(paths, shape, np.uint8, decode_into, workers)


def _check_arguments(size: tuple[int, int], color_mode: str, resize: str) -> None:
    if color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode must be 'rgb' or 'grayscale'. Received: {color_mode=}")
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be 'crop', 'pad' or 'stretch'. Received: {resize=}")
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be (height, width), both at least 1. Received: {size=}")


def _decode(
    path: Path, size: tuple[int, int], color_mode: str, resize: str
) -> tuple[np.ndarray, dict[str, str]]:
    """The image's array and its facts on disk (``{"size": "640x480", "mode": "RGB"}``)."""
    problem = file_problem(path)
    if problem is not None:
        raise BadImage(path, problem)
    try:
        image = Image.open(path, formats=FORMATS)
    except UnidentifiedImageError:
        raise BadImage(path, "not an image file (PNG, JPEG, BMP or GIF)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # The warning arrives here only where warnings are errors (as in our tests).
        raise BadImage(path, _LIMIT_REASON) from None
    except OSError as exc:
        if exc.errno is not None:  # the disk or the file system, not the image
            raise BadImage(path, f"cannot be read: {exc.strerror or exc}") from None
        raise BadImage(path, _decode_reason(exc)) from None  # Pillow: a bad header
    except ValueError as exc:
        raise BadImage(path, _decode_reason(exc)) from None
    # Everything inside: closing a Pillow image frees its pixels.
    with image:
        width, height = image.size
        facts = {"size": f"{width}x{height}", "mode": image.mode}
        try:
            if isinstance(image, JpegImageFile):  # JPEG and MPO (phone photos)
                _draft(image, size)
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
        # A damaged file fails wherever its decoder trips: OSError is Pillow's usual answer,
        # but corrupt headers also raise SyntaxError, ValueError, struct.error, IndexError...
        # Each of those is the file's fault, not ours.
        except Exception as exc:
            raise BadImage(path, _decode_reason(exc)) from None
        converted = _to_mode(image, color_mode)
        if converted is None:
            raise BadImage(path, f"unsupported image mode {image.mode}")
        pixels = np.asarray(_resize(converted, size, resize), dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    return pixels, facts


def _decode_reason(exc: Exception) -> str:
    text = first_line(exc, empty=type(exc).__name__)
    if isinstance(exc, EOFError) or "truncated" in text:
        # Pillow says "image file is truncated (51 bytes not processed)": keep the detail.
        detail = text.replace("image file is truncated", "").strip()
        return f"truncated {detail}" if detail.startswith("(") else "truncated"
    return f"cannot be decoded: {text}"


def _draft(image: JpegImageFile, size: tuple[int, int]) -> None:
    """Let a large JPEG decode at 1/2, 1/4 or 1/8 scale, still at least the target size on
    both sides (enough for crop, pad and stretch alike)."""
    height, width = size
    if image.getexif().get(_ORIENTATION) in _TURNED:
        height, width = width, height
    image.draft(None, (width, height))


def _to_mode(image: Image.Image, color_mode: str) -> Image.Image | None:
    """The image as 8-bit ``RGB`` or ``L`` (the module's colour rule); None if unsupported."""
    eight = _to_eight_bit(image)
    if eight is None:
        return None
    target = "RGB" if color_mode == "rgb" else "L"
    return eight if eight.mode == target else eight.convert(target)


def _to_eight_bit(image: Image.Image) -> Image.Image | None:
    """The image as ``RGB`` or ``L`` with 8 bits per channel, alpha composited onto black."""
    mode = image.mode
    if mode in ("RGB", "L"):
        return image
    if mode in ("P", "PA"):
        transparent = mode == "PA" or image.has_transparency_data
        return _to_eight_bit(image.convert("RGBA" if transparent else "RGB"))
    if mode in ("RGBa", "La"):
        return _to_eight_bit(image.convert(mode.upper()))
    if mode in _ALPHA:
        values = np.asarray(image, dtype=np.uint16)
        alpha = values[:, :, -1:]
        # round(value * alpha / 255) in integers: + 127 before the floor division.
        composited = (values[:, :, :-1] * alpha + 127) // 255
        return _from_array(composited.astype(np.uint8))
    if mode in _SIXTEEN_BIT:
        values = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        return _from_array(((values + 128) // 257).astype(np.uint8))
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0)
        return _from_array(np.rint(np.clip(values, 0, 255)).astype(np.uint8))
    if mode in ("1", "CMYK", "YCbCr", "RGBX", "HSV", "LAB"):
        try:
            return image.convert("L" if mode == "1" else "RGB")
        except ValueError:
            return None
    return None


def _from_array(values: np.ndarray) -> Image.Image:
    """uint8 ``(H, W)`` or ``(H, W, 1)`` as ``L``, ``(H, W, 3)`` as ``RGB``."""
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(values))


def _resize(image: Image.Image, size: tuple[int, int], resize: str) -> Image.Image:
    height, width = size
    if image.size == (width, height):
        return image
    bilinear = Image.Resampling.BILINEAR
    if resize == "crop":
        return ImageOps.fit(image, (width, height), method=bilinear)
    if resize == "pad":
        return ImageOps.pad(image, (width, height), method=bilinear, color=0)
    return image.resize((width, height), bilinear)
