"""The GraphQL schema: types, ``Query`` and ``Subscription``. There is no ``Mutation``."""

from __future__ import annotations

import strawberry

from fullon_cache_api.schema.direct import bind_root_resolvers
from fullon_cache_api.schema.query import ROOT_RESOLVERS, Query
from fullon_cache_api.schema.subscription import Subscription


def build_schema() -> strawberry.Schema:
    built = strawberry.Schema(query=Query, subscription=Subscription)
    query_type = built._schema.query_type
    assert query_type is not None
    bind_root_resolvers(query_type, ROOT_RESOLVERS)
    return built


schema = build_schema()

__all__ = ["Query", "Subscription", "build_schema", "schema"]
