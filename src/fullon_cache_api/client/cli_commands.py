"""Client commands for the ``fullon-cache-api`` CLI: ``query`` and ``watch tickers``.

::

    fullon-cache-api query '{ exchanges }'
    fullon-cache-api query 'query($e: String!) { tickers(exchange: $e) { symbol price } }' \\
        --variables '{"e": "binance"}'
    fullon-cache-api query 'subscription { systemHealth { healthy } }' --count 3
    fullon-cache-api watch tickers --exchange binance --symbols BTC/USDT ETH/USDT

``--url`` defaults to ``$FULLON_CACHE_API_URL``, else ``ws://127.0.0.1:8000/graphql``;
``--token`` (the API key, when the server requires one) to ``$FULLON_CACHE_API_TOKEN``.
Exit status: 0 on success, 1 when the server reports an error or cannot be reached, 2 for
bad arguments. A refused key or a missing scope is explained with what to set.

``watch`` draws with ``rich`` (part of the ``client`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from graphql import GraphQLError, OperationType, get_operation_ast, parse

from fullon_cache_api.client.options import TOKEN_ENV, URL_ENV, default_token

if TYPE_CHECKING:
    from rich.table import Table

    from fullon_cache_api.client.api import FullonCacheApi
    from fullon_cache_api.client.errors import FullonCacheApiError
    from fullon_cache_api.client.models import Ticker

__all__ = ["TOKEN_ENV", "add_client_commands", "auth_hint", "main"]

# Exit statuses.
OK = 0
FAILED = 1
USAGE = 2


def add_client_commands(subparsers: Any) -> None:
    """Register ``query`` and ``watch`` on an ``argparse`` sub-parsers object (the result of
    ``parser.add_subparsers()``). Each command sets ``handler``: a function of the parsed
    arguments returning the exit status."""
    query = subparsers.add_parser(
        "query",
        help="run a GraphQL query (or subscription) against a server, print JSON",
        description="Run a GraphQL document over the WebSocket and print the result as "
        "JSON. A subscription prints one JSON line per event.",
    )
    query.add_argument("document", help="the GraphQL document, e.g. '{ exchanges }'")
    query.add_argument("--variables", metavar="JSON", help="variables as a JSON object")
    query.add_argument("--count", type=int, metavar="N", help="subscriptions: stop after N events")
    _add_connection_arguments(query)
    query.set_defaults(handler=run_query_command)

    watch = subparsers.add_parser("watch", help="live views of the cache")
    views = watch.add_subparsers(dest="view", required=True, metavar="VIEW")
    tickers = views.add_parser("tickers", help="a live ticker table")
    tickers.add_argument("--exchange", help="one exchange (default: all)")
    tickers.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="only these symbols")
    tickers.add_argument("--count", type=int, metavar="N", help="stop after N events")
    tickers.add_argument(
        "--min-interval-ms", type=int, metavar="MS", help="at most one update per MS per symbol"
    )
    _add_connection_arguments(tickers)
    tickers.set_defaults(handler=run_watch_tickers_command)


def _add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help=f"GraphQL WebSocket URL (default: ${URL_ENV} or ws://127.0.0.1:8000/graphql)",
    )
    parser.add_argument(
        "--token",
        metavar="KEY",
        help=f"API key, when the server requires one (default: ${TOKEN_ENV})",
    )


class MissingClientExtra(RuntimeError):
    """gql (the ``client`` extra) is not installed."""


def _client(args: argparse.Namespace, **options: Any) -> FullonCacheApi:
    try:
        from fullon_cache_api.client.api import fullon_cache_api
    except ImportError as exc:  # pragma: no cover - the extra is installed in development
        raise MissingClientExtra(
            f"the client needs the `client` extra ({exc.name} is missing): "
            "pip install 'fullon_cache_api[client]'"
        ) from None

    token = args.token if args.token is not None else default_token()
    return fullon_cache_api(args.url, token, **options)


def auth_hint(exc: FullonCacheApiError, token_given: bool) -> str | None:
    """What to do about a refused connection (close 4401/4403 at ``connection_init``,
    ``UNAUTHENTICATED``) or a field outside the key's scopes (``FORBIDDEN``); None for
    other errors."""
    from fullon_cache_api.client.errors import AuthenticationError, ForbiddenError

    if isinstance(exc, AuthenticationError):
        if not token_given:
            return (
                "the server requires an API key: pass --token KEY, or set "
                f"{TOKEN_ENV}=KEY in the environment"
            )
        return (
            f"the server refused the API key (from --token or ${TOKEN_ENV}): check it, or "
            "ask the server's operator for a key listed in its API_KEYS or API_KEYS_FILE"
        )
    if isinstance(exc, ForbiddenError):
        scopes = sorted(
            {
                str(error["extensions"]["scope"])
                for error in exc.errors
                if isinstance(error.get("extensions"), dict) and "scope" in error["extensions"]
            }
        )
        needed = " and ".join(f"'{scope}'" for scope in scopes) or "another"
        return (
            f"this API key lacks the {needed} scope: use a key granted it (--token KEY or "
            f"{TOKEN_ENV}=KEY)"
        )
    return None


def _fail(message: str, stream: TextIO | None = None) -> int:
    print(f"fullon-cache-api: {message}", file=stream or sys.stderr)
    return FAILED


def _fail_with(exc: Exception, args: argparse.Namespace) -> int:
    """Report ``exc`` and, for a refused key or scope, what to set."""
    from fullon_cache_api.client.errors import FullonCacheApiError

    _fail(str(exc))
    if isinstance(exc, FullonCacheApiError):
        token_given = (args.token if args.token is not None else default_token()) is not None
        hint = auth_hint(exc, token_given)
        if hint is not None:
            print(f"hint: {hint}", file=sys.stderr)
    return FAILED


# --------------------------------------------------------------------------- query


def _parse_variables(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("--variables must be a JSON object")
    return value


def _is_subscription(document: str) -> bool:
    operation = get_operation_ast(parse(document))
    return operation is not None and operation.operation is OperationType.SUBSCRIPTION


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def run_query_command(args: argparse.Namespace) -> int:
    """``query``: print the result's ``data`` as JSON (subscriptions: one line per
    event)."""
    from fullon_cache_api.client.errors import FullonCacheApiError

    try:
        variables = _parse_variables(args.variables)
        subscription = _is_subscription(args.document)
    except (ValueError, GraphQLError) as exc:
        print(f"fullon-cache-api query: {exc}", file=sys.stderr)
        return USAGE

    async def run() -> None:
        async with _client(args) as api:
            if not subscription:
                print(_dump(await api.execute(args.document, variables)), flush=True)
                return
            seen = 0
            async with api.subscribe(args.document, variables) as stream:
                async for data in stream:
                    print(json.dumps(data, ensure_ascii=False, default=str), flush=True)
                    seen += 1
                    if args.count is not None and seen >= args.count:
                        return

    try:
        asyncio.run(run())
    except (FullonCacheApiError, MissingClientExtra) as exc:
        return _fail_with(exc, args)
    return OK


# --------------------------------------------------------------------------- watch


class TickerBoard:
    """The state of ``watch tickers``: the latest ticker per (exchange, symbol) and the
    direction of its last price change."""

    def __init__(self) -> None:
        self.tickers: dict[tuple[str, str], Ticker] = {}
        self.direction: dict[tuple[str, str], int] = {}
        self.events = 0

    def apply(self, kind: str, items: Sequence[Ticker]) -> None:
        if kind == "SNAPSHOT":
            self.tickers.clear()
            self.direction.clear()
        for ticker in items:
            key = (ticker.exchange, ticker.symbol)
            if kind == "REMOVE":
                self.tickers.pop(key, None)
                self.direction.pop(key, None)
                continue
            previous = self.tickers.get(key)
            if previous is not None and previous.price is not None and ticker.price is not None:
                if ticker.price > previous.price:
                    self.direction[key] = 1
                elif ticker.price < previous.price:
                    self.direction[key] = -1
            self.tickers[key] = ticker
        self.events += 1

    def table(self, title: str, *, show_exchange: bool = True) -> Table:
        """The board as a ``rich`` table: the price is green after a rise, red after a
        fall."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(
            title=title,
            caption=f"{self.events} events",
            box=box.SIMPLE_HEAD,
            padding=(0, 1),
            pad_edge=False,
        )
        if show_exchange:
            table.add_column("Exchange", no_wrap=True)
        table.add_column("Symbol", no_wrap=True)
        for name in ("Price", "Bid", "Ask", "Spread %", "Time"):
            table.add_column(name, justify="right", no_wrap=True)
        for key in sorted(self.tickers):
            ticker = self.tickers[key]
            direction = self.direction.get(key, 0)
            style = {1: "bold green", -1: "bold red"}.get(direction, "")
            arrow = {1: "▲", -1: "▼"}.get(direction, " ")
            row: list[Any] = [ticker.exchange] if show_exchange else []
            row += [
                ticker.symbol,
                Text(f"{_number(ticker.price)} {arrow}", style=style),
                _number(ticker.bid),
                _number(ticker.ask),
                _number(ticker.spread_percentage, 4),
                _time(ticker.time),
            ]
            table.add_row(*row)
        return table


