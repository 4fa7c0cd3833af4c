"""TAXII resources as JSON bytes. Envelopes are assembled around the stored object text, never re-parsed."""

from collections.abc import Sequence
from typing import Any

import orjson

from app.config import Settings
from app.sharing.access import Access
from app.stix.timestamps import format_timestamp
from app.store.collections import ApiRootRow, CollectionRow
from app.store.objects import PageRow
from app.store.status import StatusRow
from app.taxii.media import STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE


def discovery(api_roots: Sequence[ApiRootRow], settings: Settings) -> dict[str, Any]:
    body: dict[str, Any] = {"title": settings.title, "description": settings.description,
                            "contact": settings.contact}
    urls = [f"/taxii2/{root.name}/" for root in api_roots]
    default = f"/taxii2/{settings.default_api_root}/"
    if default in urls:
        body["default"] = default
    if urls:
        body["api_roots"] = urls
    return body


def api_root(root: ApiRootRow) -> dict[str, Any]:
    body: dict[str, Any] = {"title": root.title, "versions": [TAXII_MEDIA_TYPE],
                            "max_content_length": root.max_content_length}
    if root.description:
        body["description"] = root.description
    return body


def collection(row: CollectionRow, access: Access) -> dict[str, Any]:
    body: dict[str, Any] = {"id": row.id, "title": row.title}
    if row.description:
        body["description"] = row.description
    if row.alias:
        body["alias"] = row.alias
    body.update(can_read=access.can_read, can_write=access.can_write, media_types=[STIX_MEDIA_TYPE])
    return body


def status(row: StatusRow) -> bytes:
    body: dict[str, Any] = {
        "id": row.id, "status": "complete" if row.pending_count == 0 else "pending",
        "request_timestamp": format_timestamp(row.request_timestamp), "total_count": row.total_count,
        "success_count": row.success_count, "failure_count": row.failure_count,
        "pending_count": row.pending_count,
    }
    for name in ("successes", "failures", "pendings"):
        entries = orjson.loads(getattr(row, name))
        if entries:  # TAXII lists are never empty: omit instead
            body[name] = entries
    return orjson.dumps(body)


def _paging(more: bool, next_token: str | None) -> bytes:
    head = b'{"more":true' if more else b'{"more":false'
    return head + (b',"next":' + orjson.dumps(next_token) if more and next_token else b"")


def envelope(rows: Sequence[PageRow], more: bool, next_token: str | None) -> bytes:
    """The envelope, with each object's stored JSON text spliced in as is."""
    body = _paging(more, next_token)
    if rows:
        body += b',"objects":[' + ",".join(r.raw for r in rows if r.raw).encode() + b"]"
    return body + b"}"


def manifest(rows: Sequence[PageRow], more: bool, next_token: str | None) -> bytes:
    body = _paging(more, next_token)
    if rows:
        records = [{"id": r.stix_id, "date_added": format_timestamp(r.date_added),
                    "version": format_timestamp(r.version), "media_type": STIX_MEDIA_TYPE} for r in rows]
        body += b',"objects":' + orjson.dumps(records)
    return body + b"}"


def versions(rows: Sequence[PageRow], more: bool, next_token: str | None) -> bytes:
    body = _paging(more, next_token)
    if rows:
        body += b',"versions":' + orjson.dumps([format_timestamp(r.version) for r in rows])
    return body + b"}"


def date_headers(rows: Sequence[PageRow]) -> dict[str, str]:
    """X-TAXII-Date-Added-First/-Last (TAXII 2.1 §3.2), from the rows actually returned."""
    if not rows:
        return {}
    return {"X-TAXII-Date-Added-First": format_timestamp(rows[0].date_added),
            "X-TAXII-Date-Added-Last": format_timestamp(rows[-1].date_added)}
