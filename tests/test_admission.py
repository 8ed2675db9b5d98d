"""Admission by cost (``server/admission.py``): expensive queries take turns from a shared
budget, cheap ones never wait, and a query that finds no turn in time gets ``RATE_LIMITED``."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio

from fullon_cache_api.server.admission import CostBudget, Overloaded
from fullon_cache_api.server.memory import MemoryTrimmer
from support.live import wait_until
from support.server import make_settings, running_server

# --------------------------------------------------------------------------- the budget


async def test_cheap_queries_never_wait() -> None:
    budget = CostBudget(capacity=100, free_cost=10, wait_s=0.1)
    # The budget is used up by the first, and the second is free.
    async with budget.admit(100), budget.admit(10):
        assert budget.stats()["in_use"] == 100


async def test_turns_are_first_come_first_served() -> None:
    budget = CostBudget(capacity=100, free_cost=0, wait_s=5)
    order: list[str] = []
    release = asyncio.Event()

    async def query(name: str, cost: int) -> None:
        async with budget.admit(cost):
            order.append(name)
            await release.wait()

    first = asyncio.create_task(query("first", 100))
    await asyncio.sleep(0)
    big = asyncio.create_task(query("big", 80))
    await asyncio.sleep(0)
    small = asyncio.create_task(query("small", 10))  # would fit beside "big", queued after it
    await asyncio.sleep(0)
    assert order == ["first"]
    assert budget.stats() == {"in_use": 100, "queued": 2, "waited": 2, "refused": 0}
    release.set()
    await asyncio.wait_for(asyncio.gather(first, big, small), 5)
    assert order == ["first", "big", "small"]
    assert budget.stats()["in_use"] == 0


async def test_no_turn_in_time_is_refused_and_gives_back_its_place() -> None:
    budget = CostBudget(capacity=100, free_cost=0, wait_s=0.05)
    async with budget.admit(100):
        with pytest.raises(Overloaded) as refused:
            async with budget.admit(50):
                pass
    assert refused.value.error["extensions"]["code"] == "RATE_LIMITED"
    assert budget.stats() == {"in_use": 0, "queued": 0, "waited": 1, "refused": 1}
    async with budget.admit(100):  # the whole budget is free again
        pass


async def test_a_caller_that_goes_away_frees_its_place_and_its_grant() -> None:
    budget = CostBudget(capacity=100, free_cost=0, wait_s=5)
    holder = asyncio.Event()

    async def hold() -> None:
        async with budget.admit(100):
            await holder.wait()

    running = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiting.cancel()  # gone while queued
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert budget.stats()["queued"] == 0
    running.cancel()  # gone while running
    with pytest.raises(asyncio.CancelledError):
        await running
    assert budget.stats()["in_use"] == 0


async def test_a_query_dearer_than_the_budget_still_runs_alone() -> None:
    budget = CostBudget(capacity=100, free_cost=0, wait_s=1)
    async with budget.admit(5000):  # held as the whole budget, not refused forever
        assert budget.stats()["in_use"] == 100


# --------------------------------------------------------------------------- over HTTP

TRADES = '{ trades(exchange: "binance", symbol: "BTC/USDT", last: 500) { tradeId price } }'


async def test_an_expensive_query_without_a_turn_gets_rate_limited(
    redis_url: str, redis_client: redis.asyncio.Redis
) -> None:
    await redis_client.rpush(
        "trades:binance:BTCUSDT",
        *(json.dumps({"trade_id": n, "symbol": "BTC/USDT", "price": n}) for n in range(500)),
    )
    settings = make_settings(
        redis_url, max_inflight_cost=600, admission_free_cost=100, admission_wait_s=0.3
    )
    async with running_server(settings) as server:
        # Redis answers no one for 1.5 s: the first expensive query holds its turn meanwhile.
        await redis_client.execute_command("CLIENT", "PAUSE", "1500", "ALL")
        holder = asyncio.create_task(server.post(TRADES))

        async def admitted() -> bool:
            return bool(server.app.state.services.executor.budget.stats()["in_use"])

        await wait_until(admitted, 5, "the first query to hold its turn")
        refused = await server.post(TRADES)
        assert refused.status_code == 503
        (error,) = refused.json()["errors"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert "retry later" in error["message"]
        cheap = await server.post("{ __typename }")  # cost 0: never waits
        assert cheap.json() == {"data": {"__typename": "Query"}}
        assert holder.done() is False
        answered = await asyncio.wait_for(holder, 10)
        assert answered.status_code == 200
        assert len(answered.json()["data"]["trades"]) == 500
        again = await server.post(TRADES)  # the turn was given back
        assert again.status_code == 200
        metrics = (await server.http.get("/metrics")).text
        assert "fullon_cache_api_admission_refused_total 1.0" in metrics
        assert "fullon_cache_api_inflight_cost 0.0" in metrics


# --------------------------------------------------------------------------- memory


async def test_memory_is_trimmed_once_after_a_burst_of_expensive_queries() -> None:
    trimmer = MemoryTrimmer(delay_s=0.05)
    if trimmer._trim is None:
        pytest.skip("no glibc malloc_trim on this system")
    budget = CostBudget(capacity=100, free_cost=0, wait_s=1, trimmer=trimmer)
    for _ in range(3):  # a burst: each ends before the delay, the next one postpones it
        async with budget.admit(60):
            pass
    async with budget.admit(60), budget.admit(40):
        pass  # not idle yet: the outer query still runs
    assert trimmer.trims == 0
    await wait_until(lambda: trimmer.trims == 1, 5, "a trim after the burst")
    async with budget.admit(0):  # a cheap query is not expensive work
        pass
    with pytest.raises(AssertionError):
        await wait_until(lambda: trimmer.trims > 1, 0.2, "no second trim")
