"""Document templates: documents that differ only in string arguments share one document.

A dashboard that watches 500 tickers often sends 500 subscriptions that differ only in a
literal, ``ticker(exchange: "binance", symbol: "BTC/USDT")``, ``... "ETH/USDT")`` and so on.
Cached by text, each was parsed, validated (about 0.7 ms of graphql-core) and compiled into
a plan of its own, and each held its syntax tree and plan while subscribed: about 12 KB a
subscription, half of what a subscription with a topic of its own cost.

Here the first such document is validated as usual and, if it is valid, turned into a
**template**: the string literals given to field arguments of type ``String`` or ``ID``
(or to the items of a list of them) become variables (``$_l0``, ``$_l1``, ...), each node
keeping the position of the literal it replaces, and the template is validated too. A
later text of the same **shape** (the same characters, except the contents of string
literals, which keep their length) is only tokenized: its literals become the values of
the template's variables, and it shares the template's syntax tree, cost, scopes and plan.
Nothing a client sees changes: the arguments coerce to the same strings, and every node
keeps its line and column, so errors point where they did.

Left as they are (each text then parsed and validated by itself): documents with several
operations, block strings, a template that would not validate (two fields with the same
response name and literal arguments), and strings anywhere else (directive arguments,
input objects, custom scalars): a text whose other strings differ from the template's is
not of its shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    GraphQLString,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    visit,
)
from graphql.language import (
    DocumentNode,
    ListTypeNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    ObjectValueNode,
    OperationDefinitionNode,
    Source,
    StringValueNode,
    TokenKind,
    TypeNode,
    VariableDefinitionNode,
    VariableNode,
)
from graphql.language.lexer import Lexer

VARIABLE_PREFIX = "_l"


@dataclass(frozen=True, slots=True)
class Shape:
    """A text's shape (its characters, string contents blanked) and its string literals
    in order, with where each starts in the text."""

    key: str
    strings: tuple[str, ...]
    starts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Template:
    document: DocumentNode
    slots: tuple[tuple[int, str], ...]  # (index of the string literal, variable name)
    fixed: tuple[tuple[int, str], ...]  # (index, value) of the strings left as they are

    def values(self, shape: Shape) -> dict[str, str] | None:
        """The template's variables for a text of its shape, or ``None`` when the text's
        other strings differ from the template's."""
        strings = shape.strings
        for index, value in self.fixed:
            if strings[index] != value:
                return None
        return {name: strings[index] for index, name in self.slots}


def shape_of(text: str, max_tokens: int) -> Shape | None:
    """The shape of ``text``, or ``None`` when it has no string to hoist, a block string,
    more than ``max_tokens`` tokens, or does not tokenize (the parser then says why)."""
    lexer = Lexer(Source(text))
    pieces: list[str] = []
    strings: list[str] = []
    starts: list[int] = []
    done = 0
    count = 0
    try:
        token = lexer.advance()
        while token.kind is not TokenKind.EOF:
            count += 1
            if count > max_tokens:
                return None
            if token.kind is TokenKind.STRING:
                pieces.append(text[done : token.start + 1])
                pieces.append("\0" * (token.end - token.start - 2))
                done = token.end - 1
                strings.append(token.value or "")
                starts.append(token.start)
            elif token.kind is TokenKind.BLOCK_STRING:
                return None
            token = lexer.advance()
    except GraphQLError:
        return None
    if not strings:
        return None
    pieces.append(text[done:])
    return Shape("".join(pieces), tuple(strings), tuple(starts))


def _type_node(type_: Any) -> TypeNode:
    if isinstance(type_, GraphQLNonNull):
        inner = _type_node(type_.of_type)
        assert isinstance(inner, NamedTypeNode | ListTypeNode)
        return NonNullTypeNode(type=inner)
    if isinstance(type_, GraphQLList):
        return ListTypeNode(type=_type_node(type_.of_type))
    return NamedTypeNode(name=NameNode(value=type_.name))


def _plain(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


class _Hoister(Visitor):
    """Replaces the string literals of String/ID field arguments by variables."""

    def __init__(self, type_info: TypeInfo, taken: set[str]) -> None:
        super().__init__()
        self.type_info = type_info
        self.taken = taken
        self.hoisted: list[tuple[int, str, Any]] = []  # (literal offset, variable, type)

    def enter_string_value(
        self, node: StringValueNode, _key: Any, _parent: Any, _path: Any, ancestors: Any
    ) -> Any:
        info = self.type_info
        input_type = info.get_input_type()
        if (
            node.block
            or node.loc is None
            or info.get_directive() is not None
            or info.get_argument() is None
            or _plain(input_type) not in (GraphQLString, GraphQLID)
            or any(isinstance(ancestor, ObjectValueNode) for ancestor in ancestors)
        ):
            return None
        name = f"{VARIABLE_PREFIX}{len(self.hoisted)}"
        if name in self.taken:
            raise _NoTemplate
        self.hoisted.append((node.loc.start, name, input_type))
        return VariableNode(name=NameNode(value=name), loc=node.loc)


class _NoTemplate(Exception):
    pass


def make_template(
    schema: GraphQLSchema, document: DocumentNode, shape: Shape
) -> tuple[Template, DocumentNode] | None:
    """A template made from a valid ``document`` (parsed from a text of ``shape``), and the
    template's document to validate; ``None`` when there is nothing to hoist or the
    document is not one a template can stand for."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        return None
    operation = operations[0]
    taken = {definition.variable.name.value for definition in operation.variable_definitions or ()}
    type_info = TypeInfo(schema)
    hoister = _Hoister(type_info, taken)
    try:
        hoisted_document = visit(document, TypeInfoVisitor(type_info, hoister))
    except _NoTemplate:
        return None
    if not hoister.hoisted:
        return None
    definitions = tuple(
        VariableDefinitionNode(
            variable=VariableNode(name=NameNode(value=name)),
            type=_type_node(type_),
            directives=(),
        )
        for _start, name, type_ in hoister.hoisted
    )
    new_definitions = []
    for definition in hoisted_document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            definition = OperationDefinitionNode(
                operation=definition.operation,
                name=definition.name,
                variable_definitions=(*(definition.variable_definitions or ()), *definitions),
                directives=definition.directives,
                selection_set=definition.selection_set,
                loc=definition.loc,
            )
        new_definitions.append(definition)
    template_document = DocumentNode(definitions=tuple(new_definitions), loc=document.loc)
    # Which string literal (by its place in the text) each variable stands for.
    index_of = {start: index for index, start in enumerate(shape.starts)}
    slots = tuple((index_of[start], name) for start, name, _type in hoister.hoisted)
    hoisted = {index for index, _name in slots}
    fixed = tuple(
        (index, value) for index, value in enumerate(shape.strings) if index not in hoisted
    )
    return Template(template_document, slots, fixed), template_document


__all__ = ["Shape", "Template", "make_template", "shape_of"]
