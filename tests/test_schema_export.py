"""The committed ``schema.graphql`` and the rules the schema keeps."""

from __future__ import annotations

import re
from pathlib import Path

import strawberry
from graphql import (
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
)

from fullon_cache_api.schema import schema
from fullon_cache_api.schema_export import export_sdl

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"

# Times, ids and volumes overflow (or lose meaning in) GraphQL's 32-bit Int.
_NEEDS_WIDE_TYPE = re.compile(r"time|volume", re.IGNORECASE)
_ID_OR_AT = re.compile(r"(?:^id|Id|ID|At)(?![a-z])|id$")


def _int_fields_named_like_wide_values(gql_schema: GraphQLSchema) -> list[str]:
    found = []
    for type_name, gql_type in gql_schema.type_map.items():
        if type_name.startswith("__") or not isinstance(
            gql_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType
        ):
            continue
        for field_name, field in gql_type.fields.items():
            suspicious = _NEEDS_WIDE_TYPE.search(field_name) or _ID_OR_AT.search(field_name)
            if suspicious and get_named_type(field.type).name == "Int":
                found.append(f"{type_name}.{field_name}")
    return found


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.is_file(), "schema.graphql is missing: run `make schema`"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == export_sdl(), (
        "schema.graphql is out of date: run `make schema` and commit the result"
    )


def test_export_is_stable_and_ends_with_newline() -> None:
    sdl = export_sdl()
    assert sdl == export_sdl(schema)
    assert sdl.endswith("}\n") and not sdl.endswith("\n\n")
    # Lexicographic: type definitions appear sorted by name.
    names = re.findall(r"^(?:type|scalar|enum|input|interface|union) (\w+)", sdl, re.MULTILINE)
    assert names == sorted(names)


def test_there_is_no_mutation() -> None:
    assert schema._schema.mutation_type is None
    assert "Mutation" not in export_sdl()


def test_every_query_field_is_documented() -> None:
    query = schema._schema.query_type
    assert query is not None
    undocumented = [name for name, field in query.fields.items() if not field.description]
    assert not undocumented, f"Query fields without a description: {undocumented}"


def test_no_int_for_times_ids_or_volumes() -> None:
    offenders = _int_fields_named_like_wide_values(schema._schema)
    assert not offenders, f"use DateTime/String/Float, not Int, for: {offenders}"


@strawberry.type
class BadTypes:
    bot_id: int
    updated_at: int
    final_volume: int
    timestamp: int
    count: int
    valid_for: str


@strawberry.type
class BadQuery:
    bad: BadTypes


def test_int_check_catches_offenders() -> None:
    offenders = _int_fields_named_like_wide_values(strawberry.Schema(query=BadQuery)._schema)
    assert sorted(offenders) == [
        "BadTypes.botId",
        "BadTypes.finalVolume",
        "BadTypes.timestamp",
        "BadTypes.updatedAt",
    ]
