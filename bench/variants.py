"""Variants of the product to measure beside it with ``--extra NAME=bench.variants:FACTORY``
(add ``@WS`` to serve one on a uvicorn ``--ws`` of its own: a name such as ``auto``,
``websockets`` or ``wsproto``, or a ``module:Class``).

``without_plans``: the product with compiled plans turned off, so graphql-core executes
every operation, as before ``server/plan.py``. It measures what the plans save::

    .venv/bin/python bench/query_rtt.py --quick --extra plan-off=bench.variants:without_plans

The WebSocket write path (issue 14), with ``P`` for
``fullon_cache_api.server.ws_protocol:FramedWebSocketProtocol``::

    .venv/bin/python bench/fanout.py --quick \
        --extra asgi=bench.fanout:product_app@auto \
        --extra ws-framing=bench.variants:websockets_framing@P \
        --extra deflate-all=bench.variants:compress_every_message@P

``bench.fanout:product_app@auto`` is the product on uvicorn's own protocol (one ASGI send
per message); ``websockets_framing`` frames batches with the ``websockets`` library instead
of by hand; ``compress_every_message`` turns permessage-deflate on and compresses every
message.

permessage-deflate turned on (``WS_PER_MESSAGE_DEFLATE=true``; the clients offer it)::

    .venv/bin/python bench/query_rtt.py --quick --extra deflate=bench.variants:with_deflate@P

The query path (issue 14), each change taken out on its own and all at once::

    .venv/bin/python bench/query_rtt.py --quick \
        --extra asgi-recv=bench.variants:asgi_receive@P \
        --extra no-autopipe=bench.variants:without_auto_pipelining@P \
        --extra no-prompt=bench.variants:without_prompt_writes@P \
        --extra before=bench.variants:before_querypath@P

The lean read path (``cache/resp.py``) taken out::

    .venv/bin/python bench/query_rtt.py --quick --extra no-lean=bench.variants:without_lean_reads@P

The event loop sleeping at once after each answer (``IDLE_POLL_US=0``)::

    .venv/bin/python bench/query_rtt.py --quick --extra no-poll=bench.variants:without_idle_poll@P

Client frames read by websockets' parser only (no ``server/ws_frames.py``)::

    .venv/bin/python bench/query_rtt.py --quick \
        --extra ws-parser=bench.variants:without_direct_frames@P
"""

from __future__ import annotations

from typing import Any


def without_plans(redis_url: str, port: int) -> Any:
    """The product, every operation on graphql-core (no compiled plan is ever made)."""
    from fullon_cache_api.server import plan
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    def no_plan(*_args: Any, **_kwargs: Any) -> None:
        return None

    plan.compile_plan = no_plan  # the executor looks it up when it caches a document
    return create_app(Settings(redis_url=redis_url, api_port=port))


def compress_every_message(redis_url: str, port: int) -> Any:
    """The product with ``WS_PER_MESSAGE_DEFLATE=true`` and ``WS_COMPRESS_MIN_BYTES=0``:
    with permessage-deflate negotiated, every message is compressed (what uvicorn's own
    protocols do). Serve it on the product's protocol:
    ``--extra deflate-all=bench.variants:compress_every_message@PRODUCT`` where PRODUCT is
    ``fullon_cache_api.server.ws_protocol:FramedWebSocketProtocol``."""
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    return create_app(
        Settings(
            redis_url=redis_url,
            api_port=port,
            ws_per_message_deflate=True,
            ws_compress_min_bytes=0,
        )
    )


def with_deflate(redis_url: str, port: int) -> Any:
    """The product with ``WS_PER_MESSAGE_DEFLATE=true`` (off by default): a client that
    offers permessage-deflate gets it, so it compresses its queries and the server inflates
    them; answers under ``WS_COMPRESS_MIN_BYTES`` still go uncompressed."""
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    return create_app(Settings(redis_url=redis_url, api_port=port, ws_per_message_deflate=True))


