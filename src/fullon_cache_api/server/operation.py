"""Running one GraphQL operation for a connection, whatever its transport.

A query executes once and queues its result (``next`` and ``complete``); a subscription
joins a delivery group until its stream ends (``complete``) or the client stops it (the
task is cancelled: nothing more is sent). A request that cannot run gets one ``error``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from graphql import OperationType

from fullon_cache_api.errors import INTERNAL_MESSAGE, ErrorCode, error_dict
from fullon_cache_api.server import wire
from fullon_cache_api.server.delivery import parse_cursor
from fullon_cache_api.server.execution import RequestError, dumps
from fullon_cache_api.server.outbox import Framing, Lane, Outbox, OutboxLimits

if TYPE_CHECKING:
    from fullon_cache_api.server.services import Services

log = logging.getLogger("fullon.api.cache.operation")


class OperationHost:
    """What a WebSocket and an HTTP stream share: the operations running on the connection
    (id → task and lane) and the outbox they write to, which ends a slow subscription's
    operation and closes a connection too far behind."""

    scopes: frozenset[str]  # the caller's, set by the host
    scope_key: str

    def __init__(
        self,
        services: Services,
        framing: Framing,
        *,
        write_now: Callable[[list[str]], bool] | None = None,
    ) -> None:
        settings = services.settings
        self.services = services
        self.operations: dict[str, tuple[asyncio.Task[None], Lane]] = {}
        self.outbox = Outbox(
            framing,
            OutboxLimits(
                settings.subscriber_buffer, settings.slow_consumer_s, settings.outbox_max_bytes
            ),
            on_slow=self._slow,
            on_overflow=self._overflow,
            write_now=write_now,  # a transport that can write without waiting (outbox.py)
        )

    def close(self, code: int, reason: str = "") -> None:
        raise NotImplementedError

    def run(
        self,
        lane: Lane,
        payload: dict[str, Any],
        on_done: Callable[[], None] | None = None,
        on_answer: Callable[[], None] | None = None,
    ) -> Coroutine[Any, Any, None]:
        """:func:`run_operation` for this connection, with its caller's scopes."""
        return run_operation(
            self.services,
            self.outbox,
            lane,
            payload,
            self.scopes,
            self.scope_key,
            on_done,
            on_answer,
        )

    def _slow(self, lane: Lane) -> None:
        """The outbox ended a subscription as a slow consumer: stop its operation."""
        self.services.dropped += 1
        for op_id, (task, op_lane) in list(self.operations.items()):
            if op_lane is lane:
                del self.operations[op_id]
                task.cancel()

    def _overflow(self) -> None:
        self.close(wire.POLICY_VIOLATION, "slow consumer: too far behind, closing")


async def run_operation(
    services: Services,
    outbox: Outbox,
    lane: Lane,
    payload: dict[str, Any],
    scopes: frozenset[str],
    scope_key: str,
    on_done: Callable[[], None] | None = None,
    on_answer: Callable[[], None] | None = None,
) -> None:
    """Run one operation to its end; ``on_done`` is called last, however it ends, and
    ``on_answer`` once a query's result is handed to the outbox."""
    executor = services.executor
    try:
        variables = payload.get("variables")
        extensions = payload.get("extensions")
        prepared = executor.prepare(
            payload.get("query"),
            payload.get("operationName"),
            variables,
            extensions,  # persisted queries (server/persisted.py)
        )
        del payload  # a subscription waits here for hours: keep only what it needs
        if prepared.kind is OperationType.SUBSCRIPTION:
            executor.authorize(prepared, scopes)
            resume = (
                parse_cursor(extensions.get("resumeAfter"))
                if isinstance(extensions, dict)
                else None
            )
            del extensions
            await services.runner.run(
                outbox,
                lane,
                prepared,
                variables,
                scopes=scopes,
                scope_key=scope_key,
                resume=resume,
            )
            outbox.finish(lane)  # the stream ended
        else:
            result = await executor.execute(prepared, variables, context=services.context(scopes))
            outbox.result(lane, dumps(result).decode())
            if on_answer is not None:
                on_answer()
    except RequestError as error:
        outbox.finish(lane, error.errors)
    except Exception:
        log.exception("operation %s failed", lane.id_json[:64])
        outbox.finish(lane, [error_dict(INTERNAL_MESSAGE, ErrorCode.INTERNAL)])
    finally:
        if on_done is not None:
            on_done()
