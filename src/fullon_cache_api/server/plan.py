"""Compiled execution plans: the fast path for the documents clients send again and again.

**Why.** graphql-core executes every field the same general way: it builds a
``GraphQLResolveInfo``, looks the field up, coerces its arguments, calls its resolver
(through Strawberry's wrapper for record fields) and completes the value through half a
dozen generic methods. For what this API serves, plain selections of record fields on
root fields with variables, that machinery is most of a query's CPU time (BENCHMARKS.md,
"where the time goes"). A cached document never changes, so it is compiled once, when it
is first prepared, into a :class:`Plan`: for each root field, how to get its arguments and
call its resolver (the one :mod:`fullon_cache_api.schema.direct` binds), and for each
selection set a table of (response key, record attribute, completion) entries that writes
the selected fields of the returned records straight into the response. graphql-jit (JS)
and Hasura's compiled plans do the same.

**What compiles.** Queries and subscriptions whose selections are fields (aliases,
``__typename``, a key selected twice), inline fragments and fragment spreads on the same
object type, with arguments that are constants or variables; root fields bound by
``schema.direct``; record fields read as attributes, or computed by a resolver that takes
the record and scalar arguments (``Ticker.spread``, ``Account.balance(currency:)``).
Everything else falls back to graphql-core (:func:`compile_plan` answers ``None``): any
directive (``@skip``, ``@include``), introspection (``__schema``, ``__type``), abstract
types, types with ``is_type_of``, fragment variables, fields whose resolvers need
Strawberry's ``info`` or extensions, and schemas whose root fields are not bound directly.

**The same answers.** A plan answers byte for byte what graphql-core answers, which
``tests/test_plan_differential.py`` checks field by field. Variables and arguments the
fast checks do not accept (a wrong type, a null, a list) go through graphql-core's own
coercion, so they fail with its errors. A root field outside the API key's scopes is
``null`` with ``FORBIDDEN``, as :class:`~fullon_cache_api.server.execution.ScopedExecutor`
answers. The writer of a selection is a fast path for well-formed records. Anything
else stops it: a null in a non-null field, a value a scalar must convert or cannot
represent, a failing computed field, an iterable that is not a list. That root field's
value is then completed again by the careful path, which follows graphql-core's
``complete_value`` step by step (response paths, located errors, nulls propagated to
the nearest nullable field). Both only read the record, so the second pass is safe.

**Long lists.** Like :class:`~fullon_cache_api.server.execution.CooperativeExecutor`, a
query yields to the event loop in time slices (:mod:`fullon_cache_api.cooperative`)
while it completes a list longer than ``LONG_LIST``: the items of a root field's list one
by one, nested long lists in the careful path. A subscription event is rendered
synchronously, as graphql-core's per-event execution renders it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    ListValueNode,
    NamedTypeNode,
    NonNullTypeNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    TypeNameMetaFieldDef,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    is_required_argument,
    located_error,
)
from graphql.execution import Executor as GraphQLExecutor
from graphql.execution.values import (
    VariableValues,
    coerce_argument,
    get_argument_values,
    get_variable_values,
)
from graphql.pyutils import Path, Undefined, gather_with_cancel, is_awaitable, is_iterable
from graphql.type.scalars import (
    coerce_boolean,
    coerce_float,
    coerce_id,
    coerce_int,
    coerce_string,
    serialize_boolean,
    serialize_float,
    serialize_int,
    serialize_string,
)
from strawberry.types.base import StrawberryMaybe

from fullon_cache_api.context import RequestContext
from fullon_cache_api.cooperative import pause
from fullon_cache_api.resolvers.fields import field_scope
from fullon_cache_api.schema.direct import is_direct
from fullon_cache_api.server.execution import LONG_LIST, forbidden

log = logging.getLogger("fullon.api.cache.plan")

#: graphql-core's limit on variable coercion errors (``execute``'s default).
MAX_COERCION_ERRORS = 50

Fast = Callable[[Any, dict[str, Any]], Any]
"""A fast-path completion: (value, coerced variables) → the response value."""


class _Unsupported(Exception):
    """The document uses something the plan does not express: graphql-core runs it."""


class _Irregular(Exception):
    """The fast path met a value only the careful path completes."""


_OMIT: Any = object()  # an argument or variable left out when not given
_SLOW: Any = object()  # not given and required: graphql-core's coercion reports the error

_MIN_INT = -(2**31)
_MAX_INT = 2**31 - 1


def _is_string(value: Any) -> bool:
    return type(value) is str


def _is_boolean(value: Any) -> bool:
    return type(value) is bool


def _is_int(value: Any) -> bool:
    return type(value) is int and _MIN_INT <= value <= _MAX_INT


def _is_float(value: Any) -> bool:
    return type(value) is float and math.isfinite(value)


#: A built-in scalar's input coercion → which given values it returns unchanged.
_UNCHANGED_INPUT: dict[Callable[[Any], Any], Callable[[Any], bool]] = {
    coerce_string: _is_string,
    coerce_id: _is_string,
    coerce_boolean: _is_boolean,
    coerce_int: _is_int,
    coerce_float: _is_float,
}


def _unchanged_input(type_: Any) -> Callable[[Any], bool] | None:
    """For a built-in scalar input type: which values its coercion returns unchanged."""
    return _UNCHANGED_INPUT.get(getattr(type_, "coerce_input_value", None))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class _Variable:
    name: str
    unchanged: Callable[[Any], bool]  # a given value graphql-core would coerce to itself
    nullable: bool
    absent: Any  # the coerced value when not given, _OMIT, or _SLOW


@dataclass(frozen=True, slots=True)
class _Arguments:
    """A field's arguments: constants coerced once, variables looked up per execution."""

    field: GraphQLField
    node: FieldNode
    constants: dict[str, Any]  # immutable values only: each execution gets a copy
    variables: tuple[tuple[str, str, bool, Any], ...]  # (name, variable, non-null, absent)
    slow: bool  # always graphql-core's get_argument_values (nested variables, lists...)

    def fast(self, coerced: dict[str, Any]) -> dict[str, Any] | None:
        """The coerced arguments, or ``None`` when only graphql-core can tell (an error)."""
        if self.slow:
            return None
        values = self.constants.copy()
        for name, variable, non_null, absent in self.variables:
            if variable in coerced:
                value = coerced[variable]
                if value is None and non_null:
                    return None
                values[name] = value
            elif absent is _SLOW:
                return None
            elif absent is not _OMIT:
                values[name] = absent
        return values


