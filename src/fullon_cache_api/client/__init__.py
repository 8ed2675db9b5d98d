"""Python client for fullon_cache_api (needs the ``client`` extra: gql with websockets).

::

    from fullon_cache_api import fullon_cache_api

    async with fullon_cache_api("ws://127.0.0.1:8000/graphql") as api:
        ticker = await api.get_ticker("binance", "BTC/USDT")
        async for update in api.stream_tickers("binance", ["BTC/USDT"]):
            print(update.change, update["symbol"], update["price"])

Modules: :mod:`.api` (the client: connection, streams, the hand-written calls), :mod:`.methods`
(one typed method per root field, generated), :mod:`.connection` (the WebSocket and
reconnects), :mod:`.streams` (resumable, buffered streams), :mod:`.documents` (every GraphQL
document sent, generated), :mod:`.models` (typed results, generated), :mod:`.results` (what
every result is: attributes and a read-only mapping), :mod:`.decode` (JSON → models),
:mod:`.errors` (exceptions), :mod:`.options` (settings), :mod:`.cli_commands` (the ``query``
and ``watch`` CLI commands).

The names exported here are those of the ``__all__`` of :data:`EXPORTING` modules, read
from their source: nothing is listed twice, and nothing is imported until it is used, so
that ``fullon_cache_api.client.cli_commands`` (wired into the main CLI) does not need the
optional ``client`` extra (gql) just to be imported.
"""

from __future__ import annotations

import ast
import importlib
import re
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fullon_cache_api.client.api import *  # noqa: F403
    from fullon_cache_api.client.errors import *  # noqa: F403
    from fullon_cache_api.client.models import *  # noqa: F403
    from fullon_cache_api.client.options import *  # noqa: F403
    from fullon_cache_api.client.results import *  # noqa: F403
    from fullon_cache_api.client.streams import *  # noqa: F403

#: The modules whose ``__all__`` this package exports (keep in step with the imports above).
EXPORTING = ("api", "errors", "models", "options", "results", "streams")

_ALL = re.compile(r"^__all__ = (\[.*?\])", re.MULTILINE | re.DOTALL)


def _exports() -> dict[str, str]:
    """Exported name → its module, from each module's ``__all__`` literal."""
    found: dict[str, str] = {}
    for module in EXPORTING:
        source = resources.files(__name__).joinpath(f"{module}.py").read_text(encoding="utf-8")
        match = _ALL.search(source)
        if match is None:
            raise ImportError(f"{__name__}.{module} has no __all__ list")
        for name in ast.literal_eval(match[1]):
            if name in found:
                raise ImportError(f"{name} is exported by two modules of {__name__}")
            found[name] = f"{__name__}.{module}"
    return found


_LAZY: dict[str, str] = _exports()

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
