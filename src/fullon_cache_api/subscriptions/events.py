"""What topics emit: the current state (SNAPSHOT) and changes (UPSERT, REMOVE)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ChangeKind(Enum):
    SNAPSHOT = "SNAPSHOT"
    UPSERT = "UPSERT"
    REMOVE = "REMOVE"


@dataclass(slots=True)
class ChangeEvent(Generic[T]):
    """A keyed-collection event. For REMOVE, ``items`` are the last known versions."""

    kind: ChangeKind
    items: list[T] = field(default_factory=list)


@dataclass(slots=True)
class ProcessBroadcastRecord:
    process_type: str
    message: str | None
    data: Any
    timestamp: Any
