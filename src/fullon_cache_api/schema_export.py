"""The GraphQL schema as SDL, in a stable order (``fullon-cache-api export-schema``).

Types, fields and arguments are sorted by name, so the committed ``schema.graphql``
only changes when the schema itself does.
"""

from __future__ import annotations

import strawberry
from graphql import lexicographic_sort_schema, print_schema

__all__ = ["export_sdl"]


def export_sdl(schema: strawberry.Schema | None = None) -> str:
    """The SDL of ``schema`` (default: the API's schema), sorted, ending with a newline."""
    if schema is None:
        from fullon_cache_api.schema import schema as default_schema

        schema = default_schema
    sdl = print_schema(lexicographic_sort_schema(schema._schema))
    return sdl.rstrip("\n") + "\n"
