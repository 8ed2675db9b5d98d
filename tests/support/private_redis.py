"""A private redis-server for one test that may pause, kill, restart or reconfigure it
(the session's shared server, ``conftest.redis_server``, must stay up for the others)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fullon_cache_api.embedded_redis import EmbeddedRedis


@contextlib.asynccontextmanager
async def private_redis(*extra_args: str) -> AsyncIterator[EmbeddedRedis]:
    server = EmbeddedRedis(extra_args=extra_args)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        server.resume()  # a test that paused it may have failed before resuming it
        await asyncio.to_thread(server.stop)
