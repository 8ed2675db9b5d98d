"""Issue-9 regressions: no single request or stored value can hurt other clients.

* a 200,000-item list is read a bounded page at a time, while the event loop keeps
  answering other connections (``/health`` within 100 ms, a ticker stream keeps flowing);
* values nested too deeply (or otherwise unencodable) degrade one item with CORRUPT_DATA at
  its path, never the whole field, never an HTTP 500;
* HTTP bodies over the limit are refused from ``Content-Length``, or while streaming;
* every item left out of an answer is reported;
* per-topic bookkeeping goes when the topic goes.

Each test runs on a private redis-server (``live_env``) and the real app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from support.live import LiveEnv, live_env, tick, wait_until
from support.server import start_up_objects_frozen

pytestmark = pytest.mark.chaos

JSONDict = dict[str, Any]

BIG = 200_000


def trade_json(index: int) -> str:
    return json.dumps(
        {
            "trade_id": index,
            "ex_trade_id": f"EX{index}",
            "symbol": "BTC/USDT",
            "side": "buy" if index % 2 else "sell",
            "volume": 0.001 * (index % 100 + 1),
            "price": 100_000.0 + index % 1000,
            "cost": 100.0,
            "fee": 0.1,
            "time": 1_750_000_000.0 + index,
        }
    )


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


async def post(env: LiveEnv, query: str, variables: JSONDict | None = None) -> JSONDict:
    response = await env.server.post(query, variables)
    assert response.status_code == 200, response.text
    body: JSONDict = response.json()
    return body


# --------------------------------------------------------------------------- big lists


async def fill(env: LiveEnv, key: str, count: int) -> None:
    batch = 10_000
    for start in range(0, count, batch):
        await env.writer.write_raw_list(
            key, [trade_json(index) for index in range(start, min(start + batch, count))]
        )


@pytest.fixture
async def big_env() -> AsyncIterator[LiveEnv]:
    async with live_env("keyspace") as env:
        await fill(env, "trades:binance:BTCUSDT", BIG)
        yield env


async def test_a_huge_list_is_read_one_page_at_a_time(big_env: LiveEnv) -> None:
    env = big_env
    settings = env.server.settings
    query = """query($first: Int, $last: Int) {
        trades(exchange: "binance", symbol: "BTC/USDT", first: $first, last: $last) { tradeId }
        tradeCount(exchange: "binance", symbol: "BTC/USDT") }"""
    started = time.monotonic()
    body = await post(env, query)
    assert time.monotonic() - started < 2.0
    ids = [int(item["tradeId"]) for item in body["data"]["trades"]]
    assert ids == list(range(BIG - settings.list_page_default, BIG))
    assert body["data"]["tradeCount"] == BIG
    body = await post(env, query, {"first": settings.list_page_max})
    assert [int(item["tradeId"]) for item in body["data"]["trades"]] == list(
        range(settings.list_page_max)
    )
    body = await post(env, query, {"last": settings.list_page_max + 1})
    assert body["data"]["trades"] is None
    assert body["errors"][0]["extensions"] == {"code": "INVALID_ARGUMENT", "argument": "last"}


async def test_biggest_pages_do_not_stall_other_connections(big_env: LiveEnv) -> None:
    """While clients read the biggest allowed page (three aliases each, all fields), a
    ``/health`` probe on another connection answers within 100 ms and a ticker subscriber
    on a third gets every price, uncut."""
    env = big_env
    page = env.server.settings.list_page_max
    fields = (
        "tradeId exTradeId exOrderId uid exId symbol orderType side volume price cost fee "
        "curVolume curAvgPrice curAvgCost curFee roi roiPct totalFee leverage time extra"
    )
    one = f'trades(exchange: "binance", symbol: "BTC/USDT", last: {page}) {{ {fields} }}'
    heavy = "{ " + " ".join(f"a{index}: {one}" for index in range(3)) + " }"
    await env.writer.set_ticker(tick(1.0))
    with start_up_objects_frozen():
        async with env.client() as client, httpx.AsyncClient(base_url=env.server.base_url) as probe:
            await client.subscribe(
                "t", 'subscription { tickers(exchange: "binance") { kind items { price } } }'
            )
            assert (await client.data("t"))["kind"] == "SNAPSHOT"
            stop = asyncio.Event()
            latencies: list[float] = []

            async def probing() -> None:
                while not stop.is_set():
                    started = time.monotonic()
                    response = await probe.get("/health")
                    latencies.append(time.monotonic() - started)
                    assert response.status_code == 200
                    await asyncio.sleep(0.005)

            async def publishing() -> int:
                count = 0
                while not stop.is_set():
                    count += 1
                    await env.writer.set_ticker(tick(1.0 + count))
                    await asyncio.sleep(0.01)
                return count

            # The readers' bodies are parsed afterwards: parsing megabytes of JSON here, in
            # the server's own process, would stall the probe too.
            readers = [asyncio.create_task(env.server.post(heavy)) for _ in range(3)]
            probe_task = asyncio.create_task(probing())
            publisher = asyncio.create_task(publishing())
            responses = await asyncio.gather(*readers)
            stop.set()
            published = await publisher
            await probe_task
            bodies = [response.json() for response in responses]
            for body in bodies:
                assert "errors" not in body, body["errors"][:2]
                assert all(len(body["data"][f"a{index}"]) == page for index in range(3))
            assert latencies and max(latencies) < 0.1, sorted(latencies)[-5:]
            # The subscriber was not cut off: it receives up to the last price published.
            last_price = 1.0 + published
            seen = 0.0
            while seen < last_price:
                data = await client.data("t", timeout=5)
                seen = max(item["price"] for item in data["items"])


# --------------------------------------------------------------------------- hostile data


@pytest.fixture
async def env() -> AsyncIterator[LiveEnv]:
    async with live_env("keyspace") as env:
        yield env


@pytest.mark.parametrize("depth", [100, 600, 200_000])
async def test_deeply_nested_values_degrade_one_item(env: LiveEnv, depth: int) -> None:
    writer = env.writer
    deep = json.dumps(nested(depth)) if depth < 1000 else '{"a":' * depth + "1" + "}" * depth
    await writer.set_ticker(tick(1.0, symbol="BTC/USDT"))
    await writer.write_raw_hash_field("tickers:binance", "BAD/USDT", deep)
    await writer.upsert_user_account(1, {"BTC": {"free": 1.0, "used": 0.0, "total": 1.0}})
    await writer.write_raw_hash_field("accounts", "2", deep)
    await writer.update_bot(1, {"status": "running"})
    await writer.write_raw_hash_field("bot_status", "2", deep)
    await writer.write_raw_list("trades:binance:BTCUSDT", [trade_json(1), deep, trade_json(3)])
    query = """{
        tickers(exchange: "binance") { symbol }
        accounts { exId }
        bots { botId data }
        trades(exchange: "binance", symbol: "BTC/USDT") { tradeId }
        bot(botId: "2") { botId }
    }"""
    body = await post(env, query)
    assert body["data"] == {
        "tickers": [{"symbol": "BTC/USDT"}],
        "accounts": [{"exId": "1"}],
        "bots": [{"botId": "1", "data": {"status": "running"}}],
        "trades": [{"tradeId": "1"}, {"tradeId": "3"}],
        "bot": None,
    }
    by_path = {tuple(error["path"]): error["extensions"]["code"] for error in body["errors"]}
    assert by_path == {
        ("tickers",): "CORRUPT_DATA",
        ("accounts",): "CORRUPT_DATA",
        ("bots",): "CORRUPT_DATA",
        ("trades",): "CORRUPT_DATA",
        ("bot",): "CORRUPT_DATA",
    }


async def test_values_only_the_fallback_parser_reads_stay_encodable(env: LiveEnv) -> None:
    """A NaN sends a value to Python's json module, which reads integers of any size;
    beyond 64 bits they come back as floats, as orjson reads them, and the response can
    be serialised."""
    await env.writer.write_raw_hash_field(
        "bot_status",
        "1",
        '{"status": "running", "pnl": NaN, "big": 123456789012345678901234567890}',
    )
    body = await post(env, "{ bots { botId data } }")
    assert "errors" not in body
    (bot,) = body["data"]["bots"]
    assert bot["data"]["big"] == pytest.approx(1.2345678901234568e29)
    assert bot["data"]["pnl"] is None


async def test_a_non_text_queue_item_is_reported(env: LiveEnv) -> None:
    await env.redis.rpush("new_orders:L1", "1001")
    raw = await env.server.services.cache.redis.rpush("new_orders:L1", b"\xff\xfe")
    assert raw == 2
    await env.redis.rpush("new_orders:L1", "1003")
    body = await post(env, '{ openOrderQueue(localOid: "L1") queueLength(localOid: "L1") }')
    assert body["data"] == {"openOrderQueue": ["1001", "1003"], "queueLength": 3}
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "CORRUPT_DATA"
    assert error["path"] == ["openOrderQueue"]
    assert "new_orders:L1[1]" in error["message"]


# --------------------------------------------------------------------------- HTTP bodies


async def test_a_declared_huge_body_is_refused_before_it_is_read(env: LiveEnv) -> None:
    """The request claims 300 MB and sends only the headers: the answer comes at once."""
    host, port = env.server.host, env.server.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 300000000\r\n\r\n".encode()
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5)
        assert status.startswith(b"HTTP/1.1 413"), status
    finally:
        writer.close()


async def test_a_chunked_body_is_cut_at_the_limit(env: LiveEnv) -> None:
    """A chunked body that never ends: the server answers 413 once the limit is passed and
    closes the connection, so the client cannot keep sending."""
    host, port = env.server.host, env.server.port
    reader, writer = await asyncio.open_connection(host, port)
    sent = 0
    chunk = b" " * 65536
    try:
        writer.write(
            f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        # The server may reset the connection once it has answered (it leaves the rest of
        # the body unread): read the status line as soon as it arrives.
        status = asyncio.create_task(reader.readline())
        with contextlib.suppress(ConnectionError):
            while not status.done() and sent < 640 * 1024 * 1024:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
        line = await asyncio.wait_for(status, 5)
    finally:
        writer.close()
    assert line.startswith(b"HTTP/1.1 413"), line
    assert sent < 10 * 1024 * 1024, sent


# --------------------------------------------------------------------------- bookkeeping


async def test_topic_bookkeeping_goes_with_the_topic() -> None:
    """4,000 distinct topics opened and closed leave no lock, topic or group behind."""
    async with live_env("keyspace", ws_messages_per_second=0) as env:
        await open_and_close_topics(env)


async def open_and_close_topics(env: LiveEnv) -> None:
    hub = env.hub
    async with env.client() as client:
        for batch in range(40):
            ids = [f"s{batch}-{index}" for index in range(100)]
            for op_id in ids:
                await client.subscribe(
                    op_id,
                    'subscription($s: String!) { ticker(exchange: "binance", symbol: $s) '
                    "{ price } }",
                    {"s": f"{op_id}/USDT"},
                )
            for op_id in ids:
                assert await client.data(op_id) is None
            for op_id in ids:
                await client.complete(op_id)
            await wait_until(lambda: not hub.topics, 10, "topics to close")
    await env.wait_idle()
    assert hub._locks == {}
