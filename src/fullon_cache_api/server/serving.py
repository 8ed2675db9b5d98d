"""Running the app in uvicorn, with the shutdown GraphQL clients expect, on the server's
own WebSocket protocol (:func:`websocket_options`).

uvicorn's own shutdown closes WebSockets with 1012 (service restart) before the app hears
about it. Here, once the server stops accepting, the app's :meth:`Services.shutdown` runs
first: every socket gets a 1001 (going away) close after what was already queued for it, so
clients reconnect (to another instance) and resubscribe, within ``SHUTDOWN_GRACE_S``; then
uvicorn finishes.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import uvicorn
from starlette.applications import Starlette

from fullon_cache_api.server.ws_protocol import FramedWebSocketProtocol
from fullon_cache_api.settings import Settings

log = logging.getLogger("fullon.api.cache.server")


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host`` (IPv4 or IPv6; port 0: any free port), for
    uvicorn to serve; connections queue until it does."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def websocket_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's WebSocket options for the app: its own protocol (each batch of frames in
    one write, below the ASGI send chain: ``server/ws_protocol.py``), the message size
    limit and whether permessage-deflate is accepted."""
    return {
        "ws": FramedWebSocketProtocol,
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_per_message_deflate": settings.ws_per_message_deflate,
    }


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
