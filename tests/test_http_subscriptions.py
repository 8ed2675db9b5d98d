"""Subscriptions over HTTP: the graphql-sse protocol (Server-Sent Events, both modes) and
Apollo's multipart subscriptions, against a real redis-server and the real app.

* graphql-sse's own npm client (``tests/js/sse_client.mjs``, pinned in ``tests/js``)
  receives a ticker stream in "distinct connections" and "single connection" mode;
* SSE, multipart and WebSocket subscribers of the same document share one delivery group;
* what the bytes look like (events, parts, heartbeats), and what a request that cannot run
  gets on each transport;
* a client that goes away frees everything (groups, topics, Redis subscriptions back to 0);
  a reader that stalls is ended and dropped; API keys and scopes apply; server shutdown ends
  every HTTP stream promptly, the way each protocol's clients understand.

Apollo Client's ``HttpLink`` (multipart) runs in Chromium in ``tests/test_browser_clients.py``;
the README's ``curl -N`` commands run in ``tests/test_readme_commands.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from fullon_cache_api.auth import ALL_SCOPES
from support.live import LiveEnv, live_env, tick, wait_until
from support.npm import INSTALL_TIMEOUT_S, NODE, NPM, npm_ci
from support.server import make_settings, running_server
from support.streams import (
    MULTIPART_ACCEPT,
    SSE_ACCEPT,
    multipart_stream,
    sse_stream,
)

JSONDict = dict[str, Any]
JS = Path(__file__).resolve().parent / "js"
TIMEOUT = 5.0
HEARTBEAT_S = 0.2

TICKERS = """
subscription HttpTickers($exchange: String!, $symbols: [String!]) {
  tickers(exchange: $exchange, symbols: $symbols) { kind items { symbol price } }
}
"""
BTC = {"exchange": "binance", "symbols": ["BTC/USDT"]}
MARKET_KEY = "market-key-0123456789"
OPS_KEY = "ops-key-0123456789ab"
TICKER = 'subscription { ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'

needs_node = pytest.mark.skipif(
    NODE is None or NPM is None, reason="node/npm are not installed: no graphql-sse client"
)


@pytest_asyncio.fixture(scope="module")
async def env() -> AsyncIterator[LiveEnv]:
    settings = {"http_stream_heartbeat_s": HEARTBEAT_S, "ws_connection_init_timeout": 1.0}
    async with live_env("keyspace", **settings) as live:
        yield live


@pytest_asyncio.fixture
async def live(env: LiveEnv) -> AsyncIterator[LiveEnv]:
    await env.reset()
    await env.writer.set_ticker(tick(100.0))
    yield env
    await env.wait_idle()


def tickers(data: Any) -> Any:
    return data["data"]["tickers"]


def btc(price: float) -> JSONDict:
    return {"kind": "UPSERT", "items": [{"symbol": "BTC/USDT", "price": price}]}


SNAPSHOT = {"kind": "SNAPSHOT", "items": [{"symbol": "BTC/USDT", "price": 100.0}]}


# --------------------------------------------------------------------------- graphql-sse


class SseClient:
    """``tests/js/sse_client.mjs`` running: its ``RESULT`` lines, in order."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.completed: list[int] = []  # operations the server completed

    async def line(self) -> str:
        assert self.proc.stdout is not None
        async with asyncio.timeout(TIMEOUT * 2):
            raw = await self.proc.stdout.readline()
        if not raw:
            raise AssertionError("the client ended early:\n" + "".join(self.lines))
        text = raw.decode()
        self.lines.append(text)
        assert not text.startswith("ERROR"), "".join(self.lines)
        return text.rstrip("\n")

    async def result(self) -> JSONDict:
        while (text := await self.line()).startswith("COMPLETE "):
            self.completed.append(int(text.split()[1]))
        assert text.startswith("RESULT "), "".join(self.lines)
        value: JSONDict = json.loads(text[len("RESULT ") :])
        return value

    async def finish(self) -> list[int]:
        """Until ``DONE``; the script must exit 0. The operations the server completed."""
        while (text := await self.line()) != "DONE":
            assert text.startswith("COMPLETE "), "".join(self.lines)
            self.completed.append(int(text.split()[1]))
        assert await self.proc.wait() == 0, "".join(self.lines)
        return self.completed


