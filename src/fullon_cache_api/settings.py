"""Runtime configuration, read from the environment and an optional ``.env`` file.

Redis variables follow fullon_cache (``REDIS_HOST``, ``REDIS_PORT``, ``REDIS_DB``,
``REDIS_PASSWORD``); ``REDIS_URL`` overrides them and may carry an ACL username and
``rediss://`` for TLS.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated
from urllib.parse import quote

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Redis, as fullon_cache reads it.
    redis_host: str = "localhost"
    redis_port: int = Field(default=6379, ge=1, le=65535)
    redis_db: int = Field(default=0, ge=0, le=15)
    redis_password: str | None = None
    redis_url: str | None = None
    redis_max_connections: int = Field(default=50, ge=1, le=1000)
    redis_socket_timeout: float = Field(default=5.0, gt=0)
    redis_socket_connect_timeout: float = Field(default=5.0, gt=0)

    # HTTP/WebSocket server. Loopback by default: exposing it is a deliberate choice.
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    graphql_path: str = "/graphql"

    # Query limits.
    max_query_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=2000, ge=10)
    max_query_bytes: int = Field(default=16 * 1024, ge=64)
    document_cache_size: int = Field(default=512, ge=0)

    # WebSocket limits.
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=256)
    ws_connection_init_timeout: float = Field(default=10.0, gt=0, le=10.0)
    ws_max_operations: int = Field(default=100, ge=1)
    ws_ping_interval: float = Field(default=15.0, ge=0)
    ws_pong_timeout: float = Field(default=30.0, gt=0)
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Live data.
    poll_interval_ms: int = Field(default=500, ge=20)
    poll_intervals_ms: dict[str, int] = Field(
        default_factory=lambda: {"processes": 2000, "health": 5000}
    )
    keyspace_notifications: str = Field(default="auto", pattern="^(auto|on|off|enable)$")
    subscriber_buffer: int = Field(default=256, ge=1)
    gc_freeze: bool = True
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    process_stale_seconds: float = Field(default=120.0, gt=30)

    graphiql: bool = True
    introspection: bool = True

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """``https://a,https://b``, ``*`` or a JSON array."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    def redis_dsn(self) -> str:
        """The Redis URL in effect: ``REDIS_URL`` if set, else one built from the parts."""
        if self.redis_url:
            return self.redis_url
        auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/{self.redis_db}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
