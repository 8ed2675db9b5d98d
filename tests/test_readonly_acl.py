"""The API needs nothing but reads: every query test of ``test_queries.py`` and
``test_quirks.py`` runs again here against a server whose ``REDIS_URL`` logs in as a
read-only ACL user (``create_readonly_user``: ``-@write -@admin -@dangerous``, no PUBLISH).

How it works: the test functions and their fixtures are imported into this module, so pytest
collects them here too, and this module's ``api_server`` fixture overrides the conftest one.
Test data is still written by ``CacheWriter`` through the admin client (``redis_client``).

After each test, Redis' ``ACL LOG`` must hold no denial for the read-only user other than
``CONFIG GET`` (the API reads ``notify-keyspace-events`` when it may, and copes when it may
not): the server's Redis client never tried a write.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio
import redis.exceptions

import test_queries
import test_quirks
from conftest import TEST_DB
from fullon_cache_api.embedded_redis import EmbeddedRedis, create_readonly_user
from support import RunningServer, make_settings, running_server

USER = "fca_api_readonly"
PASSWORD = "ro-test-password"
#: Denials that are expected for a read-only user: reading notify-keyspace-events.
EXPECTED_DENIALS = frozenset({"config|get"})

# Re-collect the query suites here (tests and the fixtures they use).
for _module in (test_queries, test_quirks):
    for _name, _value in vars(_module).items():
        if _name.startswith("test_") or _name in ("gql", "clock", "writer"):
            globals()[_name] = _value


def _admin_url(server: EmbeddedRedis) -> str:
    return f"redis://{server.host}:{server.port}/{TEST_DB}"


async def _create_user(server: EmbeddedRedis) -> str:
    return await asyncio.to_thread(create_readonly_user, _admin_url(server), USER, PASSWORD)


@pytest_asyncio.fixture(scope="module")
async def readonly_server(redis_server: EmbeddedRedis) -> AsyncIterator[RunningServer]:
    url = await _create_user(redis_server)
    assert url.startswith(f"redis://{USER}:")
    async with running_server(make_settings(url)) as server:
        yield server
    admin = redis.asyncio.Redis.from_url(_admin_url(redis_server))
    try:
        await admin.execute_command("ACL", "DELUSER", USER)
    finally:
        await admin.aclose()


async def _denials(admin: redis.asyncio.Redis) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = await admin.acl_log()
    return [entry for entry in entries if entry.get("username") == USER]


@pytest_asyncio.fixture
async def api_server(
    redis_url: str, redis_server: EmbeddedRedis, readonly_server: RunningServer
) -> AsyncIterator[RunningServer]:
    """Overrides conftest's: the read-only server, with the ACL log checked afterwards."""
    assert readonly_server.settings.redis_url is not None
    assert readonly_server.settings.redis_url.endswith(f"/{TEST_DB}")
    await _create_user(redis_server)  # again: a test may have restarted the session Redis
    admin = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await admin.acl_log_reset()
        yield readonly_server
        unexpected = [
            entry for entry in await _denials(admin) if entry.get("object") not in EXPECTED_DENIALS
        ]
        assert unexpected == [], f"the API's Redis user was denied: {unexpected}"
    finally:
        await admin.aclose()


async def test_user_is_really_read_only(redis_url: str, redis_server: EmbeddedRedis) -> None:
    """The guard itself works: a write through the same user is refused and logged."""
    url = await _create_user(redis_server)
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    admin = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await admin.acl_log_reset()
        assert await client.ping() is True
        for command in (("SET", "k", "v"), ("DEL", "k"), ("LPOP", "k"), ("PUBLISH", "c", "m")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                await client.execute_command(*command)
        objects = {entry["object"] for entry in await _denials(admin)}
        assert objects == {"set", "del", "lpop", "publish"}
    finally:
        await admin.acl_log_reset()
        await client.aclose()
        await admin.aclose()


async def test_readonly_health(api_server: RunningServer) -> None:
    body = await api_server.graphql("{ health { reachable keyspaceEvents error } }")
    # CONFIG GET is denied to this user: keyspaceEvents is unknown, the cache is healthy.
    assert body == {"data": {"health": {"reachable": True, "keyspaceEvents": None, "error": None}}}
    assert (await api_server.http.get("/ready")).status_code == 200
