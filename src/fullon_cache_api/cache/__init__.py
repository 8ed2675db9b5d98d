"""Data access: the only code that knows fullon_cache's Redis key names and value formats.

Everything here is read-only. Reads are non-destructive (LRANGE/LLEN, never LPOP/BLPOP/DEL),
batched (MGET and pipelines), and tolerant: one corrupt item is dropped and reported, it never
fails the whole read.
"""

from fullon_cache_api.cache.connection import create_redis
from fullon_cache_api.cache.reader import CacheReader
from fullon_cache_api.cache.results import Listing, Problem

__all__ = ["CacheReader", "Listing", "Problem", "create_redis"]
