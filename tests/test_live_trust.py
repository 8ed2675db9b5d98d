"""Issue-9 regressions for live data: a stream keeps delivering, or the client gets a coded
error or a state it can see; it is never silently stale.

* Redis restarted without ``notify-keyspace-events``, or the setting dropped at runtime:
  the server notices (on reconnect, periodically, or from a change no notification
  announced) and polls; every stream gets its snapshot and then the next real change.
* A latest-value stream sends each transition, ``null`` included, also after an outage.
* Corrupt or deeply nested values degrade one item, with ``CORRUPT_DATA``, in streams too.
* A trades stream over a 200,000-item list reads only what was appended.
* Every event carries its sequence number, cursor and observed time; a client that resumes
  with its cursor gets what it missed, or a SNAPSHOT, or a coded error.
* The ``health`` subscription says within seconds when the feed is down.

Each test runs on a private redis-server (``live_env``) and the real app.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from support.live import (
    LiveClient,
    LiveEnv,
    live_env,
    tick,
    wait_until,
)

pytestmark = pytest.mark.chaos

JSONDict = dict[str, Any]
TIMEOUT = 10.0

STREAMS: dict[str, str] = {
    "orders": 'subscription { orders(exchange: "binance") { kind items { orderId status } } }',
    "account": 'subscription { account(exId: "1") { exId balances { currency free } } }',
    "trades": (
        'subscription { trades(exchange: "binance", symbol: "BTC/USDT") '
        "{ kind items { tradeId } } }"
    ),
    "blocks": "subscription { blocks { kind items { exId symbol botId } } }",
    "bots": "subscription { bots { kind items { botId status } } }",
    "queue": 'subscription { openOrderQueue(localOid: "L1") }',
    "positions": 'subscription { positions(exId: "1") { kind items { symbol volume } } }',
    "ohlcv": (
        'subscription { ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: 5) '
        "{ kind items { timestamp close } } }"
    ),
}


async def change(env: LiveEnv, name: str, version: int) -> None:
    """One real change of stream ``name``."""
    writer = env.writer
    if name == "orders":
        await writer.save_order("binance", {"ex_order_id": f"O{version}", "status": "open"})
    elif name == "account":
        await writer.upsert_user_account(1, {"USDT": {"free": float(version), "total": 1.0}})
    elif name == "trades":
        await writer.push_trade("binance", {"trade_id": version, "symbol": "BTC/USDT"})
    elif name == "blocks":
        await writer.block_exchange(1, f"S{version}/USDT", 7)
    elif name == "bots":
        await writer.update_bot(1, {"status": f"v{version}"})
    elif name == "queue":
        await writer.push_open_order(f"o{version}", "L1")
    elif name == "positions":
        await writer.upsert_positions(1, {"BTC/USDT": {"volume": float(version)}})
    elif name == "ohlcv":
        minute = 1_750_000_020 + 60 * version
        await writer.update_ohlcv_bars("BTC/USDT", "1m", [[minute * 1000, 1, 2, 0, version, 1]])
    else:  # pragma: no cover
        raise AssertionError(name)


def shows(name: str, data: Any, version: int) -> bool:
    """Whether stream ``name``'s event ``data`` shows change ``version``."""
    text = json.dumps(data)
    marks = {
        "orders": f'"O{version}"',
        "account": f'"free": {float(version)}',
        "trades": f'"tradeId": "{version}"',
        "blocks": f'"S{version}/USDT"',
        "bots": f'"v{version}"',
        "queue": f'"o{version}"',
        "positions": f'"volume": {float(version)}',
        "ohlcv": f'"close": {float(version)}',
    }
    return marks[name] in text