async def sse_client(url: str, mode: str, plan: JSONDict) -> SseClient:
    await asyncio.to_thread(npm_ci, JS)
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(JS / "sse_client.mjs"),
        url,
        mode,
        json.dumps(plan),
        cwd=JS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    return SseClient(proc)


@needs_node
@pytest.mark.timeout(INSTALL_TIMEOUT_S + 60)
async def test_graphql_sse_client_distinct_connections(live: LiveEnv) -> None:
    request = {"query": TICKERS, "variables": BTC, "operationName": "HttpTickers"}
    client = await sse_client(
        live.server.http_url, "distinct", {"requests": [request], "events": 2}
    )
    try:
        first = await client.result()
        assert first["op"] == 0 and tickers(first["result"]) == SNAPSHOT, first
        assert first["result"]["extensions"]["cursor"].endswith(
            f".{first['result']['extensions']['seq']}"
        )
        stats = live.services.stats()
        assert stats["connections"] == {"sse": 1}
        metrics = (await live.server.http.get("/metrics")).text
        assert 'fullon_cache_api_connections{protocol="sse"} 1.0' in metrics
        await live.writer.set_ticker(tick(101.5))
        second = await client.result()
        assert tickers(second["result"]) == btc(101.5), second
        assert await client.finish() == []  # it stopped after two events: no COMPLETE
    finally:
        if client.proc.returncode is None:
            client.proc.kill()
            await client.proc.wait()


@needs_node
@pytest.mark.timeout(INSTALL_TIMEOUT_S + 60)
async def test_graphql_sse_client_single_connection(live: LiveEnv) -> None:
    """Three operations over one reserved event stream: two subscriptions and a query."""
    requests = [
        {"query": TICKERS, "variables": BTC},
        {"query": TICKER},
        {"query": "{ exchanges }"},
    ]
    client = await sse_client(live.server.http_url, "single", {"requests": requests, "events": 2})
    try:
        seen: dict[int, list[Any]] = {0: [], 1: [], 2: []}
        while len(seen[0]) < 1 or len(seen[1]) < 1 or not seen[2]:
            value = await client.result()
            seen[value["op"]].append(value["result"]["data"])
        assert seen[0] == [{"tickers": SNAPSHOT}]
        assert seen[1] == [{"ticker": {"price": 100.0}}]
        assert seen[2] == [{"exchanges": ["binance"]}]
        # One stream carries them all.
        assert live.services.stats()["connections"] == {"sse": 1}
        assert len(live.services.reservations) == 1
        await live.writer.set_ticker(tick(102.0))
        while len(seen[0]) < 2 or len(seen[1]) < 2:
            value = await client.result()
            seen[value["op"]].append(value["result"]["data"])
        assert seen[0][1] == {"tickers": btc(102.0)}
        assert seen[1][1] == {"ticker": {"price": 102.0}}
        assert await client.finish() == [2]  # the query was completed by the server
    finally:
        if client.proc.returncode is None:
            client.proc.kill()
            await client.proc.wait()
    await wait_until(lambda: not live.services.reservations, TIMEOUT, "the reservation to go")


# --------------------------------------------------------------------------- sharing


async def test_every_transport_shares_one_group(live: LiveEnv) -> None:
    """The same document and variables over SSE, multipart and a WebSocket: one group, one
    execution per event, one Redis subscription."""
    body = {"query": TICKERS, "variables": BTC}
    async with (
        sse_stream(live.server, body) as sse,
        multipart_stream(live.server, body) as multipart,
        live.client() as ws,
    ):
        await ws.subscribe("w", TICKERS, BTC)
        assert tickers(await sse.next()) == SNAPSHOT
        assert tickers(await multipart.payload()) == SNAPSHOT
        assert await ws.data("w") == SNAPSHOT
        assert len(live.runner.groups) == 1, list(live.runner.groups)
        (group,) = live.runner.groups.values()
        assert len(group.members) == 3
        assert await live.numpat() == 1
        assert live.services.stats()["connections"] == {
            "sse": 1,
            "multipart": 1,
            "graphql-transport-ws": 1,
        }
        events = group.events
        await live.writer.set_ticker(tick(103.0))
        assert tickers(await sse.next()) == btc(103.0)
        assert tickers(await multipart.payload()) == btc(103.0)
        assert await ws.data("w") == btc(103.0)
        assert group.events == events + 1  # executed once for the three of them


