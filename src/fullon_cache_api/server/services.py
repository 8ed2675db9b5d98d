"""The long-lived objects a server process shares between requests and connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fullon_cache_api.cache import CacheReader
from fullon_cache_api.context import RequestContext
from fullon_cache_api.server.execution import Executor, PreparedOperation
from fullon_cache_api.settings import Settings

if TYPE_CHECKING:
    from fullon_cache_api.server.ws_connection import GraphQLWebSocket
    from fullon_cache_api.subscriptions.hub import LiveHub


class SubscriptionRunner(Protocol):
    """Delivers one subscription operation to one WebSocket until it ends or is cancelled."""

    async def run(
        self,
        connection: GraphQLWebSocket,
        id_json: str,
        prepared: PreparedOperation,
        variables: Any,
    ) -> None: ...


@dataclass
class Services:
    settings: Settings
    cache: CacheReader
    executor: Executor
    live: LiveHub | None = None
    runner: SubscriptionRunner | None = None
    connections: set[GraphQLWebSocket] = field(default_factory=set)

    def context(self) -> RequestContext:
        return RequestContext(cache=self.cache, settings=self.settings, live=self.live)


class DirectSubscriptionRunner:
    """One graphql-core subscription per subscriber: every event is executed for every
    subscriber. Kept as the reference behaviour the shared fan-out must match."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(
        self,
        connection: GraphQLWebSocket,
        id_json: str,
        prepared: PreparedOperation,
        variables: Any,
    ) -> None:
        executor = self.services.executor
        stream = await executor.source_stream(prepared, variables, self.services.context())
        if isinstance(stream, dict):
            connection.send_result(id_json, stream)
            return
        iterator: AsyncIterator[dict[str, Any]] = stream
        try:
            async for result in iterator:
                connection.send_result(id_json, result)
        finally:
            await iterator.aclose()  # type: ignore[attr-defined]
