"""Processes and system health (fullon_cache ``ProcessCache``).

::

    make demo                            # in another terminal
    .venv/bin/python examples/example_process_cache.py
"""

from __future__ import annotations

import asyncio
import os

from fullon_cache_api import fullon_cache_api

LIVE_SECONDS = float(os.environ.get("EXAMPLE_LIVE_SECONDS", "5"))


async def main() -> None:
    async with fullon_cache_api() as api:
        for process in await api.get_active_processes(since_minutes=60):
            stale = " (stale)" if process.heartbeat_stale else ""
            print(
                f"  {process.process_type!s:<20} {process.component!s:<28} {process.status}{stale}"
            )

        ticks = await api.get_active_processes(type="tick", since_minutes=60)
        print("tick processes:", len(ticks))
        if ticks:
            one = await api.get_process(ticks[0].process_id)
            print("one of them:", one.component if one else None, one.message if one else None)

        status = await api.get_component_status("bot_1")
        if status is not None and status.process is not None:
            print(f"bot_1: {status.process.status} - {status.process.message}")

        health = await api.get_system_health()
        print(
            f"healthy={health.healthy} processes={health.total_processes} "
            f"by type={health.counts_by_type()}"
        )
        for process in health.stale_processes + health.error_processes:
            print(f"  attention: {process.component}: {process.status} {process.message}")

        async with api.stream_system_health() as stream:
            first = await anext(stream)
            print("streamed health: healthy =", first.healthy)

        async with api.stream_process_health(type="tick", changes=True) as stream:
            snapshot = await anext(stream)
            print(snapshot.kind.value, [p.component for p in snapshot.items])
            try:
                async with asyncio.timeout(LIVE_SECONDS):
                    event = await anext(stream)
                    print(event.kind.value, [(p.component, p.status) for p in event.items])
            except TimeoutError:
                print(f"(no process change within {LIVE_SECONDS:g} s)")


if __name__ == "__main__":
    asyncio.run(main())
