"""Operations (scope ``ops``): bots, blocks, opening positions, processes, health."""

from __future__ import annotations

from typing import Annotated

import strawberry

from fullon_cache_api.auth import OPS
from fullon_cache_api.cache.records import (
    BotRecord,
    CacheHealthRecord,
    ComponentStatusRecord,
    ExchangeBlockRecord,
    OpeningPositionRecord,
    ProcessMetricsRecord,
    ProcessRecord,
    SystemHealthRecord,
)
from fullon_cache_api.resolvers import arguments as args
from fullon_cache_api.resolvers.arguments import (
    BotId,
    Component,
    ExId,
    Info,
    ProcessType,
    SinceMinutes,
    Symbol,
)
from fullon_cache_api.resolvers.fields import Client, query

ProcessId = Annotated[str, strawberry.argument(description="`{type}:{component}:{epoch}`.")]
ComponentName = Annotated[str, strawberry.argument(description="e.g. `kraken:BTC/USD`.")]


@query(scope=OPS, client=Client("get_bots"))
async def bots(info: Info) -> list[BotRecord]:
    """Every bot's status document (`HGETALL bot_status`)."""
    listing = await info.context.cache.bots.all()
    return info.context.items(listing, info.path.as_list())


@query(scope=OPS, client=Client("get_bot"))
async def bot(info: Info, bot_id: BotId) -> BotRecord | None:
    """One bot's status document (`HGET bot_status {botId}`)."""
    return await info.context.cache.bots.get(args.identifier(bot_id, "botId"))


@query(scope=OPS, client=Client("get_blocks"))
async def blocks(info: Info) -> list[ExchangeBlockRecord]:
    """Symbols blocked by bots (`HGETALL block_exchange`: field `{ex_id}:{symbol}`, value the
    bot id)."""
    listing = await info.context.cache.blocks.all()
    return info.context.items(listing, info.path.as_list())


@query(scope=OPS, client=Client("is_blocked"))
async def is_blocked(info: Info, ex_id: ExId, symbol: Symbol) -> str | None:
    """The id of the bot blocking a symbol, or null (`HGET block_exchange {exId}:{symbol}`)."""
    return await info.context.cache.blocks.blocking_bot(
        args.identifier(ex_id, "exId"), args.symbol(symbol)
    )


@query(scope=OPS, client=Client("get_opening_positions"))
async def opening_positions(info: Info) -> list[OpeningPositionRecord]:
    """Positions bots are opening (`HGETALL opening_position`: field `{ex_id}:{symbol}`,
    value `"{bot_id}:{ISO time}"`)."""
    listing = await info.context.cache.opening_positions.all()
    return info.context.items(listing, info.path.as_list())


@query(scope=OPS, client=Client("is_opening_position"))
async def is_opening_position(info: Info, ex_id: ExId, symbol: Symbol) -> bool:
    """Whether a bot is opening a position on a symbol (`HEXISTS opening_position
    {exId}:{symbol}`)."""
    return await info.context.cache.opening_positions.exists(
        args.identifier(ex_id, "exId"), args.symbol(symbol)
    )


@query(scope=OPS, client=Client("get_process"))
async def process(info: Info, process_id: ProcessId) -> ProcessRecord | None:
    """One process by id (`GET process:data:{processId}` and `HGET process:active:{type}
    {processId}`, pipelined)."""
    return await info.context.cache.processes.get(args.free_text(process_id, "processId"))


@query(scope=OPS, client=Client("get_active_processes"))
async def active_processes(
    info: Info,
    type: ProcessType = None,
    component: Component = None,
    since_minutes: SinceMinutes = 5,
) -> list[ProcessRecord]:
    """Processes active within `sinceMinutes`, newest update first (`SCAN process:active:*`
    or that type's hash, `HGETALL` each, `MGET process:data:*`); ids whose data expired are
    skipped."""
    listing = await info.context.cache.processes.active(
        args.identifier(type, "type") if type is not None else None,
        args.free_text(component, "component") if component is not None else None,
        args.positive_minutes(since_minutes),
    )
    return info.context.items(listing, info.path.as_list())


@query(scope=OPS, client=Client("get_component_status"))
async def component_status(info: Info, component: ComponentName) -> ComponentStatusRecord | None:
    """The latest process registered for a component (`HGET process:components
    {component}`, then as `process`)."""
    return await info.context.cache.processes.component_status(
        args.free_text(component, "component")
    )


@query(scope=OPS, client=Client("get_system_health"))
async def system_health(info: Info) -> SystemHealthRecord:
    """Health of the fullon processes active in the last hour (read as `activeProcesses`):
    unhealthy if any is in error or has a stale heartbeat (PROCESS_STALE_SECONDS; stopped
    processes are never stale)."""
    health, problems = await info.context.cache.processes.system_health()
    info.context.report(problems, info.path.as_list())
    return health


@query(scope=OPS, client=Client("get_process_metrics"))
async def process_metrics(info: Info) -> ProcessMetricsRecord:
    """How many processes the cache holds, as fullon_cache's `ProcessCache.get_metrics()`
    counts them (`HLEN process:active:*`, `HLEN process:components`, SCAN
    `process:data:*`)."""
    read = await info.context.cache.processes.metrics()
    info.context.report(read.problems, info.path.as_list())
    return read.value


@query(scope=OPS, client=Client("get_cache_health"), nullable=False)
async def health(info: Info) -> CacheHealthRecord:
    """Health of the Redis cache (`PING`, `INFO`, `CONFIG GET notify-keyspace-events`) and of
    the live feed; never fails. `keyspaceEvents` is null if the API's Redis user may not run
    `CONFIG GET`."""
    live = info.context.live
    return await (live.health() if live is not None else info.context.cache.health.check())
