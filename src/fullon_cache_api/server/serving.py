"""Running the app in uvicorn, with the shutdown GraphQL clients expect.

uvicorn's own shutdown closes WebSockets with 1012 (service restart) before the app hears
about it. Here, once the server stops accepting, every socket gets a 1001 (going away)
close after what was already queued for it, so clients reconnect (to another instance)
and resubscribe; open connections get ``SHUTDOWN_GRACE_S`` to drain before uvicorn's
shutdown cancels what is left.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn
from starlette.applications import Starlette

log = logging.getLogger("fullon.api.cache.server")


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Starlette, *, grace_s: float) -> None:
        super().__init__(config)
        self.app = app
        self.grace_s = grace_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting
        for sock in sockets or []:
            sock.close()
        services = getattr(self.app.state, "services", None)
        if services is not None and services.connections:
            connections = list(services.connections)
            log.info("closing %d WebSocket connection(s)", len(connections))
            for connection in connections:
                connection.shut_down()
            finished = [connection.finished.wait() for connection in connections]
            try:
                await asyncio.wait_for(asyncio.gather(*finished), self.grace_s)
            except TimeoutError:
                still = sum(1 for connection in connections if not connection.finished.is_set())
                log.warning("%d connection(s) still open after the grace period", still)
        await super().shutdown(sockets=None)
