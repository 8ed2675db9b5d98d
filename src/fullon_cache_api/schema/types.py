"""GraphQL object types, derived from the data layer's records.

Each record (:mod:`fullon_cache_api.cache.records`) declares its fields, their types and
their documentation once; :func:`object_type` turns it into a Strawberry type with the same
fields, so resolvers return records as they are. Record types nested in a record become the
derived GraphQL types, ``dict``/``Any`` values the ``JSON`` scalar. Fields computed for
GraphQL only (a ticker's spread) are added here.

Times are ``DateTime`` (ISO-8601, UTC). Ids are strings.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from fullon_cache_api.cache import records
from fullon_cache_api.resolvers.fields import description_of
from fullon_cache_api.subscriptions.events import (
    CHANGE_KIND_DOCS,
    ChangeKind,
    ProcessBroadcastRecord,
)

GRAPHQL_TYPES: dict[type[Any], Any] = {}
"""Record class → its GraphQL type."""


def graphql_annotation(annotation: Any) -> Any:
    """A Python annotation in records, as the GraphQL type: records become their derived
    types, ``dict``/``Any`` the ``JSON`` scalar."""
    if annotation in GRAPHQL_TYPES:
        return GRAPHQL_TYPES[annotation]
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        # A record no computed field needed to list below: derived on first use.
        return object_type(annotation)
    if annotation is Any:  # any JSON value, null included
        return JSON | None
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        members = [graphql_annotation(arg) for arg in typing.get_args(annotation)]
        union: Any = members[0]
        for member in members[1:]:
            union = union | member
        return union
    if origin is list:
        (item,) = typing.get_args(annotation)
        return list[graphql_annotation(item)]  # type: ignore[misc]
    if origin is dict:
        return JSON
    return annotation


def object_type(record: type[Any], *, computed: dict[str, Any] | None = None) -> Any:
    """The Strawberry type of ``record``: named after it without ``Record``, described by
    its docstring, one field per dataclass field (described by its ``doc``), plus the
    ``computed`` Strawberry fields."""
    name = record.__name__.removesuffix("Record")
    hints = typing.get_type_hints(record)
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    for item in dataclasses.fields(record):
        annotations[item.name] = graphql_annotation(hints[item.name])
        namespace[item.name] = strawberry.field(description=item.metadata["doc"])
    namespace.update(computed or {})
    namespace["__annotations__"] = annotations
    namespace["__module__"] = __name__
    namespace["__doc__"] = description_of(record)
    derived = strawberry.type(
        type(name, (), namespace), name=name, description=namespace["__doc__"]
    )
    GRAPHQL_TYPES[record] = derived
    return derived


# --------------------------------------------------------------------------- computed fields


def _spread(root: records.TickerRecord) -> float | None:
    if root.ask is None or root.bid is None:
        return None
    return root.ask - root.bid


def _spread_percentage(root: records.TickerRecord) -> float | None:
    if root.ask is None or root.bid is None:
        return None
    mid = (root.ask + root.bid) / 2
    return (root.ask - root.bid) / mid * 100 if mid else None


def _balance(
    root: records.AccountRecord,
    currency: Annotated[str, strawberry.argument(description="Currency code, e.g. `USDT`.")],
) -> records.BalanceRecord | None:
    return next((item for item in root.balances if item.currency == currency), None)


# --------------------------------------------------------------------------- the types

ChangeKindEnum = strawberry.enum(
    ChangeKind,
    description="What an event of a keyed stream carries.",
)

Count = object_type(records.CountRecord)
Ticker = object_type(
    records.TickerRecord,
    computed={
        "spread": strawberry.field(resolver=_spread, description="ask - bid, when both are known."),
        "spread_percentage": strawberry.field(
            resolver=_spread_percentage, description="Spread as a percentage of the mid price."
        ),
    },
)
Balance = object_type(records.BalanceRecord)
Account = object_type(
    records.AccountRecord,
    computed={
        "balance": strawberry.field(
            resolver=_balance, graphql_type=Balance | None, description="One currency, or null."
        )
    },
)
Position = object_type(records.PositionRecord)
Order = object_type(records.OrderRecord)
Trade = object_type(records.TradeRecord)
TradeStatus = object_type(records.TradeStatusRecord)
Bot = object_type(records.BotRecord)
ExchangeBlock = object_type(records.ExchangeBlockRecord)
OpeningPosition = object_type(records.OpeningPositionRecord)
OhlcvBar = object_type(records.OhlcvBarRecord)
OhlcvSeries = object_type(records.OhlcvSeriesRecord)
Process = object_type(records.ProcessRecord)
ComponentStatus = object_type(records.ComponentStatusRecord)
SystemHealth = object_type(records.SystemHealthRecord)
CacheHealth = object_type(records.CacheHealthRecord)
ProcessBroadcast = object_type(ProcessBroadcastRecord)


_EVENT_TYPES: dict[str, tuple[type[Any], Any]] = {}


def event_type(name: str, item: type[Any]) -> Any:
    """The payload type of a keyed stream: a change kind and the items it concerns (one
    type per name: streams of the same records may share it)."""
    known = _EVENT_TYPES.get(name)
    if known is not None:
        if known[0] is not item:
            raise TypeError(f"event type {name} is declared for two record types")
        return known[1]
    item_type = GRAPHQL_TYPES[item]
    record_name = item.__name__.removesuffix("Record")
    namespace: dict[str, Any] = {
        "__annotations__": {"kind": ChangeKindEnum, "items": list[item_type]},  # type: ignore[valid-type]
        "__module__": __name__,
        "kind": strawberry.field(description="SNAPSHOT, UPSERT or REMOVE."),
        "items": strawberry.field(
            description="SNAPSHOT: every item; UPSERT: new or changed items; REMOVE: items "
            "gone, in their last known version."
        ),
    }
    description = f"A change of a keyed stream of `{record_name}` items."
    derived = strawberry.type(type(name, (), namespace), name=name, description=description)
    _EVENT_TYPES[name] = (item, derived)
    return derived


def describe_enum_values(schema: Any, **more: Mapping[Any, str]) -> None:
    """Strawberry takes no per-value descriptions for an existing ``Enum``; set them on the
    built schema: ``ChangeKind``'s from :data:`CHANGE_KIND_DOCS`, and each enum named in
    ``more`` (GraphQL name: {member: description})."""
    every: dict[str, Mapping[Any, str]] = {"ChangeKind": CHANGE_KIND_DOCS, **more}
    for name, docs in every.items():
        enum = schema.get_type(name)
        for member, text in docs.items():
            enum.values[member.name].description = text


__all__ = [
    "GRAPHQL_TYPES",
    "describe_enum_values",
    "event_type",
    "graphql_annotation",
    "object_type",
]
