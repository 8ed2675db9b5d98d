"""The GraphQL schema: types derived from the records, ``Query`` and ``Subscription`` built
from the root-field declarations. There is no ``Mutation``."""

from __future__ import annotations

import strawberry

from fullon_cache_api.resolvers.fields import fields_of
from fullon_cache_api.resolvers.live import LIVE_MODE_DOCS
from fullon_cache_api.schema.direct import bind_root_resolvers
from fullon_cache_api.schema.roots import Query, Subscription
from fullon_cache_api.schema.types import describe_enum_values


def build_schema() -> strawberry.Schema:
    built = strawberry.Schema(query=Query, subscription=Subscription)
    bind_root_resolvers(built._schema, fields_of("Query") + fields_of("Subscription"))
    describe_enum_values(built._schema, LiveMode=LIVE_MODE_DOCS)
    return built


schema = build_schema()

__all__ = ["Query", "Subscription", "build_schema", "schema"]
