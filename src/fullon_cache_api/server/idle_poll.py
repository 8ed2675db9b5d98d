"""Polling for a short while instead of sleeping, after the server has answered a client.

A request-response client sends its next query soon after it reads an answer: a bot a
hundred or two microseconds later. When the event loop has nothing left to do after an
answer it sleeps in ``epoll_wait``, and the CPU it ran on goes idle; the next query then
waits for that CPU to wake. On virtual machines, where most servers run, an idle vCPU
halts, and waking it costs a VM exit and re-entry: on the 2-vCPU machines the benchmarks
run on, 80-90 µs of a 260-300 µs query round trip in quiet runs (BENCHMARKS.md, "Idle
polling").

:class:`IdlePoll` keeps the loop from sleeping for ``IDLE_POLL_US`` after each
:meth:`~IdlePoll.touch` (a query answered, a client message read): it keeps one callback
of its own scheduled, so each turn of the loop polls its sockets without blocking
(``epoll_wait`` with a zero timeout, in uvloop as in asyncio's own loop) and whatever
arrives is handled in the same turn. Nothing else waits for it: the other callbacks and
I/O of a turn run as they would, and timers stay on time. Once the window passes with no
touch, the callback stops and the loop sleeps as before. So an idle server costs nothing,
and a busy one was not sleeping anyway; the price is CPU in between, at most the window
after each answer (a server answering a query every millisecond spends up to 20% of a
core more with the default 200 µs). Seastar's reactor polls the same way, for 200 µs by
default (``--idle-poll-time-us``); set ``IDLE_POLL_US=0`` where CPU is scarce or
overcommitted.

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


__all__ = ["IdlePoll"]
