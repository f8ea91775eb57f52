"""Small shared helpers: URLs without passwords, byte sizes, exceptions in one line."""

from __future__ import annotations

from dltrain.errors import first_line
from dltrain.utils.units import format_bytes
from dltrain.utils.urls import public_url


def test_public_url_drops_only_the_password() -> None:
    assert public_url("https://me:secret@mlflow.example:5000/x") == "https://me@mlflow.example:5000/x"
    assert public_url("postgresql+psycopg2://tuner:pw@db:5432/studies") == (
        "postgresql+psycopg2://tuner@db:5432/studies"
    )
    assert public_url("sqlite:///runs/study.db") == "sqlite:///runs/study.db"
    assert public_url("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert public_url("http://me:pw@host:notaport/x") == "http://me@host:notaport/x"
    assert public_url("http://:pw@host/x") == "http://host/x"


def test_format_bytes_uses_binary_units() -> None:
    assert [format_bytes(n) for n in (0, 1023, 1024, 1706200, 3 * 1024**3)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.6 MiB",
        "3.0 GiB",
    ]


def test_first_line_quotes_one_line_of_an_exception() -> None:
    exc = ValueError("bad shape\n  at layer 3\n")
    assert first_line(exc) == "bad shape"
    assert first_line(exc, typed=True) == "ValueError: bad shape"
    assert first_line(KeyError()) == "KeyError"
    assert first_line(RuntimeError("  "), empty="no message") == "no message"
    assert first_line(OSError("x" * 300), limit=200) == "x" * 197 + "..."
