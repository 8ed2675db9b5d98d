"""Runtime configuration, read from the environment and an optional ``.env`` file.

Redis variables follow fullon_cache (``REDIS_HOST``, ``REDIS_PORT``, ``REDIS_DB``,
``REDIS_PASSWORD``); ``REDIS_URL`` overrides them and may carry an ACL username and
``rediss://`` for TLS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import quote

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fullon_cache_api.auth import check_digests, parse_api_keys, read_keys_file


class Settings(BaseSettings):
    # Validation errors never echo the input: it may be an API key or a Redis password.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

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
    max_query_cost: int = Field(default=20_000, ge=1)
    max_inflight_cost: int = Field(default=40_000, ge=1)
    admission_free_cost: int = Field(default=1_000, ge=0)
    admission_wait_s: float = Field(default=30.0, gt=0)
    document_cache_size: int = Field(default=512, ge=0)
    list_page_default: int = Field(default=100, ge=1)
    list_page_max: int = Field(default=1000, ge=1, le=100_000)

    # WebSocket limits.
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=256)
    ws_connection_init_timeout: float = Field(default=10.0, gt=0, le=10.0)
    ws_max_operations: int = Field(default=100, ge=1)
    ws_ping_interval: float = Field(default=15.0, ge=0)
    ws_pong_timeout: float = Field(default=30.0, gt=0)
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ws_max_connections: int = Field(default=5000, ge=1)
    ws_max_connections_per_ip: int = Field(default=200, ge=0)  # 0: no per-address limit
    ws_messages_per_second: float = Field(default=1000.0, ge=0)  # 0: no message rate limit
    ws_message_burst: int = Field(default=2000, ge=1)
    # Accept permessage-deflate when a client offers it. Off by default: it costs each
    # connection about 39 KiB of zlib state and each client message 10-15 µs (BENCHMARKS.md).
    ws_per_message_deflate: bool = False
    ws_compress_min_bytes: int = Field(default=1024, ge=0)  # smaller messages go uncompressed

    # Subscriptions over HTTP (Server-Sent Events, multipart).
    http_stream_heartbeat_s: float = Field(default=5.0, ge=0)  # 0: no heartbeats

    # HTTP: CORS (for ALLOWED_ORIGINS, like the WebSocket), compression, batching.
    cors_max_age: int = Field(default=600, ge=0, le=86400)
    http_gzip_min_bytes: int = Field(default=1024, ge=0)  # 0: no compression
    http_batch_max: int = Field(default=0, ge=0, le=100)  # 0: batched bodies are refused

    # Persisted queries: APQ registry size (0: off), or a trusted-documents manifest.
    apq_cache_size: int = Field(default=1000, ge=0)
    trusted_documents: Path | None = None

    # Authentication: KEY:SCOPES entries. Only SHA-256 digests are kept ({digest: scopes}).
    api_keys: Annotated[dict[str, frozenset[str]], NoDecode] = Field(
        default_factory=dict, repr=False
    )
    api_keys_file: Path | None = None
    api_keys_recheck_s: float = Field(default=5.0, gt=0, le=3600)

    # Live data.
    poll_interval_ms: int = Field(default=500, ge=20)
    poll_intervals_ms: dict[str, int] = Field(
        default_factory=lambda: {"processes": 2000, "health": 5000}
    )
    keyspace_notifications: str = Field(default="auto", pattern="^(auto|on|off|enable)$")
    feed_idle_ping_s: float = Field(default=5.0, gt=0, le=300)
    keyspace_recheck_s: float = Field(default=60.0, ge=0)  # 0: only on reconnects
    keyspace_safety_poll_s: float = Field(default=30.0, ge=0)  # 0: none
    topic_linger_s: float = Field(default=10.0, ge=0, le=3600)
    replay_events: int = Field(default=256, ge=0, le=100_000)
    live_max_rate: float = Field(default=10.0, gt=0, le=1000)  # live: FULL events per second
    subscriber_buffer: int = Field(default=256, ge=1)
    slow_consumer_s: float = Field(default=10.0, gt=0)
    outbox_max_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024)
    gc_freeze: bool = True
    # After reading a client's operation, and after answering a client that comes back promptly,
    # the event loop polls instead of sleeping for this long, so the next query does not
    # wait for an idle CPU to wake (server/idle_poll.py). 0: off.
    idle_poll_us: int = Field(default=200, ge=0, le=100_000)
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    process_stale_seconds: float = Field(default=120.0, gt=30)

    graphiql: bool = True
    dashboard: bool = True
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

    @field_validator("api_keys", mode="before")
    @classmethod
    def _hash_keys(cls, value: object) -> object:
        """``key1:market+account,key2:ops`` → ``{sha256(key): scopes}``; the text is dropped."""
        if value is None:
            return {}
        if isinstance(value, str):
            return parse_api_keys(value, "API_KEYS")
        if isinstance(value, Mapping):
            return check_digests(value)
        raise ValueError("API_KEYS must be text: KEY:SCOPES entries separated by commas")

    @model_validator(mode="after")
    def _check_list_pages(self) -> Self:
        if self.list_page_default > self.list_page_max:
            raise ValueError("LIST_PAGE_DEFAULT must not be larger than LIST_PAGE_MAX")
        return self

    @model_validator(mode="after")
    def _check_keys_file(self) -> Self:
        """A keys file must exist and parse at start-up (later reloads keep the old keys)."""
        if self.api_keys_file is not None:
            file_keys = read_keys_file(self.api_keys_file)
            if set(file_keys) & set(self.api_keys):
                raise ValueError("API_KEYS_FILE lists a key that API_KEYS lists too")
        return self

    @model_validator(mode="after")
    def _check_trusted_documents(self) -> Self:
        """The trusted-documents manifest must exist and parse at start-up."""
        if self.trusted_documents is not None:
            from fullon_cache_api.trusted_documents import load_manifest

            load_manifest(self.trusted_documents)
        return self

    @property
    def auth_enabled(self) -> bool:
        """Keys are required: ``API_KEYS`` or ``API_KEYS_FILE`` is set (even if empty)."""
        return bool(self.api_keys) or self.api_keys_file is not None

    def redis_dsn(self) -> str:
        """The Redis URL in effect: ``REDIS_URL`` if set, else one built from the parts."""
        if self.redis_url:
            return self.redis_url
        auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/{self.redis_db}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
