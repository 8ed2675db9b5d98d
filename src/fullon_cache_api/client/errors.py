"""Client exceptions, and the mapping from a GraphQL response's errors to them.

Every server error carries a stable ``extensions.code`` (see ``fullon_cache_api.errors``);
the client raises the matching subclass of :class:`FullonCacheApiError`:

=============================  ==========================================================
code                           exception
=============================  ==========================================================
``INVALID_ARGUMENT``           :class:`InvalidArgumentError`
``CACHE_UNAVAILABLE``          :class:`CacheUnavailableError`
``CORRUPT_DATA``               :class:`CorruptDataError` (only when no data came back)
``INTERNAL``                   :class:`InternalServerError`
``GRAPHQL_PARSE_FAILED``,      :class:`GraphQLRequestError`
``GRAPHQL_VALIDATION_FAILED``,
``BAD_REQUEST``
``QUERY_TOO_COMPLEX``          :class:`QueryTooComplexError`
``UNAUTHENTICATED``            :class:`AuthenticationError` (also close 4401/4403 at init)
``FORBIDDEN``                  :class:`ForbiddenError`
``RATE_LIMITED``               :class:`RateLimitedError`
``SLOW_CONSUMER``              :class:`SlowConsumerError`
``REPLAY_UNAVAILABLE``         :class:`ReplayUnavailableError` (inside a stream)
=============================  ==========================================================

Client-side conditions have their own codes: ``CONNECTION_FAILED``
(:class:`ApiConnectionError`), ``CONNECTION_LOST`` (:class:`ConnectionLostError`),
``TIMEOUT`` (:class:`RequestTimeoutError`) and ``AMBIGUOUS_ORDER``
(:class:`AmbiguousOrderError`, from ``get_order_status``).

**Inside a stream**, an error the server reports while keeping the stream open (such as
``CACHE_UNAVAILABLE`` while its Redis is down) is raised from the stream's ``__anext__`` and
the stream goes on; see :mod:`~fullon_cache_api.client.streams`.

**Partial data.** ``CORRUPT_DATA`` means the server dropped items it could not decode and
served the rest. When such errors come *with* data, the client returns the data and logs
each error as a warning on the ``fullon_cache_api.client`` logger; it raises
:class:`CorruptDataError` only when nothing usable came back (``data`` is null, or a typed
method's single result is null because it was corrupt). Any other error code raises, even
next to partial data (the exception's ``data`` holds what arrived).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger("fullon_cache_api.client")

__all__ = [
    "AmbiguousOrderError",
    "ApiConnectionError",
    "AuthenticationError",
    "CacheUnavailableError",
    "ConnectionLostError",
    "CorruptDataError",
    "ForbiddenError",
    "FullonCacheApiError",
    "GraphQLRequestError",
    "InternalServerError",
    "InvalidArgumentError",
    "QueryTooComplexError",
    "RateLimitedError",
    "ReplayUnavailableError",
    "RequestTimeoutError",
    "SlowConsumerError",
]

JSONDict = dict[str, Any]

CORRUPT_DATA = "CORRUPT_DATA"


class FullonCacheApiError(Exception):
    """Base of every client error.

    Attributes:
        message: the (first) server error message, or the client's description.
        code: ``extensions.code`` of that error (a client-side code for connection
            problems), or None when the server sent none.
        path: the response path of that error (e.g. ``["ticker"]``), if any.
        errors: every error object of the response, as the server sent them.
        data: the response's ``data`` (partial data, or None).
    """

    default_code: str | None = None

    def __init__(
        self,
        message: str,
        code: str | None = None,
        path: Sequence[str | int] | None = None,
        errors: Sequence[JSONDict] | None = None,
        data: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.path: list[str | int] | None = list(path) if path is not None else None
        self.errors: list[JSONDict] = list(errors or [])
        self.data = data

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code else self.message


class InvalidArgumentError(FullonCacheApiError):
    """An argument was rejected (``INVALID_ARGUMENT``)."""

    default_code = "INVALID_ARGUMENT"


class CacheUnavailableError(FullonCacheApiError):
    """The server cannot reach its Redis (``CACHE_UNAVAILABLE``)."""

    default_code = "CACHE_UNAVAILABLE"


class CorruptDataError(FullonCacheApiError):
    """The stored value could not be decoded and nothing usable came back
    (``CORRUPT_DATA``)."""

    default_code = CORRUPT_DATA


class InternalServerError(FullonCacheApiError):
    """The server failed unexpectedly (``INTERNAL``)."""

    default_code = "INTERNAL"


class GraphQLRequestError(FullonCacheApiError):
    """The document or request is invalid (``GRAPHQL_PARSE_FAILED``,
    ``GRAPHQL_VALIDATION_FAILED``, ``BAD_REQUEST``)."""

    default_code = "GRAPHQL_VALIDATION_FAILED"


class QueryTooComplexError(FullonCacheApiError):
    """The document exceeds the server's depth/alias/token/size limits
    (``QUERY_TOO_COMPLEX``)."""

    default_code = "QUERY_TOO_COMPLEX"


class AuthenticationError(FullonCacheApiError):
    """Missing or rejected credentials (``UNAUTHENTICATED``, or the server closed the
    WebSocket with 4401/4403 during the handshake)."""

    default_code = "UNAUTHENTICATED"


class ForbiddenError(FullonCacheApiError):
    """Authenticated, but not allowed (``FORBIDDEN``)."""

    default_code = "FORBIDDEN"


class RateLimitedError(FullonCacheApiError):
    """Too many requests or operations (``RATE_LIMITED``)."""

    default_code = "RATE_LIMITED"


class SlowConsumerError(FullonCacheApiError):
    """A stream was ended because its reader fell too far behind (``SLOW_CONSUMER``):
    either the server's per-subscription buffer or the client's ``buffer_size`` filled."""

    default_code = "SLOW_CONSUMER"


class ReplayUnavailableError(FullonCacheApiError):
    """A stream resumed after a gap its server could not replay (``REPLAY_UNAVAILABLE``):
    messages of a push stream (``processBroadcasts``) missed since its cursor may be lost.
    The stream goes on."""

    default_code = "REPLAY_UNAVAILABLE"


class AmbiguousOrderError(FullonCacheApiError):
    """``get_order_status(order_id)`` found the order under more than one ``order_status``
    key (``AMBIGUOUS_ORDER``); ``keys`` lists them. Pass ``exchange=`` to pick one."""

    default_code = "AMBIGUOUS_ORDER"

    def __init__(self, message: str, keys: list[str]) -> None:
        super().__init__(message)
        self.keys = keys


class ApiConnectionError(FullonCacheApiError):
    """The WebSocket could not be opened (``CONNECTION_FAILED``)."""

    default_code = "CONNECTION_FAILED"


class ConnectionLostError(ApiConnectionError):
    """The connection dropped and could not be re-established within the reconnect
    attempts, or the client was closed (``CONNECTION_LOST``)."""

    default_code = "CONNECTION_LOST"


class RequestTimeoutError(FullonCacheApiError):
    """No answer within the client's ``request_timeout`` (``TIMEOUT``)."""

    default_code = "TIMEOUT"


