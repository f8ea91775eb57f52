"""Files dltrain writes get the usual permissions (the umask decides), and no temp files stay."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dltrain.storage import atomic_write_bytes, atomic_write_text


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_respect_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "run.json", "{}")
        atomic_write_bytes(tmp_path / "sub" / "plot.png", b"\x89PNG")
        atomic_write_text(tmp_path / "run.json", "{}\n")  # replacing keeps the same rule
    finally:
        os.umask(previous)
    assert (tmp_path / "run.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "sub" / "plot.png").stat().st_mode & 0o777 == mode
    assert (tmp_path / "run.json").read_text() == "{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "sub"]
