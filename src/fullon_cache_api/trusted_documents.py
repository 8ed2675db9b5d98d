"""Trusted-documents manifests (``TRUSTED_DOCUMENTS``): the file formats, read once.

Kept apart from the server's persisted-query handling (:mod:`fullon_cache_api.server.persisted`)
so that ``Settings`` can check the file at start-up without importing the server. Two formats
are read:

* Apollo's ``@apollo/generate-persisted-query-manifest``:
  ``{"format": "apollo-persisted-query-manifest", "version": 1,
  "operations": [{"id", "name", "type", "body"}]}``;
* GraphQL Code Generator's client preset (``persistedDocuments``),
  ``persisted-documents.json``: ``{"<hash>": "<document>"}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graphql import GraphQLError, parse

APOLLO_FORMAT = "apollo-persisted-query-manifest"
MAX_ID_LENGTH = 256


def load_manifest(path: Path) -> dict[str, str]:
    """``{id: document}`` from an Apollo or GraphQL Code Generator manifest; ``ValueError``
    (naming the file and what is wrong) when it cannot be read or a document does not parse."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"TRUSTED_DOCUMENTS: cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"TRUSTED_DOCUMENTS: {path} is not JSON: {error}") from None
    documents: dict[str, str] = {}
    if isinstance(data, dict) and "format" in data:
        if data["format"] != APOLLO_FORMAT or data.get("version") != 1:
            raise ValueError(
                f"TRUSTED_DOCUMENTS: {path}: unknown manifest format {data['format']!r} "
                f"version {data.get('version')!r} (expected {APOLLO_FORMAT!r} version 1)"
            )
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ValueError(f"TRUSTED_DOCUMENTS: {path}: 'operations' must be a list")
        for index, operation in enumerate(operations):
            if not isinstance(operation, dict):
                raise ValueError(f"TRUSTED_DOCUMENTS: {path}: operations[{index}] is not an object")
            documents[_id(path, operation.get("id"))] = _body(path, operation.get("body"))
    elif isinstance(data, dict):
        for key, body in data.items():
            documents[_id(path, key)] = _body(path, body)
    else:
        raise ValueError(
            f"TRUSTED_DOCUMENTS: {path}: expected an Apollo persisted-query manifest or a "
            '{"<hash>": "<document>"} object'
        )
    for key, body in documents.items():
        try:
            parse(body)
        except GraphQLError as error:
            raise ValueError(
                f"TRUSTED_DOCUMENTS: {path}: document {key[:16]} does not parse: {error.message}"
            ) from None
    return documents


def _id(path: Path, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise ValueError(
            f"TRUSTED_DOCUMENTS: {path}: a document id must be a string of 1-{MAX_ID_LENGTH} "
            "characters"
        )
    return value


def _body(path: Path, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"TRUSTED_DOCUMENTS: {path}: a document body must be a non-empty string")
    return value