ERROR_CLASSES: dict[str, type[FullonCacheApiError]] = {
    "INVALID_ARGUMENT": InvalidArgumentError,
    "CACHE_UNAVAILABLE": CacheUnavailableError,
    CORRUPT_DATA: CorruptDataError,
    "INTERNAL": InternalServerError,
    "GRAPHQL_PARSE_FAILED": GraphQLRequestError,
    "GRAPHQL_VALIDATION_FAILED": GraphQLRequestError,
    "BAD_REQUEST": GraphQLRequestError,
    "QUERY_TOO_COMPLEX": QueryTooComplexError,
    "UNAUTHENTICATED": AuthenticationError,
    "FORBIDDEN": ForbiddenError,
    "RATE_LIMITED": RateLimitedError,
    "SLOW_CONSUMER": SlowConsumerError,
    "REPLAY_UNAVAILABLE": ReplayUnavailableError,
    # Persisted queries: the client sends full documents, so it sees only NOT_LISTED (a
    # server in trusted-documents mode refusing a document its manifest does not list).
    "PERSISTED_QUERY_NOT_FOUND": GraphQLRequestError,
    "PERSISTED_QUERY_NOT_SUPPORTED": GraphQLRequestError,
    "PERSISTED_QUERY_HASH_MISMATCH": GraphQLRequestError,
    "PERSISTED_QUERY_NOT_LISTED": GraphQLRequestError,
    # Ends an HTTP (multipart) subscription when the server stops; WebSockets get 1001.
    "SHUTTING_DOWN": ConnectionLostError,
}


