"""Bind root ``Query`` fields straight to their resolver functions.

Strawberry wraps every resolver to convert arguments and build its ``Info``; for root fields
that costs about a fifth of a small query's execution. Our resolvers only read
``info.context`` and ``info.path``, which graphql-core's own ``GraphQLResolveInfo`` has too,
and graphql-core has already coerced the arguments, so the wrapper can be skipped: each
root field calls its resolver with the arguments renamed to their Python names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from graphql import GraphQLObjectType
from strawberry.utils.str_converters import to_camel_case


def _direct(field_name: str, resolver: Callable[..., Any]) -> Callable[..., Any]:
    names = [name for name in inspect.signature(resolver).parameters if name != "info"]
    renames = {to_camel_case(name): name for name in names}

    def resolve(_source: Any, info: Any, **arguments: Any) -> Any:
        result = resolver(info, **{renames[name]: value for name, value in arguments.items()})
        metrics = info.context.metrics
        return result if metrics is None else metrics.timed(field_name, result)

    return resolve


def bind_root_resolvers(
    query_type: GraphQLObjectType, resolvers: dict[str, Callable[..., Any]]
) -> None:
    for python_name, resolver in resolvers.items():
        name = to_camel_case(python_name)
        # The resolver must not depend on Strawberry's Info beyond context and path.
        query_type.fields[name].resolve = _direct(name, resolver)
