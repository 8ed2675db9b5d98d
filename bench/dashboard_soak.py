"""Dashboard soak: the /dashboard page against ``fullon-cache-api demo`` for minutes on end.

Starts the demo the way a user does (``fullon-cache-api demo --port P --rate HZ``), opens the
URL its banner prints in headless Chromium (Playwright from PyPI, the system ``chromium``)
and samples, every ``--sample-s`` seconds:

* the JS heap after a forced garbage collection (CDP ``HeapProfiler.collectGarbage``, then
  ``Performance.getMetrics``: ``JSHeapUsedSize``), DOM nodes and event listeners: memory must
  stay flat (bounded lists in the page);
* the main thread's busy share (``TaskDuration`` per second of wall time), the longest gap
  between animation frames and the number of long tasks (> 50 ms): the page must stay
  responsive;
* the WebSocket frames the page received (the load it absorbed).

The baseline is the page itself, in the same run: the first sample after ``--warmup-s`` is
compared with the last one. It also records what the first load transferred (every
response, headers included). Results go to the ``dashboard_soak`` section of BENCHMARKS.md
(not with ``--quick``, which runs one minute and prints only).

    .venv/bin/python bench/dashboard_soak.py                 # 10 minutes at the demo's rate
    .venv/bin/python bench/dashboard_soak.py --minutes 2 --rate 50 --no-write
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    machine_info,
    markdown_table,
    today,
    versions,
    write_section,
)

# Frame gaps and long tasks, recorded by the page itself (installed before any script runs).
PROBE = """
(() => {
  const probe = { maxGap: 0, longTasks: 0, frames: 0 };
  let last = performance.now();
  const tick = (now) => {
    probe.maxGap = Math.max(probe.maxGap, now - last);
    probe.frames += 1;
    last = now;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  try {
    new PerformanceObserver((list) => { probe.longTasks += list.getEntries().length; })
      .observe({ type: "longtask", buffered: true });
  } catch (error) {}
  window.__soak = probe;
})();
"""


@dataclass
class Sample:
    elapsed_s: float
    heap_bytes: float
    nodes: float
    listeners: float
    busy: float
    max_frame_gap_ms: float
    long_tasks: int
    ws_frames: int


def start_demo(port: int, rate: float) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_", "REDIS_"))}
    env["LOG_LEVEL"] = "WARNING"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fullon_cache_api.cli",
            "demo",
            "--port",
            str(port),
            "--rate",
            str(rate),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if match := re.search(r"Dashboard: (http://\S+)", line):
            url = match[1]
            break
        if time.monotonic() > deadline:
            break
    else:
        raise RuntimeError("the demo printed no dashboard URL")
    # Keep draining its output so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
    return proc, url


def metrics(cdp: Any) -> dict[str, float]:
    cdp.send("HeapProfiler.collectGarbage")
    result = cdp.send("Performance.getMetrics")
    return {m["name"]: float(m["value"]) for m in result["metrics"]}


def run(minutes: float, rate: float, sample_s: float, warmup_s: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chromium = CHROMIUM
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    proc, url = start_demo(free_port(), rate)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.add_init_script(PROBE)
            finished: list[Any] = []
            page.on("requestfinished", lambda r: finished.append(r))
            frames = [0]

            def on_socket(ws: Any) -> None:
                ws.on("framereceived", lambda _payload: frames.__setitem__(0, frames[0] + 1))

            page.on("websocket", on_socket)
            started = time.monotonic()
            page.goto(url)
            page.wait_for_selector('[data-testid="tickers"] tbody tr [data-field="price"]')
            first_price_ms = (time.monotonic() - started) * 1000
            page.wait_for_load_state("networkidle")
            load = {
                "requests": len(finished),
                "body": sum(r.sizes()["responseBodySize"] for r in finished),
                "headers": sum(r.sizes()["responseHeadersSize"] for r in finished),
                "first_price_ms": first_price_ms,
            }
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            samples: list[Sample] = []
            total_s = minutes * 60
            previous = metrics(cdp)
            previous_at = time.monotonic()
            previous_frames = frames[0]
            page.evaluate("() => { window.__soak.maxGap = 0; window.__soak.longTasks = 0; }")
            while (elapsed := time.monotonic() - started) < total_s:
                page.wait_for_timeout(sample_s * 1000)
                now = metrics(cdp)
                at = time.monotonic()
                probe = page.evaluate(
                    "() => { const p = {...window.__soak};"
                    " window.__soak.maxGap = 0; window.__soak.longTasks = 0; return p; }"
                )
                sample = Sample(
                    elapsed_s=at - started,
                    heap_bytes=now["JSHeapUsedSize"],
                    nodes=now["Nodes"],
                    listeners=now["JSEventListeners"],
                    busy=(now["TaskDuration"] - previous["TaskDuration"]) / (at - previous_at),
                    max_frame_gap_ms=probe["maxGap"],
                    long_tasks=int(probe["longTasks"]),
                    ws_frames=frames[0] - previous_frames,
                )
                samples.append(sample)
                previous, previous_at, previous_frames = now, at, frames[0]
                print(
                    f"{sample.elapsed_s:7.0f} s  heap {sample.heap_bytes / 1e6:6.2f} MB"
                    f"  nodes {sample.nodes:6.0f}  listeners {sample.listeners:5.0f}"
                    f"  busy {sample.busy * 100:5.1f}%"
                    f"  max frame gap {sample.max_frame_gap_ms:6.1f} ms"
                    f"  long tasks {sample.long_tasks:3d}  ws frames {sample.ws_frames}",
                    flush=True,
                )
                del elapsed
            state = page.get_attribute('[data-testid="connection"]', "data-state")
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"load": load, "samples": samples, "warmup_s": warmup_s, "state": state}


def _median_sample(group: list[Sample]) -> Sample:
    def median(values: list[float]) -> float:
        ordered = sorted(values)
        half = len(ordered) // 2
        return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2

    return Sample(
        elapsed_s=median([s.elapsed_s for s in group]),
        heap_bytes=median([s.heap_bytes for s in group]),
        nodes=median([s.nodes for s in group]),
        listeners=median([s.listeners for s in group]),
        busy=median([s.busy for s in group]),
        max_frame_gap_ms=median([s.max_frame_gap_ms for s in group]),
        long_tasks=sum(s.long_tasks for s in group),
        ws_frames=sum(s.ws_frames for s in group),
    )


def report(result: dict[str, Any], minutes: float, rate: float, sample_s: float) -> str:
    samples: list[Sample] = result["samples"]
    warm = [s for s in samples if s.elapsed_s >= result["warmup_s"]] or samples
    # Each point is the median of 4 samples (one sample's heap depends on what the GC and
    # the JIT happened to be doing): the first 4 after warm-up, 4 around the middle, the
    # last 4.
    window = min(4, max(1, len(warm) // 3))
    mid = max(0, len(warm) // 2 - window // 2)
    first = _median_sample(warm[:window])
    middle = _median_sample(warm[mid : mid + window])
    last = _median_sample(warm[-window:])
    load = result["load"]
    total = load["body"] + load["headers"]
    frames_per_s = sum(s.ws_frames for s in samples) / max(1e-9, samples[-1].elapsed_s)
    every = max(1, len(samples) // 12)
    shown = samples[::every] + ([samples[-1]] if (len(samples) - 1) % every else [])
    table = markdown_table(
        ["time", "JS heap after GC", "DOM nodes", "listeners", "main thread busy",
         "max frame gap", "long tasks", "WebSocket frames"],
        [
            [
                f"{s.elapsed_s / 60:.1f} min",
                f"{s.heap_bytes / 1e6:.2f} MB",
                f"{s.nodes:.0f}",
                f"{s.listeners:.0f}",
                f"{s.busy * 100:.1f}%",
                f"{s.max_frame_gap_ms:.0f} ms",
                str(s.long_tasks),
                str(s.ws_frames),
            ]
            for s in shown
        ],
    )  # fmt: skip

    def row(name: str, value: Callable[[Sample], float], unit: Callable[[float], str]) -> list[str]:
        return [
            name,
            unit(value(first)),
            unit(value(middle)),
            unit(value(last)),
            f"{value(last) / value(first):.2f}x",
            f"**{value(last) / value(middle):.2f}x**",
        ]

    summary = markdown_table(
        [
            "measure",
            f"baseline ({first.elapsed_s / 60:.1f} min)",
            f"middle ({middle.elapsed_s / 60:.1f} min)",
            f"end ({last.elapsed_s / 60:.1f} min)",
            "end / baseline",
            "end / middle",
        ],
        [
            row("JS heap after GC", lambda s: s.heap_bytes, lambda v: f"{v / 1e6:.2f} MB"),
            row("DOM nodes", lambda s: s.nodes, lambda v: f"{v:.0f}"),
            row("event listeners", lambda s: s.listeners, lambda v: f"{v:.0f}"),
        ],
    )
    busy = sorted(s.busy for s in warm)
    gaps = sorted(s.max_frame_gap_ms for s in warm)
    return f"""
## Dashboard soak at {rate:g} steps/s (`bench/dashboard_soak.py`)

Measured {today()} on {machine_info()}; {versions("playwright", "uvicorn", "starlette")},
{_chromium_version()}.

`fullon-cache-api demo --rate {rate:g}` (the simulated market: {rate:g} steps/s, 3 tickers
per step, the forming 1m bar every second, orders, fills, blocks, heartbeats) and its
dashboard URL open in headless Chromium for {minutes:g} minutes, 1440x900. Every
{sample_s:g} s: the JS heap after a forced GC, DOM nodes and listeners (CDP
`Performance.getMetrics`), the main thread's busy share (`TaskDuration` per second), the
longest gap between animation frames and long tasks (> 50 ms), and the WebSocket frames
received ({frames_per_s:.1f}/s on average). The baseline is the median of the first 4
samples after {result["warmup_s"]:g} s of warm-up, in the same run; "middle" and "end" are
the medians of 4 samples around the middle and at the end. The busy share includes the probe's
own animation-frame loop, which makes Chromium render every frame.

**First load:** {load["requests"]} requests, **{total / 1024:.1f} KiB transferred**
({load["body"] / 1024:.1f} KiB of bodies, gzip, plus {load["headers"] / 1024:.1f} KiB of
headers); first ticker price on screen {load["first_price_ms"]:.0f} ms after navigation
started.

{table}

{summary}

Main thread busy: median {busy[len(busy) // 2] * 100:.1f}%, worst sample
{busy[-1] * 100:.1f}%. Longest frame gap: median {gaps[len(gaps) // 2]:.0f} ms, worst
{gaps[-1]:.0f} ms. Long tasks: {sum(s.long_tasks for s in warm)} in all. Connection at the
end: {result["state"]}.
"""


def _chromium_version() -> str:
    try:
        out = subprocess.run(
            ["chromium", "--version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout.strip()
    except OSError:
        return "chromium (unknown version)"
    return out or "chromium (unknown version)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=5.0, help="demo market steps per second")
    parser.add_argument("--sample-s", type=float, default=15.0)
    parser.add_argument("--warmup-s", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="one minute, print only")
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    parser.add_argument(
        "--section", default="dashboard_soak", help="the BENCHMARKS.md section to rewrite"
    )
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.sample_s, args.warmup_s, args.no_write = 1.0, 5.0, 10.0, True
    result = run(args.minutes, args.rate, args.sample_s, args.warmup_s)
    text = report(result, args.minutes, args.rate, args.sample_s)
    print(text)
    if not args.no_write:
        write_section(args.section, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
