"""Routes for a participant about itself (its own key, never an operator's view): who read its AMBER and RED
objects. Thin: the answer is ``app.admin.audit.reads_of`` for the caller."""

from typing import Any

from fastapi import APIRouter, Depends, Query

from app.admin import audit as trail
from app.sharing.access import Caller
from app.store.engine import read_connection
from app.taxii.auth import require_caller

router = APIRouter(prefix="/me", tags=["participant"])


@router.get("/reads", operation_id="list_my_reads")
def my_reads(
    since: str | None = Query(None, description="RFC 3339 timestamp or duration"),
    until: str | None = Query(None, description="RFC 3339 timestamp or duration"),
    limit: int = Query(10000, ge=1, le=100000),
    caller: Caller = Depends(require_caller),
) -> dict[str, Any]:
    with read_connection() as conn:
        return {"producer": caller.slug, **trail.reads_of(conn, caller.participant_id, since, until, limit)}
