"""The admin HTTP API under /admin/: participants, keys, collections and grants, audit (operator keys only) and
minting audience markings (any participant: producers need them to post to named recipients)."""

from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection

from app.admin import operations
from app.admin.schemas import AudienceRequest, ClaimedIdentity, NewCollection, NewGrant, NewKey, NewParticipant
from app.audit import query_events
from app.config import get_settings
from app.mirroring.upstream import feed_states
from app.sharing.access import Caller
from app.stix.markings import AudienceSpec
from app.stix.timestamps import TimestampError, format_timestamp, parse_timestamp
from app.store import participants as store
from app.store.engine import read_connection, write_transaction
from app.taxii.auth import require_caller
from app.taxii.envelope import read_body
from app.taxii.errors import TaxiiError

router = APIRouter(prefix="/admin", tags=["admin"])
M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")
T = TypeVar("T")


def require_operator(caller: Caller = Depends(require_caller)) -> Caller:
    if not caller.is_operator:
        raise TaxiiError(403, "This endpoint is for exchange operators.")
    return caller


def _body(model: type[M], gate: Callable[..., Caller]) -> Callable[[Request], Awaitable[M]]:
    """A dependency that reads and validates the JSON body as ``model`` only after ``gate`` has accepted the
    caller, and never more than ``admin_max_body_bytes`` of it.

    A body-model parameter would not do: FastAPI reads and parses the whole body before it solves any
    dependency, so an anonymous 152 MiB body cost 1 GiB of server memory before the 401. (The operation's
    requestBody is declared from the same model, see ``_declares``.)"""

    async def parse(request: Request, _: Caller = Depends(gate)) -> M:
        raw = await read_body(request, get_settings().admin_max_body_bytes)
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]) from None

    return parse


def _declares(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI requestBody of a route whose body ``_body`` reads (FastAPI sees no body parameter)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def _write(action: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``action`` in a write transaction; its refusals (``app.errors``) answer as TAXII errors (404, 422)."""
    with write_transaction() as conn:
        return action(conn, *args, **kwargs)


@router.get("/participants", operation_id="list_participants")
def list_participants(_: Caller = Depends(require_operator)) -> list[dict[str, Any]]:
    with read_connection() as conn:
        return [operations.participant_view(p, store.list_keys(conn, p.id)) for p in store.list_participants(conn)]


@router.post("/participants", status_code=201, operation_id="add_participant", openapi_extra=_declares(NewParticipant))
def add_participant(body: NewParticipant = Depends(_body(NewParticipant, require_operator)),
                    caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.admit(conn, caller.participant_id, body.slug, body.name, body.kind,
                                                body.groups, body.sectors, body.identity_id,
                                                body.claimed_identity_ids))


@router.post("/participants/{slug}/identities", status_code=201, operation_id="claim_identity",
             openapi_extra=_declares(ClaimedIdentity))
def claim_identity(slug: str, body: ClaimedIdentity = Depends(_body(ClaimedIdentity, require_operator)),
                   caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.claim(conn, caller.participant_id, slug, body.identity_id))


@router.delete("/participants/{slug}/identities/{identity_id}", operation_id="release_identity")
def release_identity(slug: str, identity_id: str, caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.unclaim(conn, caller.participant_id, slug, identity_id))


@router.post("/participants/{slug}/keys", status_code=201, operation_id="issue_key", openapi_extra=_declares(NewKey))
def issue_key(slug: str, body: NewKey = Depends(_body(NewKey, require_operator)),
              caller: Caller = Depends(require_operator)) -> dict[str, str]:
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


@router.post("/collections", status_code=201, operation_id="add_collection", openapi_extra=_declares(NewCollection))
def add_collection(body: NewCollection = Depends(_body(NewCollection, require_operator)),
                   caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.create_collection(
        conn, caller.participant_id, body.alias, body.title, body.api_root or get_settings().default_api_root,
        public=body.public, description=body.description, default_group=body.default_group, lenient=body.lenient))


@router.post("/collections/{collection}/grants", operation_id="grant_access", openapi_extra=_declares(NewGrant))
def grant_access(collection: str, body: NewGrant = Depends(_body(NewGrant, require_operator)),
                 caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.set_access(conn, caller.participant_id, body.subject, collection,
                                                     read=body.read, write=body.write))


@router.post("/audiences", status_code=201, operation_id="mint_audience_marking",
             openapi_extra=_declares(AudienceRequest))
def mint_audience(body: AudienceRequest = Depends(_body(AudienceRequest, require_caller)),
                  caller: Caller = Depends(require_caller)) -> dict[str, Any]:
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
