"""Cache health: reachability, latency and a few INFO facts about the Redis server."""

from __future__ import annotations

import time
from typing import Any

from redis import exceptions as redis_errors

from fullon_cache_api.cache.base import DomainReader, is_unavailable
from fullon_cache_api.cache.records import CacheHealthRecord
from fullon_cache_api.version import __version__


class HealthReader(DomainReader):
    _config_denied = False

    async def check(self) -> CacheHealthRecord:
        """Never raises: an unreachable cache is reported, not thrown."""
        started = time.perf_counter()
        try:
            await self.redis.ping()
            latency_ms = (time.perf_counter() - started) * 1000.0
            info: dict[str, Any] = await self.redis.info()
        except Exception as exc:
            reason = "unreachable" if is_unavailable(exc) else type(exc).__name__
            return CacheHealthRecord(
                reachable=False,
                latency_ms=None,
                redis_version=None,
                role=None,
                used_memory_bytes=None,
                connected_clients=None,
                keyspace_events=None,
                error=reason,
                server_version=__version__,
            )
        return CacheHealthRecord(
            reachable=True,
            latency_ms=round(latency_ms, 3),
            redis_version=_text(info.get("redis_version")),
            role=_text(info.get("role")),
            used_memory_bytes=_number(info.get("used_memory")),
            connected_clients=_int(info.get("connected_clients")),
            keyspace_events=await self.keyspace_events(),
            error=None,
            server_version=__version__,
        )

    async def ready(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except Exception:
            return False

    async def keyspace_events(self) -> str | None:
        """``notify-keyspace-events`` if this user may read it. CONFIG is often denied to
        read-only users: after the first refusal it is not asked again, so the server's
        ACL log does not fill with denials."""
        if self._config_denied:
            return None
        try:
            config = await self.redis.config_get("notify-keyspace-events")
        except redis_errors.NoPermissionError:
            self._config_denied = True
            return None
        except redis_errors.ResponseError:
            return None
        for name, value in config.items():
            if _text(name) == "notify-keyspace-events":
                return _text(value)
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
