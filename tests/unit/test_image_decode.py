"""Image decoding (dltrain.data.images.decode) on real Fashion-MNIST pixels written as files."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from dltrain.data.folders.decoded import Decoded, bad_files_message
from dltrain.data.idx import read_idx
from dltrain.data.images import decode as decode_module
from dltrain.data.images.decode import BadImage, decode_image, decode_images

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


@pytest.fixture(scope="module")
def fashion() -> np.ndarray:
    """16 real Fashion-MNIST images, uint8 (16, 28, 28)."""
    if not FASHION.is_file():
        pytest.skip(f"real Fashion-MNIST not installed in {FASHION.parent}")
    return read_idx(FASHION, 3, limit=16)


def _colour(fashion: np.ndarray) -> np.ndarray:
    """A real-pixel RGB image: three different garments as the R, G and B channels."""
    return np.stack([fashion[0], fashion[1], fashion[2]], axis=-1)


def _save(image: Image.Image, path: Path, **options: Any) -> Path:
    image.save(path, **options)
    return path


def _cut(path: Path, name: str) -> Path:
    """A copy of ``path`` cut in half: a truncated download."""
    data = path.read_bytes()
    target = path.with_name(name)
    target.write_bytes(data[: len(data) // 2])
    return target


def test_every_format_decodes_to_the_asked_shape(fashion: np.ndarray, tmp_path: Path) -> None:
    gray, colour = fashion[3], _colour(fashion)
    rgba = np.dstack([colour, np.full((28, 28), 255, np.uint8)])
    files = [
        _save(Image.fromarray(gray), tmp_path / "gray.png"),
        _save(Image.fromarray(colour), tmp_path / "colour.png"),
        _save(Image.fromarray(colour), tmp_path / "colour.jpg", quality=95),
        _save(Image.fromarray(gray), tmp_path / "gray.bmp"),
        _save(Image.fromarray(gray), tmp_path / "gray.gif"),
        _save(Image.fromarray(rgba), tmp_path / "alpha.png"),
        _save(Image.fromarray(colour).quantize(64), tmp_path / "palette.png"),
        _save(Image.fromarray(gray.astype(np.uint16) * 257), tmp_path / "deep.png"),
    ]
    for color_mode, channels in (("rgb", 3), ("grayscale", 1)):
        for size in ((28, 28), (20, 36)):
            decoded = decode_images(files, size, color_mode, "crop")
            assert decoded.array.shape == (len(files), *size, channels)
            assert decoded.array.dtype == np.uint8
            assert decoded.kept.tolist() == list(range(len(files)))
            assert decoded.kept.dtype == np.int64
            assert decoded.bad == []
    assert decoded.seen == {
        "size": Counter({"28x28": 8}),
        # Pillow writes a grayscale GIF as a palette (P) image
        "mode": Counter({"L": 2, "RGB": 2, "P": 2, "RGBA": 1, "I;16": 1}),
    }


def test_lossless_files_round_trip_exactly_at_native_size(
    fashion: np.ndarray, tmp_path: Path
) -> None:
    gray, colour = fashion[4], _colour(fashion)
    for name in ("gray.png", "gray.bmp", "gray.gif"):
        path = _save(Image.fromarray(gray), tmp_path / name)
        np.testing.assert_array_equal(
            decode_image(path, (28, 28), "grayscale", "crop")[..., 0], gray
        )
        # rgb copies a grayscale image into three equal channels
        np.testing.assert_array_equal(
            decode_image(path, (28, 28), "rgb", "pad"), np.repeat(gray[..., None], 3, axis=-1)
        )
    path = _save(Image.fromarray(colour), tmp_path / "colour.png")
    np.testing.assert_array_equal(decode_image(path, (28, 28), "rgb", "stretch"), colour)
    # grayscale is Pillow's ITU-R 601-2 luma of the RGB pixels
    luma = (colour.astype(np.float64) @ [0.299, 0.587, 0.114])[..., None]
    assert np.abs(decode_image(path, (28, 28), "grayscale", "crop") - luma).max() <= 1
    # no chroma subsampling: the three garments are unrelated, their colours change per pixel
    jpeg = _save(Image.fromarray(colour), tmp_path / "colour.jpg", quality=95, subsampling=0)
    lossy = decode_image(jpeg, (28, 28), "rgb", "crop").astype(np.int16)
    assert np.abs(lossy - colour).mean() < 8


def test_alpha_is_composited_onto_black(fashion: np.ndarray, tmp_path: Path) -> None:
    colour = _colour(fashion)
    alpha = np.zeros((28, 28), np.uint8)
    alpha[:, 14:] = 255
    alpha[:, 10] = 128
    path = _save(Image.fromarray(np.dstack([colour, alpha])), tmp_path / "alpha.png")
    pixels = decode_image(path, (28, 28), "rgb", "crop").astype(np.int64)
    assert (pixels[:, :10] == 0).all()  # fully transparent -> black
    np.testing.assert_array_equal(pixels[:, 14:], colour[:, 14:])  # opaque -> unchanged
    np.testing.assert_array_equal(
        pixels[:, 10], (colour[:, 10].astype(np.int64) * 128 + 127) // 255
    )
    gray = fashion[5]
    path = _save(Image.fromarray(np.dstack([gray, alpha]), "LA"), tmp_path / "gray_alpha.png")
    pixels = decode_image(path, (28, 28), "grayscale", "crop")[..., 0]
    assert (pixels[:, :10] == 0).all()
    np.testing.assert_array_equal(pixels[:, 14:], gray[:, 14:])


def test_transparent_palette_entries_become_black(fashion: np.ndarray, tmp_path: Path) -> None:
    palette = Image.fromarray(_colour(fashion)).quantize(16)
    indices = np.asarray(palette)
    palette.info["transparency"] = int(indices[0, 0])
    path = _save(palette, tmp_path / "palette.png", transparency=int(indices[0, 0]))
    with Image.open(path) as image:
        assert image.mode == "P"
    pixels = decode_image(path, (28, 28), "rgb", "crop")
    assert (pixels[indices == indices[0, 0]] == 0).all()
    opaque = np.asarray(palette.convert("RGB"))[indices != indices[0, 0]]
    np.testing.assert_array_equal(pixels[indices != indices[0, 0]], opaque)


def test_sixteen_bit_grayscale_is_divided_by_257(tmp_path: Path) -> None:
    values = np.array([[0, 128, 129, 257, 32896, 65535]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "deep.png")
    with Image.open(path) as image:
        assert image.mode == "I;16"
    pixels = decode_image(path, (1, 6), "grayscale", "crop")[..., 0]
    assert pixels.tolist() == [[0, 0, 1, 1, 128, 255]]
    assert decode_image(path, (1, 6), "rgb", "crop")[0, -1].tolist() == [255, 255, 255]


def test_float_bilevel_and_wide_integer_modes() -> None:
    to_mode = decode_module._to_mode
    floats = Image.fromarray(np.array([[-5.0, 0.4, 0.6, 254.5, 300.0, np.nan]], np.float32))
    assert np.asarray(to_mode(floats, "grayscale")).tolist() == [[0, 0, 1, 254, 255, 0]]
    wide = Image.fromarray(np.array([[-1, 65535, 70000, 514]], np.int32))
    assert wide.mode == "I"
    assert np.asarray(to_mode(wide, "grayscale")).tolist() == [[0, 255, 255, 2]]
    bilevel = Image.fromarray(np.array([[0, 255]], np.uint8)).convert("1")
    assert np.asarray(to_mode(bilevel, "rgb")).tolist() == [[[0, 0, 0], [255, 255, 255]]]
    assert to_mode(Image.new("CMYK", (2, 1)), "rgb") is not None


def test_crop_pad_and_stretch_geometry(tmp_path: Path) -> None:
    white = _save(Image.new("L", (20, 10), 255), tmp_path / "white.png")  # 20 wide, 10 high
    padded = decode_image(white, (10, 10), "grayscale", "pad")[..., 0]
    assert (padded[:2] == 0).all() and (padded[7:] == 0).all()  # black rows above and below
    assert (padded[2:7] == 255).all()  # every column of the image kept
    assert (decode_image(white, (10, 10), "grayscale", "crop") == 255).all()
    assert (decode_image(white, (10, 10), "grayscale", "stretch") == 255).all()
    tall = decode_image(white, (20, 10), "rgb", "pad")
    assert tall.shape == (20, 10, 3)
    assert (tall[:7] == 0).all() and (tall[8:12] == 255).all() and (tall[13:] == 0).all()

    band = np.zeros((10, 20), np.uint8)
    band[:, 5:15] = 255  # black left and right quarters
    path = _save(Image.fromarray(band), tmp_path / "band.png")
    assert (decode_image(path, (10, 10), "grayscale", "crop") == 255).all()  # centre kept
    stretched = decode_image(path, (10, 10), "grayscale", "stretch")[..., 0]
    assert (stretched[:, :2] == 0).all() and (stretched[:, 3:7] == 255).all()
    assert (stretched[:, 8:] == 0).all()
    wide = decode_image(path, (5, 30), "grayscale", "crop")
    assert wide.shape == (5, 30, 1)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40), np.uint8)
    pixels[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = _save(Image.fromarray(pixels), tmp_path / "phone.jpg", exif=exif.tobytes())
    upright = decode_image(path, (40, 20), "grayscale", "stretch")[..., 0]
    assert upright.shape == (40, 20)
    assert upright[:18].mean() > 240 and upright[22:].mean() < 15  # the left is now on top
    small = decode_image(path, (8, 4), "grayscale", "stretch")[..., 0]  # drafted, still turned
    assert small[:3].mean() > 200 and small[5:].mean() < 50


def test_large_jpeg_drafts_close_to_a_full_decode(fashion: np.ndarray, tmp_path: Path) -> None:
    big = Image.fromarray(_colour(fashion)).resize((448, 336), Image.Resampling.BICUBIC)
    path = _save(big, tmp_path / "big.jpg", quality=95)
    fast = decode_image(path, (32, 32), "rgb", "crop").astype(np.int16)
    with Image.open(path) as image:
        image.load()
        full = np.asarray(ImageOps.fit(image, (32, 32), method=Image.Resampling.BILINEAR))
    assert np.abs(fast - full).mean() < 6
    assert decode_image(path, (32, 32), "rgb", "pad").shape == (32, 32, 3)


def test_bad_files_are_named_with_reasons(fashion: np.ndarray, tmp_path: Path) -> None:
    colour = Image.fromarray(_colour(fashion))
    good = _save(colour, tmp_path / "good.png")
    jpeg = _save(colour.resize((112, 112)), tmp_path / "good.jpg")
    text = tmp_path / "notes.png"
    text.write_text("not pixels\n")
    empty = tmp_path / "empty.png"
    empty.touch()
    tiff = _save(colour, tmp_path / "scan.png", format="TIFF")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    header = bytearray(_save(colour, tmp_path / "odd.bmp").read_bytes())
    header[14:18] = (77).to_bytes(4, "little")  # no BMP header is 77 bytes long
    odd = tmp_path / "odd.bmp"
    odd.write_bytes(bytes(header))
    paths = [
        _cut(good, "cut.png"),
        good,
        _cut(jpeg, "cut.jpg"),
        text,
        jpeg,
        empty,
        tiff,
        tmp_path / "missing.png",
        folder,
        odd,
    ]
    decoded = decode_images(paths, (28, 28), "rgb", "crop", workers=3)
    assert decoded.kept.tolist() == [1, 4]
    # Closed up in place, in a buffer TensorFlow can hold without copying it (64-byte aligned).
    assert decoded.array.shape == (2, 28, 28, 3) and decoded.array.ctypes.data % 64 == 0
    assert decoded.array.flags.c_contiguous
    np.testing.assert_array_equal(decoded.array[0], np.asarray(colour))
    np.testing.assert_array_equal(decoded.array[1], decode_image(jpeg, (28, 28), "rgb", "crop"))
    reasons = dict(decoded.bad)
    assert [path for path, _ in decoded.bad] == [p for i, p in enumerate(paths) if i not in (1, 4)]
    assert reasons[paths[0]].startswith("truncated")
    assert reasons[paths[2]].startswith("truncated")
    assert reasons[text] == "not an image file (PNG, JPEG, BMP or GIF)"
    assert reasons[tiff] == "not an image file (PNG, JPEG, BMP or GIF)"
    assert reasons[empty] == "empty file (0 bytes)"
    assert reasons[tmp_path / "missing.png"] == "file not found"
    assert reasons[folder] == "is a folder, not a file"
    assert reasons[odd] == "cannot be decoded: Unsupported BMP header type (77)"
    message = bad_files_message(decoded.bad, "image")
    lines = message.splitlines()
    assert lines[0] == "8 image files cannot be read:"
    assert lines[1:-1] == [f"  {path}: {reason}" for path, reason in decoded.bad]
    assert lines[-1] == "(data.bad_files: skip leaves them out)"
    assert bad_files_message(decoded.bad[:1], "image").startswith("1 image file cannot be read:")
    with pytest.raises(BadImage) as caught:
        decode_image(paths[0], (28, 28), "rgb", "crop")
    assert caught.value.path == paths[0] and caught.value.reason.startswith("truncated")
    assert str(caught.value).startswith(f"{paths[0]}: truncated")


def test_decompression_bomb_limit_is_kept(
    fashion: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _save(Image.fromarray(fashion[0]), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 784 pixels > 2 x 100
    decoded = decode_images([path], (28, 28), "rgb", "crop")
    assert decoded.array.shape == (0, 28, 28, 3)
    assert "decompression-bomb" in decoded.bad[0][1]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # over the limit, under twice it
    with pytest.warns(Image.DecompressionBombWarning):
        assert decode_images([path], (28, 28), "rgb", "crop", workers=1).bad == []
    with warnings.catch_warnings(), pytest.raises(BadImage, match="bomb"):
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        decode_image(path, (28, 28), "rgb", "crop")


def test_results_do_not_depend_on_workers(fashion: np.ndarray, tmp_path: Path) -> None:
    paths = []
    for index, image in enumerate(fashion):
        options = {"quality": 90} if index % 3 == 1 else {}
        suffix = (".png", ".jpg", ".bmp", ".gif")[index % 4]
        pil = Image.fromarray(image).resize((28 + index, 28 + 2 * index))
        paths.append(_save(pil, tmp_path / f"{index}{suffix}", **options))
        if index % 5 == 0:
            paths.append(_cut(paths[-1], f"cut{index}.png"))
    results: list[Decoded] = [
        decode_images(paths, (24, 20), "rgb", "pad", workers=workers) for workers in (1, 4)
    ]
    one, four = results
    np.testing.assert_array_equal(one.array, four.array)
    np.testing.assert_array_equal(one.kept, four.kept)
    assert one.bad == four.bad and one.seen == four.seen
    assert len(one.kept) == 16 and len(one.bad) == 4
    for row, index in enumerate(one.kept):
        np.testing.assert_array_equal(
            one.array[row], decode_image(paths[index], (24, 20), "rgb", "pad")
        )


def test_arguments_are_checked(tmp_path: Path) -> None:
    path = _save(Image.new("L", (4, 4)), tmp_path / "a.png")
    with pytest.raises(ValueError, match="color_mode"):
        decode_image(path, (4, 4), "cmyk", "crop")
    with pytest.raises(ValueError, match="resize"):
        decode_images([path], (4, 4), "rgb", "squash")
    with pytest.raises(ValueError, match="size"):
        decode_image(path, (0, 4), "rgb", "crop")
    assert decode_images([], (4, 4), "rgb", "crop").array.shape == (0, 4, 4, 3)
