"""Operations resolvers (scope ``ops``): bots, blocks, opening positions, processes, health."""

from __future__ import annotations

from typing import Annotated

import strawberry

from fullon_cache_api.cache.records import (
    BotRecord,
    CacheHealthRecord,
    ComponentStatusRecord,
    ExchangeBlockRecord,
    OpeningPositionRecord,
    ProcessRecord,
    SystemHealthRecord,
)
from fullon_cache_api.context import RequestContext
from fullon_cache_api.resolvers import arguments as args
from fullon_cache_api.resolvers.arguments import ExId, Symbol

Info = strawberry.Info[RequestContext, None]


async def bots(info: Info) -> list[BotRecord]:
    listing = await info.context.cache.bots.all()
    return info.context.items(listing, info.path.as_list())


async def bot(info: Info, bot_id: str) -> BotRecord | None:
    return await info.context.cache.bots.get(args.identifier(bot_id, "botId"))


async def blocks(info: Info) -> list[ExchangeBlockRecord]:
    listing = await info.context.cache.blocks.all()
    return info.context.items(listing, info.path.as_list())


async def is_blocked(info: Info, ex_id: ExId, symbol: Symbol) -> str | None:
    """The id of the bot blocking the symbol, or null."""
    return await info.context.cache.blocks.blocking_bot(
        args.identifier(ex_id, "exId"), args.symbol(symbol)
    )


async def opening_positions(info: Info) -> list[OpeningPositionRecord]:
    listing = await info.context.cache.opening_positions.all()
    return info.context.items(listing, info.path.as_list())


async def is_opening_position(info: Info, ex_id: ExId, symbol: Symbol) -> bool:
    return await info.context.cache.opening_positions.exists(
        args.identifier(ex_id, "exId"), args.symbol(symbol)
    )


async def process(info: Info, process_id: str) -> ProcessRecord | None:
    return await info.context.cache.processes.get(args.free_text(process_id, "processId"))


async def active_processes(
    info: Info,
    type: Annotated[
        str | None, strawberry.argument(description="Process type, e.g. `tick`.")
    ] = None,
    component: str | None = None,
    since_minutes: Annotated[
        float, strawberry.argument(description="Active within this many minutes.")
    ] = 5,
) -> list[ProcessRecord]:
    listing = await info.context.cache.processes.active(
        args.identifier(type, "type") if type is not None else None,
        args.free_text(component, "component") if component is not None else None,
        args.positive_minutes(since_minutes),
    )
    return info.context.items(listing, info.path.as_list())


async def component_status(info: Info, component: str) -> ComponentStatusRecord | None:
    return await info.context.cache.processes.component_status(
        args.free_text(component, "component")
    )


async def system_health(info: Info) -> SystemHealthRecord:
    health, problems = await info.context.cache.processes.system_health()
    info.context.report(problems, info.path.as_list())
    return health


async def health(info: Info) -> CacheHealthRecord:
    """Cache reachability; never fails."""
    return await info.context.cache.health.check()
