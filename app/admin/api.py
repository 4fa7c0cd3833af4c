"""The admin HTTP API under /admin/: participants, keys, collections and grants, audit (operator keys only) and
minting audience markings (any participant: producers need them to post to named recipients)."""

from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection

from app.admin import audit as trail
from app.admin import bootstrap, operations
from app.admin.schemas import (
    AudienceRequest,
    ClaimedIdentity,
    CollectionChange,
    KeyRotation,
    NewCollection,
    NewGrant,
    NewKey,
    NewParticipant,
    ParticipantUpdate,
)
from app.audit.chain import export_page, verify_database
from app.config import get_settings
from app.mirroring.upstream import feed_states
from app.sharing.access import Caller
from app.stix.markings import AudienceSpec
from app.stix.timestamps import TimestampError, parse_timestamp
from app.store.engine import now_us, read_connection, write_transaction
from app.taxii.auth import require_caller
from app.taxii.envelope import read_body
from app.taxii.errors import TaxiiError

router = APIRouter(prefix="/admin", tags=["admin"])
M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")
T = TypeVar("T")


async def require_operator(caller: Caller = Depends(require_caller)) -> Caller:
    """Route dependency: the caller, if it is an operator; 403 otherwise. Async: it only reads the caller, so it
    needs no hop to the thread pool (see ``app.taxii.routes.require_taxii_accept``)."""
    if not caller.is_operator:
        raise TaxiiError(403, "This endpoint is for exchange operators.")
    return caller


def _body(model: type[M], gate: Callable[..., Caller | Awaitable[Caller]]) -> Callable[[Request], Awaitable[M]]:
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
        return operations.list_participants(conn)


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
              caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.new_key(conn, caller.participant_id, slug, body.label, body.expires))


@router.post("/participants/{slug}/suspend", operation_id="suspend_participant")
def suspend(slug: str, caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.set_suspended(conn, caller.participant_id, slug, True))


@router.post("/participants/{slug}/reinstate", operation_id="reinstate_participant")
def reinstate(slug: str, caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.set_suspended(conn, caller.participant_id, slug, False))


@router.delete("/keys/{key_id}", operation_id="revoke_key")
def revoke_key(key_id: str, caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.revoke(conn, caller.participant_id, key_id))


# ------------------------------------------------------------------ lifecycle (issue 16): participants and keys


@router.patch("/participants/{slug}", operation_id="update_participant", openapi_extra=_declares(ParticipantUpdate))
def update_participant(slug: str, body: ParticipantUpdate = Depends(_body(ParticipantUpdate, require_operator)),
                       caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.update_participant(
        conn, caller.participant_id, slug, name=body.name, add_groups=body.add_groups,
        remove_groups=body.remove_groups))


@router.get("/groups", operation_id="list_groups")
def list_groups(_: Caller = Depends(require_operator)) -> list[dict[str, Any]]:
    with read_connection() as conn:
        return operations.groups(conn)


@router.get("/participants/{slug}/keys", operation_id="list_keys")
def list_keys(slug: str, _: Caller = Depends(require_operator)) -> list[dict[str, Any]]:
    with read_connection() as conn:
        return operations.keys_of(conn, slug)


@router.post("/keys/{key_id}/rotate", status_code=201, operation_id="rotate_key",
             openapi_extra=_declares(KeyRotation))
def rotate_key(key_id: str, body: KeyRotation = Depends(_body(KeyRotation, require_operator)),
               caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.rotate(conn, caller.participant_id, key_id, body.grace, body.expires))


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


# ------------------------------------------------------------------ listing, changing and removing collections


@router.get("/collections", operation_id="list_collections")
def list_collections(_: Caller = Depends(require_operator)) -> list[dict[str, Any]]:
    with read_connection() as conn:
        return operations.list_collections(conn)


@router.patch("/collections/{collection}", operation_id="update_collection",
              openapi_extra=_declares(CollectionChange))
