"""Variants of the product to measure beside it with ``--extra NAME=bench.variants:FACTORY``.

``without_plans``: the product with compiled plans turned off, so graphql-core executes
every operation, as before ``server/plan.py``. It measures what the plans save::

    .venv/bin/python bench/query_rtt.py --quick --extra plan-off=bench.variants:without_plans
"""

from __future__ import annotations

from typing import Any


def without_plans(redis_url: str, port: int) -> Any:
    """The product, every operation on graphql-core (no compiled plan is ever made)."""
    from fullon_cache_api.server import plan
    from fullon_cache_api.server.app import create_app
    from fullon_cache_api.settings import Settings

    def no_plan(*_args: Any, **_kwargs: Any) -> None:
        return None

    plan.compile_plan = no_plan  # the executor looks it up when it caches a document
    return create_app(Settings(redis_url=redis_url, api_port=port))
