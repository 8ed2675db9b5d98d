"""``IDLE_POLL_US``: after an answer, the event loop polls instead of sleeping, for the window
only (``server/idle_poll.py``).

The loop's own selector is recorded (asyncio's loop) to show it polls (zero timeouts) for the
window and sleeps (a real timeout) after it; under uvloop, the process's CPU time shows the
polling stops; a WebSocket's answers start it only while its client comes back in time;
and a real server starts it on operations and answers, reports it in ``/metrics``, and
does without it at ``IDLE_POLL_US=0``.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvloop

from fullon_cache_api.server.idle_poll import ClientPace, IdlePoll
from fullon_cache_api.simulator import CacheWriter
from support.live import wait_until
from support.server import make_settings, running_server
from support.ws import raw_ws
from test_metrics import scrape, value

TICKER = '{ ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'


class RecordingSelector(selectors.DefaultSelector):
    """The platform's selector, keeping the timeout of every ``select``."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []

    def select(self, timeout: float | None = None) -> Any:
        self.timeouts.append(timeout)
        return super().select(timeout)


def run_on_recorded_loop(
    main: Callable[[asyncio.AbstractEventLoop, RecordingSelector], Any],
) -> Any:
    selector = RecordingSelector()
    loop = asyncio.SelectorEventLoop(selector)
    try:
        return loop.run_until_complete(main(loop, selector))
    finally:
        loop.close()


def test_the_loop_polls_for_the_window_then_sleeps() -> None:
    window = 0.2

    async def main(loop: asyncio.AbstractEventLoop, selector: RecordingSelector) -> None:
        poll = IdlePoll(loop, window)
        await asyncio.sleep(0)
        before = len(selector.timeouts)
        started = time.monotonic()
        poll.touch()
        assert poll.polling
        # Inside the window, this sleep would block in select(); polling, it never does.
        await asyncio.sleep(window / 4)
        during = selector.timeouts[before:]
        assert len(during) >= 5, during
        assert all(timeout == 0 for timeout in during), during
        await wait_until(lambda: not poll.polling, message="polling ended", interval=window / 10)
        stopped = time.monotonic() - started
        assert stopped >= window
        assert window <= poll.polled_s <= stopped + 0.01
        # After the window the loop sleeps again: a select with the sleep's own timeout.
        after = len(selector.timeouts)
        await asyncio.sleep(0.03)
        assert any(t is not None and t > 0.01 for t in selector.timeouts[after:])

    run_on_recorded_loop(main)


def test_each_touch_moves_the_end_of_the_window() -> None:
    window = 0.04

    async def main(loop: asyncio.AbstractEventLoop, _selector: RecordingSelector) -> None:
        poll = IdlePoll(loop, window)
        started = time.monotonic()
        poll.touch()
        await asyncio.sleep(window / 2)
        poll.touch()  # half-way: polling now lasts until a window from here
        await wait_until(lambda: not poll.polling, timeout=5.0, message="polling ended")
        assert time.monotonic() - started >= 1.5 * window
        assert poll.polled_s >= 1.5 * window
        # Once stopped, a touch starts it again.
        poll.touch()
        assert poll.polling
        await wait_until(lambda: not poll.polling, timeout=5.0, message="polling ended")
        assert poll.polled_s >= 2.5 * window

    run_on_recorded_loop(main)


def test_polling_delays_neither_timers_nor_other_callbacks() -> None:
    async def main(loop: asyncio.AbstractEventLoop, _selector: RecordingSelector) -> None:
        poll = IdlePoll(loop, 0.5)
        poll.touch()
        fired = loop.create_future()
        scheduled = time.monotonic()
        loop.call_later(0.01, lambda: fired.set_result(time.monotonic()))
        ran: list[int] = []
        for index in range(3):
            loop.call_soon(ran.append, index)
        await asyncio.sleep(0)
        assert ran == [0, 1, 2]
        late = await asyncio.wait_for(fired, 1.0) - scheduled
        assert 0.01 <= late < 0.25  # on time, give or take a busy machine
        assert poll.polling  # still within its window

    run_on_recorded_loop(main)


def test_on_uvloop_polling_uses_cpu_only_in_its_window() -> None:
    """uvloop, as the server runs: the window costs CPU, and once it is over the process
    sleeps (its CPU time stays flat while the loop waits)."""
    window = 0.1

    async def main() -> tuple[float, float, IdlePoll]:
        poll = IdlePoll(asyncio.get_running_loop(), window)
        cpu = time.process_time()
        poll.touch()
        await wait_until(lambda: not poll.polling, message="polling ended")
        polling_cpu = time.process_time() - cpu
        cpu = time.process_time()
        await asyncio.sleep(0.3)
        return polling_cpu, time.process_time() - cpu, poll

    polling_cpu, idle_cpu, poll = uvloop.run(main())
    assert poll.polled_s >= window
    assert polling_cpu > 0.2 * window  # it did poll (the machine may have taken some of it)
    assert idle_cpu < 0.05  # and then slept: no runaway polling