def update_collection(collection: str, body: CollectionChange = Depends(_body(CollectionChange, require_operator)),
                      caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    clear = "description" in body.model_fields_set and not body.description
    return _write(lambda conn: operations.update_collection(
        conn, caller.participant_id, collection, title=body.title, description=body.description or None,
        clear_description=clear, validation=body.validation))


@router.delete("/collections/{collection}", operation_id="remove_collection")
def remove_collection(collection: str,
                      force: bool = Query(False, description="Remove it even though it holds objects (they stay "
                                                             "in the exchange)."),
                      caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.remove_collection(conn, caller.participant_id, collection, force=force))


@router.get("/collections/{collection}/grants", operation_id="list_grants")
def list_grants(collection: str, _: Caller = Depends(require_operator)) -> dict[str, Any]:
    with read_connection() as conn:
        return operations.list_grants(conn, collection)


@router.delete("/collections/{collection}/grants/{subject}", operation_id="revoke_grant")
def revoke_grant(collection: str, subject: str, caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    return _write(lambda conn: operations.revoke_access(conn, caller.participant_id, subject, collection))


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


@router.post("/feeds/{feed}/rebuild", operation_id="rebuild_feed")
def rebuild_feed(feed: str, caller: Caller = Depends(require_operator)) -> dict[str, Any]:
    """As ``aisx feed rebuild``: apply the feed files, then recompute the feed (``app.admin.bootstrap``)."""
    return bootstrap.rebuild_feed(caller.participant_id, feed)


@router.get("/jobs", operation_id="jobs_status")
def jobs(_: Caller = Depends(require_operator)) -> dict[str, Any]:
    """Which ``aisx serve`` instance leads (runs the background jobs: embargo release, upstream mirroring, ...)
    and the jobs it runs, as ``aisx jobs status --json`` prints them."""
    from app.jobs import status

    return status()


@router.get("/audit", operation_id="list_audit_events")
def audit(
    actor: str | None = Query(None, description="acting participant slug, or 'exchange'"),
    action: str | None = Query(None, description="action prefix"),
    participant: str | None = Query(None, description="subject participant slug"),
    collection: str | None = Query(None, description="collection id"),
    since: str | None = Query(None, description="RFC 3339 timestamp or duration"),
    until: str | None = Query(None, description="RFC 3339 timestamp or duration"),
    order: Literal["newest", "oldest"] = Query("newest", description="newest or oldest first"),
    limit: int = Query(1000, ge=1, le=10000),
    _: Caller = Depends(require_operator),
) -> list[dict[str, Any]]:
    filters = trail.Filters(actor, action, participant, collection, since, until, limit, order == "oldest")
    with read_connection() as conn:
        return trail.audit_events(conn, filters)


@router.get("/audit/verify", operation_id="verify_audit_chain")
def audit_verify(_: Caller = Depends(require_operator)) -> dict[str, Any]:
    return verify_database().as_dict()


@router.get("/audit/export", operation_id="export_audit_chain")
def audit_export(
    since: str | None = Query(None, description="RFC 3339 timestamp or duration"),
    until: str | None = Query(None, description="RFC 3339 timestamp or duration"),
    after: int | None = Query(None, ge=0, description="the previous page's next"),
    limit: int = Query(1000, ge=1, le=10000),
    _: Caller = Depends(require_operator),
) -> dict[str, Any]:
    now = now_us()
    return export_page(since=trail.parse_moment("since", since, now), until=trail.parse_moment("until", until, now),
                       after=after, limit=limit)


@router.get("/audit/reads", operation_id="list_producer_reads")
def audit_reads(
    producer: str = Query(..., description="producer slug"),
    since: str | None = Query(None, description="RFC 3339 timestamp or duration"),
    until: str | None = Query(None, description="RFC 3339 timestamp or duration"),
    limit: int = Query(10000, ge=1, le=100000),
    _: Caller = Depends(require_operator),
) -> dict[str, Any]:
    with read_connection() as conn:
        return trail.producer_reads(conn, producer, since, until, limit)
