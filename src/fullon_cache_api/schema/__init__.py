"""The GraphQL schema: types, ``Query`` and ``Subscription``. There is no ``Mutation``."""

from __future__ import annotations

import strawberry

from fullon_cache_api.schema.query import Query
from fullon_cache_api.schema.subscription import Subscription


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(query=Query, subscription=Subscription)


schema = build_schema()

__all__ = ["Query", "Subscription", "build_schema", "schema"]
