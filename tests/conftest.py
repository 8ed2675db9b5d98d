"""Shared fixtures: one private redis-server per test session.

Tests never touch the machine's own Redis (6379): everything runs against an
:class:`EmbeddedRedis` on a free port, in database 1, flushed before each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio

from fullon_cache_api.embedded_redis import EmbeddedRedis

TEST_DB = 1


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """A private redis-server started once for the whole session."""
    server = EmbeddedRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    """URL of an empty database (DB 1) on the session server."""
    if not redis_server.running:  # a test stopped or killed it: bring it back
        redis_server.start()
    url = f"redis://{redis_server.host}:{redis_server.port}/{TEST_DB}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


@pytest_asyncio.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """Async client (``decode_responses=True``) on :func:`redis_url`."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- #
# The real API server (tests/support/server.py), shared by the session
# --------------------------------------------------------------------------- #


@pytest_asyncio.fixture(scope="session")
async def _api_server_session(redis_server: EmbeddedRedis) -> AsyncIterator[Any]:
    from support.server import make_settings, running_server

    url = f"redis://{redis_server.host}:{redis_server.port}/{TEST_DB}"
    async with running_server(make_settings(url)) as server:
        yield server


@pytest_asyncio.fixture
async def api_server(redis_url: str, _api_server_session: Any) -> Any:
    """The real app in uvicorn on 127.0.0.1 (a ``support.server.RunningServer``), reading
    :func:`redis_url`'s freshly flushed database. Started once per session; settings are the
    defaults (use ``running_server(make_settings(...))`` for others)."""
    assert _api_server_session.settings.redis_url == redis_url
    return _api_server_session
