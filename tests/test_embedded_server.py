"""``CacheWebSocketServer`` (issue 11 item 1): the server inside a test's own event loop.

Several servers run in one process on free ports; settings come from arguments or the
environment; ``stop()`` drains like SIGTERM (1001 after what was queued); ``.app`` mounts
into a Starlette app under ``/api``. The design's opening example (issue 11) and the
README's client example run verbatim against it and their values are checked.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import logging
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis.asyncio
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

import fullon_cache_api
from fullon_cache_api import CacheWebSocketServer
from fullon_cache_api.client import InvalidArgumentError
from fullon_cache_api.settings import Settings
from fullon_cache_api.simulator import CacheWriter, seed_scenario
from support import free_port, raw_ws

ROOT = Path(__file__).resolve().parents[1]
EVENT_TIMEOUT = 10.0

#: The opening code block of issue 11, verbatim: the design's primary use case.
DESIGN_EXAMPLE = """\
from fullon_cache_api import fullon_cache_api, CacheWebSocketServer

server = CacheWebSocketServer()          # embeddable server, e.g. in tests or a bot process
await server.start()

async with fullon_cache_api() as handler:
    ticker = await handler.get_ticker("binance", "BTC/USDT")
    async for update in handler.stream_tickers("binance", ["BTC/USDT"]):
        print(f"Live: {update['price']}")

async with fullon_cache_api() as client:
    response = await client.ping()
    ok = response.get("status") == "ok"
    queue_size = await client.get_queue_length(exchange)
    bots_data = await client.get_bots()
    blocked = await client.is_blocked(exchange, "BTC/USDT")   # bot id or None
