"""HTTP behaviour around GraphQL: CORS (one origin rule with the WebSocket), gzip compression
and batching, end to end through uvicorn.

A real browser's view of CORS (the preflight, then a refused response) is in
``tests/test_browser_clients.py``.
"""

from __future__ import annotations

import gzip
import hashlib
from typing import Any

import httpx
import pytest

from support import RunningServer, make_settings, raw_ws, running_server

JSONDict = dict[str, Any]
APP = "https://app.example"
FOREIGN = "https://evil.example"
# Apollo Client's HttpLink asks for these (content-type: JSON is not a "simple" request).
APOLLO_HEADERS = "content-type,apollographql-client-name,apollographql-client-version"


def codes(body: Any) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def preflight(
    server: RunningServer, origin: str, headers: str = APOLLO_HEADERS, method: str = "POST"
) -> httpx.Response:
    return await server.http.options(
        server.graphql_path,
        headers={
            "origin": origin,
            "access-control-request-method": method,
            "access-control-request-headers": headers,
        },
    )


# --------------------------------------------------------------------------- CORS


async def test_cors_off_for_foreign_origins_by_default(api_server: RunningServer) -> None:
    refused = await preflight(api_server, FOREIGN)
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    answer = await api_server.post("{ exchanges }", headers={"origin": FOREIGN})
    assert answer.json() == {"data": {"exchanges": []}}  # a browser would not hand it over:
    assert "access-control-allow-origin" not in answer.headers
    assert "Origin" in answer.headers["vary"]
    # The server's own pages are same-origin and need no CORS headers; scripts send no Origin.
    for headers in ({"origin": api_server.origin}, {}):
        answer = await api_server.post("{ exchanges }", headers=headers)
        assert answer.status_code == 200
        assert "access-control-allow-origin" not in answer.headers


async def test_cors_for_allowed_origins_shares_the_websocket_rule(redis_url: str) -> None:
    settings = make_settings(
        redis_url, allowed_origins=f"{APP}, https://b.example", cors_max_age=1234
    )
    async with running_server(settings) as server:
        allowed = await preflight(server, APP, headers=APOLLO_HEADERS + ",authorization")
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == APP
        assert allowed.headers["access-control-allow-credentials"] == "true"
        # PUT and DELETE: graphql-sse's single connection mode (reserve, stop an operation).
        methods = set(allowed.headers["access-control-allow-methods"].split(", "))
        assert methods == {"GET", "POST", "PUT", "DELETE"}
        assert allowed.headers["access-control-allow-headers"] == APOLLO_HEADERS + ",authorization"
        assert allowed.headers["access-control-max-age"] == "1234"
        assert (await preflight(server, APP, method="GET")).status_code == 200
        assert (await preflight(server, APP, method="PUT")).status_code == 200
        assert (await preflight(server, APP, method="PATCH")).status_code == 400

        for route in (server.graphql_path, "/health", "/ready"):
            answer = await server.http.get(
                route, params={"query": "{ exchanges }"}, headers={"origin": APP}
            )
            assert answer.status_code == 200, route
            assert answer.headers["access-control-allow-origin"] == APP
            assert answer.headers["access-control-allow-credentials"] == "true"
            assert answer.headers["access-control-expose-headers"] == "WWW-Authenticate"
            assert "Origin" in answer.headers["vary"]

        # A foreign origin: no CORS over HTTP, and the WebSocket refuses it (one rule).
        assert (await preflight(server, FOREIGN)).status_code == 400
        answer = await server.post("{ exchanges }", headers={"origin": FOREIGN})
        assert "access-control-allow-origin" not in answer.headers
        async with raw_ws(server.ws_url, origin=FOREIGN) as ws:
            assert (await ws.expect_close())[0] == 4403
        async with raw_ws(server.ws_url, origin=APP) as ws:
            await ws.init()
            assert await ws.query("{ exchanges }") == {"data": {"exchanges": []}}


async def test_cors_any_origin_with_credentials_and_api_keys(redis_url: str) -> None:
    """``*`` allows any origin; the answer names it (``*`` is not valid with credentials).
    With API keys, the preflight needs none, and a 401 is readable by the page."""
    settings = make_settings(redis_url, allowed_origins="*", api_keys="k" * 32 + ":market")
    async with running_server(settings) as server:
        allowed = await preflight(server, FOREIGN, headers="authorization,content-type")
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == FOREIGN
        unauthenticated = await server.post("{ exchanges }", headers={"origin": FOREIGN})
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["access-control-allow-origin"] == FOREIGN
        assert unauthenticated.headers["access-control-expose-headers"] == "WWW-Authenticate"
        assert unauthenticated.headers["www-authenticate"].startswith("Bearer")
        answer = await server.post(
            "{ exchanges }",
            headers={"origin": FOREIGN, "authorization": "Bearer " + "k" * 32},
        )
        assert answer.json() == {"data": {"exchanges": []}}
        assert answer.headers["access-control-allow-origin"] == FOREIGN


