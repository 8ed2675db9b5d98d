"""What every domain reader shares: the client, the clock, error mapping and SCAN."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from fullon_cache_api.cache.decode import CorruptValue
from fullon_cache_api.cache.paging import ListCursor, ListPage
from fullon_cache_api.cache.results import Appended, Listing, Problem
from fullon_cache_api.cooperative import pause
from fullon_cache_api.errors import CacheUnavailable, CorruptData

log = logging.getLogger("fullon.api.cache.data")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

Clock = Callable[[], datetime]

_UNAVAILABLE = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.AuthenticationError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, _UNAVAILABLE)


class ReadStats:
    """Counts shared by the domain readers of one ``CacheReader`` (read by /metrics)."""

    __slots__ = ("unavailable",)

    def __init__(self) -> None:
        self.unavailable = 0  # reads that found Redis unreachable or refusing


def cache_read(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Map "Redis is unreachable" to ``CacheUnavailable``, an undecodable single value or a
    key of the wrong Redis type (``WRONGTYPE``) to ``CorruptData`` (null plus a CORRUPT_DATA
    error), and any other error reply to ``CacheUnavailable``; other errors pass through.
    Redis's own error text is logged, never shown to clients."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except _UNAVAILABLE as exc:
            _count_unavailable(args)
            raise CacheUnavailable("the cache (Redis) is unavailable") from exc
        except CorruptValue as exc:  # a single-object read of an undecodable value
            raise CorruptData(f"corrupt entry skipped: {exc}") from exc
        except redis_errors.ResponseError as exc:
            if "WRONGTYPE" in str(exc):  # also inside a pipeline's error text
                log.warning("%s: a key has the wrong Redis type", func.__qualname__)
                raise CorruptData(
                    "corrupt entry skipped: a key holds the wrong Redis type"
                ) from exc
            log.warning("%s: Redis refused the read: %s", func.__qualname__, exc)
            _count_unavailable(args)
            raise CacheUnavailable("the cache (Redis) refused the read") from exc

    return wrapper


def wrong_type(reply: object) -> bool:
    """Whether one reply of a pipeline run with ``execute(raise_on_error=False)`` is a
    ``WRONGTYPE`` error (a key of the wrong Redis type: corrupt data, that item alone).
    Any other error reply is raised, for :func:`cache_read` to map as it maps the same
    error outside a pipeline."""
    if isinstance(reply, redis_errors.ResponseError):
        if "WRONGTYPE" in str(reply):
            return True
        raise reply
    return False


def _count_unavailable(args: tuple[object, ...]) -> None:
    stats = getattr(args[0], "stats", None) if args else None
    if isinstance(stats, ReadStats):
        stats.unavailable += 1


def key_text(raw: bytes | str) -> str | None:
    """A key or field name as text; foreign non-UTF-8 names are skipped (``None``)."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def numeric_first(item: tuple[str, object]) -> tuple[int, int, str]:
    """Sort key for ``(id, value)`` pairs: numeric ids in numeric order, then names."""
    name = item[0]
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def text_fields(raw: Mapping[Any, Any]) -> dict[str, bytes]:
    """A hash reply with its field names as text, foreign non-UTF-8 fields left out."""
    return {name: value for field, value in raw.items() if (name := key_text(field)) is not None}


def decode_each(
    key: str,
    entries: Iterable[tuple[str, bytes | str | None]],
    decode: Callable[[str, bytes | str], T],
) -> Listing[T]:
    """Decode ``(item, raw)`` pairs; a corrupt item is logged, reported and left out."""
    listing: Listing[T] = Listing()
    for item, raw in entries:
        _decode_into(listing, key, item, raw, decode)
    return listing


async def decode_in_slices(
    key: str,
    entries: Iterable[tuple[str, bytes | str | None]],
    decode: Callable[[str, bytes | str], T],
) -> Listing[T]:
    """:func:`decode_each` for long lists (a page of a Redis list): it yields to the event
    loop between time slices."""
    listing: Listing[T] = Listing()
    for item, raw in entries:
        await pause()
        _decode_into(listing, key, item, raw, decode)
    return listing