def without_idle_poll(redis_url: str, port: int) -> Any:
    """The product with ``IDLE_POLL_US=0``: the event loop sleeps as soon as it has nothing
    to do, and the next query waits for the CPU to wake (``server/idle_poll.py``)."""
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    return create_app(Settings(redis_url=redis_url, api_port=port, idle_poll_us=0))


def websockets_framing(redis_url: str, port: int) -> Any:
    """The product on its own protocol, but each batch framed by the ``websockets``
    library's sans-I/O ``ServerProtocol`` (``send_text`` per message, then one
    ``data_to_send`` and one ``transport.write``) instead of by ``socket.encode_frames``:
    what framing by hand saves."""
    from fullon_cache_api.server import socket
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    def write(self: socket.FramedSocket, frames: list[str]) -> None:
        wire = self._wire
        if not wire.open:
            raise socket.SocketClosed
        conn = wire._protocol.conn
        for frame in frames:
            conn.send_text(frame.encode())
        wire.write(b"".join(conn.data_to_send()))

    socket.FramedSocket._write = write  # type: ignore[method-assign]
    return create_app(Settings(redis_url=redis_url, api_port=port))


def asgi_receive(redis_url: str, port: int) -> Any:
    """The product on its own protocol, but reading every client message through uvicorn's
    ASGI queue and Starlette's ``receive`` (as before ``Wire.listen``): what reading
    messages below ASGI saves."""
    from fullon_cache_api.server import socket
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    def listen(self: socket.FramedSocket, on_message: Any) -> bool:
        return False

    socket.FramedSocket.listen = listen  # type: ignore[method-assign]
    return create_app(Settings(redis_url=redis_url, api_port=port))


def without_auto_pipelining(redis_url: str, port: int) -> Any:
    """The product with every Redis command on redis-py's own path (no
    ``AutoPipelinedRedis``): what sharing a write between queries' reads saves."""
    from fullon_cache_api.cache import connection
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    connection.AutoPipelinedRedis.execute_command = (  # type: ignore[method-assign]
        connection.Redis.execute_command
    )
    return create_app(Settings(redis_url=redis_url, api_port=port))


def without_prompt_writes(redis_url: str, port: int) -> Any:
    """The product with redis-py's own command writes (``asyncio.wait_for`` around every
    write while ``socket_timeout`` is set): what ``PromptWriteConnection`` saves."""
    from fullon_cache_api.cache import connection
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    def unchanged(pool: Any) -> None:
        return None

    connection._prompt_writes = unchanged
    return create_app(Settings(redis_url=redis_url, api_port=port))


def before_querypath(redis_url: str, port: int) -> Any:
    """The query path as it was before issue 14's query work: messages read through ASGI,
    no auto-pipelining, redis-py's timed command writes (serve it on the product's
    protocol). The three variants above, at once."""
    asgi_receive(redis_url, port)
    without_prompt_writes(redis_url, port)
    return without_auto_pipelining(redis_url, port)


def without_lean_reads(redis_url: str, port: int) -> Any:
    """The product with the routed reads on redis-py's path (auto-pipelined, as before
    ``cache/resp.py``): what the lean read path saves. Serve it on the product's protocol:
    ``--extra no-lean=bench.variants:without_lean_reads@P``."""
    from fullon_cache_api.cache import connection
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    connection.LEAN_READS = False
    return create_app(Settings(redis_url=redis_url, api_port=port))


def without_direct_frames(redis_url: str, port: int) -> Any:
    """The product with every client frame read by websockets' parser (as before
    ``server/ws_frames.py``): what reading the common frame directly saves. Serve it on the
    product's protocol: ``--extra ws-parser=bench.variants:without_direct_frames@P``."""
    from fullon_cache_api.server import ws_frames
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    def never(self: ws_frames.DirectFrames) -> bool:
        self.disable()
        return False

    ws_frames.DirectFrames._may_start = never  # type: ignore[method-assign]
    return create_app(Settings(redis_url=redis_url, api_port=port))
