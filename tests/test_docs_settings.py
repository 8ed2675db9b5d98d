"""The documented settings match the code: the README's Configuration and Limits tables and
``.env.example`` against :class:`Settings` and its defaults.

A new setting fails these tests until it is documented in all three places.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fullon_cache_api.resolvers.live import MAX_SYMBOLS
from fullon_cache_api.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")

FIELDS = {name.upper(): name for name in Settings.model_fields}
LOG_VARIABLES = {
    "LOG_LEVEL",
    "LOG_FORMAT",
    "LOG_CONSOLE",
    "LOG_COLORS",
    "LOG_FILE_PATH",
    "LOG_ROTATION",
    "LOG_RETENTION",
}
UNSET = object()  # a documented "unset"/"empty" default


def default(name: str) -> Any:
    field = Settings.model_fields[name]
    return field.get_default(call_default_factory=True)


def section(heading: str) -> str:
    """The README's text from ``heading`` to the next heading of the same level."""
    level = heading.split()[0]
    start = README.index(f"\n{heading}\n")
    end = README.find(f"\n{level} ", start + len(heading) + 2)
    return README[start : end if end >= 0 else None]


def first_table(text: str) -> list[list[str]]:
    """The cells of the first Markdown table in ``text`` (header and rule left out)."""
    rows: list[list[str]] = []
    started = False
    for line in text.splitlines():
        if line.startswith("|"):
            started = True
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            rows.append(cells)
        elif started:
            break
    return rows[2:]


def settings_from(values: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Settings read from a .env file with exactly ``values`` (no environment)."""
    for name in FIELDS:
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / "documented.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return Settings(_env_file=env_file)  # type: ignore[call-arg]


def check_defaults(
    documented: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every setting is documented once, and each documented default is the real one."""
    assert set(documented) == set(FIELDS), (
        f"missing: {sorted(set(FIELDS) - set(documented))}, "
        f"unknown: {sorted(set(documented) - set(FIELDS))}"
    )
    for name, value in documented.items():
        if value is UNSET:
            real = default(FIELDS[name])
            assert real is None or real in ([], {}, ""), f"{name} is documented as unset: {real!r}"
    given = {name: value for name, value in documented.items() if value is not UNSET}
    loaded = settings_from(given, tmp_path, monkeypatch)
    for name in given:
        field = FIELDS[name]
        assert getattr(loaded, field) == default(field), f"{name}={given[name]} is not the default"


# --------------------------------------------------------------------------- README


def test_configuration_table_lists_every_setting_with_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documented: dict[str, Any] = {}
    for cells in first_table(section("## Configuration")):
        name, value = cells[0], cells[1]
        if not name.startswith("`"):  # a group heading: | **Redis** | | |
            continue
        name = name.strip("`")
        assert name not in documented, f"{name} is listed twice"
        documented[name] = UNSET if value in ("unset", "empty") else value.strip("`")
    check_defaults(documented, tmp_path, monkeypatch)


def _numbers(text: str) -> list[float]:
    """The numbers in a cell; ``16 KiB`` is 16384."""
    values = []
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(KiB)?", text):
        values.append(float(number) * (1024 if unit else 1))
    return values


# Each row of the Limits table: the defaults its numbers show, in order.
LIMITS: dict[str, list[float]] = {
    "selection depth": [default("max_query_depth")],
    "aliases per document": [default("max_aliases")],
    "parser tokens": [default("max_tokens")],
    "query length": [default("max_query_bytes")],
    "query cost": [default("max_query_cost")],
    "cost of the expensive queries in flight": [
        default("max_inflight_cost"),
        default("admission_free_cost"),
    ],
    "HTTP body": [64 * 1024],  # the query limit + a constant of server/http.py
    "paged list (`first`/`last`)": [default("list_page_max")],
    "WebSocket message": [default("ws_max_message_bytes")],
    "`connection_init` wait": [default("ws_connection_init_timeout")],
    "operations at once per connection": [default("ws_max_operations")],
    "messages per connection": [default("ws_messages_per_second"), default("ws_message_burst")],
    "WebSocket connections": [default("ws_max_connections_per_ip"), default("ws_max_connections")],
    "`tickers(symbols:)`": [MAX_SYMBOLS],
}


def test_limits_table_shows_the_defaults() -> None:
    rows = first_table(section("## Limits"))
    assert [cells[0] for cells in rows] == list(LIMITS), "a row was added, removed or renamed"
    for cells in rows:
        assert _numbers(cells[1]) == LIMITS[cells[0]], cells


# --------------------------------------------------------------------------- .env.example


ENV_LINE = re.compile(r"^# ([A-Z][A-Z0-9_]*)=(.*)$")


def env_example_entries() -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in ENV_EXAMPLE.splitlines():
        if match := ENV_LINE.match(line):
            assert match[1] not in entries, f"{match[1]} is listed twice"
            entries[match[1]] = match[2]
    return entries


def test_env_example_lists_every_setting_with_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = env_example_entries()
    assert LOG_VARIABLES.issubset(entries)
    documented = {
        name: UNSET if value == "" else value
        for name, value in entries.items()
        if name not in LOG_VARIABLES
    }
    check_defaults(documented, tmp_path, monkeypatch)


def test_env_example_is_commented_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Copied to .env as it is, it changes nothing; each entry has a comment above it."""
    lines = ENV_EXAMPLE.splitlines()
    assert all(not line or line.startswith("#") for line in lines)
    for index, line in enumerate(lines):
        if ENV_LINE.match(line):
            above = lines[index - 1]
            assert above.startswith("# ") and not ENV_LINE.match(above), line
    copied = settings_from({}, tmp_path, monkeypatch)
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_EXAMPLE)
    assert Settings(_env_file=env_file).model_dump() == copied.model_dump()  # type: ignore[call-arg]
