"""What every client result is: a frozen dataclass you can also read like a dict.

The typed results (:mod:`~fullon_cache_api.client.models`, generated from
``schema.graphql``) all derive from :class:`Result`, so each one works both ways::

    ticker.price                 # attribute access
    ticker["price"]              # read-only mapping access, snake_case keys
    ticker.get("spread", 0.0)
    dict(ticker)                 # {"exchange": ..., "symbol": ..., "ask": ..., ...}
    ticker.to_dict()             # the same, nested results and lists converted too

**Aliases.** Where a type has ``time`` and no ``timestamp`` field (``Ticker``, ``Trade``),
``timestamp`` is an alias of ``time``: ``ticker.timestamp``, ``ticker["timestamp"]`` and
``ticker.get("timestamp")`` read ``time``, and ``"timestamp" in ticker`` is true. Aliases
are not keys: ``dict(ticker)``, ``iter(ticker)`` and ``len(ticker)`` cover the real fields
only. A type that has its own ``timestamp``
(``Position``, ``Order``, ``OhlcvBar``, ...) gets no alias.

**Stream information.** An item delivered by a stream carries where it came from:
:attr:`Result.change` (``SNAPSHOT``/``UPSERT``/``REMOVE`` for keyed streams, ``None`` for
latest-value and push streams), :attr:`Result.seq` (the stream's sequence number),
:attr:`Result.cursor` (what a reconnect resumes after) and :attr:`Result.observed_at` (when
the server observed the change). They are not fields: equality, ``dict(r)`` and
``to_dict()`` ignore them, and they are ``None`` on query results.

:class:`ChangeEvent` is a whole event of a keyed stream (``changes=True``): its ``kind``,
its ``items`` and the same stream information.

Helper methods of a generated type live here as ``{TypeName}Helpers`` mixins (the generator
adds the mixin to the type's bases): ``Account.balance(currency)``,
``SystemHealth.counts_by_type()``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

if TYPE_CHECKING:
    from fullon_cache_api.client.models import Balance, ChangeKind, Count

T = TypeVar("T")

__all__ = ["ChangeEvent", "Result", "StreamInfo"]

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """Where a stream item or event came from (all ``None`` when the server sent none)."""

    change: ChangeKind | None = None
    """``SNAPSHOT``, ``UPSERT`` or ``REMOVE`` (keyed streams); ``None`` otherwise."""
    seq: int | None = None
    """The stream's sequence number of the event (``extensions.seq``)."""
    cursor: str | None = None
    """``"<epoch>.<seq>"``: a reconnect resumes after it (``extensions.cursor``)."""
    observed_at: datetime | None = None
    """When the server observed the change (``extensions.observedAt``)."""


NO_INFO = StreamInfo()


def plain(value: Any) -> Any:
    """``value`` with every result turned into a dict and every list copied (deep)."""
    if isinstance(value, Result | ChangeEvent):
        return value.to_dict()
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, StrEnum):
        return str(value)
    return value


class Result(Mapping[str, Any]):
    """Base of every generated result type: a read-only mapping of its fields
    (snake_case keys, in field order) besides the attributes.

    Subclasses are frozen dataclasses; ``ALIASES`` maps an alias to the field it reads.
    """

    __slots__ = ("_stream_info",)

    ALIASES: ClassVar[Mapping[str, str]] = {}

    # -- the mapping ---------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        name = key if key in self._field_names() else self.ALIASES.get(key, _MISSING)
        if name is _MISSING:
            raise KeyError(key)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._field_names())

    def __len__(self) -> int:
        return len(self._field_names())

    def __contains__(self, key: object) -> bool:
        return key in self._field_names() or key in self.ALIASES

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict, nested results and lists of them converted too."""
        return {name: plain(getattr(self, name)) for name in self._field_names()}

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        names: tuple[str, ...] | None = cls.__dict__.get("_names_cache")
        if names is None:
            names = tuple(item.name for item in fields(cls))  # type: ignore[arg-type]
            type.__setattr__(cls, "_names_cache", names)
        return names

    # -- stream information ----------------------------------------------------------------

    @property
    def stream_info(self) -> StreamInfo:
        """Where this item came from, when a stream delivered it (else all ``None``)."""
        info: StreamInfo = getattr(self, "_stream_info", NO_INFO)
        return info

    @property
    def change(self) -> ChangeKind | None:
        """``SNAPSHOT``/``UPSERT``/``REMOVE`` for an item of a keyed stream, else None."""
        return self.stream_info.change

    @property
    def seq(self) -> int | None:
        """The stream's sequence number of the event that carried this item."""
        return self.stream_info.seq

    @property
    def cursor(self) -> str | None:
        """The stream cursor of the event that carried this item."""
        return self.stream_info.cursor

    @property
    def observed_at(self) -> datetime | None:
        """When the server observed the change that carried this item."""
        return self.stream_info.observed_at


def with_info(value: T, info: StreamInfo) -> T:
    """``value`` marked with ``info`` (results only; other values are returned as they
    are). A result is marked once: a second mark returns a copy."""
    if not isinstance(value, Result):
        return value
    if getattr(value, "_stream_info", None) is not None:
        value = _copy(value)
    object.__setattr__(value, "_stream_info", info)
    return value


def _copy(value: T) -> T:
    clone = object.__new__(type(value))
    for item in fields(value):  # type: ignore[arg-type]
        object.__setattr__(clone, item.name, getattr(value, item.name))
    return clone


@dataclass(frozen=True, slots=True)
class ChangeEvent(Generic[T]):
    """One event of a keyed stream (``changes=True``): a SNAPSHOT (replace everything you
    hold), or the items that are new or changed (UPSERT) or gone (REMOVE, in their last
    known version).

    ``event["kind"]``, ``event.get("items")``, ``dict(event)`` and ``event.to_dict()`` work
    as for results; ``event.items`` is the list of items (not a mapping method).
    """

    kind: ChangeKind
    items: list[T] = field(default_factory=list)
    seq: int | None = None
    """The stream's sequence number (``extensions.seq``)."""
    cursor: str | None = None
    """``"<epoch>.<seq>"``: a reconnect resumes after it."""
    observed_at: datetime | None = None
    """When the server observed the change."""

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.keys() else default

    def keys(self) -> tuple[str, ...]:
        return ("kind", "items", "seq", "cursor", "observed_at")

    def to_dict(self) -> dict[str, Any]:
        return {key: plain(getattr(self, key)) for key in self.keys()}

    @property
    def info(self) -> StreamInfo:
        """The event's stream information."""
        return StreamInfo(self.kind, self.seq, self.cursor, self.observed_at)


# --------------------------------------------------------------------------- helpers


class AccountHelpers:
    """Methods of :class:`~fullon_cache_api.client.models.Account`."""

    __slots__ = ()

    if TYPE_CHECKING:  # the generated dataclass has the field
        balances: list[Balance]

    def balance(self, currency: str) -> Balance | None:
        """The balance of ``currency``, or None."""
        return next((item for item in self.balances if item.currency == currency), None)


class SystemHealthHelpers:
    """Methods of :class:`~fullon_cache_api.client.models.SystemHealth`."""

    __slots__ = ()

    if TYPE_CHECKING:  # the generated dataclass has the fields
        by_type: list[Count]
        by_status: list[Count]

    def counts_by_type(self) -> dict[str, int]:
        """``by_type`` as a dict."""
        return {item.key: item.count for item in self.by_type}

    def counts_by_status(self) -> dict[str, int]:
        """``by_status`` as a dict."""
        return {item.key: item.count for item in self.by_status}
