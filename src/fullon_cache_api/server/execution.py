"""GraphQL execution shared by HTTP and WebSocket transports.

Documents are parsed and validated once and cached by their text; execution calls
graphql-core directly on the Strawberry schema, and results are serialised with orjson.
Errors are masked: only ``ApiError`` messages reach clients; anything else becomes
``INTERNAL`` and is logged.

Preparing an operation also prices it (:mod:`server.cost`, once per cached document, again
per execution when a size argument is a variable) and, for a subscription, checks its root
field against the caller's scopes. A query's root fields are checked as they execute: a
field outside the scopes is ``null`` with a ``FORBIDDEN`` error, and the others answer.

Once per cached document, each operation is also compiled into a plan (:mod:`server.plan`)
when it can be: the plan runs queries and renders subscription events without
graphql-core's per-field machinery, and answers the same. Operations without a plan run
on graphql-core.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution import Executor as GraphQLExecutor
from graphql.pyutils import AwaitableOrValue, Path, UndefinedType
from graphql.validation import NoSchemaIntrospectionCustomRule
from graphql.validation.rules import ASTValidationRule

from fullon_cache_api.context import RequestContext
from fullon_cache_api.cooperative import pause
from fullon_cache_api.errors import INTERNAL_MESSAGE, ApiError, ErrorCode, Forbidden, error_dict
from fullon_cache_api.resolvers.fields import field_scope
from fullon_cache_api.server.admission import CostBudget, Overloaded
from fullon_cache_api.server.cost import operation_cost, root_field_nodes
from fullon_cache_api.server.limits import check_limits
from fullon_cache_api.server.memory import MemoryTrimmer
from fullon_cache_api.server.persisted import PersistedQueries, PersistedQueryError
from fullon_cache_api.server.templates import Shape, Template, make_template, shape_of
from fullon_cache_api.settings import Settings

if TYPE_CHECKING:
    from fullon_cache_api.server.plan import Plan

log = logging.getLogger("fullon.api.cache.execution")


class RequestError(Exception):
    """The request could not be executed at all (parse, validation, limits, bad shape).

    ``status`` is the HTTP status it answers with (400, or 413 for a body over the limit)."""

    def __init__(self, errors: list[dict[str, Any]], *, status: int = 400) -> None:
        super().__init__(errors[0]["message"] if errors else "bad request")
        self.errors = errors
        self.status = status


@dataclass(frozen=True, slots=True)
class PreparedOperation:
    """A parsed, validated document with its selected operation."""

    document: DocumentNode
    operation: OperationDefinitionNode
    operation_name: str | None
    cost: int = 0
    scopes: frozenset[str] = frozenset()  # the scopes of its root fields
    plan: Plan | None = None  # its compiled plan; None: graphql-core executes it
    literals: dict[str, str] | None = None  # a template's variables (server.templates)

    @property
    def kind(self) -> OperationType:
        return self.operation.operation

    def variables_with(self, variables: Any) -> Any:
        """The client's variables plus the literals its text gave the document's template."""
        if self.literals is None or not (variables is None or isinstance(variables, dict)):
            return variables
        return {**variables, **self.literals} if variables else dict(self.literals)


@dataclass(frozen=True, slots=True)
class _Operation:
    """What is known of one operation of a cached document."""

    cost: int
    variable_cost: bool  # a size argument is a variable: price each execution
    scopes: frozenset[str]
    fragments: dict[str, FragmentDefinitionNode]
    plan: Plan | None


@dataclass(frozen=True, slots=True)
class _Parsed:
    document: DocumentNode | None
    errors: list[dict[str, Any]] | None
    operations: dict[int, _Operation] = field(default_factory=dict)  # by id(operation node)
    literals: dict[str, str] | None = None  # the text's values of its template's variables


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
        formatted.update(error_dict(INTERNAL_MESSAGE, ErrorCode.INTERNAL))
    else:
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", ErrorCode.GRAPHQL_VALIDATION_FAILED.value)
        formatted["extensions"] = extensions
    return formatted


def request_error(message: str, code: ErrorCode, *, status: int = 400) -> RequestError:
    return RequestError([error_dict(message, code)], status=status)


class Executor:
    """Executes operations against the schema with cached parsing and validation."""

    def __init__(self, schema: strawberry.Schema, settings: Settings) -> None:
        self.graphql_schema: GraphQLSchema = schema._schema
        self.settings = settings
        rules: list[type[ASTValidationRule]] = list(specified_rules)
        if not settings.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self._rules = tuple(rules)
        # Without introspection, "Did you mean ...?" would reveal the schema bit by bit.
        self.hide_suggestions = not settings.introspection
        self._cache: OrderedDict[str, _Parsed] = OrderedDict()
        self._cache_size = settings.document_cache_size
        # Documents that differ only in string arguments share a template (by shape).
        self._templates: OrderedDict[str, tuple[Template, dict[int, _Operation]]] = OrderedDict()
        self.persisted = PersistedQueries.from_settings(settings)
        self.budget = CostBudget(
            settings.max_inflight_cost,
            settings.admission_free_cost,
            settings.admission_wait_s,
            MemoryTrimmer(),
        )

    # -- preparation -------------------------------------------------------------------

    def prepare(
        self,
        query: Any,
        operation_name: Any = None,
        variables: Any = None,
        extensions: Any = None,
    ) -> PreparedOperation:
        """Parse, validate, select the operation and check its cost (with ``variables``);
        or raise ``RequestError``. ``extensions`` may name a persisted query
        (:mod:`server.persisted`), which then supplies or registers the text."""
        register = None
        if extensions is not None or self.persisted.active:
            try:
                query, register = self.persisted.resolve(query, extensions)
            except PersistedQueryError as error:
                raise request_error(error.message, error.code, status=error.status) from None
        if not isinstance(query, str) or not query.strip():
            raise request_error("a GraphQL query string is required", ErrorCode.BAD_REQUEST)
        if operation_name is not None and not isinstance(operation_name, str):
            raise request_error("operationName must be a string", ErrorCode.BAD_REQUEST)
        parsed = self._parsed(query)
        if parsed.errors is not None:
            raise RequestError(parsed.errors)
        assert parsed.document is not None
        if register is not None:
            self.persisted.register(register, query)
        operation = get_operation_ast(parsed.document, operation_name)
        if operation is None:
            message = (
                f"unknown operation {operation_name!r}"
                if operation_name
                else "the document has several operations: operationName is required"
            )
            raise request_error(message, ErrorCode.BAD_REQUEST)
        info = parsed.operations.get(id(operation))
        if info is None:
            info = parsed.operations[id(operation)] = self._operation_info(
                parsed.document, operation
            )
        cost = info.cost
        if info.variable_cost and isinstance(variables, dict):
            cost, _ = operation_cost(
                self.graphql_schema,
                info.fragments,
                operation,
                variables,
                page_default=self.settings.list_page_default,
            )
        if cost > self.settings.max_query_cost:
            raise request_error(
                f"the query costs {cost}; the limit is {self.settings.max_query_cost} "
                "(list fields count their expected length: ohlcv count, the page of trades, "
                "else 10)",
                ErrorCode.QUERY_TOO_COMPLEX,
            )
        return PreparedOperation(
            parsed.document,
            operation,
            operation_name,
            cost,
            info.scopes,
            info.plan,
            parsed.literals,
        )

    def authorize(self, prepared: PreparedOperation, scopes: frozenset[str]) -> None:
        """Raise ``RequestError`` (``FORBIDDEN``) when a root field is outside ``scopes``.

        For subscriptions, which have one root field; queries are checked field by field
        as they execute (:class:`ScopedExecutor`)."""
        if not prepared.scopes <= scopes:
            raise RequestError(self._forbidden_roots(prepared, scopes))

    def _operation_info(
        self, document: DocumentNode, operation: OperationDefinitionNode
    ) -> _Operation:
        fragments = {
            node.name.value: node
            for node in document.definitions
            if isinstance(node, FragmentDefinitionNode)
        }
        cost, variable_cost = operation_cost(
            self.graphql_schema, fragments, operation, page_default=self.settings.list_page_default
        )
        root = self.graphql_schema.get_root_type(operation.operation)
        type_name = root.name if root is not None else ""
        scopes = frozenset(
            scope
            for nodes in root_field_nodes(fragments, operation.selection_set).values()
            if (scope := field_scope(type_name, nodes[0].name.value)) is not None
        )
        # Imported here: the plan module builds on this one.
        from fullon_cache_api.server.plan import compile_plan

        plan = compile_plan(
            self.graphql_schema, fragments, operation, hide_suggestions=self.hide_suggestions
        )
        return _Operation(cost, variable_cost, scopes, fragments, plan)

    def _forbidden_roots(
        self, prepared: PreparedOperation, scopes: frozenset[str]
    ) -> list[dict[str, Any]]:
        root = self.graphql_schema.get_root_type(prepared.kind)
        type_name = root.name if root is not None else ""
        fragments = {
            node.name.value: node
            for node in prepared.document.definitions
            if isinstance(node, FragmentDefinitionNode)
        }
        errors = []
        for key, nodes in root_field_nodes(fragments, prepared.operation.selection_set).items():
            scope = field_scope(type_name, nodes[0].name.value)
            if scope is not None and scope not in scopes:
                error = GraphQLError(
                    "",
                    nodes=nodes,
                    path=[key],
                    original_error=forbidden(nodes[0].name.value, scope),
                )
                errors.append(format_error(error))
        return errors

    def _parsed(self, query: str) -> _Parsed:
        cached = self._cache.get(query)
        if cached is not None:
            self._cache.move_to_end(query)
            return cached
        if not self._cache_size:
            return self._parse_and_validate(query)
        shape = (
            shape_of(query, self.settings.max_tokens)
            if len(query) <= self.settings.max_query_bytes
            else None
        )
        parsed = self._from_template(shape) if shape is not None else None
        if parsed is None:
            parsed = self._parse_and_validate(query)
            if shape is not None and parsed.document is not None:
                parsed = self._templated(shape, parsed.document) or parsed
        self._cache[query] = parsed
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return parsed

    def _from_template(self, shape: Shape) -> _Parsed | None:
        """A text of a known shape: the template's document with this text's literals."""
        entry = self._templates.get(shape.key)
        if entry is None:
            return None
        template, operations = entry
        literals = template.values(shape)
        if literals is None:
            return None
        self._templates.move_to_end(shape.key)
        return _Parsed(template.document, None, operations, literals)

    def _templated(self, shape: Shape, document: DocumentNode) -> _Parsed | None:
        """Make a valid document the template of its shape (``None``: it cannot be one)."""
        made = make_template(self.graphql_schema, document, shape)
        if made is None:
            return None
        template, template_document = made
        errors = validate(
            self.graphql_schema,
            template_document,
            self._rules,
            max_errors=1,
            hide_suggestions=self.hide_suggestions,
        )
        if errors:
            return None
        operations: dict[int, _Operation] = {}
        self._templates[shape.key] = (template, operations)
        if len(self._templates) > self._cache_size:
            self._templates.popitem(last=False)
        return _Parsed(template_document, None, operations, template.values(shape))

    def _parse_and_validate(self, query: str) -> _Parsed:
        settings = self.settings
        if len(query) > settings.max_query_bytes:
            return _Parsed(
                None,
                [
                    error_dict(
                        f"the query is longer than {settings.max_query_bytes} characters",
                        ErrorCode.QUERY_TOO_COMPLEX,
                    )
                ],
            )
        try:
            document = parse(query, max_tokens=settings.max_tokens)
        except GraphQLError as error:
            text = error.message.lower()  # graphql-core's texts
            code = (
                ErrorCode.QUERY_TOO_COMPLEX
                if "tokens. parsing aborted" in text or "nested too deeply" in text
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
        errors = validate(
            self.graphql_schema,
            document,
            self._rules,
            max_errors=20,
            hide_suggestions=self.hide_suggestions,
        )
        if errors:
            return _Parsed(None, [format_error(error) for error in errors])
        return _Parsed(document, None)

    # -- execution ---------------------------------------------------------------------

    async def execute(
        self, prepared: PreparedOperation, variables: Any, context: RequestContext
    ) -> dict[str, Any]:
        """Run a query to a response dict, once admitted by its cost
        (:mod:`~fullon_cache_api.server.admission`; ``RequestError`` ``RATE_LIMITED`` when
        the server is too busy with expensive queries to give it a turn)."""
        variables = prepared.variables_with(_variables(variables))
        if prepared.cost <= self.budget.free_cost:  # cheap: admitted at once, held nothing
            return await self._execute(prepared, variables, context)
        try:
            async with self.budget.admit(prepared.cost):
                return await self._execute(prepared, variables, context)
        except Overloaded as busy:
            raise RequestError([busy.error], status=503) from None

    async def _execute(
        self, prepared: PreparedOperation, variables: Any, context: RequestContext
    ) -> dict[str, Any]:
        plan = prepared.plan
        if plan is not None and prepared.kind is OperationType.QUERY:
            return response(await plan.execute(variables, context), context)
        result = execute(
            self.graphql_schema,
            prepared.document,
            context_value=context,
            variable_values=variables,
            operation_name=prepared.operation_name,
            # Scope checks only when a root field may be outside the caller's scopes.
            executor_class=(
                CooperativeExecutor if prepared.scopes <= context.scopes else ScopedExecutor
            ),
            hide_suggestions=self.hide_suggestions,
        )
        if not isinstance(result, ExecutionResult):
            result = await result
        return response(result, context)

    def execute_event(
        self,
        prepared: PreparedOperation,
        event: Any,
        variables: dict[str, Any] | None,
        context: RequestContext,
    ) -> dict[str, Any]:
        """One subscription event (the value of its root field) to a response dict,
        synchronously: with the compiled plan, else with graphql-core."""
        if prepared.literals is not None:  # a delivery group's variables have them already
            variables = prepared.variables_with(variables)
        plan = prepared.plan
        if plan is not None and prepared.kind is OperationType.SUBSCRIPTION:
            return response(plan.execute_event(event, variables, context), context)
        result = execute(
            self.graphql_schema,
            prepared.document,
            root_value=event,
            context_value=context,
            variable_values=variables,
            operation_name=prepared.operation_name,
            hide_suggestions=self.hide_suggestions,
        )
        if not isinstance(result, ExecutionResult):
            # Payload types resolve synchronously; an awaitable here is a schema change.
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise TypeError("subscription payload resolved asynchronously")
        return response(result, context)


def forbidden(field_name: str, scope: str) -> Forbidden:
    return Forbidden(
        f"this API key may not read {field_name!r}: it needs the {scope!r} scope", scope=scope
    )


#: Lists longer than this are completed in time slices (:mod:`fullon_cache_api.cooperative`).
#: graphql-core completes a list of records synchronously, about 3 µs per selected field: a
#: page of a thousand records would otherwise hold the event loop for tens of milliseconds.
LONG_LIST = 32


class CooperativeExecutor(GraphQLExecutor[Any]):
    """graphql-core's executor, completing long lists in time slices with a yield to the
    event loop in between, so one big response cannot stall every other connection."""

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        if not isinstance(items, list) or len(items) <= LONG_LIST:
            return super().complete_iterable_value(
                item_type, field_details_list, info, path, items, position_context
            )
        return self._complete_in_slices(
            item_type, field_details_list, info, path, items, position_context
        )

    async def _complete_in_slices(
        self,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        items: list[Any],
        position_context: Any,
    ) -> list[Any]:
        completed: list[Any] = []
        pending: list[int] = []  # indices whose completion is awaitable
        for index, item in enumerate(items):
            await pause()
            item_path = path.add_key(index, None)
            if self.is_awaitable(item):
                completed.append(
                    self.complete_awaitable_list_item_value(
                        item, item_type, field_details_list, info, item_path, position_context
                    )
                )
                pending.append(index)
            elif self.complete_list_item_value(
                item, completed, item_type, field_details_list, info, item_path, position_context
            ):
                pending.append(index)
        for index in pending:
            completed[index] = await completed[index]
        return completed


class ScopedExecutor(CooperativeExecutor):
    """The cooperative executor, with root fields outside the caller's scopes answered
    ``null`` plus a ``FORBIDDEN`` error, without running them. The other fields answer
    (even when the refused field is non-null: it is refused, not failed)."""

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> AwaitableOrValue[Any] | UndefinedType:
        if path.prev is None:
            node = field_details_list[0].node
            scope = field_scope(parent_type.name, node.name.value)
            if scope is not None and scope not in self.context_value.scopes:
                error = GraphQLError(
                    "",
                    nodes=[details.node for details in field_details_list],
                    path=path.as_list(),
                    original_error=forbidden(node.name.value, scope),
                )
                self.collected_errors.add(error, path)
                return None
        result: AwaitableOrValue[Any] | UndefinedType = super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
        return result


def response(result: ExecutionResult, context: RequestContext) -> dict[str, Any]:
    """A GraphQL response dict; corrupt items the resolvers dropped become errors."""
    payload: dict[str, Any] = {}
    errors = [format_error(error) for error in result.errors] if result.errors else []
    if context.problems:
        for item in context.problems:
            error = error_dict(item.problem.describe(), ErrorCode.CORRUPT_DATA)
            errors.append({**error, "path": item.path})
        context.problems.clear()
    if errors:
        payload["errors"] = errors
        log.info(
            "operation answered with errors",
            extra={
                "codes": sorted({e.get("extensions", {}).get("code", "?") for e in errors}),
                "paths": [e["path"] for e in errors if "path" in e][:5],
            },
        )
    payload["data"] = result.data
    return payload


_UNENCODABLE = orjson.dumps(
    {"errors": [error_dict(INTERNAL_MESSAGE, ErrorCode.INTERNAL)], "data": None}
)


def dumps(payload: Any) -> bytes:
    """A response as JSON. The data layer only hands out encodable values; should one slip
    through anyway, the response becomes an ``INTERNAL`` error instead of failing the
    transport (an HTTP 500, a dead subscription)."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        log.exception("a response could not be serialised")
        return _UNENCODABLE


def _variables(variables: Any) -> dict[str, Any] | None:
    if variables is None:
        return None
    if not isinstance(variables, dict):
        raise request_error("variables must be a JSON object", ErrorCode.BAD_REQUEST)
    return variables