async def test_the_server_polls_after_operations_and_answers(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    await CacheWriter(redis_client).set_ticker(
        {"symbol": "BTC/USDT", "exchange": "binance", "price": 101.5, "time": time.time()}
    )
    async with running_server(make_settings(redis_url)) as server:
        poll = server.services.idle_poll
        assert poll is not None  # IDLE_POLL_US defaults to 200
        assert server.settings.idle_poll_us == 200
        await wait_until(lambda: not poll.polling, message="start-up polling ended")
        before = poll.polled_s
        async with raw_ws(server.ws_url) as ws:
            await ws.init()
            payload = await ws.query(f"query {TICKER}")
            assert payload["data"]["ticker"]["price"] == 101.5
            await wait_until(
                lambda: not poll.polling and poll.polled_s > before,
                message="polling after a WebSocket query",
            )
        # An HTTP query too.
        before = poll.polled_s
        response = await server.http.post(server.http_url, json={"query": TICKER})
        assert response.json()["data"]["ticker"]["price"] == 101.5
        await wait_until(
            lambda: not poll.polling and poll.polled_s > before,
            message="polling after an HTTP query",
        )
        metrics = await scrape(server)  # /metrics itself starts no polling
        assert value(metrics, "fullon_cache_api_idle_poll_seconds_total") == pytest.approx(
            poll.polled_s
        )


def test_client_pace_follows_the_gap_after_each_answer() -> None:
    pace = ClientPace()
    window = 0.001
    assert pace.answered(10.0)  # the first answer on a connection polls
    pace.operation(10.0005, window)  # back within the window
    assert pace.answered(10.001)
    pace.operation(10.5, window)  # half a second later: not worth polling for
    assert not pace.answered(10.501)
    # Back after 1.8 ms: more than the window, but it was not polled for (its CPU had to
    # wake), so within twice the window still counts as prompt.
    pace.operation(10.5028, window)
    pace.operation(10.9, window)  # a second operation after one answer does not count
    assert pace.answered(10.901)
    pace.operation(10.9031, window)  # 2.1 ms: past twice the window
    assert not pace.answered(10.904)


async def test_a_websocket_client_is_polled_for_only_while_it_comes_back_in_time(
    redis_url: str, redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each operation read starts polling; an answer does only when the client's last
    operation came soon (within twice the window) after the answer before it. Pings and
    pongs start nothing."""
    await CacheWriter(redis_client).set_ticker(
        {"symbol": "BTC/USDT", "exchange": "binance", "price": 101.5, "time": time.time()}
    )
    touches = 0
    touch = IdlePoll.touch

    def counted(self: IdlePoll) -> None:
        nonlocal touches
        touches += 1
        touch(self)

    window_us = 50_000  # 50 ms: a test client on a busy machine is back well within it
    settings = make_settings(redis_url, idle_poll_us=window_us)
    async with running_server(settings) as server, raw_ws(server.ws_url) as ws:
        await ws.init()
        monkeypatch.setattr(IdlePoll, "touch", counted)

        async def query(op_id: str) -> int:
            before = touches
            payload = await ws.query(f"query {TICKER}", id=op_id)
            assert payload["data"]["ticker"]["price"] == 101.5
            return touches - before

        # connection_init was answered with an ack, not a query result: still prompt.
        assert await query("1") == 2  # read, and the first answer
        assert await query("2") == 2  # back at once: read and answer
        await asyncio.sleep(6 * window_us / 1e6)  # a slow client now
        assert await query("3") == 1  # read only: it came back late
        assert await query("4") == 2  # back at once again
        before = touches
        await ws.send({"type": "ping"})
        assert (await ws.recv(keepalive=True))["type"] == "pong"
        await ws.send({"type": "pong"})
        assert await query("5") == 2  # the ping and the pong started no polling
        assert touches - before == 2


async def test_idle_poll_us_zero_turns_it_off(redis_url: str) -> None:
    async with running_server(make_settings(redis_url, idle_poll_us=0)) as server:
        assert server.services.idle_poll is None
        response = await server.http.post(
            server.http_url, json={"query": "{ health { reachable } }"}
        )
        assert response.status_code == 200
        metrics = await scrape(server)
        assert value(metrics, "fullon_cache_api_idle_poll_seconds_total") == 0


@pytest.mark.parametrize("bad", [-1, 100_001])
def test_idle_poll_us_is_bounded(bad: int) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        make_settings("redis://127.0.0.1:1/0", idle_poll_us=bad)
