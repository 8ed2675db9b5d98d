"""Bind root fields straight to their resolver functions.

Strawberry wraps every resolver to convert arguments and build its ``Info``; for root fields
that costs about a fifth of a small query's execution. Our resolvers only read
``info.context`` and ``info.path``, which graphql-core's own ``GraphQLResolveInfo`` has too,
and graphql-core has already coerced the arguments, so the wrapper can be skipped: a query
field's ``resolve`` and a subscription field's ``subscribe`` call the resolver with the
arguments renamed to their Python names. So graphql-core's subscription API
(``create_source_event_stream``) hands back the resolver's own stream object, and a
subscription field's value for one event is the event itself.

Compiled plans (:mod:`fullon_cache_api.server.plan`) call these root resolvers
themselves, with an info that has just ``context`` and ``path``: :func:`is_direct` tells
them which resolvers they may call that way.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from graphql import GraphQLSchema
from strawberry.utils.str_converters import to_camel_case

from fullon_cache_api.resolvers.fields import RootField

_DIRECT: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()


def is_direct(resolve: Any) -> bool:
    """Whether ``resolve`` is a root field's resolver bound here: it reads only
    ``info.context`` and ``info.path``."""
    return resolve in _DIRECT


def _renamed(field: RootField) -> Callable[..., Any]:
    resolver = field.resolver
    renames = {to_camel_case(name): name for name in field.arguments}

    def call(info: Any, arguments: dict[str, Any]) -> Any:
        return resolver(info, **{renames[name]: value for name, value in arguments.items()})

    return call


def _query(field: RootField) -> Callable[..., Any]:
    call = _renamed(field)
    name = field.name

    def resolve(_source: Any, info: Any, **arguments: Any) -> Any:
        result = call(info, arguments)
        timer = info.context.timer
        return result if timer is None else timer.timed(name, result)

    _DIRECT.add(resolve)
    return resolve


def _subscription(field: RootField) -> Callable[..., Any]:
    call = _renamed(field)

    def subscribe(_source: Any, info: Any, **arguments: Any) -> Any:
        return call(info, arguments)

    return subscribe


def _event(source: Any, _info: Any, **_arguments: Any) -> Any:
    """A subscription field's value for one event: the event."""
    return source


_DIRECT.add(_event)


def bind_root_resolvers(schema: GraphQLSchema, fields: list[RootField]) -> None:
    query_type = schema.query_type
    subscription_type = schema.subscription_type
    assert query_type is not None and subscription_type is not None
    for field in fields:
        if field.operation == "Query":
            query_type.fields[field.name].resolve = _query(field)
        else:
            subscription_type.fields[field.name].subscribe = _subscription(field)
            subscription_type.fields[field.name].resolve = _event