# --------------------------------------------------------------------------- the bytes


async def test_sse_events_and_heartbeats(live: LiveEnv) -> None:
    async with sse_stream(live.server, {"query": TICKERS, "variables": BTC}) as stream:
        assert stream.response.headers["cache-control"] == "no-cache"
        assert "content-encoding" not in stream.response.headers
        name, data = await stream.event()
        assert name == "next" and tickers(data) == SNAPSHOT
        assert set(data["extensions"]) == {"seq", "cursor", "observedAt"}
        # Heartbeats are comment lines (":"), every HTTP_STREAM_HEARTBEAT_S.
        started = time.monotonic()
        await stream.until(lambda: len(stream.comments) >= 3)
        assert time.monotonic() - started < 10 * HEARTBEAT_S
        assert set(stream.comments) == {""}
        assert not stream.events


async def test_sse_over_get_for_event_source(live: LiveEnv) -> None:
    """``EventSource`` can only GET: the operation goes in the query string."""
    params = {"query": TICKERS, "variables": json.dumps(BTC)}
    async with sse_stream(live.server, method="GET", params=params) as stream:
        assert tickers(await stream.next()) == SNAPSHOT


async def test_sse_query_is_one_event_then_complete(live: LiveEnv) -> None:
    async with sse_stream(live.server, {"query": "{ exchanges }"}) as stream:
        assert await stream.event() == ("next", {"data": {"exchanges": ["binance"]}})
        assert await stream.event() == ("complete", None)
        assert await stream.rest() == ""


async def test_multipart_parts_and_heartbeats(live: LiveEnv) -> None:
    async with multipart_stream(live.server, {"query": TICKERS, "variables": BTC}) as stream:
        assert "content-encoding" not in stream.response.headers
        payload = await stream.payload()
        assert tickers(payload) == SNAPSHOT
        assert set(payload["extensions"]) == {"seq", "cursor", "observedAt"}
        await live.writer.set_ticker(tick(104.0))
        assert tickers(await stream.payload()) == btc(104.0)
        # Heartbeats are {} parts, every HTTP_STREAM_HEARTBEAT_S.
        started = time.monotonic()
        await stream.until(lambda: stream.heartbeats >= 3)
        assert time.monotonic() - started < 10 * HEARTBEAT_S
        assert not stream.parts


async def test_gzip_never_holds_a_stream_back(live: LiveEnv) -> None:
    """Browsers send ``Accept-Encoding: gzip``; a compressed stream would wait for gzip's
    buffer. Streams are sent as they are."""
    gzip = {"accept-encoding": "gzip"}
    body = {"query": TICKERS, "variables": BTC}
    async with multipart_stream(live.server, body, headers=gzip) as stream:
        assert "content-encoding" not in stream.response.headers
        assert tickers(await stream.payload()) == SNAPSHOT
    async with sse_stream(live.server, body, headers=gzip) as sse:
        assert "content-encoding" not in sse.response.headers
        assert tickers(await sse.next()) == SNAPSHOT


