"""Which PNG files stream through TensorFlow's decoder: only those Pillow would not convert."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from dltrain.data.images.png import plain_png


@pytest.mark.parametrize(
    ("make", "color_mode", "plain"),
    [
        (lambda p: Image.new("L", (5, 4)).save(p), "grayscale", True),
        (lambda p: Image.new("RGB", (5, 4)).save(p, interlace=1), "rgb", True),
        (lambda p: Image.new("L", (5, 4)).save(p), "rgb", False),  # replicated by Pillow
        (lambda p: Image.new("RGB", (5, 4)).save(p), "grayscale", False),  # luma
        (lambda p: Image.new("L", (4, 5)).save(p), "grayscale", False),  # resized
        (lambda p: Image.new("L", (5, 4)).save(p, transparency=3), "grayscale", False),
        (lambda p: Image.new("RGBA", (5, 4)).save(p), "rgb", False),
        (lambda p: Image.new("P", (5, 4)).save(p), "rgb", False),
        (lambda p: Image.new("I;16", (5, 4)).save(p), "grayscale", False),
        (lambda p: Image.new("L", (5, 4)).save(p, exif=b"Exif\0\0II*\0"), "grayscale", False),
        (lambda p: Image.new("L", (5, 4)).save(p, format="JPEG"), "grayscale", False),
    ],
)
def test_plain_pngs_are_told_from_the_rest(
    tmp_path: Path, make: object, color_mode: str, plain: bool
) -> None:
    path = tmp_path / "x.png"
    make(path)  # type: ignore[operator]
    assert plain_png([path], (4, 5), color_mode) is plain


def test_one_other_file_or_an_unreadable_one_spoils_the_split(tmp_path: Path) -> None:
    good = tmp_path / "a.png"
    Image.new("L", (5, 4)).save(good)
    assert plain_png([good, good], (4, 5), "grayscale")
    assert not plain_png([good, tmp_path / "missing.png"], (4, 5), "grayscale")
    assert plain_png([], (4, 5), "grayscale")
