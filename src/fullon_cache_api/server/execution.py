"""GraphQL execution shared by HTTP and WebSocket transports.

Documents are parsed and validated once and cached by their text; execution calls
graphql-core directly on the Strawberry schema, and results are serialised with orjson.
Errors are masked: only ``ApiError`` messages reach clients; anything else becomes
``INTERNAL`` and is logged.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from graphql.validation.rules import ASTValidationRule

from fullon_cache_api.context import RequestContext
from fullon_cache_api.errors import ApiError, ErrorCode
from fullon_cache_api.server.limits import check_limits
from fullon_cache_api.settings import Settings

log = logging.getLogger("fullon.api.cache.execution")

INTERNAL_MESSAGE = "Internal server error"


class RequestError(Exception):
    """The request could not be executed at all (parse, validation, limits, bad shape)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "bad request")
        self.errors = errors


@dataclass(frozen=True, slots=True)
class PreparedOperation:
    """A parsed, validated document with its selected operation."""

    document: DocumentNode
    operation: OperationDefinitionNode
    operation_name: str | None

    @property
    def kind(self) -> OperationType:
        return self.operation.operation


@dataclass(frozen=True, slots=True)
class _Parsed:
    document: DocumentNode | None
    errors: list[dict[str, Any]] | None


def format_error(error: GraphQLError) -> dict[str, Any]:
    """A client-safe error: ``ApiError`` keeps its message and code, others are masked."""
    original = error.original_error
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path is not None:
        formatted["path"] = error.path
    if isinstance(original, ApiError):
        formatted["message"] = original.message
        formatted["extensions"] = dict(original.extensions)
    elif original is not None and not isinstance(original, GraphQLError):
        log.error("resolver failed at %s", error.path, exc_info=original)
        formatted["message"] = INTERNAL_MESSAGE
        formatted["extensions"] = {"code": ErrorCode.INTERNAL.value}
    else:
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", ErrorCode.GRAPHQL_VALIDATION_FAILED.value)
        formatted["extensions"] = extensions
    return formatted


def request_error(message: str, code: ErrorCode) -> RequestError:
    return RequestError([{"message": message, "extensions": {"code": code.value}}])


class Executor:
    """Executes operations against the schema with cached parsing and validation."""

    def __init__(
        self,
        schema: strawberry.Schema,
        settings: Settings,
        context_factory: Callable[[], RequestContext],
    ) -> None:
        self.graphql_schema: GraphQLSchema = schema._schema
        self.settings = settings
        self.context_factory = context_factory
        rules: list[type[ASTValidationRule]] = list(specified_rules)
        if not settings.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self._rules = tuple(rules)
        self._cache: OrderedDict[str, _Parsed] = OrderedDict()
        self._cache_size = settings.document_cache_size

    # -- preparation -------------------------------------------------------------------

    def prepare(self, query: Any, operation_name: Any = None) -> PreparedOperation:
        """Parse, validate and select the operation, or raise ``RequestError``."""
        if not isinstance(query, str) or not query.strip():
            raise request_error("a GraphQL query string is required", ErrorCode.BAD_REQUEST)
        if operation_name is not None and not isinstance(operation_name, str):
            raise request_error("operationName must be a string", ErrorCode.BAD_REQUEST)
        parsed = self._parsed(query)
        if parsed.errors is not None:
            raise RequestError(parsed.errors)
        assert parsed.document is not None
        operation = get_operation_ast(parsed.document, operation_name)
        if operation is None:
            message = (
                f"unknown operation {operation_name!r}"
                if operation_name
                else "the document has several operations: operationName is required"
            )
            raise request_error(message, ErrorCode.BAD_REQUEST)
        return PreparedOperation(parsed.document, operation, operation_name)

    def _parsed(self, query: str) -> _Parsed:
        cached = self._cache.get(query)
        if cached is not None:
            self._cache.move_to_end(query)
            return cached
        parsed = self._parse_and_validate(query)
        if self._cache_size:
            self._cache[query] = parsed
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return parsed

    def _parse_and_validate(self, query: str) -> _Parsed:
        settings = self.settings
        if len(query) > settings.max_query_bytes:
            return _Parsed(
                None,
                [
                    _coded(
                        f"the query is longer than {settings.max_query_bytes} characters",
                        ErrorCode.QUERY_TOO_COMPLEX,
                    )
                ],
            )
        try:
            document = parse(query, max_tokens=settings.max_tokens)
        except GraphQLError as error:
            code = (
                ErrorCode.QUERY_TOO_COMPLEX
                if "tokens. parsing aborted" in error.message.lower()  # graphql-core's text
                else ErrorCode.GRAPHQL_PARSE_FAILED
            )
            formatted = format_error(error)
            formatted["extensions"] = {"code": code.value}
            return _Parsed(None, [formatted])
        limit_error = check_limits(
            document, max_depth=settings.max_query_depth, max_aliases=settings.max_aliases
        )
        if limit_error is not None:
            return _Parsed(None, [format_error(limit_error)])
        errors = validate(self.graphql_schema, document, self._rules, max_errors=20)
        if errors:
            return _Parsed(None, [format_error(error) for error in errors])
        return _Parsed(document, None)

    # -- execution ---------------------------------------------------------------------

    async def execute(
        self,
        prepared: PreparedOperation,
        variables: Any,
        context: RequestContext | None = None,
        root_value: Any = None,
    ) -> dict[str, Any]:
        """Run a query (or one subscription event, with ``root_value``) to a response dict."""
        variables = _variables(variables)
        context = context if context is not None else self.context_factory()
        result = execute(
            self.graphql_schema,
            prepared.document,
            root_value=root_value,
            context_value=context,
            variable_values=variables,
            operation_name=prepared.operation_name,
        )
        if not isinstance(result, ExecutionResult):
            result = await result
        return response(result, context)


def response(result: ExecutionResult, context: RequestContext) -> dict[str, Any]:
    """A GraphQL response dict; corrupt items the resolvers dropped become errors."""
    payload: dict[str, Any] = {}
    errors = [format_error(error) for error in result.errors] if result.errors else []
    if context.problems:
        for item in context.problems:
            errors.append(
                {
                    "message": item.problem.describe(),
                    "path": item.path,
                    "extensions": {"code": ErrorCode.CORRUPT_DATA.value},
                }
            )
        context.problems.clear()
    if errors:
        payload["errors"] = errors
    payload["data"] = result.data
    return payload


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)


def _coded(message: str, code: ErrorCode) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code.value}}


def _variables(variables: Any) -> dict[str, Any] | None:
    if variables is None:
        return None
    if not isinstance(variables, dict):
        raise request_error("variables must be a JSON object", ErrorCode.BAD_REQUEST)
    return variables
