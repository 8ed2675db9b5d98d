"""API keys and scopes: which key may read which root field.

A key is granted one or more scopes. Every ``Query`` and ``Subscription`` field belongs to
exactly one scope, declared with the field itself (:mod:`fullon_cache_api.resolvers.fields`:
a root field cannot be declared without one).

Keys are configured as ``KEY:SCOPE[+SCOPE...]`` entries, separated by commas or newlines
(``API_KEYS``, or one per line in ``API_KEYS_FILE``, where ``#`` starts a comment). Only
their SHA-256 digests are kept: :func:`parse_api_keys` returns ``{digest: scopes}`` and
nothing here ever puts a key, or a part of one, in an error message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

MARKET = "market"
ACCOUNT = "account"
OPS = "ops"
ALL_SCOPES: frozenset[str] = frozenset({MARKET, ACCOUNT, OPS})
"""The scopes of an anonymous client when no key is configured, and of ``*``."""

MIN_KEY_LENGTH = 16
_KEY = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 token68: what a Bearer token may hold
_DIGEST = re.compile(r"[0-9a-f]{64}")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def scope_key(scopes: Iterable[str]) -> str:
    """A stable text for a set of scopes (``account+market``)."""
    return "+".join(sorted(scopes))


def _scopes(text: str, where: str) -> frozenset[str]:
    names = [name.strip() for name in text.split("+")]
    if names == ["*"]:
        return ALL_SCOPES
    unknown = [name for name in names if name not in ALL_SCOPES]
    if unknown or not names:
        shown = ", ".join(repr(name[:20]) for name in unknown) or "none"
        raise ValueError(
            f"{where}: unknown scope {shown}; scopes are market, account, ops (joined with +) or *"
        )
    return frozenset(names)


def parse_api_keys(text: str, source: str, *, by_line: bool = False) -> dict[str, frozenset[str]]:
    """``KEY:SCOPES`` entries (comma- or newline-separated; ``#`` comments) → digests.

    Errors name the source and the entry's position (its line with ``by_line``), never
    the key.
    """
    keys: dict[str, frozenset[str]] = {}
    position = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0]
        for entry in line.split(","):
            entry = entry.strip()
            if not entry:
                continue
            position += 1
            where = f"{source} line {line_number}" if by_line else f"{source} entry {position}"
            key, sep, scopes = entry.rpartition(":")
            key = key.strip()
            if not sep or not key:
                raise ValueError(f"{where}: expected KEY:SCOPES, e.g. <key>:market+account")
            if not _KEY.fullmatch(key):
                raise ValueError(
                    f"{where}: a key may only hold the characters A-Z a-z 0-9 - . _ ~ + / "
                    "(and trailing =)"
                )
            if len(key) < MIN_KEY_LENGTH:
                raise ValueError(f"{where}: a key must be at least {MIN_KEY_LENGTH} characters")
            digest = hash_key(key)
            if digest in keys:
                raise ValueError(f"{where}: the same key is listed twice")
            keys[digest] = _scopes(scopes, where)
    return keys


def check_digests(value: Mapping[object, object]) -> dict[str, frozenset[str]]:
    """Already hashed keys (``{sha256 hex digest: scopes}``), e.g. from ``model_copy``."""
    keys: dict[str, frozenset[str]] = {}
    for digest, scopes in value.items():
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise ValueError("API_KEYS must be text: KEY:SCOPES entries separated by commas")
        if isinstance(scopes, str) or not isinstance(scopes, Iterable):
            raise ValueError("API_KEYS: scopes must be a collection of scope names")
        names = frozenset(str(name) for name in scopes)
        if not names or not names <= ALL_SCOPES:
            raise ValueError("API_KEYS: scopes are market, account and ops")
        keys[digest] = names
    return keys


MAX_KEYS_FILE_BYTES = 1024 * 1024


def read_keys_file(path: Path) -> dict[str, frozenset[str]]:
    """The keys of ``API_KEYS_FILE`` (one or more ``KEY:SCOPES`` per line)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_KEYS_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"API_KEYS_FILE {str(path)!r} cannot be read ({exc.strerror})") from None
    if len(data) > MAX_KEYS_FILE_BYTES:
        raise ValueError(f"API_KEYS_FILE is larger than {MAX_KEYS_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("API_KEYS_FILE is not UTF-8 text") from None
    return parse_api_keys(text, "API_KEYS_FILE", by_line=True)
