"""What a stream hands a consumer that is behind, by the stream's kind: a VALUE stream only
the newest value not yet taken; a KEYED stream its queued changes merged by key (the newest
change of a key wins, a SNAPSHOT replaces what came before); an event taken in time passes
through as it is. The outbox applies the same rule (``ChangeSet``) to a slow reader."""

from __future__ import annotations

from typing import Any

from fullon_cache_api.subscriptions.events import ChangeEvent, ChangeKind, ChangeSet, StreamKind
from fullon_cache_api.subscriptions.stream import TopicStream
from fullon_cache_api.subscriptions.topics import TopicEvent, TopicSpec


async def _load(_cache: Any) -> None:
    return None


def _attached(spec: TopicSpec) -> TopicStream:
    stream = TopicStream(hub=None, spec=spec)  # type: ignore[arg-type]
    stream.topic = object()  # type: ignore[assignment]  # attached: no hub needed
    stream.emit_snapshot = False
    return stream


def _keyed() -> TopicStream:
    spec = TopicSpec(
        key="k", kind=StreamKind.KEYED, domain="bots", load=_load, item_key=lambda item: item["id"]
    )
    return _attached(spec)


class Events:
    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, change: Any) -> TopicEvent:
        self.seq += 1
        return TopicEvent(self.seq, 1.0, change)


def changes(event: TopicEvent) -> tuple[ChangeKind, list[Any]]:
    return event.change.kind, event.change.items


async def test_latest_value_stream_supersedes_untaken_values() -> None:
    stream = _attached(TopicSpec(key="t", kind=StreamKind.VALUE, domain="tickers", load=_load))
    event = Events()
    for price in (1.0, 2.0, 3.0):
        stream.deliver(event({"price": price}))
    taken = await stream.__anext__()
    assert (taken.change, taken.seq) == ({"price": 3.0}, 3)
    assert stream.superseded == 2
    stream.deliver(event({"price": 4.0}))
    assert (await stream.__anext__()).change == {"price": 4.0}
    snapshot = stream.snapshot_event()
    assert snapshot is not None and (snapshot.change, snapshot.seq) == ({"price": 4.0}, 4)


async def test_keyed_events_taken_in_time_pass_through() -> None:
    stream = _keyed()
    event = Events()
    stream.deliver(event(ChangeEvent(ChangeKind.UPSERT, [{"id": "a"}])))
    assert changes(await stream.__anext__()) == (ChangeKind.UPSERT, [{"id": "a"}])
    stream.deliver(event(ChangeEvent(ChangeKind.REMOVE, [{"id": "a"}])))
    assert changes(await stream.__anext__()) == (ChangeKind.REMOVE, [{"id": "a"}])
    assert stream.superseded == 0


async def test_a_keyed_backlog_is_merged_by_key() -> None:
    stream = _keyed()
    event = Events()
    stream.deliver(event(ChangeEvent(ChangeKind.UPSERT, [{"id": "a", "v": 1}, {"id": "c"}])))
    stream.deliver(event(ChangeEvent(ChangeKind.UPSERT, [{"id": "a", "v": 2}, {"id": "b"}])))
    stream.deliver(event(ChangeEvent(ChangeKind.REMOVE, [{"id": "c"}])))
    first = await stream.__anext__()
    second = await stream.__anext__()
    # The REMOVE after the UPSERT of "c" wins; "a" is sent once, in its newest version.
    assert changes(first) == (ChangeKind.REMOVE, [{"id": "c"}])
    assert changes(second) == (ChangeKind.UPSERT, [{"id": "a", "v": 2}, {"id": "b"}])
    assert first.seq == second.seq == 3
    assert stream.superseded == 1
    snapshot = stream.snapshot_event()
    assert snapshot is not None
    assert changes(snapshot) == (ChangeKind.SNAPSHOT, [{"id": "a", "v": 2}, {"id": "b"}])


async def test_a_snapshot_in_a_keyed_backlog_replaces_what_came_before() -> None:
    stream = _keyed()
    event = Events()
    stream.deliver(event(ChangeEvent(ChangeKind.UPSERT, [{"id": "a"}])))
    stream.deliver(event(ChangeEvent(ChangeKind.SNAPSHOT, [{"id": "b"}])))
    stream.deliver(event(ChangeEvent(ChangeKind.UPSERT, [{"id": "c"}])))
    merged = await stream.__anext__()
    assert changes(merged) == (ChangeKind.SNAPSHOT, [{"id": "b"}, {"id": "c"}])
    assert stream.superseded == 2


def test_change_set_rule() -> None:
    merged: ChangeSet[dict[str, str]] = ChangeSet(lambda item: item["id"])
    merged.add(ChangeEvent(ChangeKind.REMOVE, [{"id": "a"}]))
    merged.add(ChangeEvent(ChangeKind.UPSERT, [{"id": "a"}, {"id": "b"}]))
    merged.add(ChangeEvent(ChangeKind.REMOVE, [{"id": "b"}]))
    assert [(e.kind, e.items) for e in merged.events()] == [
        (ChangeKind.REMOVE, [{"id": "b"}]),
        (ChangeKind.UPSERT, [{"id": "a"}]),
    ]
