"""The ``Query`` and ``Subscription`` types, built from the root-field declarations
(:mod:`fullon_cache_api.resolvers.fields`). There is no ``Mutation``.

A query field's type is its resolver's return type in records, nullable unless the field
cannot fail; a subscription's is its declared value type, or for a keyed stream its event
type (a change kind and items).
"""

from __future__ import annotations

from typing import Any

import strawberry

from fullon_cache_api.resolvers import account, live, market, ops  # noqa: F401  (declarations)
from fullon_cache_api.resolvers.fields import RootField, fields_of
from fullon_cache_api.schema.types import event_type, graphql_annotation
from fullon_cache_api.subscriptions.events import StreamKind


def _query_field(field: RootField) -> Any:
    graphql_type = graphql_annotation(field.returns)
    return strawberry.field(
        resolver=field.resolver,
        graphql_type=graphql_type | None if field.nullable else graphql_type,
        description=field.description,
    )


def _subscription_field(field: RootField) -> Any:
    if field.kind is StreamKind.KEYED:
        assert field.event is not None
        graphql_type = event_type(field.event, field.returns)
    else:
        graphql_type = graphql_annotation(field.returns)
    return strawberry.subscription(
        resolver=field.resolver, graphql_type=graphql_type, description=field.description
    )


def _root(name: str, description: str, fields: dict[str, Any]) -> Any:
    namespace = {"__module__": __name__, "__annotations__": {}, **fields}
    return strawberry.type(type(name, (), namespace), name=name, description=description)


Query = _root(
    "Query",
    "Read-only access to fullon_cache's live state.",
    {field.python_name: _query_field(field) for field in fields_of("Query")},
)
Subscription = _root(
    "Subscription",
    "Live streams, pushed from one shared Redis feed.",
    {field.python_name: _subscription_field(field) for field in fields_of("Subscription")},
)
