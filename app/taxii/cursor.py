"""The ``next`` token: the query a page answered and where it ended, sealed for one reader.

TAXII 2.1 leaves ``next`` opaque and says a server must not trust it (Appendix B). Here it is:

- **self-contained**: it carries the query's filters and page size, so clients that follow ``next`` alone or
  with ``limit`` (the OpenCTI connector, Elastic's ti_custom) continue the original query, and clients that
  repeat the original filters (OpenCTI's platform ingestion) do too. A query whose filters do not fit in
  ``_MAX_CARRIED`` bytes after compression carries only their digest and must be followed with its filters;
  that keeps a token under ~1.5 KB, so a follow-up URL stays far below ``max_query_length``.
- **authenticated and bound**: a SIV construction over HMAC-SHA256 (the only primitives of the standard
  library): the tag is an HMAC of the binding (reader, endpoint, collection, object) and the payload, and it
  is also the nonce of an HMAC keystream that encrypts the payload. Changing a byte, or presenting the token
  as another reader or at another endpoint, fails the tag: all of these get one and the same 400.
- **opaque and deterministic**: the payload holds only what the reader has seen (its filters, a date_added it
  was served, a count of rows it was served; see ``app.store.queries.Position``), encrypted. Being
  deterministic, the same page for the same reader always yields the same bytes, whatever else was posted
  meanwhile that the reader cannot see (docs/threat-model/cursors.md).

The key comes from ``AISX_CURSOR_SECRET`` or, unset, from the database (``app.store.secrets``), so every worker
and host accepts every other's tokens: the server stays stateless (DESIGN decision 8)."""

import base64
import binascii
import hashlib
import hmac
import zlib
from collections.abc import Collection
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import orjson

from app.config import get_settings
from app.store.queries import ObjectFilter, Position, VersionFilter
from app.store.secrets import cursor_secret
from app.taxii.errors import TaxiiError

_FORMAT = 1
_TAG = 16  # bytes of HMAC-SHA256 kept as tag and nonce: 128 bits
_MAX_CARRIED = 1024  # compressed payload bytes beyond which only the filters' digest is carried
_NOT_ISSUED = "The 'next' value is not one this server issued to you for this endpoint."
# URL parameter → ObjectFilter field, for the filters a token carries.
FILTER_FIELDS = {"added_after": "added_after", "match[id]": "ids", "match[type]": "types",
                 "match[spec_version]": "spec_versions", "match[version]": "versions"}


@dataclass(frozen=True)
class Continuation:
    """What a token carries: the query (or, if it was too large, its digest), page size and position."""

    query: ObjectFilter | None
    digest: str | None  # of the query's filters, when only it is carried
    limit: int
    position: Position


def binding(endpoint: str, api_root: str, collection_id: str, stix_id: str | None, reader: int | None) -> bytes:
    """What a token is valid for: this reader (None: anonymous) at this endpoint of this collection."""
    return orjson.dumps([endpoint, api_root, collection_id, stix_id, reader])


def _canonical(flt: ObjectFilter) -> dict[str, Any]:
    """The filters as comparable JSON values (value lists are sets: their order does not change the answer)."""
    versions = flt.versions
    return {"added_after": flt.added_after, "ids": sorted(set(flt.ids)), "types": sorted(set(flt.types)),
            "spec_versions": sorted(set(flt.spec_versions)),
            "versions": [versions.all, versions.first, versions.last, sorted(set(versions.exact))]}


def _from_canonical(body: dict[str, Any]) -> ObjectFilter:
    every, first, last, exact = body["versions"]
    return ObjectFilter(body["added_after"], tuple(body["ids"]), tuple(body["types"]),
                        tuple(body["spec_versions"]), VersionFilter(every, first, last, tuple(exact)))


def _digest(flt: ObjectFilter) -> str:
    return hashlib.sha256(orjson.dumps(_canonical(flt))).hexdigest()


def _pack(body: list[Any]) -> bytes:
    """Raw deflate (no header or checksum: the tag is one) with the smallest window and memory: setting up the
    default 32 KB window took 150-330 µs per token, this 40 µs; a token's few hundred bytes need no more."""
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -9, 1)
    return squeezer.compress(orjson.dumps(body)) + squeezer.flush()


