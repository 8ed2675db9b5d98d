"""Polling for a short while instead of sleeping, after the server has answered a client.

A request-response client sends its next query soon after it reads an answer: a bot a
hundred or two microseconds later. When the event loop has nothing left to do after an
answer it sleeps in ``epoll_wait``, and the CPU it ran on goes idle; the next query then
waits for that CPU to wake. On virtual machines, where most servers run, an idle vCPU
halts, and waking it costs a VM exit and re-entry: on the 2-vCPU machines the benchmarks
run on, 80-90 µs of a 260-300 µs query round trip in quiet runs (BENCHMARKS.md, "Idle
polling").

:class:`IdlePoll` keeps the loop from sleeping for ``IDLE_POLL_US`` after each
:meth:`~IdlePoll.touch` (a client's operation read, a query answered): it keeps one callback
of its own scheduled, so each turn of the loop polls its sockets without blocking
(``epoll_wait`` with a zero timeout, in uvloop as in asyncio's own loop) and whatever
arrives is handled in the same turn. Nothing else waits for it: the other callbacks and
I/O of a turn run as they would, and timers stay on time. Once the window passes with no
touch, the callback stops and the loop sleeps as before. So an idle server costs nothing,
and a busy one was not sleeping anyway; the price is CPU in between, at most the window
after each touch. Seastar's reactor polls the same way, for 200 µs by default
(``--idle-poll-time-us``); set ``IDLE_POLL_US=0`` where CPU is scarce or overcommitted.

Polling after an answer pays only if the client comes back within the window. A
WebSocket keeps a :class:`ClientPace`: after an answer the loop polls only if that
client's previous operation came soon after the answer before it (the first answer on a
connection polls). A bot querying back to back gets it; a dashboard that queries once a
second costs one window per query, while its query runs.

Written here rather than taken from a library: none offers it for asyncio, and the
kernel's own busy polling (``SO_BUSY_POLL``, epoll's ``EPIOCSPARAMS``) polls a network
device's NAPI queue, which the loopback does not have, and must be set up per socket.
"""

from __future__ import annotations

import asyncio
import time


class IdlePoll:
    """Keeps ``loop`` polling for ``window_s`` after each :meth:`touch`."""

    __slots__ = ("_clock", "_loop", "_started", "_touched", "_until", "_window", "polled_s")

    def __init__(self, loop: asyncio.AbstractEventLoop, window_s: float) -> None:
        self._loop = loop
        self._window = window_s
        self._clock = time.monotonic
        self._until = 0.0
        self._touched = False
        self._started: float | None = None  # when the current polling began; None: not polling
        self.polled_s = 0.0  # seconds spent polling, all told (``/metrics``)

    @property
    def polling(self) -> bool:
        return self._started is not None

    def operation_read(self, pace: ClientPace) -> None:
        """A client's operation was read: poll while it runs (its Redis round trip). Only
        operations count: a keep-alive pong from each of thousands of idle connections
        would otherwise keep the loop polling for nothing."""
        pace.operation(self._clock(), self._window)
        self.touch()

    def answered(self, pace: ClientPace) -> None:
        """A client was answered: poll for its next operation if it tends to come in time."""
        if pace.answered(self._clock()):
            self.touch()

    def touch(self) -> None:
        """More input is likely soon: poll until ``window_s`` from now."""
        if self._started is not None:
            self._touched = True  # the next turn moves the end of the window
            return
        now = self._clock()
        self._started = now
        self._until = now + self._window
        self._loop.call_soon(self._turn)

    def _turn(self) -> None:
        now = self._clock()
        if self._touched:
            self._touched = False
            self._until = now + self._window
        if now < self._until:
            self._loop.call_soon(self._turn)  # the loop's next turn polls without blocking
            return
        assert self._started is not None
        self.polled_s += now - self._started
        self._started = None


class ClientPace:
    """Whether one client sends its next operation soon enough after an answer to poll for
    it: the gap from the last answer to the operation after it, measured each time, within
    twice the window. Twice, because a gap after an answer the loop did not poll for
    includes the CPU's wake-up: a prompt client must not look slow for want of polling."""

    __slots__ = ("_answered_at", "prompt")

    def __init__(self) -> None:
        self._answered_at: float | None = None
        self.prompt = True  # until a gap says otherwise

    def operation(self, now: float, window_s: float) -> None:
        if self._answered_at is not None:  # the first operation since the last answer
            self.prompt = now - self._answered_at <= 2 * window_s
            self._answered_at = None

    def answered(self, now: float) -> bool:
        """Note the answer; whether to poll for the client's next operation."""
        self._answered_at = now
        return self.prompt


__all__ = ["ClientPace", "IdlePoll"]