async def until_shown(client: LiveClient, name: str, version: int) -> None:
    """Read stream ``name`` until an event shows change ``version``; outage errors and
    snapshots may come first, nothing else is allowed to be wrong."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{name}: change {version} never arrived"
        payload = (await client.message(name, remaining))["payload"]
        errors = payload.get("errors") or []
        assert all(e["extensions"]["code"] == "CACHE_UNAVAILABLE" for e in errors), payload
        if payload["data"] is not None and shows(name, payload["data"], version):
            return


async def open_every_stream(env: LiveEnv, client: LiveClient) -> None:
    for name in STREAMS:
        await change(env, name, 1)
    for name, query in STREAMS.items():
        await client.subscribe(name, query)
    for name in STREAMS:
        assert shows(name, await client.data(name), 1), name


# --------------------------------------------------------------------------- change detection


async def test_redis_restarted_without_keyspace_events_falls_back_to_polling() -> None:
    """Redis comes back without ``notify-keyspace-events`` (its config was a command-line
    flag, or a CONFIG SET it forgot): every stream gets its snapshot, then the next real
    change, because the server polls now; ``health`` and ``/metrics`` say so."""
    async with live_env("keyspace", poll_interval_ms=50) as env, env.client() as client:
        assert env.hub.mode == "keyspace"
        await open_every_stream(env, client)
        await asyncio.to_thread(env.redis_server.restart, ())  # no keyspace events now
        await env.reconnect()
        await wait_until(lambda: env.hub.mode == "poll", TIMEOUT, "the switch to polling")
        for name in STREAMS:
            await change(env, name, 2)
        await asyncio.gather(*(until_shown(client, name, 2) for name in STREAMS))
        body = await env.server.graphql("{ health { changeDetection feedConnected } }")
        assert body["data"]["health"] == {"changeDetection": "poll", "feedConnected": True}
        metrics = (await env.server.http.get("/metrics")).text
        assert 'fullon_cache_api_change_detection{mode="poll"} 1.0' in metrics


async def test_keyspace_events_are_applied_again_where_the_server_applied_them() -> None:
    """With ``KEYSPACE_NOTIFICATIONS=enable`` the server set the config itself: after a
    restart that forgot it, it sets it again and stays on keyspace notifications."""
    async with (
        live_env("poll", keyspace_notifications="enable", poll_interval_ms=50) as env,
        env.client() as client,
    ):
        assert env.hub.mode == "keyspace"
        await open_every_stream(env, client)
        await asyncio.to_thread(env.redis_server.restart)
        await env.reconnect()

        async def reapplied() -> bool:
            flags = (await env.redis.config_get("notify-keyspace-events"))["notify-keyspace-events"]
            return "K" in flags and env.hub.mode == "keyspace"

        await wait_until(reapplied, TIMEOUT, "notify-keyspace-events set again")
        for name in STREAMS:
            await change(env, name, 2)
        await asyncio.gather(*(until_shown(client, name, 2) for name in STREAMS))


async def test_notifications_turned_off_at_runtime_are_noticed() -> None:
    """``CONFIG SET notify-keyspace-events ""`` while the server runs (no reconnect): the
    periodic check notices and the streams keep delivering."""
    async with (
        live_env("keyspace", keyspace_recheck_s=0.3, poll_interval_ms=50) as env,
        env.client() as client,
    ):
        await open_every_stream(env, client)
        await env.redis.config_set("notify-keyspace-events", "")
        await wait_until(lambda: env.hub.mode == "poll", TIMEOUT, "the switch to polling")
        for name in STREAMS:
            await change(env, name, 2)
        await asyncio.gather(*(until_shown(client, name, 2) for name in STREAMS))


async def test_a_change_no_notification_announced_switches_to_polling() -> None:
    """``KEYSPACE_NOTIFICATIONS=on`` trusts the operator when CONFIG cannot be read; if the
    notifications stop anyway, a safety re-read finds a change no notification announced,
    and the server polls from then on."""
    async with (
        live_env(
            "keyspace",
            keyspace_notifications="on",
            keyspace_recheck_s=0,
            keyspace_safety_poll_s=0.3,
            poll_interval_ms=50,
        ) as env,
        env.client() as client,
    ):
        # CONFIG cannot be read by this server from now on (as with a read-only user).
        env.hub.cache.health._config_denied = True
        await open_every_stream(env, client)
        await env.redis.config_set("notify-keyspace-events", "")
        await change(env, "bots", 2)
        await until_shown(client, "bots", 2)  # found by the safety re-read
        await wait_until(lambda: env.hub.mode == "poll", TIMEOUT, "the switch to polling")
        for name in STREAMS:
            await change(env, name, 3)
        await asyncio.gather(*(until_shown(client, name, 3) for name in STREAMS))


# --------------------------------------------------------------------------- values


async def test_a_latest_value_stream_sends_every_transition_null_included() -> None:
    async with live_env("keyspace") as env, env.client() as client:
        query = STREAMS["account"]
        await client.subscribe("a", query)
        assert await client.data("a") is None
        await env.writer.upsert_user_account(1, {"USDT": {"free": 5.0}})
        assert (await client.data("a"))["balances"] == [{"currency": "USDT", "free": 5.0}]
        await env.redis.hdel("accounts", "1")
        assert await client.data("a") is None  # the value went away
        # After an outage the current value is sent again, even when it is null.
        env.redis_server.kill()
        outage = await client.payload_or_error("a")
        assert outage["errors"][0]["extensions"]["code"] == "CACHE_UNAVAILABLE"
        await asyncio.to_thread(env.redis_server.start)
        await env.reconnect()
        assert await client.data("a", timeout=TIMEOUT) is None
        await env.writer.upsert_user_account(1, {"USDT": {"free": 6.0}})
        assert (await client.data("a"))["balances"] == [{"currency": "USDT", "free": 6.0}]


async def test_corrupt_and_nested_values_degrade_one_item_in_streams() -> None:
    deep = '{"a":' * 600 + "1" + "}" * 600
    async with live_env("keyspace") as env, env.client() as client:
        writer = env.writer
        await writer.update_bot(1, {"status": "running"})
        await writer.write_raw_hash_field("bot_status", "2", deep)
        await writer.push_trade("binance", {"trade_id": 1, "symbol": "BTC/USDT"})
        await writer.write_raw_list("trades:binance:BTCUSDT", [deep])
        await writer.write_raw_hash_field("accounts", "1", deep)
        await client.subscribe("b", STREAMS["bots"])
        await client.subscribe("t", STREAMS["trades"])
        await client.subscribe("a", STREAMS["account"])
        for op_id, data in (
            ("b", {"bots": {"kind": "SNAPSHOT", "items": [{"botId": "1", "status": "running"}]}}),
            ("t", {"trades": {"kind": "SNAPSHOT", "items": [{"tradeId": "1"}]}}),
            ("a", {"account": None}),
        ):
            payload = await client.payload_or_error(op_id)
            assert payload["data"] == data, payload
            (error,) = payload["errors"]
            assert error["extensions"]["code"] == "CORRUPT_DATA", payload
            assert error["path"] == [next(iter(data))], payload
        # Valid changes still flow, and a repaired value replaces the corrupt one.
        await writer.update_bot(3, {"status": "new"})
        payload = await client.payload_or_error("b")
        assert payload["data"]["bots"]["items"] == [{"botId": "3", "status": "new"}]
        await writer.push_trade("binance", {"trade_id": 9, "symbol": "BTC/USDT"})
        payload = await client.payload_or_error("t")
        assert payload["data"]["trades"] == {"kind": "UPSERT", "items": [{"tradeId": "9"}]}
        await writer.upsert_user_account(1, {"USDT": {"free": 1.0}})
        payload = await client.payload_or_error("a")
        assert "errors" not in payload, payload
        assert payload["data"]["account"]["balances"] == [{"currency": "USDT", "free": 1.0}]


async def test_a_trades_stream_reads_only_what_was_appended() -> None:
    """Over 200,000 stored trades the snapshot is the newest window, fast; each push
    arrives alone and fast (no re-read of the list); a drain sends a SNAPSHOT."""
    async with live_env("keyspace", list_page_default=50) as env, env.client() as client:
        key = "trades:binance:BTCUSDT"
        for start in range(0, 200_000, 20_000):
            await env.redis.rpush(
                key,
                *(
                    json.dumps({"trade_id": index, "symbol": "BTC/USDT"})
                    for index in range(start, start + 20_000)
                ),
            )
        started = time.monotonic()
        await client.subscribe("t", STREAMS["trades"])
        snapshot = await client.data("t")
        assert time.monotonic() - started < 2.0
        assert snapshot["kind"] == "SNAPSHOT"
        assert [int(item["tradeId"]) for item in snapshot["items"]] == list(range(199_950, 200_000))
        for index in range(200_000, 200_010):
            started = time.monotonic()
            await env.writer.push_trade("binance", {"trade_id": index, "symbol": "BTC/USDT"})
            event = await client.data("t")
            assert event == {"kind": "UPSERT", "items": [{"tradeId": str(index)}]}
            assert time.monotonic() - started < 0.5
        await env.writer.drain_trades("binance", "BTC/USDT")
        assert await client.data("t") == {"kind": "SNAPSHOT", "items": []}
        await env.writer.push_trade("binance", {"trade_id": 1, "symbol": "BTC/USDT"})
        assert await client.data("t") == {"kind": "UPSERT", "items": [{"tradeId": "1"}]}


# --------------------------------------------------------------------------- freshness


async def test_every_event_says_where_it_stands() -> None:
    async with live_env("keyspace") as env, env.client() as client:
        await env.writer.set_ticker(tick(1.0))
        await client.subscribe("t", 'subscription { tickers(exchange: "binance") { kind } }')
        seqs = []
        for price in (2.0, 3.0, 4.0):
            if seqs:
                await env.writer.set_ticker(tick(price))
            payload = (await client.message("t"))["payload"]
            extensions = payload["extensions"]
            epoch, _, seq = extensions["cursor"].rpartition(".")
            assert epoch and int(seq) == extensions["seq"]
            observed = datetime.fromisoformat(extensions["observedAt"])
            assert abs((datetime.now(UTC) - observed).total_seconds()) < 5
            seqs.append(extensions["seq"])
        assert seqs == sorted(seqs) and len(set(seqs)) == 3


async def test_a_resumed_stream_gets_what_it_missed() -> None:
    query = 'subscription { tickers(exchange: "binance") { kind items { price } } }'
    async with live_env("keyspace", topic_linger_s=5) as env:
        await env.writer.set_ticker(tick(1.0))
        async with env.client() as first:
            await first.subscribe("t", query)
            await first.payload("t")
            await env.writer.set_ticker(tick(2.0))
            cursor = (await first.payload("t"))["extensions"]["cursor"]
        # Gone (a dropped connection): the topic lingers; changes happen meanwhile.
        await wait_until(lambda: not env.runner.groups, TIMEOUT, "the group to close")
        for price in (3.0, 4.0, 5.0):
            await env.writer.set_ticker(
                tick(price, symbol="ETH/USDT" if price == 4 else "BTC/USDT")
            )
        async with env.client() as second:
            await second.subscribe("r", query, extensions={"resumeAfter": cursor})
            # The missed changes, not a snapshot: queued together, they are merged by key
            # (the newest version of each ticker).
            missed = await second.payload("r")
            assert missed["data"]["tickers"]["kind"] == "UPSERT"
            items = missed["data"]["tickers"]["items"]
            assert sorted(item["price"] for item in items) == [4.0, 5.0]
            assert missed["extensions"]["seq"] > int(cursor.rpartition(".")[2])
            # A cursor this server cannot replay: a snapshot, which replaces everything.
            await second.subscribe("s", query, extensions={"resumeAfter": "unknown.7"})
            assert (await second.data("s"))["kind"] == "SNAPSHOT"


async def test_a_push_stream_says_when_it_cannot_replay() -> None:
    query = 'subscription { processBroadcasts(type: "tick") { message } }'
    async with live_env("keyspace", topic_linger_s=5, replay_events=2) as env:
        async with env.client() as first:
            await first.subscribe("p", query)
            await wait_until(lambda: env.numsub("process:broadcast:tick"))
            await env.writer.broadcast_message("tick", "one")
            cursor = (await first.payload("p"))["extensions"]["cursor"]
        await wait_until(lambda: not env.runner.groups, TIMEOUT, "the group to close")
        await env.writer.broadcast_message("tick", "two")
        async with env.client() as second:
            await second.subscribe("p", query, extensions={"resumeAfter": cursor})
            assert await second.data("p") == {"message": "two"}  # replayed
        for text in ("three", "four", "five"):  # more than REPLAY_EVENTS since `cursor`
            await env.writer.broadcast_message("tick", text)
        async with env.client() as third:
            await third.subscribe("p", query, extensions={"resumeAfter": cursor})
            payload = await third.payload_or_error("p")
            assert payload["data"] is None
            assert payload["errors"][0]["extensions"]["code"] == "REPLAY_UNAVAILABLE"
            await env.writer.broadcast_message("tick", "six")
            assert await third.data("p") == {"message": "six"}


async def test_the_health_stream_tells_when_the_feed_is_down() -> None:
    query = "subscription { health { reachable feedConnected changeDetection failingTopics } }"
    async with live_env("keyspace") as env, env.client() as client:
        await client.subscribe("t", STREAMS["bots"])
        await client.data("t")
        await client.subscribe("h", query)
        first = await client.data("h")
        assert first == {
            "reachable": True,
            "feedConnected": True,
            "changeDetection": "keyspace",
            "failingTopics": [],
        }
        env.redis_server.kill()
        started = time.monotonic()
        while True:
            value = await client.data("h", timeout=TIMEOUT)
            if value["feedConnected"] is False and value["reachable"] is False:
                break
        assert time.monotonic() - started < 5.0
        await asyncio.to_thread(env.redis_server.start)
        await env.reconnect()
        while not (await client.data("h", timeout=TIMEOUT))["feedConnected"]:
            pass


async def test_a_paused_redis_is_noticed() -> None:
    """SIGSTOP: connections stay open, nothing answers. The feed's ping goes unanswered,
    so every stream is told (CACHE_UNAVAILABLE) instead of waiting silently."""
    settings = {"feed_idle_ping_s": 0.3, "redis_socket_timeout": 0.5}
    async with live_env("keyspace", **settings) as env, env.client() as client:
        await client.subscribe("b", STREAMS["bots"])
        await client.data("b")
        env.redis_server.pause()
        try:
            payload = await client.payload_or_error("b", timeout=TIMEOUT)
            assert payload["errors"][0]["extensions"]["code"] == "CACHE_UNAVAILABLE"
        finally:
            env.redis_server.resume()
        await env.writer.update_bot(5, {"status": "back"})
        await until_shown_bots(client, "back")


async def until_shown_bots(client: LiveClient, status: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while status not in json.dumps(await client.payload_or_error("b")):
        assert time.monotonic() < deadline
