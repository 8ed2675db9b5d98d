"""A latest-value stream hands its consumer only the newest value it has not taken yet;
keyed streams keep every event."""

from __future__ import annotations

from typing import Any

from fullon_cache_api.subscriptions.events import ChangeEvent, ChangeKind, StreamKind
from fullon_cache_api.subscriptions.stream import TopicStream
from fullon_cache_api.subscriptions.topics import TopicSpec


async def _load(_cache: Any) -> None:
    return None


def _attached(spec: TopicSpec) -> TopicStream:
    stream = TopicStream(hub=None, spec=spec)  # type: ignore[arg-type]
    stream.topic = object()  # type: ignore[assignment]  # attached: no hub needed
    stream.emit_snapshot = False
    return stream


async def test_latest_value_stream_supersedes_untaken_values() -> None:
    stream = _attached(TopicSpec(key="t", kind=StreamKind.VALUE, domain="tickers", load=_load))
    for price in (1.0, 2.0, 3.0):
        stream.deliver({"price": price})
    assert await stream.__anext__() == {"price": 3.0}
    assert stream.superseded == 2
    stream.deliver({"price": 4.0})
    assert await stream.__anext__() == {"price": 4.0}
    assert stream.snapshot_event() == {"price": 4.0}


async def test_keyed_stream_keeps_every_event() -> None:
    spec = TopicSpec(
        key="k", kind=StreamKind.KEYED, domain="bots", load=_load, item_key=lambda item: item["id"]
    )
    stream = _attached(spec)
    stream.deliver(ChangeEvent(ChangeKind.UPSERT, [{"id": "a"}]))
    stream.deliver(ChangeEvent(ChangeKind.REMOVE, [{"id": "a"}]))
    first = await stream.__anext__()
    second = await stream.__anext__()
    assert (first.kind, second.kind) == (ChangeKind.UPSERT, ChangeKind.REMOVE)
    assert stream.superseded == 0