@lru_cache(maxsize=4)
def _keys(secret: bytes) -> tuple[bytes, bytes]:
    return (hmac.digest(secret, b"aisx next: authentication", "sha256"),
            hmac.digest(secret, b"aisx next: encryption", "sha256"))


def _tag(mac_key: bytes, scope: bytes, plain: bytes) -> bytes:
    message = len(scope).to_bytes(4, "big") + scope + plain
    return hmac.digest(mac_key, message, "sha256")[:_TAG]


def _xor(enc_key: bytes, nonce: bytes, data: bytes) -> bytes:
    blocks = (hmac.digest(enc_key, nonce + i.to_bytes(4, "big"), "sha256") for i in range((len(data) + 31) // 32))
    stream = b"".join(blocks)[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


@lru_cache(maxsize=4)
def _database_secret(database_url: str) -> bytes:
    return cursor_secret()


def server_secret() -> bytes:
    """The configured key, else the database's (read once per process)."""
    configured = get_settings().cursor_secret
    if configured is not None:
        return hashlib.sha256(configured.get_secret_value().encode()).digest()
    return _database_secret(get_settings().database_url)


def issue(flt: ObjectFilter, position: Position, scope: bytes, secret: bytes | None = None) -> str:
    """The ``next`` token resuming ``flt`` after ``position``, valid only for ``scope`` (see ``binding``)."""
    head = [_FORMAT, flt.limit, position.date_added, position.served]
    plain = _pack([*head, _canonical(flt)])
    if len(plain) > _MAX_CARRIED:
        plain = _pack([*head, _digest(flt)])
    mac_key, enc_key = _keys(secret or server_secret())
    tag = _tag(mac_key, scope, plain)
    return base64.urlsafe_b64encode(tag + _xor(enc_key, tag, plain)).decode().rstrip("=")


def _open(token: str, scope: bytes, secret: bytes) -> bytes:
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise TaxiiError(400, _NOT_ISSUED) from None
    tag, cipher = sealed[:_TAG], sealed[_TAG:]
    mac_key, enc_key = _keys(secret)
    plain = _xor(enc_key, tag, cipher)
    if len(tag) < _TAG or not cipher or not hmac.compare_digest(tag, _tag(mac_key, scope, plain)):
        raise TaxiiError(400, _NOT_ISSUED)
    return plain


def redeem(token: str, scope: bytes, secret: bytes | None = None) -> Continuation:
    """What ``token`` carries; 400 (always the same one) unless this server issued it for ``scope``."""
    plain = _open(token, scope, secret or server_secret())
    version, limit, date_added, served, body = orjson.loads(zlib.decompress(plain, -9))
    if version != _FORMAT:  # a token of an earlier format, sealed with the same key
        raise TaxiiError(400, _NOT_ISSUED)
    query = _from_canonical(body) if isinstance(body, dict) else None
    return Continuation(query, None if query else body, limit, Position(date_added, served))


def resume(carried: Continuation, sent: ObjectFilter, sent_filters: Collection[str], limit_sent: bool) -> ObjectFilter:
    """The query a request with ``next`` asks for: the carried one, at the carried position, with the page
    size sent (else the carried one). Filters sent along must equal the carried ones; a filter left out
    continues the original."""
    if carried.query is None:
        if _digest(sent) != carried.digest:
            raise TaxiiError(400, "This 'next' belongs to a query too long to fit in it: send it with the "
                                  "original query's filters.")
        query = sent
    else:
        query = carried.query
        mine, theirs = _canonical(query), _canonical(sent)
        for name in sent_filters:
            if mine[FILTER_FIELDS[name]] != theirs[FILTER_FIELDS[name]]:
                raise TaxiiError(400, f"'{name}' differs from the query this 'next' continues: send 'next' alone "
                                      "or with the original filters, or start a new query without 'next'.")
    return replace(query, limit=sent.limit if limit_sent else carried.limit, after=carried.position)
