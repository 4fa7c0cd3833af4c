"""Check each object on its own, decide its audience, store the accepted ones in one transaction and record
the status resource and the audit event with them.

One bad object never sinks the envelope: it becomes a failure with a message the producer can act on."""

import uuid
from typing import Any

import orjson

from app.audit import record
from app.sharing.rules import Audience, Directory, Poster, Target, decide_audience
from app.stix.checks import CheckedObject, ObjectRejected, check_object
from app.stix.markings import TLP_BY_ID, AudienceSpec, MarkingError, Tlp, audience_spec, marking_refs
from app.stix.timestamps import format_timestamp
from app.store import objects as object_store
from app.store.collections import CollectionRow
from app.store.engine import now_us, read_connection, write_transaction
from app.store.objects import Candidate
from app.store.participants import directory
from app.store.status import StatusRow, insert_status

# Identical re-posts of stored objects keep the stored audience; this placeholder is never stored.
_REPOST = Audience(Tlp.RED)


def _claimed_version(obj: dict[str, Any]) -> str:
    """The version a rejected object claims, for its status entry (which requires one)."""
    for prop in ("modified", "created"):
        if isinstance(obj.get(prop), str):
            return obj[prop]
    return "unknown"


class _AudienceMarkings:
    """Resolves marking references to exchange-audience specs: from this envelope first, then the store."""

    def __init__(self, checked: list[CheckedObject]) -> None:
        self._specs: dict[str, AudienceSpec | None] = {}
        for item in checked:
            try:
                self._specs[item.stix_id] = audience_spec(item.obj)
            except MarkingError:
                self._specs[item.stix_id] = None
        wanted = {r for item in checked for r in marking_refs(item.obj)} - set(TLP_BY_ID) - set(self._specs)
        with read_connection() as conn:
            stored = object_store.latest_raw(conn, sorted(wanted))
        for marking_id, raw in stored.items():
            try:
                self._specs[marking_id] = audience_spec(orjson.loads(raw))
            except MarkingError:
                self._specs[marking_id] = None

    def __call__(self, marking_id: str) -> AudienceSpec | None:
        return self._specs.get(marking_id)


def submit(collection: CollectionRow, poster: Poster, objects: list[dict[str, Any]],
           key_id: str | None = None) -> StatusRow:
    """Ingest ``objects`` (each a dict with a string id) into ``collection`` as ``poster``."""
    request_timestamp = now_us()
    entries: list[dict[str, str] | None] = []
    checked: list[CheckedObject] = []
    for obj in objects:
        try:
            checked.append(check_object(obj))
            entries.append(None)
        except ObjectRejected as exc:
            entries.append({"id": obj["id"], "version": _claimed_version(obj), "message": str(exc)})
    markings = _AudienceMarkings(checked)
    with read_connection() as conn:
        identities, groups = directory(conn)
        stored = object_store.stored_hashes(conn, [c.stix_id for c in checked if not c.is_sco])
    people, target = Directory(identities, groups), Target(collection.public, collection.default_group)
    candidates: list[Candidate] = []
    slots = iter(i for i, e in enumerate(entries) if e is None)
    placed: list[int] = []
    for item in checked:
        index = next(slots)
        if (item.stix_id, item.content_hash) in stored:  # a copy of stored content: the store decides
            candidates.append(_candidate(item, _REPOST))
            placed.append(index)
            continue
        try:
            audience = decide_audience(item.obj, poster, target, people, markings)
        except ObjectRejected as exc:
            entries[index] = {"id": item.stix_id, "version": _claimed_version(item.obj), "message": str(exc)}
            continue
        candidates.append(_candidate(item, audience))
        placed.append(index)
    with write_transaction() as conn:
        outcomes = object_store.add_objects(conn, collection.id, poster.participant_id, candidates, now_us())
        for index, cand, outcome in zip(placed, candidates, outcomes, strict=True):
            entries[index] = {"id": cand.stix_id, "version": format_timestamp(outcome.version)}
            if outcome.error:
                entries[index]["message"] = outcome.error
        status = _status(collection, poster.participant_id, request_timestamp, entries)
        insert_status(conn, status)
        record(conn, "objects.add", participant_id=poster.participant_id, key_id=key_id,
               collection_id=collection.id, object_count=status.success_count,
               detail={"status_id": status.id, "failures": status.failure_count})
    return status


def _candidate(item: CheckedObject, audience: Audience) -> Candidate:
    return Candidate(item.stix_id, item.type, item.spec_version, item.version, item.content_hash, item.raw,
                     item.is_sco, audience)


def _status(collection: CollectionRow, producer_id: int, request_timestamp: int,
            entries: list[dict[str, str] | None]) -> StatusRow:
    successes = [e for e in entries if e and "message" not in e]
    failures = [e for e in entries if e and "message" in e]
    return StatusRow(
        id=str(uuid.uuid4()), api_root=collection.api_root, collection_id=collection.id,
        participant_id=producer_id, request_timestamp=request_timestamp, total_count=len(entries),
        success_count=len(successes), failure_count=len(failures), pending_count=0,
        successes=orjson.dumps(successes).decode(), failures=orjson.dumps(failures).decode(), pendings="[]",
    )