"""


def tick(symbol: str, price: float, exchange: str = "binance") -> dict[str, Any]:
    return {"symbol": symbol, "exchange": exchange, "price": price, "time": time.time(),
            "bid": price - 0.5, "ask": price + 0.5, "last": price, "volume": 1.0}  # fmt: skip


@pytest_asyncio.fixture
async def writer(redis_client: redis.asyncio.Redis) -> CacheWriter:
    cache_writer = CacheWriter(redis_client)
    await seed_scenario(cache_writer)
    return cache_writer


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No setting from the developer's shell or a ``.env``: only what the test sets."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name in ("FULLON_CACHE_API_URL", "FULLON_CACHE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("GC_FREEZE", "false")
    return monkeypatch


async def graphql(url: str, query: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(url, json={"query": query})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --------------------------------------------------------------------------- the basics


def test_exported_from_the_package_root() -> None:
    from fullon_cache_api.websocket_server import CacheWebSocketServer as direct

    assert fullon_cache_api.CacheWebSocketServer is direct is CacheWebSocketServer
    assert "CacheWebSocketServer" in fullon_cache_api.__all__


async def test_several_servers_in_one_process(
    redis_url: str, writer: CacheWriter, clean_env: pytest.MonkeyPatch
) -> None:
    servers = [CacheWebSocketServer(redis_url=redis_url, port=0) for _ in range(3)]
    assert servers[0].port == 0 and not servers[0].started
    async with contextlib.AsyncExitStack() as stack:
        for server in servers:
            await stack.enter_async_context(server)
        ports = {server.port for server in servers}
        assert len(ports) == 3 and 0 not in ports
        for server in servers:
            assert server.started
            assert server.url == f"http://127.0.0.1:{server.port}/graphql"
            assert server.ws_url == f"ws://127.0.0.1:{server.port}/graphql"
            body = await graphql(
                server.url, '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
            )
            assert body == {"data": {"ticker": {"price": 105234.56}}}
            async with fullon_cache_api.fullon_cache_api(server.ws_url) as api:
                assert (await api.ping())["status"] == "ok"
    assert not any(server.started for server in servers)
    for server in servers:  # stopped: nothing listens any more
        with pytest.raises(httpx.ConnectError):
            await graphql(server.url, "{ exchanges }")


async def test_start_and_stop(
    redis_url: str, writer: CacheWriter, clean_env: pytest.MonkeyPatch
) -> None:
    server = CacheWebSocketServer(redis_url=redis_url, port=0)
    assert await server.start() is server
    with pytest.raises(RuntimeError):
        await server.start()
    assert "started" in repr(server)
    await server.stop()
    await server.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        await graphql(server.url, "{ exchanges }")


async def test_settings_from_the_environment_and_arguments(
    redis_url: str, writer: CacheWriter, clean_env: pytest.MonkeyPatch
) -> None:
    port = free_port()
    clean_env.setenv("REDIS_URL", redis_url)
    clean_env.setenv("API_PORT", str(port))
    clean_env.setenv("GRAPHQL_PATH", "/gql")
    async with CacheWebSocketServer() as server:  # everything from the environment
        assert (server.port, server.settings.graphql_path) == (port, "/gql")
        assert server.ws_url == f"ws://127.0.0.1:{port}/gql"
        assert (await graphql(server.url, "{ exchanges }"))["data"]["exchanges"]
    # Arguments win over the environment; a Settings object works too.
    async with CacheWebSocketServer(port=0, graphql_path="/other") as server:
        assert server.port != port and server.url.endswith("/other")
        assert server.settings.redis_url == redis_url  # still from the environment
    settings = Settings(redis_url=redis_url, api_port=0, list_page_default=1)
    async with CacheWebSocketServer(settings, max_aliases=3) as server:
        assert server.settings.list_page_default == 1 and server.settings.max_aliases == 3
        body = await graphql(
            server.url, '{ trades(exchange: "binance", symbol: "BTC/USDT") { tradeId } }'
        )
        assert body["data"] == {"trades": [{"tradeId": "50002"}]}  # the newest 1
    # The host program's loop polls after answers unless told not to (README).
    async with CacheWebSocketServer(redis_url=redis_url, port=0) as server:
        assert server.app.state.services.idle_poll is not None
    async with CacheWebSocketServer(redis_url=redis_url, port=0, idle_poll_us=0) as server:
        assert server.app.state.services.idle_poll is None
        assert (await graphql(server.url, "{ exchanges }"))["data"]["exchanges"]


async def test_a_port_in_use_is_an_error(redis_url: str, clean_env: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = CacheWebSocketServer(redis_url=redis_url, port=taken.getsockname()[1])
        with pytest.raises(OSError):
            await server.start()
        assert not server.started


async def test_stop_drains_like_sigterm(
    redis_url: str, writer: CacheWriter, clean_env: pytest.MonkeyPatch
) -> None:
    server = await CacheWebSocketServer(redis_url=redis_url, port=0).start()
    try:
        async with raw_ws(server.ws_url) as ws:
            await ws.init()
            await ws.send({"id": "1", "type": "subscribe", "payload": {
                "query": 'subscription { tickers(exchange: "binance") { kind } }'}})  # fmt: skip
            assert (await ws.recv())["payload"]["data"]["tickers"]["kind"] == "SNAPSHOT"
            stopping = asyncio.create_task(server.stop())
            code, _reason = await ws.expect_close(timeout=EVENT_TIMEOUT)
            assert code == 1001  # going away: clients reconnect elsewhere
            await asyncio.wait_for(stopping, EVENT_TIMEOUT)
            # Nothing told the client the subscription was over.
            assert all('"complete"' not in str(raw) for raw in ws.before_close)
    finally:
        await server.stop()
    assert not server.started


# --------------------------------------------------------------------------- mounting


@contextlib.asynccontextmanager
async def serve_app(app: Starlette) -> AsyncIterator[int]:
    """Serve a host app with uvicorn on a free loopback port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on",
                            log_level=logging.WARNING, access_log=False)  # fmt: skip
    host = uvicorn.Server(config)
    host.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(host.serve())
    try:
        async with asyncio.timeout(EVENT_TIMEOUT):
            while not host.started:
                assert not task.done(), "uvicorn stopped"
                await asyncio.sleep(0.01)
        yield host.servers[0].sockets[0].getsockname()[1]
    finally:
        host.should_exit = True
        await asyncio.wait_for(task, EVENT_TIMEOUT)


async def test_mounted_under_a_prefix(
    redis_url: str, writer: CacheWriter, clean_env: pytest.MonkeyPatch
) -> None:
    api = CacheWebSocketServer(redis_url=redis_url)
    app = Starlette(routes=[Mount("/api", app=api.app)], lifespan=api.lifespan)
    async with serve_app(app) as port:
        base = f"127.0.0.1:{port}/api/graphql"
        body = await graphql(
            f"http://{base}", '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
        )
        assert body == {"data": {"ticker": {"price": 105234.56}}}
        async with fullon_cache_api.fullon_cache_api(f"ws://{base}") as client:
            assert (await client.get_ticker("binance", "BTC/USDT")).price == 105234.56  # type: ignore[union-attr]
            async with client.stream_tickers("binance", ["ETH/USDT"]) as stream:
                assert (await asyncio.wait_for(anext(stream), EVENT_TIMEOUT))["price"] == 2601.38
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/api/health")).json()["status"] == "ok"
    assert not api.started  # never started on its own port


