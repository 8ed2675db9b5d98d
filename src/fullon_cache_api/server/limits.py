"""Static limits on a parsed document: selection depth and alias count.

Introspection fields (``__schema``, ``__type``) are not counted toward depth, so GraphiQL's
introspection query passes the default limit.
"""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from fullon_cache_api.errors import ErrorCode


def check_limits(
    document: DocumentNode, *, max_depth: int, max_aliases: int
) -> GraphQLError | None:
    fragments = {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    aliases = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            aliases += _count_aliases(definition.selection_set)
    if aliases > max_aliases:
        return _error(f"the document uses {aliases} aliases; the limit is {max_aliases}")
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            depth = _depth(definition.selection_set, fragments, frozenset(), max_depth)
            if depth > max_depth:
                return _error(f"the query is deeper than the limit of {max_depth}")
    return None


def _error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value})


def _count_aliases(selection_set: SelectionSetNode | None) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode) and selection.alias is not None:
            total += 1
        if isinstance(selection, FieldNode | InlineFragmentNode):
            total += _count_aliases(selection.selection_set)
    return total


def _depth(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    visiting: frozenset[str],
    limit: int,
) -> int:
    """Depth of a selection set; stops descending once past ``limit``."""
    if selection_set is None or limit < 0:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__"):
                continue
            inner = selection.selection_set
            depth = 1 + _depth(inner, fragments, visiting, limit - 1) if inner else 1
        elif isinstance(selection, InlineFragmentNode):
            depth = _depth(selection.selection_set, fragments, visiting, limit)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in visiting:  # validation reports these
                continue
            depth = _depth(fragment.selection_set, fragments, visiting | {name}, limit)
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            break
    return deepest
