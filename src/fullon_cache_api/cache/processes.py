"""Processes: ``process:data:{id}`` (24 h TTL), ``process:active:{type}``, ``process:components``.

The process table is built from SCAN ``process:active:*`` rather than fullon_cache's enum, and
dangling ids (data expired) are skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from redis.asyncio import Redis

from fullon_cache_api.cache import codecs, keys
from fullon_cache_api.cache.base import (
    Clock,
    DomainReader,
    cache_read,
    key_text,
    log,
    utc_now,
    wrong_type,
)
from fullon_cache_api.cache.decode import CorruptValue, as_datetime
from fullon_cache_api.cache.records import (
    ComponentStatusRecord,
    CountRecord,
    ProcessMetricsRecord,
    ProcessRecord,
    SystemHealthRecord,
)
from fullon_cache_api.cache.results import Listing, Problem, ValueRead

HEALTH_WINDOW_MINUTES = 60
WRONG_TYPE = "the key holds the wrong Redis type"


class ProcessReader(DomainReader):
    def __init__(
        self, redis: Redis, clock: Clock = utc_now, *, stale_after_s: float = 120.0
    ) -> None:
        super().__init__(redis, clock)
        self.stale_after = timedelta(seconds=stale_after_s)

    @cache_read
    async def get(self, process_id: str) -> ProcessRecord | None:
        parts = keys.split_process_id(process_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.process_data(process_id))
            if parts:
                pipe.hget(keys.process_active(parts[0]), process_id)
            replies = await pipe.execute()
        raw = replies[0]
        if raw is None:
            return None
        active = as_datetime(replies[1]) if parts else None
        return codecs.process(raw, last_active=active, stale_before=self._stale_before())

    @cache_read
    async def active(
        self,
        process_type: str | None = None,
        component: str | None = None,
        since_minutes: float = 5,
    ) -> Listing[ProcessRecord]:
        """Processes active within the window, newest update first."""
        if process_type is None:
            names = await self.scan(f"{keys.PROCESS_ACTIVE_PREFIX}*", type_="hash")
        else:
            names = [keys.process_active(process_type)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(name)
            hashes = await pipe.execute()
        since = self.clock() - timedelta(minutes=since_minutes)
        candidates: dict[str, datetime] = {}
        for fields in hashes:
            for raw_id, raw_time in fields.items():
                process_id = key_text(raw_id)
                seen = as_datetime(raw_time)
                if process_id and seen is not None and seen >= since:
                    candidates[process_id] = seen
        listing = await self._load(candidates)
        if component is not None:
            listing.items = [p for p in listing.items if p.component == component]
        listing.items.sort(key=_updated, reverse=True)
        return listing

    @cache_read
    async def component_status(self, component: str) -> ComponentStatusRecord | None:
        raw_id = await self.redis.hget(keys.PROCESS_COMPONENTS, component)
        process_id = key_text(raw_id) if raw_id is not None else None
        if process_id is None:
            return None
        return ComponentStatusRecord(
            component=component, process_id=process_id, process=await self.get(process_id)
        )

    @cache_read
    async def system_health(self) -> tuple[SystemHealthRecord, list[Problem]]:
        """fullon_cache's ``get_system_health``: the last hour's processes; unhealthy if any
        is in error or has a stale heartbeat (stopped processes are not counted stale)."""
        listing = await self.active(since_minutes=HEALTH_WINDOW_MINUTES)
        processes = listing.items
        stale = [p for p in processes if p.heartbeat_stale and p.status != "stopped"]
        errors = [p for p in processes if p.status == "error"]
        health = SystemHealthRecord(
            healthy=not stale and not errors,
            total_processes=len(processes),
            by_type=_counts(p.process_type for p in processes),
            by_status=_counts(p.status for p in processes),
            stale_processes=stale,
            error_processes=errors,
            checked_at=self.clock(),
        )
        return health, listing.problems

    @cache_read
    async def metrics(self) -> ValueRead[ProcessMetricsRecord]:
        """fullon_cache's ``get_metrics``: ``HLEN`` of each ``process:active:*`` hash (found
        by SCAN, not fullon's enum) and of ``process:components``, and a SCAN count of
        ``process:data:*`` (counted as it goes: nothing is kept per key).

        Corrupt data degrades one count: ``process:components`` of the wrong Redis type
        makes ``components`` ``None``, and an active hash whose type changed after the SCAN
        is left out of ``by_type``, each with a ``Problem`` naming the field. Keys of
        another type under ``process:active:*`` or ``process:data:*`` are not counted (SCAN
        ``TYPE``). Any other error reply, or Redis unreachable, fails the read."""
        names = await self.scan(f"{keys.PROCESS_ACTIVE_PREFIX}*", type_="hash")
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hlen(name)
            pipe.hlen(keys.PROCESS_COMPONENTS)
            *lengths, components = await pipe.execute(raise_on_error=False)
        total = 0
        async for _ in self.redis.scan_iter(
            match=f"{keys.PROCESS_DATA_PREFIX}*", count=1000, _type="string"
        ):
            total += 1
        problems: list[Problem] = []
        prefix = len(keys.PROCESS_ACTIVE_PREFIX)
        by_type: list[CountRecord] = []
        for name, length in zip(names, lengths, strict=True):
            if wrong_type(length):  # replaced by another type since the SCAN
                problems.append(Problem(key=name, item=None, reason=WRONG_TYPE, field="by_type"))
            else:
                by_type.append(CountRecord(key=name[prefix:], count=int(length)))
        component_count: int | None = None
        if wrong_type(components):
            problems.append(
                Problem(
                    key=keys.PROCESS_COMPONENTS, item=None, reason=WRONG_TYPE, field="components"
                )
            )
        else:
            component_count = int(components)
        for problem in problems:
            log.warning(problem.describe())
        record = ProcessMetricsRecord(
            active_processes=sum(count.count for count in by_type),
            by_type=by_type,
            components=component_count,
            total_processes=total,
        )
        return ValueRead(record, problems)

    async def _load(self, active: dict[str, datetime]) -> Listing[ProcessRecord]:
        listing: Listing[ProcessRecord] = Listing()
        if not active:
            return listing
        ids = sorted(active)
        values = await self.redis.mget([keys.process_data(process_id) for process_id in ids])
        stale_before = self._stale_before()
        for process_id, raw in zip(ids, values, strict=True):
            if raw is None:
                continue  # dangling id: the data key expired after 24 h
            try:
                listing.items.append(
                    codecs.process(raw, last_active=active[process_id], stale_before=stale_before)
                )
            except CorruptValue as exc:
                listing.problems.append(
                    Problem(key=keys.process_data(process_id), item=None, reason=str(exc))
                )
        return listing

    def _stale_before(self) -> datetime:
        return self.clock() - self.stale_after


def _updated(record: ProcessRecord) -> float:
    stamp = record.updated_at or record.last_active
    return stamp.timestamp() if stamp else float("-inf")


def _counts(values: Iterable[str | None]) -> list[CountRecord]:
    counter: Counter[str] = Counter(value or "unknown" for value in values)
    return [CountRecord(key=key, count=count) for key, count in sorted(counter.items())]