# --------------------------------------------------------------------------- the design's code


def _blocks(source: str) -> list[str]:
    """The top-level statements of ``source`` grouped as the example groups them: the server
    lines, then each ``async with`` block."""
    tree = ast.parse(source, mode="exec")
    lines = source.splitlines()
    statements = [("\n".join(lines[n.lineno - 1 : n.end_lineno])) for n in tree.body]
    groups: list[str] = ["\n".join(statements[:3])]  # import, server, start
    groups.extend(statements[3:])
    return groups


async def run_verbatim(code: str, namespace: dict[str, Any]) -> None:
    """Run ``code`` as written (top-level ``await`` included) in ``namespace``."""
    compiled = compile(code, "<example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)
    if result is not None:
        await result


class Enough(Exception):
    """Ends the example's endless ``async for`` once the test has seen enough."""


async def test_the_designs_example_runs_verbatim(
    redis_url: str, writer: CacheWriter, clean_env: pytest.MonkeyPatch
) -> None:
    port = free_port()
    clean_env.setenv("REDIS_URL", redis_url)
    clean_env.setenv("API_PORT", str(port))
    clean_env.setenv("FULLON_CACHE_API_URL", f"ws://127.0.0.1:{port}/graphql")
    start, handler_block, client_block = _blocks(DESIGN_EXAMPLE)
    printed: list[str] = []
    pending: list[asyncio.Task[Any]] = []

    def fake_print(*args: Any) -> None:
        printed.append(" ".join(map(str, args)))
        if len(printed) == 1:  # the snapshot's ticker: now move the price
            pending.append(asyncio.ensure_future(writer.set_ticker(tick("BTC/USDT", 106001.0))))
        if len(printed) == 2:
            raise Enough

    namespace: dict[str, Any] = {"print": fake_print}
    await run_verbatim(start, namespace)
    server = namespace["server"]
    try:
        assert isinstance(server, CacheWebSocketServer) and server.started and server.port == port
        with pytest.raises(Enough):
            await run_verbatim(handler_block, namespace)
        assert namespace["ticker"].price == 105234.56
        assert printed == ["Live: 105234.56", "Live: 106001.0"]

        # `exchange` is what the example leaves open: the open-order queue is keyed by the
        # local order id, and `is_blocked` takes an ex_id.
        namespace["exchange"] = "3001"
        await run_verbatim(client_block, namespace)
        assert namespace["response"]["status"] == "ok" and namespace["ok"] is True
        assert namespace["response"]["server_version"] == fullon_cache_api.__version__
        assert namespace["queue_size"] == 2
        assert {bot.bot_id for bot in namespace["bots_data"]} == {"1", "2", "3", "5"}
        assert namespace["bots_data"][0]["bot_id"] == namespace["bots_data"][0].bot_id
        assert namespace["blocked"] is None

        namespace["exchange"] = "1"  # ex_id 1: its bot blocks BTC/USDT
        await run_verbatim(client_block, namespace)
        assert (namespace["queue_size"], namespace["blocked"]) == (0, "1")

        namespace["exchange"] = "binance"  # an exchange name is not a queue key: said plainly
        with pytest.raises(InvalidArgumentError, match="keyed by the local order id"):
            await run_verbatim(client_block, namespace)
    finally:
        for task in pending:
            await task
        await server.stop()


def _readme_client_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python client") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match[1]


async def test_the_readme_client_example_runs(
    redis_url: str, writer: CacheWriter, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("REDIS_URL", redis_url)
    code = _readme_client_example()
    assert "asyncio.run(main())" in code
    printed: list[str] = []
    namespace: dict[str, Any] = {"print": lambda *args: printed.append(" ".join(map(str, args)))}
    # Its own event loop, as a user runs it: in a thread.
    await asyncio.wait_for(asyncio.to_thread(exec, code, namespace), 60)
    ticker_line, ping_line, update_line = printed
    assert ticker_line.startswith("105234.56 105234.56 20")
    assert "'status': 'ok'" in ping_line and "'redis': 'ok'" in ping_line
    assert update_line == "SNAPSHOT BTC/USDT 105234.56"
