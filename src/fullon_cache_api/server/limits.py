"""Static limits on a parsed document: selection depth and alias count.

Introspection fields (``__schema``, ``__type``) are not counted toward depth, so GraphiQL's
introspection query passes the default limit.

Selecting the same object field again under the same response name in one selection set
counts like an alias: GraphQL executes it once, but validating many such copies against
each other costs quadratic time (graphql-core's overlapping-fields check).

Both walks are linear in the document: a fragment's depth is computed once (per remaining
depth budget), however often it is spread.
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
    aliases = repeats = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            more_aliases, more_repeats = _count_aliases(definition.selection_set)
            aliases += more_aliases
            repeats += more_repeats
    if aliases + repeats > max_aliases:
        if repeats:
            return _error(
                f"the document uses {aliases} aliases and {repeats} repeated selections; "
                f"the limit is {max_aliases} together"
            )
        return _error(f"the document uses {aliases} aliases; the limit is {max_aliases}")
    depths = _Depths(fragments)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            try:
                depth = depths.of(definition.selection_set, max_depth)
            except RecursionError:
                return _error("the document nests fragments too deeply")
            if depth > max_depth:
                return _error(f"the query is deeper than the limit of {max_depth}")
    return None


def _error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value})


def _count_aliases(selection_set: SelectionSetNode | None) -> tuple[int, int]:
    """``(aliases, repeated object fields)`` in a selection set and below (inline fragments
    belong to the selection set they are in)."""
    if selection_set is None:
        return 0, 0
    aliases = repeats = 0
    seen: set[str] = set()
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    aliases += 1
                if selection.selection_set is not None:
                    key = (selection.alias or selection.name).value
                    if key in seen:
                        repeats += 1
                    seen.add(key)
                    inner_aliases, inner_repeats = _count_aliases(selection.selection_set)
                    aliases += inner_aliases
                    repeats += inner_repeats
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
    return aliases, repeats


class _Depths:
    """Selection depths, with each fragment's depth memoised by the remaining budget."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[tuple[str, int], int] = {}
        self.visiting: set[str] = set()

    def of(self, selection_set: SelectionSetNode | None, limit: int) -> int:
        """Depth of a selection set, at most ``limit + 1`` (more means too deep)."""
        if selection_set is None or limit < 0:
            return 0
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    continue
                inner = selection.selection_set
                depth = 1 + self.of(inner, limit - 1) if inner else 1
            elif isinstance(selection, InlineFragmentNode):
                depth = self.of(selection.selection_set, limit)
            elif isinstance(selection, FragmentSpreadNode):
                depth = self._fragment(selection.name.value, limit)
            else:
                continue
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        return deepest

    def _fragment(self, name: str, limit: int) -> int:
        key = (name, limit)
        known = self.memo.get(key)
        if known is not None:
            return known
        fragment = self.fragments.get(name)
        if fragment is None or name in self.visiting:  # validation reports these
            return 0
        self.visiting.add(name)
        try:
            depth = self.of(fragment.selection_set, limit)
        finally:
            self.visiting.discard(name)
        self.memo[key] = depth
        return depth
