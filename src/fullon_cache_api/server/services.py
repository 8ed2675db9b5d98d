"""The long-lived objects a server process shares between requests and connections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fullon_cache_api.auth import ALL_SCOPES
from fullon_cache_api.cache import CacheReader
from fullon_cache_api.context import RequestContext
from fullon_cache_api.server.abuse import ConnectionLimiter
from fullon_cache_api.server.execution import Executor, PreparedOperation
from fullon_cache_api.server.keyring import KeyRing
from fullon_cache_api.server.metrics import Metrics
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

    async def close(self) -> None: ...


@dataclass
class Services:
    settings: Settings
    cache: CacheReader
    live: LiveHub | None = None
    executor: Executor = field(init=False)
    runner: SubscriptionRunner = field(init=False)
    connections: set[GraphQLWebSocket] = field(default_factory=set)
    keyring: KeyRing = field(init=False)
    limiter: ConnectionLimiter = field(init=False)
    metrics: Metrics = field(init=False)

    def __post_init__(self) -> None:
        self.keyring = KeyRing(self.settings)
        self.limiter = ConnectionLimiter(self.settings)
        self.metrics = Metrics()
        self.metrics.attach(self)

    def context(self, scopes: frozenset[str] = ALL_SCOPES) -> RequestContext:
        return RequestContext(
            cache=self.cache,
            settings=self.settings,
            live=self.live,
            scopes=scopes,
            timer=self.metrics,
        )
