"""``processMetrics``: fullon_cache's ``ProcessCache.get_metrics()`` as a Subscription field
and the client's ``get_process_metrics``/``stream_process_metrics`` (the field
``docs/adding-a-field.md`` walks through; the Query field is tested in ``test_queries``)."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
import redis.exceptions

from fullon_cache_api.cache.processes import ProcessReader
from fullon_cache_api.cache.results import Problem
from fullon_cache_api.client import FullonCacheApi, ProcessMetrics, fullon_cache_api
from fullon_cache_api.errors import CacheUnavailable
from fullon_cache_api.simulator import CacheWriter
from support.live import live_env
from support.private_redis import private_redis

FIELDS = "activeProcesses components totalProcesses byType { key count }"
QUERY = f"{{ processMetrics {{ {FIELDS} }} }}"
SUBSCRIPTION = f"subscription {{ processMetrics {{ {FIELDS} }} }}"


def writer_at(writer: CacheWriter, seconds_ago: float) -> CacheWriter:
    when = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return CacheWriter(writer.redis, now=lambda: when)


async def seed(writer: CacheWriter) -> dict[str, str]:
    """What fullon's services leave behind, quirks included."""
    ids = {
        "btc": await writer_at(writer, 50).register_process("tick", "binance:BTC/USDT"),
        "eth": await writer_at(writer, 40).register_process("tick", "binance:ETH/USDT"),
        "bot": await writer_at(writer, 30).register_process("bot", "bot_1"),
        "old": await writer_at(writer, 20).register_process("ohlcv", "kraken:BTC/USD:1h"),
        "new": await writer_at(writer, 10).register_process("ohlcv", "kraken:BTC/USD:1h"),
    }
    # Stopping the old one HDELs its active entry and the component, although the component
    # now points at the newer process (fullon_cache's quirk); its data key stays.
    await writer.stop_process(ids["old"])
    # A dangling id: its data key expired, its active entry stays (and is counted).
    await writer.write_raw_hash_field("process:active:tick", "tick:gone:1.0", "2025-01-01")
    return ids


def expected_after_seed() -> dict[str, Any]:
    return {
        # tick: btc, eth and the dangling id; bot: bot_1; ohlcv: the new one only.
        "activeProcesses": 5,
        "byType": [
            {"key": "bot", "count": 1},
            {"key": "ohlcv", "count": 1},
            {"key": "tick", "count": 3},
        ],
        # binance:BTC/USDT, binance:ETH/USDT, bot_1; kraken's went with the old process.
        "components": 3,
        # Five records: the stopped one's data outlives it.
        "totalProcesses": 5,
    }


async def test_the_subscription_follows_registrations_and_stops() -> None:
    async with live_env("keyspace") as env, env.client() as client:
        await client.subscribe("m", SUBSCRIPTION)
        first = await client.data("m")
        assert first["totalProcesses"] == 0
        ids = await seed(env.writer)

        latest = await client.data("m")
        while latest != expected_after_seed():  # each step of the seeding may be an event
            latest = await client.data("m", timeout=10)
        await env.writer.stop_process(ids["btc"])
        after_stop = await client.data("m", timeout=10)
        assert after_stop["activeProcesses"] == 4
        assert after_stop["components"] == 2
        assert after_stop["totalProcesses"] == 5  # the stopped process's record remains


async def test_the_client_returns_and_streams_typed_metrics() -> None:
    async with live_env("keyspace") as env:
        await seed(env.writer)
        api: FullonCacheApi
        async with fullon_cache_api(env.server.ws_url) as api:
            metrics = await api.get_process_metrics()
            assert isinstance(metrics, ProcessMetrics)
            assert metrics.active_processes == 5
            assert metrics["total_processes"] == 5
            assert {count.key: count.count for count in metrics.by_type} == {
                "bot": 1,
                "ohlcv": 1,
                "tick": 3,
            }
            async with api.stream_process_metrics() as stream:
                now = await anext(stream)
                assert now.components == 3
                await env.writer.register_process("bot", "bot_2")
                later = await anext(stream)
                assert (later.components, later.total_processes) == (4, 6)


