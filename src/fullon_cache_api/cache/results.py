"""Containers for reads that may partly fail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Problem:
    """One stored item that could not be decoded and was left out.

    ``field``: the field of the returned record that the item left null or short (the
    record's field name, e.g. ``by_type``); the error's path then ends with that field's
    GraphQL name (``byType``; not an alias a query gives it). ``None``: the error is at the
    field that returned the record or listing."""

    key: str
    item: str | None
    reason: str
    field: str | None = None

    def describe(self) -> str:
        where = f"{self.key}[{self.item}]" if self.item is not None else self.key
        return f"corrupt entry {where} skipped: {self.reason}"


@dataclass(slots=True)
class Listing(Generic[T]):
    """The decodable items of a read, plus a problem per item that was dropped."""

    items: list[T] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def extend(self, other: Listing[T]) -> None:
        self.items.extend(other.items)
        self.problems.extend(other.problems)


@dataclass(slots=True)
class ValueRead(Generic[T]):
    """A single value read, and the stored items left out of it (see :class:`Listing`)."""

    value: T
    problems: list[Problem] = field(default_factory=list)


@dataclass(slots=True)
class Appended(Generic[T]):
    """What a read of an append-only list found.

    ``snapshot``: the list was read whole (bounded): the first read, or the list shrank or
    was replaced since the last read. Otherwise ``items`` are the items appended since the
    last read, oldest first, and ``more`` says more was appended than one read takes."""

    items: list[T] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    snapshot: bool = False
    more: bool = False
