"""Automatic persisted queries (Apollo's APQ protocol) and trusted documents, end to end:
HTTP GET and POST, raw graphql-transport-ws and legacy graphql-ws frames, Server-Sent Events
and multipart subscriptions.

Apollo Client's own ``createPersistedQueryLink`` is driven against the server in a real
browser by ``tests/test_browser_clients.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
from pydantic import ValidationError

from fullon_cache_api.simulator import CacheWriter, seed_scenario
from support import RunningServer, make_settings, raw_ws, running_server
from support.streams import MULTIPART_ACCEPT, multipart_stream, sse_stream
from support.ws import LEGACY_WS, TRANSPORT_WS

JSONDict = dict[str, Any]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(digest: str, version: int = 1) -> JSONDict:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


def codes(body: Any) -> list[str]:
    errors = body.get("errors", []) if isinstance(body, dict) else body
    return [error["extensions"]["code"] for error in errors]


def ws_codes(message: JSONDict) -> list[str]:
    """The codes of an ``error`` message (legacy graphql-ws wraps the list in an object)."""
    return codes(message["payload"])


async def post(server: RunningServer, **body: Any) -> httpx.Response:
    return await server.http.post(server.graphql_path, json=body)


async def get(server: RunningServer, **params: Any) -> httpx.Response:
    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    return await server.http.get(server.graphql_path, params=encoded)


# --------------------------------------------------------------------------- APQ over HTTP


async def test_apq_over_post_registers_then_runs_by_hash(api_server: RunningServer) -> None:
    query = "query ApqPost { exchanges }"
    digest = sha(query)

    unknown = await post(api_server, extensions=apq(digest))
    assert unknown.status_code == 200  # the protocol's "send the text": not a failure
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]

    registered = await post(api_server, query=query, extensions=apq(digest))
    assert registered.status_code == 200
    assert registered.json() == {"data": {"exchanges": []}}

    by_hash = await post(api_server, extensions=apq(digest), operationName="ApqPost")
    assert by_hash.status_code == 200
    assert by_hash.json() == {"data": {"exchanges": []}}
    # Upper-case hex is the same hash.
    assert (await post(api_server, extensions=apq(digest.upper()))).json() == {
        "data": {"exchanges": []}
    }


async def test_apq_over_get(api_server: RunningServer, redis_client: redis.asyncio.Redis) -> None:
    await seed_scenario(CacheWriter(redis_client))
    query = 'query ApqGet { ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
    digest = sha(query)

    unknown = await get(api_server, extensions=apq(digest))
    assert (unknown.status_code, codes(unknown.json())) == (200, ["PERSISTED_QUERY_NOT_FOUND"])
    registered = await get(api_server, query=query, extensions=apq(digest))
    assert registered.json() == {"data": {"ticker": {"price": 105234.56}}}
    by_hash = await get(api_server, extensions=apq(digest))
    assert by_hash.status_code == 200
    assert by_hash.json() == {"data": {"ticker": {"price": 105234.56}}}
    # A hash-only GET from a browser asking for HTML is a query, not GraphiQL.
    html = await api_server.http.get(
        api_server.graphql_path,
        params={"extensions": json.dumps(apq(digest))},
        headers={"accept": "text/html,application/json"},
    )
    assert html.json() == {"data": {"ticker": {"price": 105234.56}}}


async def test_apq_hash_mismatch_and_bad_extensions(api_server: RunningServer) -> None:
    query = "query ApqMismatch { exchanges }"
    wrong = sha(query + " ")
    mismatch = await post(api_server, query=query, extensions=apq(wrong))
    assert mismatch.status_code == 400
    assert codes(mismatch.json()) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    # Nothing was registered under either hash.
    for digest in (wrong, sha(query)):
        answer = await post(api_server, extensions=apq(digest))
        assert codes(answer.json()) == ["PERSISTED_QUERY_NOT_FOUND"]

    bad = [
        {"extensions": apq(sha(query), version=2)},
        {"extensions": apq("abc123")},
        {"extensions": {"persistedQuery": "yes"}},
        {"extensions": ["persistedQuery"]},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": 5}}},
    ]
    for body in bad:
        answer = await post(api_server, query=query, **body)
        assert (answer.status_code, codes(answer.json())) == (400, ["BAD_REQUEST"]), body
    # Other extensions are ignored.
    plain = await post(api_server, query=query, extensions={"tracing": True})
    assert plain.json() == {"data": {"exchanges": []}}
    invalid_json = await api_server.http.get(
        api_server.graphql_path, params={"query": query, "extensions": "{"}
    )
    assert (invalid_json.status_code, codes(invalid_json.json())) == (400, ["BAD_REQUEST"])


async def test_apq_registers_only_valid_documents(api_server: RunningServer) -> None:
    for query, code in (
        ("query ApqBroken { exchanges", "GRAPHQL_PARSE_FAILED"),
        ("query ApqInvalid { noSuchField }", "GRAPHQL_VALIDATION_FAILED"),
    ):
        answer = await post(api_server, query=query, extensions=apq(sha(query)))
        assert codes(answer.json()) == [code]
        again = await post(api_server, extensions=apq(sha(query)))
        assert codes(again.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_apq_lru_is_bounded(redis_url: str) -> None:
    async with running_server(make_settings(redis_url, apq_cache_size=2)) as server:
        queries = [f"query Lru{n} {{ exchanges }}" for n in range(3)]
        for query in queries[:2]:
            assert (await post(server, query=query, extensions=apq(sha(query)))).json()["data"]
        # Using the first makes it the most recent: registering a third evicts the second.
        assert (await post(server, extensions=apq(sha(queries[0])))).json()["data"]
        assert (await post(server, query=queries[2], extensions=apq(sha(queries[2])))).json()[
            "data"
        ]
        assert len(server.services.executor.persisted) == 2
        answers = [await post(server, extensions=apq(sha(query))) for query in queries]
        assert [codes(answer.json()) for answer in answers] == [
            [],
            ["PERSISTED_QUERY_NOT_FOUND"],
            [],
        ]


async def test_apq_off(redis_url: str) -> None:
    async with running_server(make_settings(redis_url, apq_cache_size=0)) as server:
        query = "{ exchanges }"
        for body in (
            {"extensions": apq(sha(query))},
            {"query": query, "extensions": apq(sha(query))},
        ):
            answer = await post(server, **body)
            assert answer.status_code == 200
            assert codes(answer.json()) == ["PERSISTED_QUERY_NOT_SUPPORTED"]
        assert (await post(server, query=query)).json() == {"data": {"exchanges": []}}


# --------------------------------------------------------------------------- APQ over WebSocket


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_apq_over_websocket(
    api_server: RunningServer, redis_client: redis.asyncio.Redis, protocol: str
) -> None:
    await seed_scenario(CacheWriter(redis_client))
    subscribe = "start" if protocol == LEGACY_WS else "subscribe"
    result = "data" if protocol == LEGACY_WS else "next"
    query = (
        f"subscription ApqWs{protocol.replace('-', '')} "
        '{ tickers(exchange: "binance", symbols: ["BTC/USDT"]) { kind items { price } } }'
    )
    digest = sha(query)
    async with raw_ws(api_server.ws_url, protocol) as ws:
        await ws.init()
        await ws.send({"type": subscribe, "id": "a", "payload": {"extensions": apq(digest)}})
        error = await ws.recv()
        assert (error["id"], error["type"]) == ("a", "error")
        assert ws_codes(error) == ["PERSISTED_QUERY_NOT_FOUND"]

        await ws.send(
            {"type": subscribe, "id": "b", "payload": {"query": query, "extensions": apq(digest)}}
        )
        first = await ws.recv()
        assert (first["id"], first["type"]) == ("b", result)
        assert first["payload"]["data"]["tickers"]["kind"] == "SNAPSHOT"

        # Hash only, now known: the same stream.
        await ws.send({"type": subscribe, "id": "c", "payload": {"extensions": apq(digest)}})
        by_hash = await ws.recv()
        assert (by_hash["id"], by_hash["type"]) == ("c", result)
        assert by_hash["payload"] == first["payload"]

        wrong = {"query": query, "extensions": apq(sha("{ exchanges }"))}
        await ws.send({"type": subscribe, "id": "d", "payload": wrong})
        mismatch = await ws.recv()
        assert (mismatch["id"], mismatch["type"]) == ("d", "error")
        assert ws_codes(mismatch) == ["PERSISTED_QUERY_HASH_MISMATCH"]


# --------------------------------------------------------------------------- trusted documents

LISTED_QUERY = 'query Listed { ticker(exchange: "binance", symbol: "BTC/USDT") { price } }'
LISTED_SUBSCRIPTION = (
    'subscription ListedTickers { tickers(exchange: "binance", symbols: ["BTC/USDT"]) '
    "{ kind items { price } } }"
)
UNLISTED = "query Unlisted { exchanges }"


def apollo_manifest(path: Path) -> dict[str, str]:
    """A manifest as ``generate-persisted-query-manifest`` writes it; returns {name: id}."""
    operations = [
        {"id": sha(LISTED_QUERY), "name": "Listed", "type": "query", "body": LISTED_QUERY},
        {
            "id": sha(LISTED_SUBSCRIPTION),
            "name": "ListedTickers",
            "type": "subscription",
            "body": LISTED_SUBSCRIPTION,
        },
    ]
    path.write_text(
        json.dumps(
            {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
        )
    )
    return {operation["name"]: operation["id"] for operation in operations}


def codegen_manifest(path: Path) -> dict[str, str]:
    """``persisted-documents.json`` of GraphQL Code Generator's client preset (here with
    sha1 ids, its older default: ids are looked up as they are)."""
    ids = {
        "Listed": hashlib.sha1(LISTED_QUERY.encode()).hexdigest(),
        "ListedTickers": hashlib.sha1(LISTED_SUBSCRIPTION.encode()).hexdigest(),
    }
    path.write_text(
        json.dumps({ids["Listed"]: LISTED_QUERY, ids["ListedTickers"]: LISTED_SUBSCRIPTION})
    )
    return ids


@pytest.mark.parametrize("manifest", [apollo_manifest, codegen_manifest])
async def test_trusted_documents_over_http(
    redis_url: str,
    redis_client: redis.asyncio.Redis,
    tmp_path: Path,
    manifest: Any,
) -> None:
    await seed_scenario(CacheWriter(redis_client))
    ids = manifest(tmp_path / "manifest.json")
    settings = make_settings(redis_url, trusted_documents=tmp_path / "manifest.json")
    async with running_server(settings) as server:
        expected = {"data": {"ticker": {"price": 105234.56}}}
        # Listed: by id (POST and GET), by its text, and by its text written differently.
        assert (await post(server, extensions=apq(ids["Listed"]))).json() == expected
        assert (await get(server, extensions=apq(ids["Listed"]))).json() == expected
        assert (await post(server, query=LISTED_QUERY)).json() == expected
        reformatted = "# a comment\n" + LISTED_QUERY.replace(" { ", "\n  {\n    ") + "\n"
        assert (await post(server, query=reformatted)).json() == expected
        assert (
            await post(server, query=LISTED_QUERY, extensions=apq(ids["Listed"]))
        ).json() == expected

        # Anything else is refused, and nothing gets registered.
        for body in (
            {"query": UNLISTED},
            {"query": UNLISTED, "extensions": apq(sha(UNLISTED))},
            {"extensions": apq(sha(UNLISTED))},
            {"query": "{ __schema { queryType { name } } }"},
        ):
            refused = await post(server, **body)
            assert refused.status_code == 400, body
            assert codes(refused.json()) == ["PERSISTED_QUERY_NOT_LISTED"], body
        refused = await get(server, query=UNLISTED)
        assert (refused.status_code, codes(refused.json())) == (400, ["PERSISTED_QUERY_NOT_LISTED"])
        # A listed id with another document's text.
        other = await post(server, query=UNLISTED, extensions=apq(ids["Listed"]))
        assert codes(other.json()) == ["PERSISTED_QUERY_HASH_MISMATCH"]
        assert codes((await post(server, extensions=apq(sha(UNLISTED)))).json()) == [
            "PERSISTED_QUERY_NOT_LISTED"
        ]


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_trusted_documents_over_websocket(
    redis_url: str, redis_client: redis.asyncio.Redis, tmp_path: Path, protocol: str
) -> None:
    await seed_scenario(CacheWriter(redis_client))
    ids = apollo_manifest(tmp_path / "manifest.json")
    settings = make_settings(redis_url, trusted_documents=tmp_path / "manifest.json")
    subscribe = "start" if protocol == LEGACY_WS else "subscribe"
    result = "data" if protocol == LEGACY_WS else "next"
    async with running_server(settings) as server, raw_ws(server.ws_url, protocol) as ws:
        await ws.init()
        # A listed subscription, by id only.
        await ws.send(
            {"type": subscribe, "id": "s", "payload": {"extensions": apq(ids["ListedTickers"])}}
        )
        snapshot = await ws.recv()
        assert (snapshot["id"], snapshot["type"]) == ("s", result)
        assert snapshot["payload"]["data"]["tickers"] == {
            "kind": "SNAPSHOT",
            "items": [{"price": 105234.56}],
        }
        # A listed query by its text.
        assert await ws.query(LISTED_QUERY, id="q") == {"data": {"ticker": {"price": 105234.56}}}
        # Unlisted: refused with an error message; the connection stays open.
        for op_id, payload in (
            ("u1", {"query": UNLISTED}),
            ("u2", {"extensions": apq(sha(UNLISTED))}),
        ):
            await ws.send({"type": subscribe, "id": op_id, "payload": payload})
            refused = await ws.recv()
            assert (refused["id"], refused["type"]) == (op_id, "error")
            assert ws_codes(refused) == ["PERSISTED_QUERY_NOT_LISTED"]
        assert await ws.query(LISTED_QUERY, id="q2") == {"data": {"ticker": {"price": 105234.56}}}


async def test_trusted_documents_over_sse_and_multipart(
    redis_url: str, redis_client: redis.asyncio.Redis, tmp_path: Path
) -> None:
    await seed_scenario(CacheWriter(redis_client))
    ids = apollo_manifest(tmp_path / "manifest.json")
    settings = make_settings(redis_url, trusted_documents=tmp_path / "manifest.json")
    snapshot = {"kind": "SNAPSHOT", "items": [{"price": 105234.56}]}
    async with running_server(settings) as server:
        # Listed: by id, and by its text.
        for body in ({"extensions": apq(ids["ListedTickers"])}, {"query": LISTED_SUBSCRIPTION}):
            async with sse_stream(server, body) as stream:
                assert (await stream.next())["data"]["tickers"] == snapshot
            async with multipart_stream(server, body) as multipart:
                assert (await multipart.payload())["data"]["tickers"] == snapshot
        # Unlisted: refused, in the stream (SSE) or with the status (multipart).
        unlisted = "subscription Unlisted { tickers { kind } }"
        for body in ({"query": unlisted}, {"extensions": apq(sha(unlisted))}):
            async with sse_stream(server, body) as stream:
                name, data = await stream.event()
                assert name == "next" and codes(data) == ["PERSISTED_QUERY_NOT_LISTED"], data
                assert await stream.event() == ("complete", None)
            refused = await server.http.post(
                server.graphql_path, json=body, headers={"accept": MULTIPART_ACCEPT}
            )
            assert refused.status_code == 400
            assert codes(refused.json()) == ["PERSISTED_QUERY_NOT_LISTED"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not JSON"),
        ('{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}', "format"),
        ('{"format": "apollo-persisted-query-manifest", "version": 1}', "'operations'"),
        ('{"abc": "query { exchanges"}', "does not parse"),
        ('{"abc": 5}', "body must be"),
        ("[1, 2]", "expected an Apollo"),
    ],
)
def test_trusted_documents_manifest_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(ValidationError, match=message):
        make_settings("redis://127.0.0.1:1/0", trusted_documents=path)
    with pytest.raises(ValidationError, match="cannot read"):
        make_settings("redis://127.0.0.1:1/0", trusted_documents=tmp_path / "missing.json")
