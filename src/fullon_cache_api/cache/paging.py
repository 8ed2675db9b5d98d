"""Which slice of a Redis list a read takes.

fullon_cache's lists grow at the tail (RPUSH) and are consumed from the head (LPOP, or a DEL of
the whole list by the trade batcher), so index 0 is the oldest item. A page is ``first`` N
items after skipping ``offset`` from the head, or ``last`` N items after skipping ``offset``
from the tail. Either way the items come back oldest first, and a read never asks Redis for
more than the page.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ListPage:
    size: int
    from_tail: bool = True  # ``last`` (the newest) rather than ``first`` (the oldest)
    offset: int = 0

    def __post_init__(self) -> None:
        if self.size < 1 or self.offset < 0:
            raise ValueError(f"invalid list page {self!r}")

    def bounds(self) -> tuple[int, int]:
        """``(start, stop)`` for LRANGE (inclusive, negative from the tail)."""
        if self.from_tail:
            return -(self.offset + self.size), -(self.offset + 1)
        return self.offset, self.offset + self.size - 1

    def first_index(self, length: int) -> int:
        """The list index of the page's first item, for a list of ``length`` items."""
        if self.from_tail:
            return max(0, length - self.offset - self.size)
        return self.offset


@dataclass(frozen=True, slots=True)
class ListCursor:
    """Where a list that grows at the tail was last read: its length then, and its last
    item (to tell a list that grew from one that was replaced)."""

    length: int
    tail: bytes | None
