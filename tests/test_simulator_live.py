"""The demo's live market (``simulator.live.LiveMarket``) keeps the account it trades in
consistent: every balance's ``free``, ``used`` and ``total`` stay at or above zero, ``total``
is ``free + used``, and positions never go short."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.asyncio

from fullon_cache_api.simulator import CacheWriter, seed_scenario
from fullon_cache_api.simulator.live import ORDER_EX_ID, LiveMarket

Redis = redis.asyncio.Redis
STEPS = 1000
CHECK_REDIS_EVERY = 25


def assert_consistent(account: dict[str, Any]) -> None:
    for currency, balance in account.items():
        if currency == "date":
            continue
        free, used, total = balance["free"], balance["used"], balance["total"]
        assert free >= 0 and used >= 0 and total >= 0, (currency, balance)
        assert total == pytest.approx(free + used, abs=1e-6), (currency, balance)


async def stored_account(redis_client: Redis) -> dict[str, Any]:
    raw = await redis_client.hget("accounts", str(ORDER_EX_ID))
    assert raw is not None
    account: dict[str, Any] = json.loads(raw)
    return account


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_live_market_keeps_balances_consistent(redis_client: Redis, seed: int) -> None:
    writer = CacheWriter(redis_client)
    await seed_scenario(writer)
    assert_consistent(await stored_account(redis_client))  # the seeded account too
    market = LiveMarket(writer, rate_hz=1.0, seed=seed)
    start = market.account()

    for step in range(STEPS):
        await market.step()
        assert_consistent(market.account())
        if step % CHECK_REDIS_EVERY == 0:
            assert_consistent(await stored_account(redis_client))

    stored = await stored_account(redis_client)
    assert_consistent(stored)
    assert {k: v for k, v in stored.items() if k != "date"} == market.account()
    assert market.account() != start  # it did trade

    positions = json.loads(await redis_client.hget("account_positions", str(ORDER_EX_ID)) or "{}")
    volumes = {s: p["volume"] for s, p in positions.items() if isinstance(p, dict)}
    assert volumes and all(volume >= 0 for volume in volumes.values()), positions

    # Both sides filled, and the trades are the fills of this market.
    trades = [json.loads(t) for t in await redis_client.lrange("user_trades:1:binance", 0, -1)]
    sides = {t["side"] for t in trades if int(t["trade_id"]) > 10**9}
    assert sides == {"buy", "sell"}


async def test_no_order_when_the_account_covers_none(redis_client: Redis) -> None:
    """An empty account places no order (rather than a negative balance)."""
    writer = CacheWriter(redis_client)
    market = LiveMarket(writer, rate_hz=1.0, seed=5)
    market._balances = {"USDT": [0.0, 0.0], "BTC": [0.0, 0.0], "ETH": [0.0, 0.0]}
    for _ in range(200):
        await market.step()
    assert market.account() == {
        currency: {"free": 0.0, "used": 0.0, "total": 0.0} for currency in ("BTC", "ETH", "USDT")
    }
    assert await redis_client.llen("new_orders:demo") == 0
