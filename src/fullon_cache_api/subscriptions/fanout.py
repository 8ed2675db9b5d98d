"""Execute once, fan out to many.

Subscriptions with the same document, variables, operation name and auth scope form a
group. A group has one source stream and executes the GraphQL selection once per event;
the result is serialised once and the same text is sent to every member — only the
envelope with the member's id differs. A member joining a running group gets a snapshot
consistent with what the group has delivered so far.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import orjson
from graphql import ExecutionResult, create_source_event_stream, execute
from graphql.execution import Executor as GraphQLExecutor

from fullon_cache_api.server.execution import PreparedOperation, RequestError, dumps, response
from fullon_cache_api.subscriptions.stream import NO_SNAPSHOT, TopicStream

if TYPE_CHECKING:
    from fullon_cache_api.server.services import Services
    from fullon_cache_api.server.ws_connection import GraphQLWebSocket

log = logging.getLogger("fullon.api.cache.fanout")


class Member:
    __slots__ = ("connection", "done", "id_json", "joined_seq")

    def __init__(self, connection: GraphQLWebSocket, id_json: str, joined_seq: int) -> None:
        self.connection = connection
        self.id_json = id_json
        self.joined_seq = joined_seq
        self.done = asyncio.Event()


class Group:
    def __init__(
        self, key: Hashable, prepared: PreparedOperation, variables: Any, services: Services
    ) -> None:
        self.key = key
        self.prepared = prepared
        self.variables = variables
        self.services = services
        self.context = services.context()
        self.members: set[Member] = set()
        self.source: TopicStream | None = None
        self.opened: asyncio.Future[list[dict[str, Any]] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.seq = 0
        self.latest_value = False
        self.events = 0
        self.pending = 0  # subscribers waiting for ``opened``
        selection = prepared.operation.selection_set.selections[0]
        self.field = getattr(getattr(selection, "name", None), "value", "unknown")
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._opening: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Open in a task of the group's own: the subscriber that created the group may
        complete (or disconnect) while others wait for the same group to open."""
        self._opening = asyncio.create_task(self.open(), name=f"fanout-open-{self.key!r:.60}")

    @property
    def idle(self) -> bool:
        """No member and nobody waiting to join: the group can be closed."""
        return not self.members and not self.pending

    async def open(self) -> None:
        """Create the source stream and wait for its first state; errors go to ``opened``."""
        stream: TopicStream | None = None
        try:
            # graphql-core resolves the root field (arguments, validation in the resolver);
            # the resolver leaves its TopicStream in the context. graphql-core's own mapping
            # iterator is never used: the group executes each event itself.
            executor = GraphQLExecutor.build(
                self.services.executor.graphql_schema,
                self.prepared.document,
                context_value=self.context,
                raw_variable_values=self.variables,
                operation_name=self.prepared.operation_name,
            )
            if isinstance(executor, list):  # variable coercion failed
                result: Any = ExecutionResult(None, errors=executor)
            else:
                result = create_source_event_stream(executor)
                if inspect.isawaitable(result):
                    result = await result
            if isinstance(result, ExecutionResult):
                errors = response(result, self.context).get("errors") or []
                self.opened.set_result(errors)
                return
            stream = result
            if not isinstance(stream, TopicStream):
                raise TypeError("the subscription resolver did not open a TopicStream")
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
        self.latest_value = not stream.spec.keyed and not stream.spec.stateless
        self._task = asyncio.create_task(self._pump(), name=f"fanout-{self.key!r:.60}")
        self.opened.set_result(None)

    def join(self, member: Member) -> None:
        """Send the snapshot to the new member, then make it a member (no await between)."""
        assert self.source is not None
        snapshot = self.source.snapshot_event()
        if snapshot is not NO_SNAPSHOT:
            payload = self._execute_sync(snapshot)
            if payload is not None:
                member.connection.send_event(member.id_json, payload, coalesce=False)
        member.joined_seq = self.seq
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
            self.services.metrics.totals.closed_coalesced += self.source.superseded
            await self.source.aclose()
        for member in list(self.members):
            member.done.set()

    def _execute_sync(self, event: Any) -> str | None:
        result = execute(
            self.services.executor.graphql_schema,
            self.prepared.document,
            root_value=event,
            context_value=self.context,
            variable_values=self.variables,
            operation_name=self.prepared.operation_name,
        )
        if not isinstance(result, ExecutionResult):
            # Payload types resolve synchronously; an awaitable here is a schema change.
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise TypeError("subscription payload resolved asynchronously")
        return dumps(response(result, self.context)).decode()

    async def _pump(self) -> None:
        totals = self.services.metrics.totals
        assert self.source is not None
        async for event in self.source:
            self.seq += 1
            self.events += 1
            try:
                payload = self._execute_sync(event)
            except Exception:
                log.exception("subscription event failed to execute")
                continue
            if payload is None:
                continue
            seq = self.seq
            coalesce = self.latest_value
            delivered = 0
            for member in list(self.members):
                if member.joined_seq < seq:
                    member.connection.send_event(member.id_json, payload, coalesce=coalesce)
                    delivered += 1
            totals.deliveries += delivered
        for member in list(self.members):
            member.done.set()


class FanoutRunner:
    """The production subscription runner: shared groups, one execution per event."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.groups: dict[Hashable, Group] = {}

    async def run(
        self,
        connection: GraphQLWebSocket,
        id_json: str,
        prepared: PreparedOperation,
        variables: Any,
    ) -> None:
        key = (
            id(prepared.document),
            prepared.operation_name,
            orjson.dumps(variables, option=orjson.OPT_SORT_KEYS) if variables else b"",
            connection.scope_key,
        )
        group = self.groups.get(key)
        if group is None:
            group = Group(key, prepared, variables or None, self.services)
            self.groups[key] = group
            group.start()
        member = Member(connection, id_json, 0)
        group.pending += 1
        try:
            try:
                errors = await asyncio.shield(group.opened)
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
            group.join(member)
            await member.done.wait()
        finally:
            # Also when cancelled while the group was opening: the last one out closes it.
            if group.leave(member):
                self._forget(group)
                await group.close()

    def _forget(self, group: Group) -> None:
        if self.groups.get(group.key) is group:
            del self.groups[group.key]

    async def close(self) -> None:
        groups = list(self.groups.values())
        self.groups.clear()
        for group in groups:
            await group.close()

    @property
    def member_count(self) -> int:
        return sum(len(group.members) for group in self.groups.values())
