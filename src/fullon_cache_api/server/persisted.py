"""Persisted queries: Apollo's automatic persisted queries (APQ) and trusted documents.

Every transport hands the request's ``query`` and ``extensions`` to :meth:`PersistedQueries.resolve`
(through ``Executor.prepare``), which answers the document text to run.

**APQ** (the default). A request may carry ``extensions.persistedQuery = {"version": 1,
"sha256Hash": <hex>}``:

* hash only: the text registered under that hash runs; an unknown hash answers
  ``PERSISTED_QUERY_NOT_FOUND`` (and the client, e.g. Apollo's ``createPersistedQueryLink``,
  sends the hash again with the text);
* hash and text: the hash must be the SHA-256 of the text (else
  ``PERSISTED_QUERY_HASH_MISMATCH``); once the text parses and validates it is registered.

The registry is an LRU of ``APQ_CACHE_SIZE`` documents, per process: behind a load balancer a
client may get ``PERSISTED_QUERY_NOT_FOUND`` from another instance, and resends the text.
``APQ_CACHE_SIZE=0`` turns APQ off: a hash answers ``PERSISTED_QUERY_NOT_SUPPORTED`` (Apollo's
link then stops sending hashes).

**Trusted documents** (``TRUSTED_DOCUMENTS=<manifest.json>``): only the documents of the
manifest run, by id (``sha256Hash``) or by their text (compared with insignificant whitespace,
commas and comments ignored). Anything else answers ``PERSISTED_QUERY_NOT_LISTED``, and
nothing is registered. Two manifest formats are read:

* Apollo's ``@apollo/generate-persisted-query-manifest``:
  ``{"format": "apollo-persisted-query-manifest", "version": 1,
  "operations": [{"id", "name", "type", "body"}]}``;
* GraphQL Code Generator's client preset (``persistedDocuments``),
  ``persisted-documents.json``: ``{"<hash>": "<document>"}``.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, NamedTuple

from graphql import GraphQLError
from graphql.utilities import strip_ignored_characters

from fullon_cache_api.errors import ErrorCode
from fullon_cache_api.trusted_documents import MAX_ID_LENGTH, load_manifest

if TYPE_CHECKING:
    from fullon_cache_api.settings import Settings

APQ_VERSION = 1
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class PersistedQueryError(Exception):
    """A persisted-query request that cannot run: a coded error and the HTTP status it
    answers with (200 for the two the APQ protocol retries, as Apollo's servers do)."""

    def __init__(self, message: str, code: ErrorCode, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def not_found() -> PersistedQueryError:
    # Apollo's clients match the code, older ones the message "PersistedQueryNotFound".
    return PersistedQueryError("PersistedQueryNotFound", ErrorCode.PERSISTED_QUERY_NOT_FOUND, 200)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _normalised(text: str) -> str | None:
    try:
        return strip_ignored_characters(text)
    except GraphQLError:
        return None


# -- requests --------------------------------------------------------------------------


class Resolved(NamedTuple):
    """The document text to run, and the hash to register it under once it validates."""

    query: Any
    register: str | None = None


class PersistedQueries:
    """The APQ registry, or the trusted-documents allow-list (used from one event loop)."""

    def __init__(
        self,
        cache_size: int,
        trusted: dict[str, str] | None = None,
        *,
        max_query_bytes: int = 16 * 1024,
    ) -> None:
        self.cache_size = cache_size
        self.max_query_bytes = max_query_bytes
        self._registry: OrderedDict[str, str] = OrderedDict()
        self.trusted = trusted
        self._listed_texts: set[str] = set()
        if trusted is not None:
            for body in trusted.values():
                self._listed_texts.add(body)
                normalised = _normalised(body)
                if normalised is not None:
                    self._listed_texts.add(normalised)

    @classmethod
    def from_settings(cls, settings: Settings) -> PersistedQueries:
        trusted = (
            load_manifest(settings.trusted_documents)
            if settings.trusted_documents is not None
            else None
        )
        return cls(settings.apq_cache_size, trusted, max_query_bytes=settings.max_query_bytes)

    def __len__(self) -> int:
        """Documents registered by APQ (not the trusted ones)."""
        return len(self._registry)

    @property
    def active(self) -> bool:
        """Whether every request must go through :meth:`resolve` (trusted mode), not only
        those with ``extensions``."""
        return self.trusted is not None

    def resolve(self, query: Any, extensions: Any) -> Resolved:
        """The text to run for a request's ``query`` and ``extensions``, or raise
        :class:`PersistedQueryError`. A missing or malformed ``query`` is passed through
        for the caller to refuse."""
        digest = _requested_hash(extensions)
        if self.trusted is not None:
            return Resolved(self._trusted(query, digest))
        if digest is None:
            return Resolved(query)
        if not self.cache_size:
            raise PersistedQueryError(
                "PersistedQueryNotSupported", ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED, 200
            )
        if not _SHA256_HEX.fullmatch(digest):
            raise PersistedQueryError(
                "persistedQuery.sha256Hash must be 64 hexadecimal characters",
                ErrorCode.BAD_REQUEST,
            )
        digest = digest.lower()
        if query is None:
            text = self._registry.get(digest)
            if text is None:
                raise not_found()
            self._registry.move_to_end(digest)
            return Resolved(text)
        if not isinstance(query, str):
            return Resolved(query)
        if sha256_hex(query) != digest:
            raise PersistedQueryError(
                "persistedQuery.sha256Hash is not the SHA-256 of the query",
                ErrorCode.PERSISTED_QUERY_HASH_MISMATCH,
            )
        return Resolved(query, register=digest)

    def register(self, digest: str, query: str) -> None:
        """Keep ``query`` under ``digest`` (called once it parsed and validated)."""
        self._registry[digest] = query
        self._registry.move_to_end(digest)
        while len(self._registry) > self.cache_size:
            self._registry.popitem(last=False)

    def _trusted(self, query: Any, digest: str | None) -> Any:
        assert self.trusted is not None
        if digest is not None:
            body = self.trusted.get(digest)
            if body is None:
                raise PersistedQueryError(
                    "this server only runs trusted documents, and none has the id "
                    f"{digest[:MAX_ID_LENGTH]!r}",
                    ErrorCode.PERSISTED_QUERY_NOT_LISTED,
                )
            if query is not None and not self._same(query, body):
                raise PersistedQueryError(
                    "the query is not the trusted document with that id",
                    ErrorCode.PERSISTED_QUERY_HASH_MISMATCH,
                )
            return body
        if not isinstance(query, str) or not query.strip():
            return query  # the executor refuses it: "a GraphQL query string is required"
        if self._listed(query):
            return query
        raise PersistedQueryError(
            "this server only runs trusted documents, and this query is not one of them",
            ErrorCode.PERSISTED_QUERY_NOT_LISTED,
        )

    def _listed(self, query: str) -> bool:
        if query in self._listed_texts:
            return True
        if len(query) > self.max_query_bytes:
            return False
        normalised = _normalised(query)
        return normalised is not None and normalised in self._listed_texts

    def _same(self, query: Any, body: str) -> bool:
        if not isinstance(query, str):
            return False
        if query == body:
            return True
        if len(query) > self.max_query_bytes:
            return False
        normalised = _normalised(query)
        return normalised is not None and normalised == _normalised(body)


def _requested_hash(extensions: Any) -> str | None:
    """``extensions.persistedQuery.sha256Hash``, checked; ``None`` when not asked for."""
    if extensions is None:
        return None
    if not isinstance(extensions, dict):
        raise PersistedQueryError("extensions must be a JSON object", ErrorCode.BAD_REQUEST)
    persisted = extensions.get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise PersistedQueryError(
            "extensions.persistedQuery must be an object", ErrorCode.BAD_REQUEST
        )
    if persisted.get("version") != APQ_VERSION:
        raise PersistedQueryError(
            f"unsupported persistedQuery version {persisted.get('version')!r} (supported: 1)",
            ErrorCode.BAD_REQUEST,
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not digest or len(digest) > MAX_ID_LENGTH:
        raise PersistedQueryError(
            f"persistedQuery.sha256Hash must be a string of 1-{MAX_ID_LENGTH} characters",
            ErrorCode.BAD_REQUEST,
        )
    return digest
