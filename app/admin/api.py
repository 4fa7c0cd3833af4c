"""The admin HTTP API under /admin/: participants, keys, audit (operator keys only) and minting audience
markings (any participant: producers need them to post to named recipients)."""

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Connection

from app.admin import operations
from app.audit import query_events
from app.feeds.upstream import feed_states
from app.participants.auth import Caller, require_caller
from app.participants.registry import NotFound, RegistryError
from app.stix.markings import AudienceSpec
from app.stix.timestamps import TimestampError, format_timestamp, parse_timestamp
from app.store import participants as store
from app.store.engine import read_connection, write_transaction
from app.taxii.errors import TaxiiError

router = APIRouter(prefix="/admin", tags=["admin"])


def require_operator(caller: Caller = Depends(require_caller)) -> Caller:
    if not caller.is_operator:
        raise TaxiiError(403, "This endpoint is for exchange operators.")
    return caller


class _Request(BaseModel):
    """Request bodies: no string may hold a NUL (nothing legitimate does; PostgreSQL text cannot store one)."""

    @model_validator(mode="after")
    def _no_nul(self) -> "_Request":
        for name, value in self:
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and "\x00" in v for v in values):
                raise ValueError(f"{name} must not contain NUL characters")
        return self


class NewParticipant(_Request):
    slug: str = Field(examples=["lab-a"])
    name: str = Field(examples=["Frontier Lab A"])
    kind: str = Field(examples=["lab"], description="lab, agency, vendor or operator")
    groups: list[str] = Field(default_factory=list)
    sectors: list[str] = Field(default_factory=list)
    identity_id: str | None = Field(default=None, description="An existing STIX identity id to adopt.")


class NewKey(_Request):
    label: str | None = None


class AudienceRequest(_Request):
    recipient_identities: list[str] = Field(default_factory=list)
    recipient_groups: list[str] = Field(default_factory=list)
    embargo_until: str | None = Field(default=None, examples=["2026-12-01T00:00:00Z"])


def _write(action, *args: Any) -> Any:  # type: ignore[no-untyped-def]
    try:
        with write_transaction() as conn:
            return action(conn, *args)
    except NotFound as exc:
        raise TaxiiError(404, str(exc)) from None
    except RegistryError as exc:
        raise TaxiiError(422, str(exc)) from None


@router.get("/participants", operation_id="list_participants")
def list_participants(_: Caller = Depends(require_operator)) -> list[dict[str, Any]]:
    with read_connection() as conn:
        return [operations.participant_view(p, store.list_keys(conn, p.id)) for p in store.list_participants(conn)]


@router.post("/participants", status_code=201, operation_id="add_participant")
def add_participant(body: NewParticipant, caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.admit(conn, caller.participant_id, body.slug, body.name, body.kind,
                                                body.groups, body.sectors, body.identity_id))


@router.post("/participants/{slug}/keys", status_code=201, operation_id="issue_key")
def issue_key(slug: str, body: NewKey, caller: Caller = Depends(require_operator)) -> dict[str, str]:
    return _write(lambda conn: operations.new_key(conn, caller.participant_id, slug, body.label))


@router.post("/participants/{slug}/suspend", operation_id="suspend_participant")
def suspend(slug: str, caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.set_suspended(conn, caller.participant_id, slug, True))


@router.post("/participants/{slug}/reinstate", operation_id="reinstate_participant")
def reinstate(slug: str, caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.set_suspended(conn, caller.participant_id, slug, False))


@router.delete("/keys/{key_id}", operation_id="revoke_key")
def revoke_key(key_id: str, caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.revoke(conn, caller.participant_id, key_id))


@router.post("/audiences", status_code=201, operation_id="mint_audience_marking")
def mint_audience(body: AudienceRequest, caller: Caller = Depends(require_caller)) -> dict[str, Any]:
    try:
        embargo = parse_timestamp(body.embargo_until, require_utc=True) if body.embargo_until else None
    except TimestampError as exc:
        raise TaxiiError(422, f"embargo_until: {exc}") from None
    spec = AudienceSpec(tuple(sorted(set(body.recipient_identities))), tuple(sorted(set(body.recipient_groups))),
                        embargo)
    if not spec.has_recipients and embargo is None:
        raise TaxiiError(422, "Name recipient_identities or recipient_groups, or set embargo_until.")
    return _write(lambda conn: operations.mint(conn, caller.participant_id, spec))


@router.get("/feeds", operation_id="list_feeds")
def feeds(_: Caller = Depends(require_operator)) -> list[dict[str, Any]]:
    """Every feed with its selector and, for mirrors, the upstream's checkpoint, last success and last error."""
    return feed_states()


@router.get("/audit", operation_id="list_audit_events")
def audit(
    since: str | None = Query(None, description="RFC 3339 timestamp"),
    participant: str | None = Query(None, description="participant slug"),
    action: str | None = None,
    limit: int = Query(1000, ge=1, le=10000),
    _: Caller = Depends(require_operator),
) -> list[dict[str, Any]]:
    with read_connection() as conn:
        return audit_events(conn, since, participant, action, limit)


def audit_events(conn: Connection, since: str | None, participant: str | None, action: str | None,
                 limit: int) -> list[dict[str, Any]]:
    """Audit events with slugs and timestamps, for the API and ``aisx audit``."""
    try:
        since_us = parse_timestamp(since) if since else None
    except TimestampError as exc:
        raise TaxiiError(400, f"since: {exc}") from None
    participant_id = None
    if participant is not None:
        row = store.get_participant_by_slug(conn, participant)
        if row is None:
            raise TaxiiError(404, f"no participant {participant!r}")
        participant_id = row.id
    slugs = {p.id: p.slug for p in store.list_participants(conn)}
    events = query_events(conn, since=since_us, participant_id=participant_id, action=action, limit=limit)
    return [{"at": format_timestamp(e["at"]), "participant": slugs.get(e["participant_id"]), "key_id": e["key_id"],
             "action": e["action"], "collection_id": e["collection_id"], "object_count": e["object_count"],
             "detail": e["detail"]} for e in events]
