"""Readers of the server's streamed HTTP responses, for tests that look at the bytes
(heartbeats, how a stream ends): Server-Sent Events and Apollo's multipart subscriptions.

The real clients of these protocols (graphql-sse's, Apollo Client's ``HttpLink``, curl) are
exercised by their own tests; these readers let a test see exactly what was sent::

    async with sse_stream(server, {"query": TICKERS}) as stream:
        event, data = await stream.event()          # ("next", {...})
    async with multipart_stream(server, {"query": TICKERS}) as stream:
        part = await stream.part()                  # {"payload": {...}}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from support.server import RunningServer

JSONDict = dict[str, Any]
SSE_ACCEPT = "text/event-stream"
MULTIPART_ACCEPT = 'multipart/mixed;subscriptionSpec="1.0", application/json'
DELIMITER = "\r\n--graphql"


class StreamEnded(Exception):
    """The response ended (or the connection closed) before what was awaited."""


class _Reader:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.buffer = ""
        self.ended = False
        self._chunks = response.aiter_text()

    async def _more(self, timeout: float) -> None:  # noqa: ASYNC109
        if self.ended:
            raise StreamEnded(self.buffer)
        try:
            async with asyncio.timeout(timeout):
                chunk = await anext(self._chunks)
        except (StopAsyncIteration, httpx.RemoteProtocolError, httpx.ReadError):
            self.ended = True
            raise StreamEnded(self.buffer) from None
        self.buffer += chunk

    def _parse(self) -> None:
        raise NotImplementedError

    async def until(self, done: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Read and parse until ``done()`` holds."""
        async with asyncio.timeout(timeout):
            while True:
                self._parse()
                if done():
                    return
                await self._more(timeout)

    async def rest(self, timeout: float = 5.0) -> str:  # noqa: ASYNC109
        """Everything until the response ends."""
        with contextlib.suppress(StreamEnded):
            while True:
                await self._more(timeout)
        text, self.buffer = self.buffer, ""
        return text


class SseReader(_Reader):
    """Events (``event:``/``data:`` blocks) and comments (``:`` lines) of an SSE response."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response)
        self.comments: list[str] = []
        self.events: deque[tuple[str, Any]] = deque()

    async def event(self, timeout: float = 5.0) -> tuple[str, Any]:  # noqa: ASYNC109
        """The next event: ``(name, data parsed as JSON, or None when empty)``."""
        while not self.events:
            self._parse()
            if not self.events:
                await self._more(timeout)
        return self.events.popleft()

    async def next(self, timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        name, data = await self.event(timeout)
        assert name == "next", (name, data)
        return data

    def _parse(self) -> None:
        while "\n\n" in self.buffer:
            block, self.buffer = self.buffer.split("\n\n", 1)
            name, data = "", []
            for line in block.split("\n"):
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "":
                    self.comments.append(value)
                elif field == "event":
                    name = value
                elif field == "data":
                    data.append(value)
            if name or data:
                text = "\n".join(data)
                self.events.append((name, json.loads(text) if text else None))


class MultipartReader(_Reader):
    """The JSON parts of a ``multipart/mixed; boundary=graphql`` response; heartbeats
    (``{}``) are counted, not returned."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response)
        self.heartbeats = 0
        self.closed = False  # the closing delimiter arrived
        self.parts: deque[JSONDict] = deque()
        self._started = False

    async def part(self, timeout: float = 5.0) -> JSONDict:  # noqa: ASYNC109
        while not self.parts:
            self._parse()
            if not self.parts:
                if self.closed:
                    raise StreamEnded(self.buffer)
                await self._more(timeout)
        return self.parts.popleft()

    async def payload(self, timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        part = await self.part(timeout)
        assert set(part) == {"payload"}, part
        return part["payload"]

    def _parse(self) -> None:
        if not self._started:
            if not self.buffer.startswith(DELIMITER[: len(self.buffer)]):
                raise AssertionError(f"the body does not start with the delimiter: {self.buffer!r}")
            if len(self.buffer) < len(DELIMITER):
                return
            self.buffer = self.buffer[len(DELIMITER) :]
            self._started = True
        while True:
            if self.buffer.startswith("--"):
                self.closed = True
                return
            end = self.buffer.find(DELIMITER)
            if end < 0:
                return
            part, self.buffer = self.buffer[:end], self.buffer[end + len(DELIMITER) :]
            head, _, body = part.partition("\r\n\r\n")
            assert head.strip().lower() == "content-type: application/json", part
            value = json.loads(body)
            if value == {}:
                self.heartbeats += 1
            else:
                self.parts.append(value)


def _client(server: RunningServer, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, timeout=timeout)


@contextlib.asynccontextmanager
async def sse_stream(
    server: RunningServer,
    body: JSONDict | None = None,
    *,
    method: str = "POST",
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    status: int = 200,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> AsyncIterator[SseReader]:
    """An SSE request (``Accept: text/event-stream``); the response must have ``status``.
    Leaving the block closes the connection (the client goes away)."""
    async with (
        _client(server, timeout) as client,
        client.stream(
            method,
            server.graphql_path,
            json=body,
            params=params,
            headers={"accept": SSE_ACCEPT, **(headers or {})},
        ) as response,
    ):
        assert response.status_code == status, (response.status_code, await response.aread())
        if status == 200:
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        yield SseReader(response)


@contextlib.asynccontextmanager
async def multipart_stream(
    server: RunningServer,
    body: JSONDict,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> AsyncIterator[MultipartReader]:
    """A subscription with Apollo's ``Accept`` header; the response must be multipart."""
    async with (
        _client(server, timeout) as client,
        client.stream(
            "POST",
            server.graphql_path,
            json=body,
            headers={"accept": MULTIPART_ACCEPT, **(headers or {})},
        ) as response,
    ):
        assert response.status_code == 200, (response.status_code, await response.aread())
        content_type = response.headers["content-type"]
        assert content_type == 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"'
        yield MultipartReader(response)


__all__ = [
    "MULTIPART_ACCEPT",
    "SSE_ACCEPT",
    "MultipartReader",
    "SseReader",
    "StreamEnded",
    "multipart_stream",
    "sse_stream",
]