async def test_a_components_key_of_the_wrong_type_degrades_components_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``process:components`` holding a string (HLEN answers WRONGTYPE): the stream and the
    client get ``components`` null with a CORRUPT_DATA error at its path, the other counts
    as they are, and the count comes back once fullon rewrites the key."""
    async with live_env("keyspace") as env:
        await seed(env.writer)
        await env.writer.write_raw_string("process:components", "not a hash")
        degraded = {**expected_after_seed(), "components": None}
        async with env.client() as client:
            await client.subscribe("m", SUBSCRIPTION)
            payload = await client.payload_or_error("m")
            assert payload["data"] == {"processMetrics": degraded}
            [error] = payload["errors"]
            assert error["path"] == ["processMetrics", "components"]
            assert error["extensions"] == {"code": "CORRUPT_DATA"}

            api: FullonCacheApi
            async with fullon_cache_api(env.server.ws_url) as api:
                with caplog.at_level(logging.WARNING, logger="fullon_cache_api.client"):
                    metrics = await api.get_process_metrics()
                assert isinstance(metrics, ProcessMetrics)
                assert metrics.components is None
                assert metrics["components"] is None
                assert (metrics.active_processes, metrics.total_processes) == (5, 5)
                assert {count.key: count.count for count in metrics.by_type} == {
                    "bot": 1,
                    "ohlcv": 1,
                    "tick": 3,
                }
                assert "CORRUPT_DATA at ['processMetrics', 'components']" in caplog.text
                async with api.stream_process_metrics() as stream:
                    now = await anext(stream)
                    assert (now.components, now.active_processes) == (None, 5)
                    # fullon re-creates the hash on the next registration.
                    await env.writer.redis.delete("process:components")
                    await env.writer.register_process("bot", "bot_2")
                    later = await anext(stream)
                    while later.components is None:  # the DEL alone may be an event
                        later = await anext(stream)
                    assert (later.components, later.active_processes) == (1, 6)

            payload = await client.payload_or_error("m", timeout=10)
            while payload["data"]["processMetrics"]["components"] is None:
                payload = await client.payload_or_error("m", timeout=10)
            assert "errors" not in payload, payload
            assert payload["data"]["processMetrics"]["components"] == 1


async def test_only_a_wrong_type_degrades_the_read_other_failures_fail_it() -> None:
    """The read itself: WRONGTYPE is corrupt data (one count, a ``Problem`` naming its
    field); another error reply (here NOPERM) or an unreachable Redis fails the whole
    read with CACHE_UNAVAILABLE, as before."""
    async with private_redis() as server:
        url = f"redis://{server.host}:{server.port}/0"
        admin = redis.asyncio.Redis.from_url(url, decode_responses=True)
        try:
            writer = CacheWriter(admin)
            await seed(writer)
            await writer.write_raw_string("process:components", "not a hash")
            read = await ProcessReader(admin).metrics()
            assert read.value.components is None
            assert (read.value.active_processes, read.value.total_processes) == (5, 5)
            assert read.problems == [
                Problem(
                    key="process:components",
                    item=None,
                    reason="the key holds the wrong Redis type",
                    field="components",
                )
            ]

            await admin.acl_setuser(
                "nohlen",
                enabled=True,
                passwords=["+secret"],
                keys=["~*"],
                commands=["+@all", "-hlen"],
            )
            limited = redis.asyncio.Redis.from_url(
                f"redis://nohlen:secret@{server.host}:{server.port}/0"
            )
            try:
                with pytest.raises(CacheUnavailable) as refused:
                    await ProcessReader(limited).metrics()
                assert isinstance(refused.value.__cause__, redis.exceptions.NoPermissionError)
            finally:
                await limited.aclose()

            await asyncio.to_thread(server.stop)
            with pytest.raises(CacheUnavailable) as unreachable:
                await ProcessReader(admin).metrics()
            assert isinstance(unreachable.value.__cause__, redis.exceptions.ConnectionError)
        finally:
            await admin.aclose()


def test_the_walkthrough_names_every_file_the_field_touches() -> None:
    """docs/adding-a-field.md's table lists at most six hand-edited files, and no other
    hand-written source file mentions the field (the client's are generated)."""
    root = Path(__file__).resolve().parents[1]
    walkthrough = (root / "docs" / "adding-a-field.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| \d \| `([^`]+)` \|", walkthrough, flags=re.MULTILINE)
    assert 0 < len(listed) <= 6, listed
    package = root / "src" / "fullon_cache_api"
    generated = {"client/models.py", "client/documents.py", "client/methods.py"}
    mentioning = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"process_metrics|ProcessMetrics", path.read_text(encoding="utf-8"))
    }
    assert mentioning - generated == {name for name in listed if name.endswith(".py")}
