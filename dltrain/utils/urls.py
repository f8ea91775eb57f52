"""A server or storage URL without its password, for run.json, study.json and messages."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["public_url"]


def public_url(url: str) -> str:
    """``url`` with the password left out (``postgresql://me:pw@db/x`` -> ``postgresql://me@db/x``).

    A URL with no password is returned as given; the host part is kept as written.
    """
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    username = userinfo.split(":", 1)[0]
    netloc = f"{username}@{hostport}" if username else hostport
    return urlunsplit(parts._replace(netloc=netloc))
