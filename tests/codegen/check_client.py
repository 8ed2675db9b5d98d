"""Run with the client ariadne-codegen generated (tests/test_codegen.py): type-checked with
``mypy --strict``, then run against a live server. Prints one JSON line of what it saw."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime

from fullon_gql.client import Client
from fullon_gql.enums import ChangeKind
from pydantic import JsonValue


async def main(http_url: str, ws_url: str) -> None:
    client = Client(url=http_url, ws_url=ws_url)
    dashboard = await client.dashboard(exchange="binance", ex_id="1")
    # Root Query fields are nullable: a field that failed is None next to the others.
    assert dashboard.tickers is not None and dashboard.bots is not None
    assert dashboard.account is not None
    when: datetime | None = dashboard.tickers[0].time
    data: JsonValue = dashboard.bots[0].data
    kind: ChangeKind | None = None
    symbols: list[str] = []
    async for event in client.tickers(exchange="binance"):
        kind = event.tickers.kind
        symbols = [ticker.symbol for ticker in event.tickers.items]
        break
    print(
        json.dumps(
            {
                "time_type": type(when).__name__,
                "date_type": type(dashboard.account.date).__name__,
                "data_type": type(data).__name__,
                "kind": kind.value if kind is not None else None,
                "symbols": symbols,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
