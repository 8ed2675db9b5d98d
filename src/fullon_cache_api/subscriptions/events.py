"""What live streams carry: the kind of a stream, and the changes of a keyed collection."""

from __future__ import annotations

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
