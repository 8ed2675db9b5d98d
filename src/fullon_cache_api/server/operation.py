"""Running one GraphQL operation for a connection, whatever its transport.

A query executes once and queues its result (``next`` and ``complete``); a subscription
joins a delivery group until its stream ends (``complete``) or the client stops it (the
task is cancelled: nothing more is sent). A request that cannot run gets one ``error``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from graphql import OperationType

from fullon_cache_api.errors import INTERNAL_MESSAGE, ErrorCode, error_dict
from fullon_cache_api.server.delivery import parse_cursor
from fullon_cache_api.server.execution import RequestError, dumps
from fullon_cache_api.server.outbox import Lane, Outbox

if TYPE_CHECKING:
    from fullon_cache_api.server.services import Services

log = logging.getLogger("fullon.api.cache.operation")


async def run_operation(
    services: Services,
    outbox: Outbox,
    lane: Lane,
    payload: dict[str, Any],
    scopes: frozenset[str],
    scope_key: str,
) -> None:
    executor = services.executor
    try:
        variables = payload.get("variables")
        prepared = executor.prepare(
            payload.get("query"),
            payload.get("operationName"),
            variables,
            payload.get("extensions"),  # persisted queries (server/persisted.py)
        )
        if prepared.kind is OperationType.SUBSCRIPTION:
            executor.authorize(prepared, scopes)
            extensions = payload.get("extensions")
            resume = (
                parse_cursor(extensions.get("resumeAfter"))
                if isinstance(extensions, dict)
                else None
            )
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
    except RequestError as error:
        outbox.finish(lane, error.errors)
    except Exception:
        log.exception("operation %s failed", lane.id_json[:64])
        outbox.finish(lane, [error_dict(INTERNAL_MESSAGE, ErrorCode.INTERNAL)])