@dataclass(slots=True)
class _Field:
    """A response key of a selection set (or a root field) and how to produce its value."""

    key: str
    name: str
    parent: str  # the parent type's name (error messages, paths)
    nodes: list[FieldNode]
    type: GraphQLOutputType
    fast: Fast = field(repr=False)  # completes a value, fast path
    items: Fast | None = None  # a list field: completes one item, fast path
    object: _Object | None = None  # the selection of an object (or list of objects) type
    attr: str | None = None  # read as this attribute of the record
    typename: str | None = None  # ``__typename``: this constant
    compute: Callable[..., Any] | None = None  # a computed field's resolver
    root_param: str | None = None  # which of its parameters takes the record
    renames: dict[str, str] = field(default_factory=lambda: _NO_RENAMES)  # GraphQL → Python
    args: _Arguments | None = None
    resolve: Callable[..., Any] | None = None  # a root field's resolver (schema.direct)
    scope: str | None = None  # a root field's scope


@dataclass(slots=True)
class _Object:
    """A selection set on an object type."""

    name: str
    fields: list[_Field]
    write: Fast = field(init=False, repr=False)


class _Info:
    """What a root resolver bound by ``schema.direct`` reads of graphql-core's info."""

    __slots__ = ("context", "path")

    def __init__(self, context: RequestContext, path: Path) -> None:
        self.context = context
        self.path = path


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled operation: see the module's documentation.

    :meth:`execute` runs a query, :meth:`execute_event` renders one subscription event;
    both answer the ``ExecutionResult`` graphql-core would (the caller turns it into the
    response with :func:`fullon_cache_api.server.execution.response`)."""

    schema: GraphQLSchema
    kind: OperationType
    root_type: str
    roots: list[_Field]
    variable_definitions: tuple[VariableDefinitionNode, ...]
    variables: tuple[_Variable, ...] | None  # None: some variable needs graphql-core
    hide_suggestions: bool

    async def execute(
        self, variables: dict[str, Any] | None, context: RequestContext
    ) -> ExecutionResult:
        """Run a query: the root resolvers concurrently, long lists in time slices."""
        coerced = self._coerce(variables)
        if isinstance(coerced, list):
            return ExecutionResult(None, coerced)
        run = _Run(self, context, coerced, variables, pause)
        try:
            data: dict[str, Any] | None = await run.root_fields(None, scoped=True)
        except GraphQLError as error:  # a non-null root field failed
            run.add_error(error, None)
            data = None
        return ExecutionResult(data, run.errors or None)

    def execute_event(
        self, root_value: Any, variables: dict[str, Any] | None, context: RequestContext
    ) -> ExecutionResult:
        """Render one subscription event (``root_value``: the event's value), synchronously,
        as ``build_per_event_executor(event).execute_operation()`` would."""
        coerced = self._coerce(variables)
        if isinstance(coerced, list):
            return ExecutionResult(None, coerced)
        run = _Run(self, context, coerced, variables, None)
        try:
            data: dict[str, Any] | None = _synchronously(run.root_fields(root_value, scoped=False))
        except GraphQLError as error:
            run.add_error(error, None)
            data = None
        return ExecutionResult(data, run.errors or None)

    def _coerce(self, raw: dict[str, Any] | None) -> dict[str, Any] | list[GraphQLError]:
        """The coerced variables (graphql-core's, for anything but plain scalars), or the
        coercion errors."""
        if self.variables is not None:
            coerced: dict[str, Any] = {}
            for variable in self.variables:
                value = raw.get(variable.name, Undefined) if raw else Undefined
                if value is Undefined:
                    if variable.absent is _SLOW:
                        break
                    if variable.absent is not _OMIT:
                        coerced[variable.name] = variable.absent
                elif value is None:
                    if not variable.nullable:
                        break
                    coerced[variable.name] = None
                elif variable.unchanged(value):
                    coerced[variable.name] = value
                else:
                    break
            else:
                return coerced
        values = self.variable_values(raw)
        return values if isinstance(values, list) else values.coerced

    def variable_values(self, raw: dict[str, Any] | None) -> VariableValues | list[GraphQLError]:
        return get_variable_values(
            self.schema,
            self.variable_definitions,
            raw or {},
            max_errors=MAX_COERCION_ERRORS,
            hide_suggestions=self.hide_suggestions,
        )


class _Run:
    """One execution of a plan: its variables, context and errors."""

    __slots__ = ("_nulled", "_values", "coerced", "context", "errors", "pause", "plan", "raw")

    def __init__(
        self,
        plan: Plan,
        context: RequestContext,
        coerced: dict[str, Any],
        raw: dict[str, Any] | None,
        pause: Callable[[], Coroutine[Any, Any, None]] | None,
    ) -> None:
        self.plan = plan
        self.context = context
        self.coerced = coerced
        self.raw = raw
        self.pause = pause  # None: never yield (a subscription event)
        self.errors: list[GraphQLError] = []
        self._nulled: set[Path | None] = set()
        self._values: VariableValues | None = None

    # -- errors, as graphql-core collects them -------------------------------------------

    def add_error(self, error: GraphQLError, path: Path | None) -> None:
        """Record an error where a null stopped, unless that place was already nulled."""
        nulled = self._nulled
        if nulled:
            at = path
            while at is not None:
                if at in nulled:
                    return
                at = at.prev
            if None in nulled:
                return
        nulled.add(path)
        self.errors.append(error)

    def field_error(
        self, raw: Exception, type_: GraphQLOutputType, nodes: list[FieldNode], path: Path
    ) -> None:
        """graphql-core's ``handle_field_error``: a non-null field passes the error up."""
        error = located_error(raw, nodes, path.as_list())
        if is_non_null_type(type_):
            raise error
        self.add_error(error, path)

    def arguments(self, args: _Arguments) -> dict[str, Any]:
        values = args.fast(self.coerced)
        if values is not None:
            return values
        if self._values is None:
            coerced = self.plan.variable_values(self.raw)
            # The same raw variables were coerced without errors before.
            assert isinstance(coerced, VariableValues)
            self._values = coerced
        return get_argument_values(
            args.field, args.node, self._values, None, self.plan.hide_suggestions
        )

    # -- root fields ---------------------------------------------------------------------

    async def root_fields(self, root_value: Any, *, scoped: bool) -> dict[str, Any]:
        """graphql-core's ``execute_fields`` on the root type (plus ``ScopedExecutor``'s
        refusal of root fields outside the caller's scopes when ``scoped``)."""
        plan = self.plan
        data: dict[str, Any] = {}
        pending: list[tuple[str, Coroutine[Any, Any, Any]]] = []
        scopes = self.context.scopes
        try:
            for root in plan.roots:
                key = root.key
                path = Path(None, key, plan.root_type)
                if scoped and root.scope is not None and root.scope not in scopes:
                    error = GraphQLError(
                        "",
                        nodes=root.nodes,
                        path=[key],
                        original_error=forbidden(root.name, root.scope),
                    )
                    self.add_error(error, path)
                    data[key] = None
                    continue
                if root.typename is not None:
                    data[key] = root.typename
                    continue
                assert root.resolve is not None
                try:
                    args = {} if root.args is None else self.arguments(root.args)
                    result = root.resolve(root_value, _Info(self.context, path), **args)
                except Exception as raw:
                    self.field_error(raw, root.type, root.nodes, path)
                    data[key] = None
                    continue
                if is_awaitable(result):
                    data[key] = None  # keeps the field's place in the response
                    pending.append((key, self._awaited(root, path, result)))
                    continue
                try:
                    data[key] = await self._root_value(root, path, result)
                except Exception as raw:
                    self.field_error(raw, root.type, root.nodes, path)
                    data[key] = None
        except BaseException:
            for _, coroutine in pending:
                coroutine.close()
            raise
        if len(pending) == 1:
            key, coroutine = pending[0]
            data[key] = await coroutine
        elif pending:
            values = await gather_with_cancel(*(coroutine for _, coroutine in pending))
            for (key, _), value in zip(pending, values, strict=True):
                data[key] = value
        return data

    async def _awaited(self, root: _Field, path: Path, result: Any) -> Any:
        try:
            return await self._root_value(root, path, await result)
        except Exception as raw:
            self.field_error(raw, root.type, root.nodes, path)
            return None

    async def _root_value(self, root: _Field, path: Path, value: Any) -> Any:
        """A root field's resolved value, completed: fast, else the careful way."""
        env = self.coerced
        try:
            items = root.items
            pause = self.pause
            if (
                pause is not None
                and items is not None
                and type(value) is list
                and len(value) > LONG_LIST
            ):
                completed = []
                for item in value:
                    await pause()
                    completed.append(items(item, env))
                return completed
            return root.fast(value, env)
        except Exception:
            return await self.complete(root.type, root, path, value)

    # -- the careful path: graphql-core's complete_value ---------------------------------

    async def complete(self, type_: GraphQLOutputType, at: _Field, path: Path, result: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        if isinstance(type_, GraphQLNonNull):
            completed = await self.complete(type_.of_type, at, path, result)
            if completed is None:
                raise TypeError(f"Cannot return null for non-nullable field {at.parent}.{at.name}.")
            return completed
        if result is None or result is Undefined:
            return None
        if is_list_type(type_):
            if not is_iterable(result):
                raise GraphQLError(
                    f"Expected Iterable, but did not find one for field '{at.parent}.{at.name}'."
                )
            return await self._list(type_.of_type, at, path, result)
        if is_leaf_type(type_):
            return GraphQLExecutor.complete_leaf_value(type_, result)
        assert at.object is not None
        return await self._object(at.object, path, result)

    async def _list(
        self, item_type: GraphQLOutputType, at: _Field, path: Path, items: Iterable[Any]
    ) -> list[Any]:
        pause = self.pause if isinstance(items, list) and len(items) > LONG_LIST else None
        completed: list[Any] = []
        for index, item in enumerate(items):
            if pause is not None:
                await pause()
            item_path = path.add_key(index, None)
            try:
                completed.append(await self.complete(item_type, at, item_path, item))
            except Exception as raw:
                self.field_error(raw, item_type, at.nodes, item_path)
                completed.append(None)
        return completed

    async def _object(self, selection: _Object, path: Path, source: Any) -> dict[str, Any]:
        completed: dict[str, Any] = {}
        for sub in selection.fields:
            sub_path = Path(path, sub.key, selection.name)
            try:
                value = self._read(sub, source)
                completed[sub.key] = await self.complete(sub.type, sub, sub_path, value)
            except Exception as raw:
                self.field_error(raw, sub.type, sub.nodes, sub_path)
                completed[sub.key] = None
        return completed

    def _read(self, sub: _Field, source: Any) -> Any:
        if sub.attr is not None:
            return getattr(source, sub.attr)
        if sub.typename is not None:
            return sub.typename
        assert sub.compute is not None
        args = {} if sub.args is None else self.arguments(sub.args)
        kwargs = {sub.renames[name]: value for name, value in args.items()}
        if sub.root_param is not None:
            kwargs[sub.root_param] = source
        return sub.compute(**kwargs)


def _synchronously(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (an event's completion has nothing to wait for)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise TypeError("subscription payload resolved asynchronously")


# --------------------------------------------------------------------------- fast path


_NO_RENAMES: dict[str, str] = {}  # shared, never written (a field with renames gets its own)


def _leaf(type_: GraphQLLeafType, nullable: bool) -> Fast:
    """A scalar or enum. Values graphql-core's built-in scalars return unchanged are taken
    as they are; the others go through the type's own ``coerce_output_value``. One per
    type and nullability, shared by every plan (they hold nothing of a document)."""
    key = (type_, nullable)
    leaf = _LEAVES.get(key)
    if leaf is None:
        leaf = _LEAVES[key] = _new_leaf(type_, nullable)
    return leaf


def _new_leaf(type_: GraphQLLeafType, nullable: bool) -> Fast:
    coerce = type_.coerce_output_value

    def coerced(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise _Irregular
        if isinstance(value, Exception):  # graphql-core raises it: a located field error
            raise _Irregular
        result = coerce(value)
        if result is None or result is Undefined:
            raise _Irregular
        return result

    if coerce is serialize_string:

        def string(value: Any, _env: dict[str, Any]) -> Any:
            return value if type(value) is str else coerced(value)

        return string
    if coerce is serialize_float:

        def number(value: Any, _env: dict[str, Any]) -> Any:
            if type(value) is float and value - value == 0.0:  # finite
                return value
            return coerced(value)

        return number
    if coerce is serialize_boolean:

        def boolean(value: Any, _env: dict[str, Any]) -> Any:
            return value if type(value) is bool else coerced(value)

        return boolean
    if coerce is serialize_int:

        def integer(value: Any, _env: dict[str, Any]) -> Any:
            if type(value) is int and _MIN_INT <= value <= _MAX_INT:
                return value
            return coerced(value)

        return integer

    def other(value: Any, _env: dict[str, Any]) -> Any:
        return coerced(value)

    return other


_LEAVES: dict[tuple[GraphQLLeafType, bool], Fast] = {}


def _list(items: Fast, nullable: bool, limit: int | None) -> Fast:
    """A list: only a ``list`` (not longer than ``limit``) takes the fast path."""

    def complete(value: Any, env: dict[str, Any]) -> Any:
        if value is None:
            if nullable:
                return None
            raise _Irregular
        if type(value) is not list or (limit is not None and len(value) > limit):
            raise _Irregular
        return [items(item, env) for item in value]

    return complete


def _object(selection: _Object, nullable: bool) -> Fast:
    def complete(value: Any, env: dict[str, Any]) -> Any:
        if value is None:
            if nullable:
                return None
            raise _Irregular
        return selection.write(value, env)

    return complete


def _special(sub: _Field) -> Callable[[Any, dict[str, Any]], Any] | None:
    """How the fast path reads a field that is not a plain attribute."""
    if sub.attr is not None:
        return None
    typename = sub.typename
    if typename is not None:
        return lambda _source, _env: typename
    compute, root_param, args, renames = sub.compute, sub.root_param, sub.args, sub.renames
    assert compute is not None

    def computed(source: Any, env: dict[str, Any]) -> Any:
        kwargs: dict[str, Any] = {}
        if args is not None:
            values = args.fast(env)
            if values is None:
                raise _Irregular
            kwargs = {renames[name]: value for name, value in values.items()}
        if root_param is not None:
            kwargs[root_param] = source
        return compute(**kwargs)

    return computed


def _writer(selection: _Object) -> Fast:
    """Writes the selected fields of one record into a dict, in selection order."""
    entries = tuple((sub.key, sub.attr or "", _special(sub), sub.fast) for sub in selection.fields)

    def write(source: Any, env: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, attr, special, fast in entries:
            out[key] = fast(getattr(source, attr) if special is None else special(source, env), env)
        return out

    return write


# --------------------------------------------------------------------------- compiling


def compile_plan(
    schema: GraphQLSchema,
    document_fragments: dict[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    *,
    hide_suggestions: bool,
) -> Plan | None:
    """The plan of a validated operation, or ``None`` when graphql-core must run it."""
    try:
        return _Compiler(schema, document_fragments, operation).plan(hide_suggestions)
    except _Unsupported as reason:
        log.debug("no compiled plan (%s): graphql-core executes this operation", reason)
    except Exception:
        log.exception("compiling a plan failed: graphql-core executes this operation")
    return None


class _Compiler:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.operation = operation
        # Queries complete long lists in time slices; events are rendered in one go.
        self.limit = LONG_LIST if operation.operation is OperationType.QUERY else None

    def plan(self, hide_suggestions: bool) -> Plan:
        operation = self.operation
        if operation.operation not in (OperationType.QUERY, OperationType.SUBSCRIPTION):
            raise _Unsupported(operation.operation.value)
        if operation.directives:
            raise _Unsupported("directives")
        root_type = self.schema.get_root_type(operation.operation)
        if root_type is None:
            raise _Unsupported("no root type")
        definitions = tuple(operation.variable_definitions or ())
        roots = [
            self._root(root_type, key, nodes)
            for key, nodes in self._collect(root_type, [operation.selection_set]).items()
        ]
        return Plan(
            schema=self.schema,
            kind=operation.operation,
            root_type=root_type.name,
            roots=roots,
            variable_definitions=definitions,
            variables=self._variables(definitions, hide_suggestions),
            hide_suggestions=hide_suggestions,
        )

    def _variables(
        self, definitions: tuple[VariableDefinitionNode, ...], hide_suggestions: bool
    ) -> tuple[_Variable, ...] | None:
        """The fast coercion of each variable, or ``None`` when one is not a (non-null)
        built-in scalar: graphql-core then coerces them all."""
        variables = []
        for definition in definitions:
            if definition.directives:
                raise _Unsupported("directives")
            type_node = definition.type
            nullable = not isinstance(type_node, NonNullTypeNode)
            named_node = type_node.type if isinstance(type_node, NonNullTypeNode) else type_node
            if not isinstance(named_node, NamedTypeNode):
                return None
            unchanged = _unchanged_input(self.schema.get_type(named_node.name.value))
            if unchanged is None:
                return None
            name = definition.variable.name.value
            # What graphql-core makes of this variable when it is not given.
            alone = get_variable_values(
                self.schema, [definition], {}, hide_suggestions=hide_suggestions
            )
            if isinstance(alone, list):
                absent = _SLOW  # required: graphql-core reports it missing
            else:
                absent = alone.coerced.get(name, _OMIT)
                if absent is not _OMIT and not _immutable(absent):
                    return None
            variables.append(_Variable(name, unchanged, nullable, absent))
        return tuple(variables)

    def _collect(
        self, type_: GraphQLObjectType, selection_sets: list[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        """graphql-core's field collection: fields by response key, in order, each fragment
        once per selection."""
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()
        for selection_set in selection_sets:
            self._visit(type_, selection_set, grouped, visited)
        return grouped

    def _visit(
        self,
        type_: GraphQLObjectType,
        selection_set: SelectionSetNode,
        grouped: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if selection.directives:
                raise _Unsupported("directives")
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is not None and condition.name.value != type_.name:
                    raise _Unsupported("a fragment on another type")
                self._visit(type_, selection.selection_set, grouped, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or getattr(selection, "arguments", None):
                    raise _Unsupported("fragment arguments")
                if fragment.directives or fragment.variable_definitions:
                    raise _Unsupported("fragment directives or variables")
                if fragment.type_condition.name.value != type_.name:
                    raise _Unsupported("a fragment on another type")
                if name in visited:
                    continue
                visited.add(name)
                self._visit(type_, fragment.selection_set, grouped, visited)
            else:  # pragma: no cover - graphql-core has no other selection
                raise _Unsupported(type(selection).__name__)

    def _root(self, root_type: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> _Field:
        name = nodes[0].name.value
        if name == "__typename":
            return self._typename(root_type, key, nodes)
        if name.startswith("__"):
            raise _Unsupported("introspection")
        definition = root_type.fields[name]
        if not is_direct(definition.resolve):
            raise _Unsupported(f"{root_type.name}.{name} is not bound by schema.direct")
        field_ = self._field(root_type, key, nodes, definition)
        field_.resolve = definition.resolve
        field_.scope = field_scope(root_type.name, name)
        field_.args = self._arguments(definition, nodes[0])
        return field_

    def _typename(self, parent: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> _Field:
        type_ = TypeNameMetaFieldDef.type
        return _Field(
            key=key,
            name="__typename",
            parent=parent.name,
            nodes=nodes,
            type=type_,
            fast=_leaf(GraphQLString, nullable=False),
            typename=parent.name,
        )

    def _field(
        self,
        parent: GraphQLObjectType,
        key: str,
        nodes: list[FieldNode],
        definition: GraphQLField,
    ) -> _Field:
        fast, items, selection = self._output(definition.type, nodes)
        return _Field(
            key=key,
            name=nodes[0].name.value,
            parent=parent.name,
            nodes=nodes,
            type=definition.type,
            fast=fast,
            items=items,
            object=selection,
        )

    def _output(
        self, type_: GraphQLOutputType, nodes: list[FieldNode]
    ) -> tuple[Fast, Fast | None, _Object | None]:
        """(completion, item completion of a list, selection of an object type)."""
        nullable = not is_non_null_type(type_)
        inner: Any = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if is_list_type(inner):
            items, _, selection = self._output(inner.of_type, nodes)
            return _list(items, nullable, self.limit), items, selection
        if is_leaf_type(inner):
            return _leaf(inner, nullable), None, None
        if is_object_type(inner):
            if inner.is_type_of is not None:
                raise _Unsupported(f"{inner.name} has is_type_of")
            selection = self._object(inner, nodes)
            return _object(selection, nullable), None, selection
        raise _Unsupported(f"the abstract type {inner}")

    def _object(self, type_: GraphQLObjectType, nodes: list[FieldNode]) -> _Object:
        grouped = self._collect(type_, [node.selection_set for node in nodes if node.selection_set])
        fields = [self._record_field(type_, key, sub_nodes) for key, sub_nodes in grouped.items()]
        selection = _Object(type_.name, fields)
        selection.write = _writer(selection)
        return selection

    def _record_field(self, parent: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> _Field:
        """A field of a record type: an attribute, or a computed field Strawberry would call
        with the record and its (scalar) arguments only."""
        name = nodes[0].name.value
        if name == "__typename":
            return self._typename(parent, key, nodes)
        if name.startswith("__"):
            raise _Unsupported("introspection")
        definition = parent.fields[name]
        declared = definition.extensions.get("strawberry-definition")
        resolve = definition.resolve
        if declared is None or resolve is None:
            raise _Unsupported(f"{parent.name}.{name} is not a Strawberry field")
        field_ = self._field(parent, key, nodes, definition)
        resolver = declared.base_resolver
        if resolver is None:
            # Strawberry's "basic field": getattr(record, python_name) without an Info.
            if (
                getattr(resolve, "__name__", "") != "_get_basic_result"
                or declared.extensions
                or declared.default_resolver is not getattr
            ):
                raise _Unsupported(f"{parent.name}.{name} is resolved by Strawberry")
            field_.attr = declared.python_name
            return field_
        if (
            getattr(resolve, "__name__", "") != "_resolver"
            or declared.extensions
            or resolver.is_async
            or resolver.info_parameter is not None
            or resolver.self_parameter is not None
            or resolver.parent_parameter is not None
        ):
            raise _Unsupported(f"{parent.name}.{name} needs Strawberry's resolver machinery")
        arguments = resolver.arguments
        if len(arguments) != len(definition.args):
            raise _Unsupported(f"{parent.name}.{name}: unexpected arguments")
        for argument, graphql_argument in zip(arguments, definition.args.values(), strict=True):
            named = get_named_type(graphql_argument.type)
            if isinstance(argument.type, StrawberryMaybe) or _unchanged_input(named) is None:
                raise _Unsupported(f"{parent.name}.{name}: an argument Strawberry converts")
        field_.compute = resolver.wrapped_func
        field_.root_param = resolver.root_parameter.name if resolver.root_parameter else None
        field_.renames = {
            graphql_name: argument.python_name
            for graphql_name, argument in zip(definition.args, arguments, strict=True)
        }
        field_.args = self._arguments(definition, nodes[0]) if definition.args else None
        return field_

    def _arguments(self, definition: GraphQLField, node: FieldNode) -> _Arguments | None:
        """How each argument gets its value: graphql-core's ``coerce_argument`` run once for
        constants and defaults, the coerced variable at execution."""
        if not definition.args and not node.arguments:
            return None
        given = {argument.name.value: argument for argument in node.arguments or ()}
        nothing = VariableValues({}, {})
        constants: dict[str, Any] = {}
        variables: list[tuple[str, str, bool, Any]] = []
        slow = False
        for name, argument in definition.args.items():
            out_name = argument.out_name or name
            argument_node = given.get(name)
            value_node = argument_node.value if argument_node is not None else None
            if isinstance(value_node, VariableNode):
                if is_required_argument(argument):
                    absent = _SLOW
                else:
                    default: dict[str, Any] = {}
                    try:
                        coerce_argument(default, node, name, argument, None, nothing, None)
                    except GraphQLError:
                        slow = True
                    absent = default.get(out_name, _OMIT)
                    if absent is not _OMIT and not _immutable(absent):
                        slow = True
                non_null = is_non_null_type(argument.type)
                variables.append((out_name, value_node.name.value, non_null, absent))
                continue
            if value_node is not None and _has_variables(value_node):
                slow = True
                continue
            values: dict[str, Any] = {}
            try:
                coerce_argument(values, node, name, argument, argument_node, nothing, None)
            except GraphQLError:
                slow = True  # fails every time: graphql-core reports it
                continue
            if out_name in values:
                if not _immutable(values[out_name]):
                    slow = True
                constants[out_name] = values[out_name]
        return _Arguments(definition, node, constants, tuple(variables), slow)


def _has_variables(node: ValueNode) -> bool:
    if isinstance(node, VariableNode):
        return True
    if isinstance(node, ListValueNode):
        return any(_has_variables(value) for value in node.values)
    if isinstance(node, ObjectValueNode):
        return any(_has_variables(item.value) for item in node.fields)
    return False


def _immutable(value: Any) -> bool:
    return value is None or type(value) in (str, int, float, bool)
