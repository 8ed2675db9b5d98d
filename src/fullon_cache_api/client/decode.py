"""Build the result dataclasses from the server's JSON.

Each dataclass field ``snake_case`` is read from the JSON key ``camelCase``; values are
converted by the field's annotation: ``datetime`` from ISO-8601 text (aware, UTC), enums by
value, nested dataclasses and lists of them recursively, ``Any`` (the ``JSON`` scalar) as it
is. ``scalar``, ``optional_scalar`` and ``scalar_list`` convert the root values of scalar
fields (the generated methods use them); ``decode_event`` builds a keyed-stream event.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from fullon_cache_api.client.models import ChangeKind
from fullon_cache_api.client.results import ChangeEvent, StreamInfo

T = TypeVar("T")
E = TypeVar("E", bound=ChangeEvent[Any])

Converter = Callable[[Any], Any]


def camel(name: str) -> str:
    """``spread_percentage`` → ``spreadPercentage``."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def parse_datetime(value: Any) -> datetime | None:
    """An ISO-8601 ``DateTime`` as an aware UTC datetime (naive text is taken as UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _identity(value: Any) -> Any:
    return value


def _optional(convert: Converter) -> Converter:
    return lambda value: None if value is None else convert(value)


def _list_of(convert: Converter) -> Converter:
    return lambda value: [] if value is None else [convert(item) for item in value]


def _converter(annotation: Any) -> Converter:
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        inner = _converter(members[0]) if len(members) == 1 else _identity
        return _optional(inner)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return _list_of(_converter(item))
    if annotation is datetime:
        return parse_datetime
    if annotation is float:
        return float
    if annotation is int:
        return int
    if annotation is str:
        return str
    if annotation is bool:
        return bool
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return annotation
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return functools.partial(decode_as, annotation)
    return _identity


_PLANS: dict[type[Any], tuple[tuple[str, str, Converter], ...]] = {}


def _plan(cls: type[Any]) -> tuple[tuple[str, str, Converter], ...]:
    """``(attribute, JSON key, converter)`` for each field of ``cls`` (computed once)."""
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = tuple(
            (f.name, camel(f.name), _converter(hints[f.name])) for f in dataclasses.fields(cls)
        )
        _PLANS[cls] = plan
    return plan


def decode_as(cls: type[T], value: Mapping[str, Any]) -> T:
    """An instance of the dataclass ``cls`` from a GraphQL object (camelCase keys).
    Keys the document did not select keep the field's default."""
    kwargs: dict[str, Any] = {}
    for name, key, convert in _plan(cls):
        if key in value:
            kwargs[name] = convert(value[key])
    return cls(**kwargs)


def decode_optional(cls: type[T], value: Mapping[str, Any] | None) -> T | None:
    return None if value is None else decode_as(cls, value)


def decode_list(cls: type[T], value: Any) -> list[T]:
    return [decode_as(cls, item) for item in value or ()]


def decode_event(cls: type[E], value: Mapping[str, Any], info: StreamInfo | None = None) -> E:
    """A keyed-stream event (``kind`` and ``items``) as ``cls``, a :class:`ChangeEvent`
    whose ``item_type`` names its items' type; ``info`` adds the stream information."""
    item_type: type[Any] = getattr(cls, "item_type", dict)
    items = decode_list(item_type, value.get("items")) if item_type is not dict else []
    extra: dict[str, Any] = {}
    if info is not None:
        extra = {"seq": info.seq, "cursor": info.cursor, "observed_at": info.observed_at}
    return cls(ChangeKind(value["kind"]), items, **extra)


def scalar(convert: Callable[[Any], T], value: Any) -> T:
    """A non-null scalar root value (a null one, which only comes with an error that was
    raised already, reads as the type's zero)."""
    if value is None:
        value = 0 if convert in (int, float, bool) else ""
    return convert(value)


def optional_scalar(convert: Callable[[Any], T | None], value: Any) -> T | None:
    return None if value is None else convert(value)


def scalar_list(convert: Callable[[Any], T], value: Any) -> list[T]:
    return [convert(item) for item in value or ()]
