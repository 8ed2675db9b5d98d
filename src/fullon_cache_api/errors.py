"""Stable error codes, carried in ``extensions.code`` of every GraphQL error."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    CACHE_UNAVAILABLE = "CACHE_UNAVAILABLE"
    CORRUPT_DATA = "CORRUPT_DATA"
    INTERNAL = "INTERNAL"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    SLOW_CONSUMER = "SLOW_CONSUMER"
    REPLAY_UNAVAILABLE = "REPLAY_UNAVAILABLE"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    PERSISTED_QUERY_NOT_LISTED = "PERSISTED_QUERY_NOT_LISTED"
    SHUTTING_DOWN = "SHUTTING_DOWN"


INTERNAL_MESSAGE = "Internal server error"


def error_dict(message: str, code: ErrorCode, **extensions: Any) -> dict[str, Any]:
    """A GraphQL error object: ``{"message", "extensions": {"code", ...}}``."""
    return {"message": message, "extensions": {"code": code.value, **extensions}}


class ApiError(Exception):
    """An error whose message is safe to show to clients."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code.value, **extensions}

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "extensions": dict(self.extensions)}


class InvalidArgument(ApiError):
    code = ErrorCode.INVALID_ARGUMENT


class CacheUnavailable(ApiError):
    code = ErrorCode.CACHE_UNAVAILABLE


class CorruptData(ApiError):
    """One stored item could not be decoded; the item is dropped, the rest is served."""

    code = ErrorCode.CORRUPT_DATA


class Forbidden(ApiError):
    """A root field outside the API key's scopes."""

    code = ErrorCode.FORBIDDEN


class InternalError(ApiError):
    """An unexpected failure, already logged; its message says only what failed."""

    code = ErrorCode.INTERNAL
