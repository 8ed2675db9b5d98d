"""Origin checks for browser WebSocket handshakes (cross-site WebSocket hijacking).

Clients that send no Origin (gql, scripts) are not browsers and pass. A browser origin passes
when it is the server's own (same host), or is in ``ALLOWED_ORIGINS``; ``*`` allows all.

HTTP routes follow the same rule through CORS (:mod:`server.middleware`): a listed origin
gets CORS headers, the server's own pages need none (same-origin), others get none.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers


def origin_allowed(headers: Headers, allowed: list[str]) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return True
    if "*" in allowed or origin in allowed:
        return True
    host = headers.get("host")
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()
