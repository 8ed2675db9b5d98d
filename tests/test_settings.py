"""Settings read from the environment the way operators write them."""

from __future__ import annotations

import pytest

from fullon_cache_api.settings import Settings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://a.example,https://b.example", ["https://a.example", "https://b.example"]),
        (" https://a.example , ", ["https://a.example"]),
        ("*", ["*"]),
        ('["https://a.example", "*"]', ["https://a.example", "*"]),
        ("", []),
    ],
)
def test_allowed_origins_from_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", raw)
    assert Settings(_env_file=None).allowed_origins == expected  # type: ignore[call-arg]


def test_redis_url_overrides_the_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_DB", "2")
    monkeypatch.setenv("REDIS_PASSWORD", "p@ss word")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.redis_dsn() == "redis://:p%40ss%20word@cache.internal:6380/2"
    monkeypatch.setenv("REDIS_URL", "rediss://reader:secret@10.0.0.5:6379/0")
    assert Settings(_env_file=None).redis_dsn() == "rediss://reader:secret@10.0.0.5:6379/0"  # type: ignore[call-arg]


def test_redis_db_is_bounded_like_fullon_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_DB", "16")
    with pytest.raises(ValueError, match="redis_db"):
        Settings(_env_file=None)  # type: ignore[call-arg]