def _number(value: float | None, digits: int | None = None) -> str:
    """A price with a precision that suits its size (or exactly ``digits`` decimals)."""
    if value is None:
        return "-"
    if digits is None:
        size = abs(value)
        digits = 2 if size >= 1000 else 4 if size >= 1 else 8
    return f"{value:,.{digits}f}"


def _time(value: datetime | None) -> str:
    return value.strftime("%H:%M:%S") if value is not None else "-"


def run_watch_tickers_command(args: argparse.Namespace) -> int:
    """``watch tickers``: a table that updates in place (green: price up, red: down)."""
    try:
        from rich.console import Console
        from rich.live import Live
    except ImportError:  # pragma: no cover - rich is in the client extra
        return _fail("`watch` needs rich: pip install 'fullon_cache_api[client]'")

    from fullon_cache_api.client.errors import FullonCacheApiError

    if args.count is not None and args.count < 1:
        print("fullon-cache-api watch: --count must be at least 1", file=sys.stderr)
        return USAGE
    board = TickerBoard()
    title = f"Tickers: {args.exchange or 'all exchanges'}"
    if args.symbols:
        title += f" ({', '.join(args.symbols)})"

    async def run() -> None:
        console = Console()
        async with _client(args) as api:
            stream = api.stream_tickers(
                args.exchange, args.symbols, args.min_interval_ms, changes=True
            )
            show_exchange = args.exchange is None
            initial = board.table(title, show_exchange=show_exchange)
            with Live(initial, console=console, refresh_per_second=8) as live:
                async with stream:
                    async for event in stream:
                        board.apply(event.kind.value, event.items)
                        live.update(board.table(title, show_exchange=show_exchange))
                        if args.count is not None and board.events >= args.count:
                            return

    try:
        asyncio.run(run())
    except (FullonCacheApiError, MissingClientExtra) as exc:
        return _fail_with(exc, args)
    return OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client commands on their own (``python -m
    fullon_cache_api.client.cli_commands``), until the main CLI wires them in."""
    parser = argparse.ArgumentParser(prog="fullon-cache-api")
    add_client_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
