"""The server's API keys: lookup by digest, bearer-token parsing and key-file reloads.

Keys from ``API_KEYS`` are fixed for the life of the process. ``API_KEYS_FILE`` is
re-read when its modification time, size or inode changes, checked every
``API_KEYS_RECHECK_S`` seconds; connections whose key was removed (or whose scopes
changed) are closed by the caller of :meth:`KeyRing.reload_if_changed`. A file that no
longer reads or parses leaves the previous keys in force and logs an error.

Nothing here logs or returns a key: a :class:`Principal` carries the key's digest, and
``key_id`` (the first 8 hex digits of it) is what logs show.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fullon_cache_api.auth import ALL_SCOPES, hash_key, read_keys_file, scope_key
from fullon_cache_api.settings import Settings

log = logging.getLogger("fullon.api.cache.auth")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's digest (``""`` when anonymous) and its scopes."""

    digest: str
    scopes: frozenset[str]

    @property
    def key_id(self) -> str:
        return self.digest[:8] if self.digest else "anonymous"

    @property
    def scope_key(self) -> str:
        return scope_key(self.scopes)


ANONYMOUS = Principal("", ALL_SCOPES)


def bearer_token(value: Any) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, else ``None``."""
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def init_authorization(payload: Any) -> tuple[bool, Any]:
    """``(present, value)`` of the authorization in a ``connection_init`` payload:
    ``{"authorization": "Bearer …"}`` (any case: GraphiQL sends its headers editor as the
    payload), or the same inside ``{"headers": {...}}``."""
    if not isinstance(payload, dict):
        return False, None
    for holder in (payload, payload.get("headers")):
        if isinstance(holder, dict):
            for name, value in holder.items():
                if isinstance(name, str) and name.lower() == "authorization":
                    return True, value
    return False, None


class KeyRing:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.auth_enabled
        self._static: dict[str, frozenset[str]] = dict(settings.api_keys)
        self._path: Path | None = settings.api_keys_file
        self._signature: tuple[int, int, int] | None = None
        self._file: dict[str, frozenset[str]] = {}
        self._keys: dict[str, frozenset[str]] = dict(self._static)
        if self._path is not None:
            self._signature = _signature(self._path)
            self._file = read_keys_file(self._path)
            self._keys = {**self._file, **self._static}

    @property
    def watches_file(self) -> bool:
        return self._path is not None

    def __len__(self) -> int:
        return len(self._keys)

    def authenticate(self, token: Any) -> Principal | None:
        """The principal of a presented key, ``ANONYMOUS`` when keys are not enabled, and
        ``None`` for a missing or unknown key."""
        if not self.enabled:
            return ANONYMOUS
        if not isinstance(token, str) or not token:
            return None
        digest = hash_key(token)
        scopes = self._keys.get(digest)  # a lookup by digest: no key comparison to time
        return Principal(digest, scopes) if scopes is not None else None

    def still_valid(self, principal: Principal) -> bool:
        """The key is still configured, with the same scopes."""
        if not self.enabled:
            return True
        return self._keys.get(principal.digest) == principal.scopes

    def reload_if_changed(self) -> bool:
        """Re-read ``API_KEYS_FILE`` if it changed; True when the key set changed."""
        if self._path is None:
            return False
        try:
            signature = _signature(self._path)
        except OSError as exc:
            if self._signature is not None:
                log.error("API_KEYS_FILE cannot be read (%s); the previous keys stay", exc.strerror)
                self._signature = None
            return False
        if signature == self._signature:
            return False
        self._signature = signature
        try:
            keys = read_keys_file(self._path)
        except ValueError as exc:
            log.error("API_KEYS_FILE not reloaded, the previous keys stay: %s", exc)
            return False
        if set(keys) & set(self._static):
            log.error("API_KEYS_FILE not reloaded: it lists a key that API_KEYS lists too")
            return False
        changed = keys != self._file
        self._file = keys
        self._keys = {**keys, **self._static}
        if changed:
            log.info("API keys reloaded: %d key(s)", len(self._keys))
        return changed


def _signature(path: Path) -> tuple[int, int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size, stat.st_ino
