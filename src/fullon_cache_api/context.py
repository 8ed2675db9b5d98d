"""The per-operation context every resolver receives as ``info.context``."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from strawberry.utils.str_converters import to_camel_case

from fullon_cache_api.auth import ALL_SCOPES
from fullon_cache_api.cache import CacheReader, Listing, Problem
from fullon_cache_api.settings import Settings

if TYPE_CHECKING:
    from fullon_cache_api.subscriptions.hub import LiveHub

T = TypeVar("T")


class FieldTimer(Protocol):
    """Observes how long root fields take (the server's metrics)."""

    def timed(self, field: str, result: Awaitable[Any]) -> Awaitable[Any]: ...


def problem_path(problem: Problem, path: list[str | int]) -> list[str | int]:
    """Where a problem's error goes: the field that returned the record or listing, or the
    record field the problem left null, by its schema name (``by_type`` → ``byType``)."""
    return path if problem.field is None else [*path, to_camel_case(problem.field)]


@dataclass(slots=True)
class ItemProblem:
    """A corrupt item dropped from a field's result, reported as an error at ``path``."""

    problem: Problem
    path: list[str | int]


@dataclass(slots=True)
class RequestContext:
    cache: CacheReader
    settings: Settings
    live: LiveHub | None = None
    scopes: frozenset[str] = ALL_SCOPES  # what the caller's API key may read
    timer: FieldTimer | None = None
    problems: list[ItemProblem] = field(default_factory=list)

    def report(self, problems: list[Problem], path: list[str | int]) -> None:
        for problem in problems:
            self.problems.append(ItemProblem(problem, problem_path(problem, path)))

    def items(self, listing: Listing[T], path: list[str | int]) -> list[T]:
        """The listing's items; its dropped items are reported against ``path``."""
        if listing.problems:
            self.report(listing.problems, path)
        return listing.items
