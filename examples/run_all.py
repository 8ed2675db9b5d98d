"""Run every example against one server; exit 0 only if all of them succeed.

::

    make demo                                   # in another terminal
    .venv/bin/python examples/run_all.py [--url ws://127.0.0.1:8000/graphql] [--live-seconds 5]

Each example runs as its own process with the same ``FULLON_CACHE_API_URL``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = (
    "basic_usage.py",
    "example_tick_cache.py",
    "example_account_cache.py",
    "example_bot_cache.py",
    "example_orders_cache.py",
    "example_trades_cache.py",
    "example_ohlcv_cache.py",
    "example_process_cache.py",
)
TIMEOUT_S = 120


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="server URL (default: $FULLON_CACHE_API_URL)")
    parser.add_argument(
        "--live-seconds", type=float, help="how long each example waits for live events"
    )
    args = parser.parse_args()

    env = dict(os.environ)
    if args.url:
        env["FULLON_CACHE_API_URL"] = args.url
    if args.live_seconds is not None:
        env["EXAMPLE_LIVE_SECONDS"] = str(args.live_seconds)
    print(f"server: {env.get('FULLON_CACHE_API_URL', 'ws://127.0.0.1:8000/graphql')}")

    failed: list[str] = []
    for name in EXAMPLES:
        print(f"\n=== {name} ", "=" * max(0, 60 - len(name)), flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run(
                [sys.executable, str(HERE / name)], env=env, timeout=TIMEOUT_S, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
            print(f"{name}: timed out after {TIMEOUT_S} s")
        elapsed = time.monotonic() - started
        print(f"--- {name}: {'ok' if code == 0 else f'FAILED ({code})'} in {elapsed:.1f} s")
        if code != 0:
            failed.append(name)

    print(f"\n{len(EXAMPLES) - len(failed)}/{len(EXAMPLES)} examples succeeded")
    if failed:
        print("failed:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
