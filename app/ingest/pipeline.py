"""Check each object on its own, store the accepted ones in one transaction, record the status resource.

One bad object never sinks the envelope: it becomes a failure with a message the producer can act on."""

import uuid
from typing import Any

import orjson

from app.stix.checks import ObjectRejected, to_candidate
from app.stix.timestamps import format_timestamp
from app.store.collections import CollectionRow
from app.store.engine import now_us, write_transaction
from app.store.objects import Candidate, add_objects
from app.store.status import StatusRow, insert_status


def _claimed_version(obj: dict[str, Any]) -> str:
    """The version a rejected object claims, for its status entry (which requires one)."""
    for prop in ("modified", "created"):
        if isinstance(obj.get(prop), str):
            return obj[prop]
    return "unknown"


def submit(collection: CollectionRow, producer_id: int, objects: list[dict[str, Any]]) -> StatusRow:
    """Ingest ``objects`` (each a dict with a string id) into ``collection`` as ``producer_id``."""
    request_timestamp = now_us()
    entries: list[dict[str, str] | None] = []
    candidates: list[Candidate] = []
    for obj in objects:
        try:
            candidates.append(to_candidate(obj))
            entries.append(None)  # filled in once stored
        except ObjectRejected as exc:
            entries.append({"id": obj["id"], "version": _claimed_version(obj), "message": str(exc)})
    with write_transaction() as conn:
        stored = iter(zip(candidates, add_objects(conn, collection.id, producer_id, candidates, now_us()),
                          strict=True))
        for index, entry in enumerate(entries):
            if entry is None:
                cand, outcome = next(stored)
                entries[index] = {"id": cand.stix_id, "version": format_timestamp(outcome.version)}
                if outcome.error:
                    entries[index]["message"] = outcome.error
        successes = [e for e in entries if e and "message" not in e]
        failures = [e for e in entries if e and "message" in e]
        status = StatusRow(
            id=str(uuid.uuid4()), api_root=collection.api_root, collection_id=collection.id,
            participant_id=producer_id, request_timestamp=request_timestamp, total_count=len(objects),
            success_count=len(successes), failure_count=len(failures), pending_count=0,
            successes=orjson.dumps(successes).decode(), failures=orjson.dumps(failures).decode(), pendings="[]",
        )
        insert_status(conn, status)
    return status
