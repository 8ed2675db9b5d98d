"""Root fields, each declared once: its resolver, scope, cost and client method together.

A resolver module declares a root field by decorating its resolver::

    @query(scope=MARKET, client=Client("get_ticker"))
    async def ticker(info: Info, exchange: Exchange, symbol: Symbol) -> TickerRecord | None:
        \"\"\"The latest ticker of a symbol on an exchange (`HGET tickers:{exchange}`).\"\"\"

The resolver's docstring is the field's description, its parameters (with their
``strawberry.argument`` annotations) are the field's arguments, and its return annotation,
in data-layer records, is the field's type. Everything else is derived from :data:`FIELDS`:
the ``Query`` and ``Subscription`` types (:mod:`fullon_cache_api.schema`), which scope each
field needs (:data:`FIELD_SCOPES`), which argument sizes a list for the cost model
(:data:`SIZE_ARGUMENTS`), and the Python client's methods and the README's field tables
(``scripts/generate.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from strawberry.utils.str_converters import to_camel_case

from fullon_cache_api.subscriptions.events import StreamKind
from fullon_cache_api.subscriptions.specs import SpecFactory

F = TypeVar("F", bound=Callable[..., Any])

Operation = Literal["Query", "Subscription"]


@dataclass(frozen=True, slots=True)
class Client:
    """The Python client's method for a root field.

    ``positional``: the arguments (Python names) the method takes positionally, in this
    order (fullon_cache's own order where the method mirrors one of its readers); the
    others are keyword-only. Without it, every argument but the options of
    ``KEYWORD_ONLY`` is positional, in declaration order."""

    method: str
    positional: tuple[str, ...] | None = None

    def positional_of(self, arguments: Sequence[str]) -> list[str]:
        """Which of ``arguments`` (Python names, in order) the method takes positionally."""
        if self.positional is not None:
            return list(self.positional)
        return [name for name in arguments if name not in KEYWORD_ONLY]


#: Options every keyed subscription takes (``live``, ``max_rate``): keyword-only in the
#: client's methods (``stream_tickers(live=LiveMode.FULL)``).
KEYWORD_ONLY = frozenset({"live", "max_rate"})


@dataclass(frozen=True, slots=True)
class RootField:
    operation: Operation
    name: str  # the GraphQL name
    resolver: Callable[..., Any]
    scope: str
    description: str
    returns: Any  # the record type (a query's result; a subscription's value or item)
    size: tuple[str, ...] = ()  # arguments giving the length of its list, first given wins
    client: Client | None = None
    nullable: bool = True  # a query field that can fail is nullable
    kind: StreamKind | None = None  # subscriptions: how its events relate
    event: str | None = None  # keyed subscriptions: the GraphQL name of the event type

    @property
    def python_name(self) -> str:
        return self.resolver.__name__

    @property
    def arguments(self) -> list[str]:
        """The resolver's argument names (Python), in order."""
        return [name for name in inspect.signature(self.resolver).parameters if name != "info"]


FIELDS: list[RootField] = []
"""Every root field, in declaration order."""

FIELD_SCOPES: dict[str, dict[str, str]] = {"Query": {}, "Subscription": {}}
"""``{"Query"|"Subscription": {field: scope}}``: the scope each root field needs."""

SIZE_ARGUMENTS: dict[tuple[str, str], tuple[str, ...]] = {}
"""(root type, field) → the arguments giving the length of the field's list."""


def description_of(obj: Any) -> str:
    """``obj``'s docstring as a GraphQL description: the lines of a paragraph joined."""
    text = inspect.getdoc(obj)
    if not text:
        raise TypeError(f"{obj.__qualname__} needs a docstring: it is its GraphQL description")
    paragraphs = [" ".join(part.split()) for part in text.split("\n\n")]
    return "\n\n".join(paragraphs)


def _register(field: RootField) -> None:
    scopes = FIELD_SCOPES[field.operation]
    if field.name in scopes:
        raise TypeError(f"{field.operation}.{field.name} is declared twice")
    FIELDS.append(field)
    scopes[field.name] = field.scope
    if field.size:
        SIZE_ARGUMENTS[(field.operation, field.name)] = tuple(to_camel_case(a) for a in field.size)


def query(
    *,
    scope: str,
    returns: Any = None,
    size: tuple[str, ...] = (),
    client: Client | None = None,
    nullable: bool = True,
) -> Callable[[F], F]:
    """Declare a ``Query`` field (its type: ``returns``, else the return annotation)."""

    def declare(resolver: F) -> F:
        declared = returns if returns is not None else _return_annotation(resolver)
        _register(
            RootField(
                operation="Query",
                name=to_camel_case(resolver.__name__),
                resolver=resolver,
                scope=scope,
                description=description_of(resolver),
                returns=declared,
                size=size,
                client=client,
                nullable=nullable,
            )
        )
        return resolver

    return declare


def subscription(
    *,
    scope: str,
    spec: SpecFactory[Any],
    returns: Any,
    event: str | None = None,
    size: tuple[str, ...] = (),
    client: Client | None = None,
) -> Callable[[F], F]:
    """Declare a ``Subscription`` field whose resolver opens a stream of ``spec``'s kind:
    ``returns`` is the record type of its value (``VALUE``/``PUSH``) or of the items of its
    ``event`` type (``KEYED``)."""
    kind = spec.kind

    def declare(resolver: F) -> F:
        if (kind is StreamKind.KEYED) != (event is not None):
            raise TypeError(f"{resolver.__name__}: keyed streams, and only they, name an event")
        _register(
            RootField(
                operation="Subscription",
                name=to_camel_case(resolver.__name__),
                resolver=resolver,
                scope=scope,
                description=description_of(resolver),
                returns=returns,
                size=size,
                client=client,
                kind=kind,
                event=event,
            )
        )
        return resolver

    return declare


def _return_annotation(resolver: Callable[..., Any]) -> Any:
    hints = inspect.get_annotations(resolver, eval_str=True)
    return hints["return"]


def field_scope(type_name: str, field_name: str) -> str | None:
    """The scope of a root field; ``None`` for introspection (``__typename``, ...)."""
    fields = FIELD_SCOPES.get(type_name)
    return fields.get(field_name) if fields is not None else None


def fields_of(operation: Operation) -> list[RootField]:
    return [field for field in FIELDS if field.operation == operation]
