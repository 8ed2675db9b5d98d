"""Load a JSON dump of a Redis written by the real fullon_cache.

Dump format: ``{"_meta": {...}, "keys": {key: {"type": "string" | "hash" | "list",
"ttl": seconds or -1, "value": str | {field: str} | [str]}}}``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

__all__ = ["FIXTURE_DIR", "FIXTURE_NAME", "default_fixture_path", "load_fixture"]

#: File name of the dump written by fullon_cache 0.5.11.
FIXTURE_NAME = "fullon-cache-0.5.11-dump.json"
#: Where the dump lives in the repository.
FIXTURE_DIR = Path("tests") / "fixtures"


def default_fixture_path() -> Path | None:
    """Find the repository's ``tests/fixtures/fullon-cache-0.5.11-dump.json``.

    Looks in every ancestor directory of this module (a source checkout or an editable
    install) and of the current directory (any directory inside a checkout). Returns
    None if absent, e.g. when the package was installed from a wheel and runs outside a
    checkout: the dump is test data and is not part of the package.
    """
    starts = (Path(__file__).resolve().parent, Path.cwd().resolve())
    for start in starts:
        for directory in (start, *start.parents):
            candidate = directory / FIXTURE_DIR / FIXTURE_NAME
            if candidate.is_file():
                return candidate
    return None


async def load_fixture(redis: aioredis.Redis, path: str | Path) -> int:
    """Write every key of the dump at ``path`` into ``redis``; return the key count.

    Each key is deleted first, so loading is idempotent and lists are not appended to
    stale data. Strings use SET, hashes HSET (one mapping), lists RPUSH (in order);
    a positive ``ttl`` is applied with EXPIRE. Other keys in the database are left
    alone. Raises ValueError on an unknown type.
    """
    text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    dump: dict[str, Any] = json.loads(text)
    keys: dict[str, dict[str, Any]] = dump["keys"]
    async with redis.pipeline(transaction=False) as pipe:
        for key, entry in keys.items():
            kind, value, ttl = entry["type"], entry["value"], entry.get("ttl", -1)
            pipe.delete(key)
            if kind == "string":
                pipe.set(key, value)
            elif kind == "hash":
                if value:
                    pipe.hset(key, mapping=value)
            elif kind == "list":
                if value:
                    pipe.rpush(key, *value)
            else:
                raise ValueError(f"unsupported Redis type {kind!r} for key {key!r}")
            if isinstance(ttl, int) and ttl > 0:
                pipe.expire(key, ttl)
        await pipe.execute()
    return len(keys)
