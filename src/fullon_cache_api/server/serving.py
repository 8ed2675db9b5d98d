"""Running the app in uvicorn, with the shutdown GraphQL clients expect.

uvicorn's own shutdown closes WebSockets with 1012 (service restart) before the app hears
about it. Here, once the server stops accepting, the app's :meth:`Services.shutdown` runs
first: every socket gets a 1001 (going away) close after what was already queued for it, so
clients reconnect (to another instance) and resubscribe, within ``SHUTDOWN_GRACE_S``; then
uvicorn finishes.
"""

from __future__ import annotations

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
        if services is not None:
            await services.shutdown(self.grace_s)
        await super().shutdown(sockets=None)
