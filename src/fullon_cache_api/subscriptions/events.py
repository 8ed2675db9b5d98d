"""What live streams carry: the kind of a stream, and the changes of a keyed collection."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from fullon_cache_api.cache.records import doc

T = TypeVar("T")


class StreamKind(Enum):
    """How a stream's events relate to each other; the one rule every layer reads
    (topic, stream, delivery group, outbox) to know what may be coalesced.

    * ``VALUE``: each event is the whole current value (or null); only the newest matters.
    * ``KEYED``: a keyed collection: a SNAPSHOT, then UPSERT/REMOVE of items by key; the
      newest version of each key matters, and a REMOVE wins over an older UPSERT.
    * ``PUSH``: messages with no state (pub/sub broadcasts); each one matters.
    """

    VALUE = "VALUE"
    KEYED = "KEYED"
    PUSH = "PUSH"


class ChangeKind(Enum):
    SNAPSHOT = "SNAPSHOT"
    UPSERT = "UPSERT"
    REMOVE = "REMOVE"


CHANGE_KIND_DOCS: dict[ChangeKind, str] = {
    ChangeKind.SNAPSHOT: "The whole current state: it replaces everything received before.",
    ChangeKind.UPSERT: "Items that are new or changed.",
    ChangeKind.REMOVE: "Items that are gone, in their last known version.",
}


@dataclass(slots=True)
class ChangeEvent(Generic[T]):
    """A keyed-collection event. For REMOVE, ``items`` are the last known versions."""

    kind: ChangeKind
    items: list[T] = field(default_factory=list)


@dataclass(slots=True)
class ProcessBroadcastRecord:
    """A message published on `process:broadcast:{type}`."""

    process_type: str = doc("The process type of the channel.")
    message: str | None = doc("The message text.")
    data: Any = doc("Its data, as published (any JSON).")
    timestamp: datetime | None = doc("When it was published.")


class ChangeSet(Generic[T]):
    """Keyed changes merged by key, for a consumer that is behind: the newest change of a
    key replaces an older one not yet sent (so a REMOVE after an UPSERT wins), and a
    SNAPSHOT replaces everything before it."""

    __slots__ = ("_changes", "_item_key", "_snapshot")

    def __init__(self, item_key: Callable[[T], Hashable]) -> None:
        self._item_key = item_key
        self._snapshot: dict[Hashable, T] | None = None
        self._changes: dict[Hashable, tuple[ChangeKind, T]] = {}

    def add(self, change: ChangeEvent[T]) -> None:
        key_of = self._item_key
        if change.kind is ChangeKind.SNAPSHOT:
            self._snapshot = {key_of(item): item for item in change.items}
            self._changes.clear()
            return
        for item in change.items:
            key = key_of(item)
            if self._snapshot is not None:
                if change.kind is ChangeKind.REMOVE:
                    self._snapshot.pop(key, None)
                else:
                    self._snapshot[key] = item
            else:
                self._changes[key] = (change.kind, item)

    def events(self) -> list[ChangeEvent[T]]:
        """One SNAPSHOT, or a REMOVE and an UPSERT (each only when it has items)."""
        if self._snapshot is not None:
            return [ChangeEvent(ChangeKind.SNAPSHOT, list(self._snapshot.values()))]
        removed = [item for kind, item in self._changes.values() if kind is ChangeKind.REMOVE]
        upserted = [item for kind, item in self._changes.values() if kind is ChangeKind.UPSERT]
        events = []
        if removed:
            events.append(ChangeEvent(ChangeKind.REMOVE, removed))
        if upserted:
            events.append(ChangeEvent(ChangeKind.UPSERT, upserted))
        return events
