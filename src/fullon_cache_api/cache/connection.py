"""One shared, hiredis-backed connection pool per process."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.connection import BlockingConnectionPool

from fullon_cache_api.settings import Settings


def create_redis(
    settings: Settings, *, client_name: str = "fullon_cache_api", for_pubsub: bool = False
) -> Redis:
    """A client on its own pool (one for queries, one for the pub/sub feed).

    Values stay bytes: decoding is done per item, so a foreign non-UTF-8 value (fullon_orm's
    dogpile cache) degrades one item, not a reply. When every connection is busy, a read
    waits for one (up to ``REDIS_SOCKET_TIMEOUT``) instead of failing: a burst of reads is
    not an unavailable Redis."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_dsn(),
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_socket_timeout,
        # A pub/sub connection waits for messages indefinitely; the feed pings it instead.
        socket_timeout=None if for_pubsub else settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_connect_timeout,
        health_check_interval=30,
        client_name=client_name,
        decode_responses=False,
    )
    return Redis(connection_pool=pool)
