"""A simple query cost model: roughly, how many objects an operation can return.

* a field of a leaf type (scalar, enum) costs 0, a list of them 1;
* a field of an object type costs 1 plus its selection;
* a list field multiplies that by its expected length: the value of its size argument, as
  declared with the root field (``size=``: ``ohlcv(count:)``, ``first``/``last`` of the
  paged lists, the ``last`` window of the trades subscriptions); a paged list without
  ``first``/``last`` counts its default page (``LIST_PAGE_DEFAULT``); other lists count
  :data:`LIST_SIZE`;
* ``__typename`` costs 0; ``__schema`` and ``__type`` cost 1 whatever they select.

Fields selected twice under one response name are merged, as GraphQL executes them once;
``@skip``/``@include`` are ignored (the cost is an upper bound). The cost is computed once
per cached document; when a size argument is a variable, :func:`operation_cost` says so
and the cost is computed again for each execution's variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)

from fullon_cache_api.resolvers.fields import SIZE_ARGUMENTS

LIST_SIZE = 10
"""The assumed length of a list without a size argument."""

MAX_SIZE = 1_000_000_000


@dataclass(slots=True)
class _Walk:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any] | None  # None: find out whether the cost uses variables
    defaults: dict[str, Any]  # variable → its default literal in the operation
    page_default: int
    uses_variables: bool = False


def operation_cost(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None = None,
    *,
    page_default: int,
) -> tuple[int, bool]:
    """``(cost, depends_on_variables)``. Without ``variables``, a size argument given by a
    variable counts at the variable's default (or the argument's, or the default page)."""
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0, False
    defaults = {
        definition.variable.name.value: definition.default_value
        for definition in operation.variable_definitions or ()
    }
    walk = _Walk(schema, fragments, variables, defaults, page_default)
    cost = _selection_cost(walk, root, [operation.selection_set], None)
    return cost, walk.uses_variables


def root_field_nodes(
    fragments: dict[str, FragmentDefinitionNode], selection_set: SelectionSetNode
) -> dict[str, list[FieldNode]]:
    """An operation's root fields by response name (``@skip``/``@include`` ignored)."""
    return _collect(fragments, [selection_set])


def _collect(
    fragments: dict[str, FragmentDefinitionNode], selection_sets: list[SelectionSetNode]
) -> dict[str, list[FieldNode]]:
    """Fields by response name, through fragments (each fragment once, as GraphQL does)."""
    grouped: dict[str, list[FieldNode]] = {}
    visited: set[str] = set()
    pending = list(reversed(selection_sets))
    while pending:
        selection_set = pending.pop()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in visited:
                    visited.add(name)
                    pending.append(fragment.selection_set)
    return grouped


def _selection_cost(
    walk: _Walk,
    parent: GraphQLObjectType,
    selection_sets: list[SelectionSetNode],
    size_hint: int | None,
) -> int:
    total = 0
    for nodes in _collect(walk.fragments, selection_sets).values():
        name = nodes[0].name.value
        if name.startswith("__"):
            total += 0 if name == "__typename" else 1
            continue
        definition = parent.fields.get(name)
        if definition is None:  # validation reports it
            continue
        hint = size_hint
        arguments = SIZE_ARGUMENTS.get((parent.name, name))
        if arguments is not None:
            hint = _size(walk, nodes[0], arguments, definition)
        total += _field_cost(walk, definition.type, nodes, hint)
    return total


def _field_cost(
    walk: _Walk, type_: GraphQLOutputType, nodes: list[FieldNode], size_hint: int | None
) -> int:
    is_list = False
    inner: Any = type_
    while isinstance(inner, GraphQLNonNull | GraphQLList):
        if isinstance(inner, GraphQLList):
            is_list = True
        inner = inner.of_type
    named = get_named_type(inner)
    if is_leaf_type(named):
        return 1 if is_list else 0
    children = [node.selection_set for node in nodes if node.selection_set is not None]
    if is_list:
        length = size_hint if size_hint is not None else LIST_SIZE
        child_cost = _selection_cost(walk, named, children, None)
        return length * (1 + child_cost)
    if not isinstance(named, GraphQLObjectType):
        return 1
    return 1 + _selection_cost(walk, named, children, size_hint)


def _size(
    walk: _Walk, node: FieldNode, arguments: tuple[str, ...], definition: GraphQLField
) -> int:
    """The list length the first of ``arguments`` given asks for."""
    for argument in arguments:
        given, value = _argument(walk, node, argument)
        if given:
            return _length(value)
    default = definition.args[arguments[0]].default_value
    return _length(default) if default is not None else walk.page_default


def _argument(walk: _Walk, node: FieldNode, argument: str) -> tuple[bool, Any]:
    """``(given, value)`` of an argument: a literal, or a variable's value or default. A
    variable that is not provided and has no default leaves the argument not given."""
    for arg in node.arguments or ():
        if arg.name.value != argument:
            continue
        literal: Any = arg.value
        if isinstance(literal, VariableNode):
            walk.uses_variables = True
            name = literal.name.value
            if walk.variables is not None and name in walk.variables:
                value = walk.variables[name]
                return value is not None, value
            literal = walk.defaults.get(name)
            if literal is None:
                return False, None
        if isinstance(literal, IntValueNode):
            return True, _int(literal.value)
        return not isinstance(literal, NullValueNode), None
    return False, None


def _length(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return LIST_SIZE
    return max(0, min(value, MAX_SIZE))


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
