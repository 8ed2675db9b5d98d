"""Test support: the real app in uvicorn (:mod:`.server`) and a raw-frames WebSocket client
(:mod:`.ws`).

``tests/`` has no ``__init__.py``: pytest puts it on ``sys.path`` (rootdir-relative "prepend"
import mode), so tests import this package as ``support``.
"""

from __future__ import annotations

from .server import RunningServer, free_port, make_settings, running_server
from .ws import RawWebSocket, WsClosed, WsOperationError, raw_ws

__all__ = [
    "RawWebSocket",
    "RunningServer",
    "WsClosed",
    "WsOperationError",
    "free_port",
    "make_settings",
    "raw_ws",
    "running_server",
]