# --------------------------------------------------------------------------- mapping


def normalise_errors(errors: Any) -> list[JSONDict]:
    """The response's errors as plain dicts (gql may hand over dicts or GraphQLErrors)."""
    if not errors:
        return []
    if isinstance(errors, Mapping):  # the legacy protocol's single error object
        errors = [errors]
    result: list[JSONDict] = []
    for error in errors:
        if isinstance(error, Mapping):
            result.append(dict(error))
        elif hasattr(error, "formatted"):  # graphql.GraphQLError
            result.append(dict(error.formatted))
        else:
            result.append({"message": str(error)})
    return result


def error_code(error: Mapping[str, Any]) -> str | None:
    extensions = error.get("extensions")
    if isinstance(extensions, Mapping):
        code = extensions.get("code")
        if isinstance(code, str):
            return code
    return None


def exception_for(errors: Any, data: Any = None) -> FullonCacheApiError:
    """The exception for a response's ``errors``: the class of the first error that is
    not ``CORRUPT_DATA`` (else the first error), carrying every error."""
    items = normalise_errors(errors)
    if not items:
        return FullonCacheApiError("the server returned no data and no error", data=data)
    primary = next((e for e in items if error_code(e) != CORRUPT_DATA), items[0])
    code = error_code(primary)
    cls = ERROR_CLASSES.get(code, FullonCacheApiError) if code else FullonCacheApiError
    path = primary.get("path")
    return cls(
        str(primary.get("message", "unknown error")),
        code,
        path if isinstance(path, list) else None,
        items,
        data,
    )


def warn_corrupt(errors: Sequence[JSONDict]) -> None:
    for error in errors:
        log.warning(
            "CORRUPT_DATA at %s: %s (the item was dropped; the rest is served)",
            error.get("path"),
            error.get("message"),
        )


def checked_data(data: Any, errors: Any, field: str | None = None) -> JSONDict:
    """``data`` of a response, or the exception its errors call for.

    ``CORRUPT_DATA`` errors next to data are logged as warnings and the data is returned;
    with ``field`` (a typed method's root field), a null value at that field with a
    ``CORRUPT_DATA`` error pointing at it raises :class:`CorruptDataError`.
    """
    items = normalise_errors(errors)
    if items:
        serious = [e for e in items if error_code(e) != CORRUPT_DATA]
        if serious or data is None:
            raise exception_for(items, data)
        if field is not None and isinstance(data, Mapping) and data.get(field) is None:
            at_field = [e for e in items if _path_head(e) == field]
            if at_field:
                raise exception_for(at_field, data)
        warn_corrupt(items)
    if not isinstance(data, Mapping):
        raise FullonCacheApiError("the server returned no data", data=data)
    return dict(data)


def _path_head(error: Mapping[str, Any]) -> Any:
    path = error.get("path")
    return path[0] if isinstance(path, list) and path else None
