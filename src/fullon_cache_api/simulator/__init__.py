"""Test/demo simulator: writes fullon_cache 0.5.11's Redis layout without fullon_cache.

Nothing in the API server imports this package; it is the only code in the project
that writes to Redis.
"""

from __future__ import annotations

from fullon_cache_api.simulator.fixture import default_fixture_path, load_fixture
from fullon_cache_api.simulator.scenario import seed_scenario
from fullon_cache_api.simulator.writer import CacheWriter, dumps, to_redis_timestamp

__all__ = [
    "CacheWriter",
    "default_fixture_path",
    "dumps",
    "load_fixture",
    "seed_scenario",
    "to_redis_timestamp",
]
