"""A loopback TCP proxy that breaks a client's connections the ways a network does."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any


class LoopbackProxy:
    """A loopback TCP proxy to a Redis whose open connections can be black-holed (from
    then on it forwards nothing either way and closes nothing, as a NAT or firewall that
    forgot a connection does: no FIN, no RST, the client's writes are taken, no reply ever
    comes) or reset (RST). Connections made afterwards are forwarded as usual."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._links: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def __aenter__(self) -> LoopbackProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for link in self._links:  # every pipe then reads its end of file and returns
            for writer in link["writers"]:
                writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def black_hole(self) -> None:
        """Every connection open now goes silent, for good."""
        for link in self._links:
            link["dead"] = True

    def reset(self) -> None:
        """Every connection open now is reset (RST to the client, as a restarted Redis or
        a middlebox may leave it): the client's stream sees an error, not an end of file."""
        for link in self._links:
            client_side = link["writers"][0]
            if client_side.transport.is_closing():
                continue  # reset (or closed) before
            link["dead"] = True
            sock = client_side.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client_side.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            link: dict[str, Any] = {"dead": False, "writers": (writer, up_writer)}
            self._links.append(link)
            await asyncio.gather(
                self._pipe(reader, up_writer, link), self._pipe(up_reader, writer, link)
            )
        finally:
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: dict[str, Any]
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if not link["dead"]:
                    writer.write(data)
        if not link["dead"]:
            writer.close()
