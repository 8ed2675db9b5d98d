"""How an outbox hands frames to its transport: straight away when nothing waits, one write
per connection and turn of the event loop; through the writer, in order, otherwise.

A real :class:`Outbox` and a writer loop like the WebSocket handler's; the transport is a
recorder whose ``write_now`` can refuse (a full buffer) or fail (a closed socket).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from fullon_cache_api.server import wire
from fullon_cache_api.server.outbox import Delivery, Outbox, OutboxLimits
from fullon_cache_api.server.socket import SocketClosed
from fullon_cache_api.subscriptions.events import StreamKind
from fullon_cache_api.subscriptions.topics import TopicEvent


class Transport:
    def __init__(self) -> None:
        self.now: list[list[str]] = []  # batches written straight away
        self.sent: list[list[str]] = []  # batches the writer sent
        self.accept_now = True
        self.closed = False
        self.drained = asyncio.Event()  # what ``send`` waits for (a full buffer draining)
        self.drained.set()

    def write_now(self, frames: list[str]) -> bool:
        if self.closed or not self.accept_now:
            return False
        self.now.append(list(frames))
        return True

    async def send(self, frames: list[str]) -> None:
        await self.drained.wait()
        if self.closed:
            raise SocketClosed
        self.sent.append(list(frames))

    def messages(self) -> list[dict[str, Any]]:
        """Everything written, in order (both ways interleave only as the test orders)."""
        return [json.loads(frame) for batch in self.now + self.sent for frame in batch]


class Renderer:
    item_key = None

    async def render(self, event: TopicEvent) -> str | None:
        return json.dumps({"data": {"rendered": event.seq}})


async def writer(outbox: Outbox, transport: Transport) -> tuple[int, str] | None:
    """The WebSocket handler's write loop, minus the socket."""
    while True:
        batch = await outbox.next_batch()
        try:
            if batch.frames:
                await outbox.send(transport.send, batch.frames)
        except SocketClosed:
            return None
        if batch.close is not None:
            return batch.close


async def turns(count: int = 3) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


@pytest.fixture
async def setup() -> Any:
    transport = Transport()
    outbox = Outbox(wire.TRANSPORT, OutboxLimits(), write_now=transport.write_now)
    task = asyncio.create_task(writer(outbox, transport))
    await turns()  # the writer parks
    yield outbox, transport, task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def subscription(outbox: Outbox, op_id: str) -> Any:
    lane = outbox.open(wire.encode_id(op_id))
    outbox.bind(lane, StreamKind.VALUE, Renderer())
    return lane


def event(seq: int) -> Delivery:
    return Delivery(TopicEvent(seq, 1.0, {"n": seq}), json.dumps({"data": {"n": seq}}))


async def test_one_write_for_every_member_due_in_one_turn(setup: Any) -> None:
    outbox, transport, _ = setup
    lanes = [subscription(outbox, str(n)) for n in range(3)]
    delivery = event(1)
    for lane in lanes:
        outbox.deliver(lane, delivery)
    await turns()
    assert len(transport.now) == 1 and not transport.sent
    assert [message["id"] for message in transport.messages()] == ["0", "1", "2"]
    outbox.deliver(lanes[1], event(2))
    await turns()
    assert len(transport.now) == 2 and transport.messages()[-1]["payload"] == {"data": {"n": 2}}


async def test_a_query_result_leaves_with_its_complete_in_one_write(setup: Any) -> None:
    outbox, transport, _ = setup
    lane = outbox.open(wire.encode_id("q"))
    outbox.result(lane, '{"data":{"x":1}}')
    outbox.result(lane, '{"data":{"x":2}}')  # a finished operation takes nothing more
    await turns()
    assert transport.now == [
        ['{"id":"q","type":"next","payload":{"data":{"x":1}}}', '{"id":"q","type":"complete"}']
    ]


async def test_a_full_transport_hands_the_frames_to_the_writer_in_order(setup: Any) -> None:
    outbox, transport, _ = setup
    transport.accept_now = False  # the buffer is full: the writer waits for it to drain
    transport.drained.clear()
    first, second = subscription(outbox, "a"), subscription(outbox, "b")
    outbox.deliver(first, event(1))
    outbox.deliver(second, event(1))
    await turns()
    assert outbox.stalled_for() > 0  # the writer is sending them
    # Meanwhile: queued, and coalesced as usual; control frames go first.
    outbox.deliver(first, event(2))
    outbox.deliver(first, event(3))
    outbox.control(wire.TRANSPORT.pong_message())
    transport.drained.set()
    await turns()
    assert not transport.now
    assert [(m.get("id"), m["type"]) for m in transport.messages()] == [
        ("a", "next"),
        ("b", "next"),
        (None, "pong"),
        ("a", "next"),
    ]
    assert transport.messages()[-1]["payload"] == {"data": {"n": 3}}
    assert outbox.coalesced == 1


async def test_frames_written_straight_away_go_before_a_later_control_frame(setup: Any) -> None:
    outbox, transport, _ = setup
    lane = subscription(outbox, "a")
    outbox.deliver(lane, event(1))
    outbox.control(wire.TRANSPORT.pong_message())  # wakes the writer in the same turn
    await turns()
    assert [m["type"] for m in transport.messages()] == ["next", "pong"]


async def test_an_event_to_render_takes_the_queue(setup: Any) -> None:
    outbox, transport, _ = setup
    lane = subscription(outbox, "a")
    outbox.deliver(lane, Delivery(TopicEvent(7, 1.0, {"n": 7})))  # no shared payload
    await turns()
    assert not transport.now
    assert transport.messages() == [
        {"id": "a", "type": "next", "payload": {"data": {"rendered": 7}}}
    ]


async def test_close_goes_after_what_was_written_straight_away(setup: Any) -> None:
    outbox, transport, task = setup
    lane = subscription(outbox, "a")
    outbox.deliver(lane, event(1))
    outbox.close(1001, "going away")
    outbox.deliver(lane, event(2))  # after the close: dropped
    assert await asyncio.wait_for(task, 2) == (1001, "going away")
    assert [m["payload"] for m in transport.messages()] == [{"data": {"n": 1}}]


async def test_a_closed_socket_ends_the_writer(setup: Any) -> None:
    outbox, transport, task = setup
    transport.closed = True
    outbox.deliver(subscription(outbox, "a"), event(1))
    assert await asyncio.wait_for(task, 2) is None
