"""Execute once, deliver to many.

Subscriptions with the same document, variables, operation name and scope form a group. A
group has one source stream — the one the subscription resolver returns, obtained through
graphql-core's ``create_source_event_stream`` — and executes the selection once per event;
the result is serialised once and the same text is queued for every member, each on its
connection's :class:`~fullon_cache_api.server.outbox.Outbox` (the transport only frames it).

A member joining a running group gets a snapshot consistent with what the group has
delivered so far, or, when it resumes from a cursor (``extensions.resumeAfter`` of its
subscribe payload) the group can still replay, the events it missed.

Every payload says where it stands in its stream: ``extensions.seq`` (the topic's event
number), ``extensions.cursor`` (``epoch.seq``, what a client passes back to resume) and
``extensions.observedAt`` (when the server saw the change). Items the topic could not
decode arrive as ``CORRUPT_DATA`` errors next to the data; a stream that cannot refresh
sends ``data: null`` with a coded error (``CACHE_UNAVAILABLE``, ...) and, once it reads
again, a SNAPSHOT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from graphql import ExecutionResult, FieldNode, create_source_event_stream
from graphql.execution import Executor as GraphQLExecutor

from fullon_cache_api.context import RequestContext, problem_path
from fullon_cache_api.errors import ErrorCode, error_dict
from fullon_cache_api.server.execution import (
    Executor,
    PreparedOperation,
    RequestError,
    dumps,
    response,
)
from fullon_cache_api.server.outbox import Delivery, Lane, Renderer
from fullon_cache_api.subscriptions.events import StreamKind
from fullon_cache_api.subscriptions.stream import TopicStream
from fullon_cache_api.subscriptions.topics import TopicEvent

log = logging.getLogger("fullon.api.cache.delivery")


class Sink(Protocol):
    """Where a group queues a member's events: a connection's outbox, and the member's
    lane in it."""

    def bind(self, lane: Lane, kind: StreamKind, renderer: Renderer) -> None: ...

    def deliver(self, lane: Lane, delivery: Delivery) -> None: ...


class Member:
    __slots__ = ("done", "lane", "seen_seq", "sink")

    def __init__(self, sink: Sink, lane: Lane) -> None:
        self.sink = sink
        self.lane = lane
        self.seen_seq = 0  # events up to this one were queued for it already
        # Resolved when the group's stream ends (a future, not an Event: 100 bytes, not 700).
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def end(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


def parse_cursor(value: Any) -> tuple[str, int] | None:
    """``"epoch.seq"`` → ``(epoch, seq)``; anything else is ignored (``None``)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    epoch, sep, seq = value.rpartition(".")
    if not sep or not epoch or not seq.isdigit():
        return None
    return epoch, int(seq)