def _decode_into(
    listing: Listing[T],
    key: str,
    item: str,
    raw: bytes | str | None,
    decode: Callable[[str, bytes | str], T],
) -> None:
    if raw is None:
        return
    try:
        listing.items.append(decode(item, raw))
    except CorruptValue as exc:
        problem = Problem(key=key, item=item, reason=str(exc))
        log.warning(problem.describe())
        listing.problems.append(problem)


class DomainReader:
    """Base of the per-domain readers."""

    def __init__(self, redis: Redis, clock: Clock = utc_now) -> None:
        self.redis = redis
        self.clock = clock
        self.stats = ReadStats()

    async def scan(self, pattern: str, *, type_: str | None = None) -> list[str]:
        """Every key matching ``pattern`` (SCAN, non-blocking), sorted, as text."""
        found: set[str] = set()
        async for raw in self.redis.scan_iter(match=pattern, count=1000, _type=type_):
            name = key_text(raw)
            if name is not None:
                found.add(name)
        return sorted(found)

    async def hgetall_text(self, key: str) -> dict[str, bytes]:
        return text_fields(await self.redis.hgetall(key))

    async def list_page(self, key: str, page: ListPage) -> list[tuple[str, bytes]]:
        """One page of a Redis list as ``(index, raw)`` pairs, oldest first; the index is
        the item's position in the whole list (LLEN and LRANGE in one round trip)."""
        start, stop = page.bounds()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.llen(key)
            pipe.lrange(key, start, stop)
            length, values = await pipe.execute()
        first = page.first_index(int(length))
        return [(str(first + offset), raw) for offset, raw in enumerate(values)]

    async def list_appended(
        self,
        key: str,
        window: int,
        cursor: ListCursor | None,
        decode: Callable[[str, bytes | str], T],
    ) -> tuple[Appended[T], ListCursor]:
        """What a list that grows at the tail gained since ``cursor``, at most ``window``
        items per read (``more`` when there is more). Without a cursor, or when the list
        shrank or its item at the cursor changed (consumed, deleted, replaced), the newest
        ``window`` items as a snapshot. Never reads more than ``window`` items."""
        if cursor is not None and cursor.length > 0:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.llen(key)
                pipe.lindex(key, cursor.length - 1)
                pipe.lrange(key, cursor.length, cursor.length + window - 1)
                length, tail, values = await pipe.execute()
            length = int(length)
            if length >= cursor.length and tail == cursor.tail:
                entries = [(str(cursor.length + n), raw) for n, raw in enumerate(values)]
                listing = await decode_in_slices(key, entries, decode)
                end = cursor.length + len(values)
                moved = ListCursor(end, values[-1] if values else cursor.tail)
                appended = Appended(listing.items, listing.problems, more=length > end)
                return appended, moved
        elif cursor is not None:  # it was empty: anything in it now is appended
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.llen(key)
                pipe.lrange(key, 0, window - 1)
                length, values = await pipe.execute()
            listing = await decode_in_slices(
                key, [(str(n), raw) for n, raw in enumerate(values)], decode
            )
            moved = ListCursor(len(values), values[-1] if values else None)
            return Appended(listing.items, listing.problems, more=int(length) > len(values)), moved
        # The first read, or the list was consumed or replaced: the newest window, whole.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.llen(key)
            pipe.lrange(key, -window, -1)
            length, values = await pipe.execute()
        length = int(length)
        first = max(0, length - len(values))
        entries = [(str(first + n), raw) for n, raw in enumerate(values)]
        listing = await decode_in_slices(key, entries, decode)
        moved = ListCursor(first + len(values), values[-1] if values else None)
        return Appended(listing.items, listing.problems, snapshot=True), moved