async def test_requests_that_cannot_run(live: LiveEnv) -> None:
    server = live.server
    bad = {"query": "subscription { tickerz }"}
    # SSE: in the stream, as the protocol asks: next with the errors, then complete.
    async with sse_stream(server, bad) as stream:
        name, data = await stream.event()
        assert name == "next" and data["errors"][0]["extensions"]["code"] == (
            "GRAPHQL_VALIDATION_FAILED"
        )
        assert await stream.event() == ("complete", None)
    # An argument the resolver refuses: the same.
    async with sse_stream(server, {"query": TICKERS, "variables": {"exchange": "b*d"}}) as s:
        name, data = await s.event()
        assert data["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT", data
        assert await s.event() == ("complete", None)
    # An unreadable body: 400, no stream.
    response = await server.http.post(
        server.graphql_path,
        content=b"{",
        headers={"accept": SSE_ACCEPT, "content-type": "application/json"},
    )
    assert response.status_code == 400
    # Multipart: answered like a query, with JSON and its status.
    response = await server.http.post(
        server.graphql_path, json=bad, headers={"accept": MULTIPART_ACCEPT}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # ... an APQ hash the server does not know: 200, so Apollo's link sends the query.
    unknown = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    response = await server.http.post(
        server.graphql_path, json={"extensions": unknown}, headers={"accept": MULTIPART_ACCEPT}
    )
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # ... a query: JSON (Apollo asks for multipart for @defer queries too).
    response = await server.http.post(
        server.graphql_path, json={"query": "{ exchanges }"}, headers={"accept": MULTIPART_ACCEPT}
    )
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"data": {"exchanges": ["binance"]}}
    # ... and an argument the resolver refuses, once the stream is open: the transport error.
    async with multipart_stream(
        server, {"query": TICKERS, "variables": {"exchange": "b*d"}}
    ) as stream:
        part = await stream.part()
        assert part["payload"] is None, part
        assert part["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"
        assert await stream.rest() == "--\r\n"
    # Neither: a subscription over plain HTTP says where to go.
    response = await server.post(TICKERS, BTC)
    assert response.status_code == 400
    assert "text/event-stream" in response.json()["errors"][0]["message"]


async def test_single_connection_protocol_answers(live: LiveEnv) -> None:
    server = live.server
    http = server.http
    put = await http.put(server.graphql_path)
    assert put.status_code == 201 and put.headers["content-type"].startswith("text/plain")
    token = put.text
    header = {"x-graphql-event-stream-token": token}
    # Operations may be started before the stream is opened: they wait for it.
    body = {"query": TICKER, "extensions": {"operationId": "a"}}
    assert (await http.post(server.graphql_path, json=body, headers=header)).status_code == 202
    assert (await http.post(server.graphql_path, json=body, headers=header)).status_code == 409
    no_id = await http.post(server.graphql_path, json={"query": TICKER}, headers=header)
    assert no_id.status_code == 400
    async with sse_stream(server, method="GET", params={"token": token}) as stream:
        first = await stream.next()
        assert first["id"] == "a" and first["payload"]["data"] == {"ticker": {"price": 100.0}}
        # Only one stream per reservation.
        again = await http.get(
            server.graphql_path, params={"token": token}, headers={"accept": SSE_ACCEPT}
        )
        assert again.status_code == 409
        # An operation the client stops gets nothing more.
        deleted = await http.delete(
            server.graphql_path, params={"operationId": "a"}, headers=header
        )
        assert deleted.status_code == 200
        await wait_until(lambda: not live.runner.groups, TIMEOUT, "the group to close")
        body = {"query": "{ exchanges }", "extensions": {"operationId": "q"}}
        assert (await http.post(server.graphql_path, json=body, headers=header)).status_code == 202
        assert await stream.event() == (
            "next",
            {"id": "q", "payload": {"data": {"exchanges": ["binance"]}}},
        )
        assert await stream.event() == ("complete", {"id": "q"})
    # The reservation ends with its stream.
    await wait_until(lambda: not live.services.reservations, TIMEOUT, "the reservation to go")
    gone = await http.post(server.graphql_path, json=body, headers=header)
    assert gone.status_code == 404
    # A reservation nobody opens expires (WS_CONNECTION_INIT_TIMEOUT).
    assert (await http.put(server.graphql_path)).status_code == 201
    assert len(live.services.reservations) == 1
    await wait_until(lambda: not live.services.reservations, 3.0, "the reservation to expire")


# --------------------------------------------------------------------------- freeing


async def test_client_that_goes_away_frees_everything(live: LiveEnv) -> None:
    """SSE (both modes) and multipart subscriptions on several streams, then the clients
    disconnect: no group, topic, connection or Redis subscription is left."""
    await live.writer.upsert_positions(1, {"BTC/USDT": {"volume": 1.0, "price": 1.0}})
    positions = 'subscription { positions(exId: "1") { kind items { symbol } } }'
    processes = "subscription { processes { kind items { processId } } }"
    async with (
        sse_stream(live.server, {"query": TICKERS, "variables": BTC}) as sse,
        multipart_stream(live.server, {"query": positions}) as multipart,
        multipart_stream(live.server, {"query": TICKER}) as ticker,
    ):
        assert tickers(await sse.next()) == SNAPSHOT
        assert (await multipart.payload())["data"]["positions"]["kind"] == "SNAPSHOT"
        assert (await ticker.payload())["data"] == {"ticker": {"price": 100.0}}
        put = await live.server.http.put(live.server.graphql_path)
        token = put.text
        async with sse_stream(live.server, method="GET", params={"token": token}) as single:
            body = {"query": processes, "extensions": {"operationId": "p"}}
            posted = await live.server.http.post(
                live.server.graphql_path,
                json=body,
                headers={"x-graphql-event-stream-token": token},
            )
            assert posted.status_code == 202
            assert (await single.next())["id"] == "p"
            left = await live.leftovers()
            assert len(left["groups"]) == 4 and left["connections"] == 4, left
            assert left["redis numpat"] >= 1 and left["redis channels"], left
    await live.wait_idle()
    assert not live.services.reservations


# --------------------------------------------------------------------------- auth


async def test_api_keys_and_scopes(redis_url: str) -> None:
    settings = make_settings(redis_url, api_keys=f"{MARKET_KEY}:market,{OPS_KEY}:ops")
    body = {"query": TICKERS, "variables": BTC}
    market = {"authorization": f"Bearer {MARKET_KEY}"}
    async with running_server(settings) as server:
        async with sse_stream(server, body, status=401):
            pass
        async with sse_stream(server, body, headers={"authorization": "Bearer nope"}, status=401):
            pass
        refused = await server.http.post(
            server.graphql_path, json=body, headers={"accept": MULTIPART_ACCEPT}
        )
        assert refused.status_code == 401
        assert (await server.http.put(server.graphql_path)).status_code == 401

        async with sse_stream(server, body, headers=market) as stream:
            assert tickers(await stream.next())["kind"] == "SNAPSHOT"
        async with multipart_stream(server, body, headers=market) as multipart:
            assert tickers(await multipart.payload())["kind"] == "SNAPSHOT"

        # A field outside the key's scopes.
        bots = {"query": "subscription { bots { kind } }"}
        async with sse_stream(server, bots, headers=market) as stream:
            _, data = await stream.event()
            assert data["errors"][0]["extensions"]["code"] == "FORBIDDEN", data
            assert await stream.event() == ("complete", None)
        forbidden = await server.http.post(
            server.graphql_path, json=bots, headers={"accept": MULTIPART_ACCEPT, **market}
        )
        assert forbidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

        # Single connection mode: the key is checked when reserving; the token is enough after.
        token = (await server.http.put(server.graphql_path, headers=market)).text
        async with sse_stream(server, method="GET", params={"token": token}) as stream:
            posted = await server.http.post(
                server.graphql_path,
                json={
                    "query": "subscription { bots { kind } }",
                    "extensions": {"operationId": "b"},
                },
                headers={"x-graphql-event-stream-token": token},
            )
            assert posted.status_code == 202
            _, data = await stream.event()
            assert data["id"] == "b"
            assert data["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            connection = next(iter(server.services.connections))
            assert connection.principal is not None and connection.principal.scopes != ALL_SCOPES


async def test_a_revoked_key_ends_http_streams(redis_url: str, tmp_path: Path) -> None:
    """A key removed from API_KEYS_FILE ends the HTTP streams opened with it, as it closes
    WebSockets with 4403: multipart with a FORBIDDEN transport error, SSE without
    ``complete``; a stream opened with another key goes on."""
    path = tmp_path / "keys"
    path.write_text(f"{MARKET_KEY}:market\n{OPS_KEY}:market\n")
    settings = make_settings(redis_url, api_keys_file=str(path), api_keys_recheck_s=0.1)
    body = {"query": TICKERS, "variables": BTC}
    revoked = {"authorization": f"Bearer {MARKET_KEY}"}
    kept = {"authorization": f"Bearer {OPS_KEY}"}
    async with (
        running_server(settings) as server,
        multipart_stream(server, body, headers=revoked) as multipart,
        sse_stream(server, body, headers=revoked) as sse,
        sse_stream(server, body, headers=kept) as other,
    ):
        for stream in (sse, other):
            assert tickers(await stream.next())["kind"] == "SNAPSHOT"
        assert tickers(await multipart.payload())["kind"] == "SNAPSHOT"
        before = path.stat().st_mtime_ns
        path.write_text(f"{OPS_KEY}:market\n")
        stamp = max(time.time_ns(), before + 1_000_000_000)
        os.utime(path, ns=(stamp, stamp))
        part = await multipart.part()
        assert part["payload"] is None and part["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert await multipart.rest() == "--\r\n"
        rest = await sse.rest()
        assert rest.endswith(": API key revoked\n\n") and "complete" not in rest, rest
        connections = server.services.connections
        await wait_until(lambda: len(connections) == 1, TIMEOUT, "the other key's stream alone")
        assert not other.response.is_closed


# --------------------------------------------------------------------------- slow readers


async def test_a_reader_that_stalls_is_ended_then_dropped() -> None:
    """A client that stops reading a push stream: its subscription ends as a slow consumer
    (as on a WebSocket), and once its socket has taken nothing for WS_PONG_TIMEOUT the
    stream is dropped and everything is freed."""
    settings = {
        "subscriber_buffer": 8,
        "slow_consumer_s": 0.3,
        "ws_pong_timeout": 1.0,
        "http_stream_heartbeat_s": 0.1,
    }
    async with live_env("keyspace", **settings) as env:
        query = 'subscription { processBroadcasts(type: "tick") { message data } }'
        body = json.dumps({"query": query}).encode()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (env.server.host, env.server.port))
        request = (
            f"POST /graphql HTTP/1.1\r\nHost: {env.server.host}\r\n"
            f"Accept: {SSE_ACCEPT}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        await loop.sock_sendall(sock, request)
        try:
            await wait_until(lambda: env.numsub("process:broadcast:tick"), TIMEOUT, "subscribed")
            (connection,) = env.services.connections
            padding = "x" * 4000
            sent = 0
            while connection in env.services.connections:
                sent += 1
                await env.writer.broadcast_message("tick", f"m{sent}", {"pad": padding})
                assert sent < 20000, "never dropped"
                await asyncio.sleep(0.002 if not connection.outbox.stalled_for() else 0.02)
            assert env.services.dropped == 1  # SLOW_CONSUMER first
            await env.wait_idle()
        finally:
            sock.close()


# --------------------------------------------------------------------------- shutdown


async def test_shutdown_ends_http_streams_promptly(redis_url: str) -> None:
    """On shutdown (the path uvicorn takes on SIGTERM): a multipart stream ends with a
    ``SHUTTING_DOWN`` transport error and its closing delimiter; an SSE stream ends without
    ``complete`` (graphql-sse clients and EventSource reconnect), with a comment saying why;
    a reservation nobody opened is released. Within moments, not SHUTDOWN_GRACE_S."""
    body = {"query": TICKERS, "variables": BTC}
    settings = make_settings(redis_url, shutdown_grace_s=10.0)
    async with running_server(settings) as server:
        await server.http.put(server.graphql_path)  # a reservation, never opened
        async with (
            sse_stream(server, body) as sse,
            multipart_stream(server, body) as multipart,
        ):
            assert tickers(await sse.next())["kind"] == "SNAPSHOT"
            assert tickers(await multipart.payload())["kind"] == "SNAPSHOT"
            assert len(server.services.connections) == 3
            started = time.monotonic()
            server.uvicorn.should_exit = True
            part = await multipart.part()
            assert part["payload"] is None, part
            assert part["errors"][0]["extensions"]["code"] == "SHUTTING_DOWN"
            assert await multipart.rest() == "--\r\n"
            rest = await sse.rest()
            assert "event: complete" not in rest, rest
            assert rest.endswith(": server shutting down\n\n"), rest
            assert time.monotonic() - started < 2.0
        await wait_until(lambda: not server.services.connections, TIMEOUT, "all closed")
        assert not server.services.reservations