# --------------------------------------------------------------------------- gzip

LARGE = "{ __schema { types { name description fields { name description } } } }"


async def test_gzip_large_responses_only(api_server: RunningServer) -> None:
    large = await api_server.post(LARGE, headers={"accept-encoding": "gzip"})
    assert large.status_code == 200
    assert large.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in large.headers["vary"]
    wire = int(large.headers["content-length"])
    assert wire * 3 < len(large.content), (wire, len(large.content))  # JSON compresses well
    assert large.json()["data"]["__schema"]["types"]

    small = await api_server.post("{ exchanges }", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in small.headers
    assert len(small.content) < api_server.settings.http_gzip_min_bytes

    identity = await api_server.post(LARGE, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in identity.headers
    assert identity.json() == large.json()


async def test_gzip_off_and_raw_bytes(redis_url: str) -> None:
    async with running_server(make_settings(redis_url, http_gzip_min_bytes=0)) as server:
        answer = await server.post(LARGE, headers={"accept-encoding": "gzip"})
        assert "content-encoding" not in answer.headers
    async with running_server(make_settings(redis_url, http_gzip_min_bytes=100)) as server:
        # What goes over the wire really is gzip (read without httpx's decoding).
        request = server.http.build_request(
            "POST",
            server.graphql_path,
            json={"query": "{ __schema { types { name } } }"},
            headers={"accept-encoding": "gzip"},
        )
        response = await server.http.send(request, stream=True)
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
        assert response.headers["content-encoding"] == "gzip"
        assert gzip.decompress(raw).startswith(b'{"data":')


# --------------------------------------------------------------------------- batching


async def test_batches_refused_by_default(api_server: RunningServer) -> None:
    answer = await api_server.http.post(api_server.graphql_path, json=[{"query": "{ exchanges }"}])
    assert answer.status_code == 400
    assert codes(answer.json()) == ["BAD_REQUEST"]
    assert "HTTP_BATCH_MAX" in answer.json()["errors"][0]["message"]


async def test_batches_answer_in_order_with_per_operation_limits(redis_url: str) -> None:
    settings = make_settings(redis_url, http_batch_max=6, max_query_cost=100)
    async with running_server(settings) as server:
        costly = '{ ohlcv(symbol: "BTC/USDT", timeframe: "1m", count: 500) { close } }'
        hashed = "query BatchHashed { exchanges }"
        batch = [
            {"query": "query A { exchanges }"},
            {"query": "{ exchanges"},  # parse error
            {"query": costly},  # over this server's cost limit
            {"query": "query B($e: String!) { tickers(exchange: $e) { symbol } }",
             "variables": {"e": "binance"}},
            {"query": 'subscription { tickers(exchange: "binance") { kind } }'},
            {"extensions": {"persistedQuery": {
                "version": 1, "sha256Hash": hashlib.sha256(hashed.encode()).hexdigest()}}},
        ]  # fmt: skip
        answer = await server.http.post(server.graphql_path, json=batch)
        assert answer.status_code == 200
        results = answer.json()
        assert isinstance(results, list) and len(results) == len(batch)
        assert results[0] == {"data": {"exchanges": []}}
        assert codes(results[1]) == ["GRAPHQL_PARSE_FAILED"]
        assert codes(results[2]) == ["QUERY_TOO_COMPLEX"]
        assert results[3] == {"data": {"tickers": []}}
        assert codes(results[4]) == ["BAD_REQUEST"]  # subscriptions need a WebSocket
        assert codes(results[5]) == ["PERSISTED_QUERY_NOT_FOUND"]

        for bad in ([], [{"query": "{ exchanges }"}] * 7, [{"query": "{ exchanges }"}, 5]):
            refused = await server.http.post(server.graphql_path, json=bad)
            assert refused.status_code == 400, bad
            assert codes(refused.json()) == ["BAD_REQUEST"], bad


@pytest.mark.parametrize("batch_max", [0, 4])
async def test_body_limit_scales_with_the_batch(redis_url: str, batch_max: int) -> None:
    settings = make_settings(redis_url, http_batch_max=batch_max, max_query_bytes=1024)
    limit = (1024 + 64 * 1024) * max(1, batch_max)
    async with running_server(settings) as server:
        body = b"[" + b" " * limit + b"]"
        answer = await server.http.post(
            server.graphql_path, content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 413