def _observed(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


class Group:
    __slots__ = (
        "_open_waiters",
        "_opening",
        "_task",
        "closed",
        "context",
        "deliveries",
        "events",
        "executor",
        "field",
        "item_key",
        "key",
        "kind",
        "members",
        "opened",
        "pending",
        "prepared",
        "response_name",
        "source",
        "variables",
    )

    def __init__(
        self,
        key: Hashable,
        prepared: PreparedOperation,
        variables: Any,
        executor: Executor,
        context: RequestContext,
    ) -> None:
        self.key = key
        self.prepared = prepared
        self.variables = variables
        self.executor = executor
        self.context = context
        self.members: set[Member] = set()
        self.source: TopicStream | None = None
        self.kind = StreamKind.VALUE
        self.item_key: Any = None
        self.opened: asyncio.Future[list[dict[str, Any]] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.opened.add_done_callback(self._release_waiters)
        self._open_waiters: list[asyncio.Future[None]] = []
        self.events = 0
        self.deliveries = 0  # events queued for members
        self.pending = 0  # subscribers waiting for ``opened``
        selection = prepared.operation.selection_set.selections[0]
        node = selection if isinstance(selection, FieldNode) else None
        self.field = node.name.value if node is not None else "unknown"
        self.response_name = (node.alias or node.name).value if node is not None else "unknown"
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._opening: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Open in a task of the group's own: the subscriber that created the group may
        complete (or disconnect) while others wait for the same group to open."""
        self._opening = asyncio.create_task(self.open(), name="group-open")

    async def wait_opened(self) -> list[dict[str, Any]] | None:
        """``opened``'s outcome; cancelling the caller leaves the opening alone (like
        ``asyncio.shield``, with one future per waiter)."""
        opened = self.opened
        if not opened.done():
            waiter = asyncio.get_running_loop().create_future()
            self._open_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._open_waiters:
                    self._open_waiters.remove(waiter)
        return opened.result()

    def _release_waiters(self, _opened: asyncio.Future[Any]) -> None:
        waiters, self._open_waiters = self._open_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    @property
    def idle(self) -> bool:
        """No member and nobody waiting to join: the group can be closed."""
        return not self.members and not self.pending

    async def open(self) -> None:
        """Create the source stream and wait for its first state; errors go to ``opened``."""
        stream: TopicStream | None = None
        try:
            built = GraphQLExecutor.build(
                self.executor.graphql_schema,
                self.prepared.document,
                context_value=self.context,
                raw_variable_values=self.variables,
                operation_name=self.prepared.operation_name,
                hide_suggestions=self.executor.hide_suggestions,
            )
            if isinstance(built, list):  # the variables do not fit the document
                self.opened.set_result(_errors(ExecutionResult(None, errors=built), self.context))
                return
            source = create_source_event_stream(built)
            # Not kept while the stream waits for its first state (with 2,000 groups
            # opening at once, their execution contexts add up).
            del built
            if asyncio.iscoroutine(source):
                source = await source
            if isinstance(source, ExecutionResult):
                self.opened.set_result(_errors(source, self.context))
                return
            if not isinstance(source, TopicStream):
                raise TypeError("the subscription resolver did not open a TopicStream")
            stream = source
            stream.emit_snapshot = False
            await stream.ready()
        except BaseException as exc:
            # Cancelled (the group closed while opening) or failed: nothing may stay
            # attached to the topic.
            if stream is not None:
                await stream.aclose()
            if not self.opened.done():
                if isinstance(exc, Exception):
                    self.opened.set_exception(exc)
                else:
                    self.opened.cancel()
            if isinstance(exc, Exception):
                return
            raise
        self.source = stream
        self.kind = stream.kind
        self.item_key = stream.spec.item_key
        self._opening = None  # done: nothing to cancel any more
        # No task while idle: the stream calls ``_wake_pump`` when events arrive.
        stream.waker = self._wake_pump
        self.opened.set_result(None)
        if stream.has_ready:  # arrived while opening
            self._wake_pump()

    def join(self, member: Member, resume: tuple[str, int] | None) -> None:
        """Queue the new member's first events — the missed events when it resumes from a
        cursor this group can still replay, else a snapshot — then make it a member, with
        no await in between: it gets everything the group delivers after that."""
        source = self.source
        assert source is not None
        member.sink.bind(member.lane, self.kind, self)
        missed = source.events_since(resume[1]) if resume and resume[0] == source.epoch else None
        if missed is not None:
            for event in missed:
                member.sink.deliver(member.lane, Delivery(event))
        elif self.kind is StreamKind.PUSH:
            if resume is not None:  # no state to send instead: say what was lost
                lost = TopicEvent(source.seq, 0.0, None)
                error = error_dict(
                    "the messages since this cursor can no longer be replayed",
                    ErrorCode.REPLAY_UNAVAILABLE,
                )
                payload = self._payload(None, [self._at_root(error)], lost)
                member.sink.deliver(member.lane, Delivery(lost, payload))
        else:
            snapshot = source.snapshot_event()
            assert snapshot is not None
            member.sink.deliver(member.lane, Delivery(snapshot))
        member.seen_seq = source.seq
        self.members.add(member)

    def leave(self, member: Member) -> bool:
        """Remove a member; True when the group is now idle."""
        self.members.discard(member)
        return self.idle

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        opening, self._opening = self._opening, None
        if opening is not None and not opening.done():
            opening.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await opening
        if not self.opened.done():
            self.opened.cancel()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.source is not None:
            await self.source.aclose()
        for member in list(self.members):
            member.end()

    # -- rendering -----------------------------------------------------------------------

    async def render(self, event: TopicEvent) -> str | None:
        """The payload JSON of one event: executed (once for all members, or for one
        member's snapshot or merged changes) with the document's compiled plan (else
        graphql-core), with its errors and its position."""
        if not event.known:
            assert event.error is not None
            return self._payload(None, [self._at_root(event.error.to_dict())], event)
        variables = self.variables
        body = self.executor.execute_event(self.prepared, event.change, variables, self.context)
        errors = body.get("errors") or []
        for problem in event.problems:
            error = self._at_root(error_dict(problem.describe(), ErrorCode.CORRUPT_DATA))
            error["path"] = problem_path(problem, error["path"])
            errors.append(error)
        if event.error is not None:
            errors.append(self._at_root(event.error.to_dict()))
        return self._payload(body.get("data"), errors, event)

    def _at_root(self, error: dict[str, Any]) -> dict[str, Any]:
        return {**error, "path": [self.response_name]}

    def _payload(self, data: Any, errors: list[dict[str, Any]], event: TopicEvent) -> str:
        source = self.source
        epoch = source.epoch if source is not None else ""
        payload: dict[str, Any] = {}
        if errors:
            payload["errors"] = errors
        payload["data"] = data
        payload["extensions"] = {
            "seq": event.seq,
            "cursor": f"{epoch}.{event.seq}",
            "observedAt": _observed(event.observed_at) if event.observed_at else None,
        }
        return dumps(payload).decode()

    def _wake_pump(self) -> None:
        """Events arrived (or the stream closed): start the pump unless it runs."""
        if self._task is None and not self.closed:
            self._task = asyncio.create_task(self._pump(), name=f"group-{self.field}")

    async def _pump(self) -> None:
        """Execute and queue what the stream has ready, then end (an idle group holds no
        task); members end when the stream does."""
        try:
            await self._drain()
        finally:
            self._task = None

    async def _drain(self) -> None:
        source = self.source
        assert source is not None
        while True:
            try:
                event = await source.take_ready()
            except StopAsyncIteration:
                for member in list(self.members):
                    member.end()
                return
            if event is None:
                return
            self.events += 1
            try:
                payload = await self.render(event)
            except Exception:
                log.exception("subscription event failed to execute")
                continue
            if payload is None:
                continue
            delivery = Delivery(event, payload)
            for member in list(self.members):
                if member.seen_seq < event.seq:
                    member.sink.deliver(member.lane, delivery)
                    self.deliveries += 1


def _errors(result: ExecutionResult, context: RequestContext) -> list[dict[str, Any]]:
    return response(result, context).get("errors") or []


class DeliveryRunner:
    """Runs every subscription: shared groups, one execution per event."""

    def __init__(self, executor: Executor, context_factory: Any) -> None:
        self.executor = executor
        self.context_factory = context_factory
        self.groups: dict[Hashable, Group] = {}
        self.closed_superseded = 0  # events folded by the streams of groups now closed
        self.closed_deliveries = 0

    async def run(
        self,
        sink: Sink,
        lane: Lane,
        prepared: PreparedOperation,
        variables: Any,
        *,
        scopes: frozenset[str],
        scope_key: str,
        resume: tuple[str, int] | None = None,
    ) -> None:
        """Deliver one subscription to ``sink`` until its stream ends (or this task is
        cancelled); ``RequestError`` when it cannot start."""
        group = self._group(prepared, variables, scopes, scope_key)
        member = Member(sink, lane)
        group.pending += 1
        try:
            try:
                errors = await group.wait_opened()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._forget(group)  # the next subscriber tries again with a new group
                raise
            finally:
                group.pending -= 1
            if errors is not None:
                self._forget(group)
                raise RequestError(errors)
            if group.closed:
                return  # closed (server shutdown) between opening and joining
            group.join(member, resume)
            await member.done
        finally:
            # Also when cancelled while the group was opening: the last one out closes it.
            if group.leave(member):
                self._forget(group)
                await self._close(group)

    def _group(
        self,
        prepared: PreparedOperation,
        variables: Any,
        scopes: frozenset[str],
        scope_key: str,
    ) -> Group:
        """The group of this subscription, started if new. (A function of its own: the
        key and the variables are not kept alive by a subscriber's waiting frame.)"""
        variables = prepared.variables_with(variables)
        key = (
            id(prepared.document),
            prepared.operation_name,
            # Text: orjson's bytes keep a 4 KB buffer, however short the JSON.
            orjson.dumps(variables, option=orjson.OPT_SORT_KEYS).decode() if variables else "",
            scope_key,
        )
        group = self.groups.get(key)
        if group is None:
            context = self.context_factory(scopes)
            group = Group(key, prepared, variables or None, self.executor, context)
            self.groups[key] = group
            group.start()
        return group

    def _forget(self, group: Group) -> None:
        if self.groups.get(group.key) is group:
            del self.groups[group.key]

    async def close(self) -> None:
        groups = list(self.groups.values())
        self.groups.clear()
        for group in groups:
            await self._close(group)

    async def _close(self, group: Group) -> None:
        await group.close()
        self.closed_deliveries += group.deliveries
        if group.source is not None:
            self.closed_superseded += group.source.superseded

    @property
    def member_count(self) -> int:
        return sum(len(group.members) for group in self.groups.values())

    def stats(self) -> dict[str, Any]:
        """Groups, members per root field, and events folded before execution."""
        by_field: dict[str, int] = {}
        for group in self.groups.values():
            by_field[group.field] = by_field.get(group.field, 0) + len(group.members)
        superseded = self.closed_superseded + sum(
            group.source.superseded for group in self.groups.values() if group.source
        )
        deliveries = self.closed_deliveries + sum(g.deliveries for g in self.groups.values())
        return {
            "groups": len(self.groups),
            "members": by_field,
            "superseded": superseded,
            "deliveries": deliveries,
        }


__all__ = ["DeliveryRunner", "Group", "Member", "Sink", "parse_cursor"]
