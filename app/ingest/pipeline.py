"""Check each object on its own, decide its audience, store the accepted ones in one transaction and record
the status resource and the audit event with them.

One bad object never sinks the envelope: it becomes a failure with a message the producer can act on.

Each object is read once, by ``check_submitted``, into a ``CheckedObject`` that every later step reads (its
markings, TLP, audience spec, ATLAS ids, index columns and terms): one object through ``submit`` used to leave
this module for ``app.stix`` 17 times, and now 3 (plus one to name unknown ATLAS techniques, for an object that
names some), ``marking_refs`` running on it once instead of 5 times (issue 15)."""

import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from sqlalchemy import Connection

from app.audit import record
from app.config import get_settings
from app.feeds.registry import route
from app.feeds.selector import Facts
from app.observability.metrics import metrics
from app.sharing.exchange import is_minted, mint_key, reserved_objects, reserved_reason
from app.sharing.reads import known_to_poster, poster_of
from app.sharing.rules import (
    Directory,
    Poster,
    Target,
    check_copied_marking,
    check_public,
    decide_audience,
)
from app.stix.ai import unknown_atlas_findings
from app.stix.checks import CheckedObject, ObjectRejected, SizeLimits, check_submitted
from app.stix.findings import Finding, describe
from app.stix.markings import TLP_BY_ID, AudienceSpec, Tlp, read_audience
from app.stix.timestamps import format_timestamp
from app.store import objects as object_store
from app.store.audience import Audience
from app.store.collections import CollectionRow
from app.store.engine import now_us, read_connection, write_transaction
from app.store.index import known_atlas_ids
from app.store.objects import Candidate, StoreOutcome
from app.store.participants import Grantee, claimed_identities, directory
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
    """The marking-definitions a poster may rely on, and the exchange-audience spec each carries (issue 12).

    A poster's objects take their audience only from markings the exchange minted (current key) or that the
    poster created: its stored ones, and those of this envelope unless the id is held by someone else with
    other content. Anyone else's marking answers exactly like a marking that does not exist, so a reference
    reveals nothing about what others posted or minted, and nobody can choose another's audience."""

    def __init__(self, checked: list[CheckedObject], poster: Poster) -> None:
        self._sent: dict[str, AudienceSpec | None] = {}  # of this envelope (first: they may be new versions)
        self._stored: dict[str, AudienceSpec | None] = {}
        self.minted: set[str] = set()  # ids of audience markings the exchange minted with its current key
        sent = {item.stix_id: item for item in checked if item.type == "marking-definition"}
        wanted = ({r for item in checked for r in item.marking_refs} | set(sent)) - set(TLP_BY_ID)
        with read_connection() as conn:
            stored = object_store.held(conn, sorted(wanted))
            key = mint_key(conn, create=False)
        for marking_id, item in sent.items():
            holder = stored.get(marking_id)
            if holder is None or holder.owner == poster.participant_id or item.content_hash in holder.hashes:
                self._sent[marking_id] = item.audience
        for marking_id, holder in stored.items():
            obj = orjson.loads(holder.raw)
            if holder.owner is None and is_minted(key, obj):
                self.minted.add(marking_id)
            own = holder.owner == poster.participant_id or marking_id in self.minted
            if own and obj.get("type") == "marking-definition":
                self._stored[marking_id] = read_audience(obj)[0]

    def __call__(self, marking_id: str) -> AudienceSpec | None:
        return self._sent[marking_id] if marking_id in self._sent else self._stored.get(marking_id)

    def unknown(self, item: CheckedObject) -> list[str]:
        """Markings ``item`` applies that are neither TLP nor a marking-definition the poster may use."""
        return [r for r in item.marking_refs if r not in TLP_BY_ID and r not in self._sent and r not in self._stored]

    def forget(self, marking_id: str) -> None:
        """A marking-definition of this envelope was rejected: objects must not rely on it (but may still rely
        on the stored one under its id, which the rejected copy does not change)."""
        self._sent.pop(marking_id, None)


@dataclass
class _Entry:
    """One object's line in the status resource."""

    id: str
    version: str
    ok: bool = False
    message: str | None = None  # why it failed
    reason: str = "validation"  # for the metrics: validation, sharing or conflict
    warnings: list[Finding] = field(default_factory=list)  # kept for an accepted object

    def as_status(self) -> dict[str, str]:
        detail = {"id": self.id, "version": self.version}
        if not self.ok and self.message:
            detail["message"] = self.message
        elif self.ok and self.warnings:
            detail["message"] = "accepted with warnings: " + describe(self.warnings)
        return detail


def submit(collection: CollectionRow, poster: Poster, objects: list[dict[str, Any]],
           key_id: str | None = None) -> StatusRow:
    """Ingest ``objects`` (each a dict with a string id) into ``collection`` as ``poster``."""
    return submit_positions(collection, poster, objects, key_id)[0]


def submit_positions(collection: CollectionRow, poster: Poster, objects: list[dict[str, Any]],
                     key_id: str | None = None) -> tuple[StatusRow, list[tuple[int, str]]]:
    """``submit``, also answering the position in ``objects`` and the message of each rejected one (the status
    names objects by id, which several versions share)."""
    request_timestamp = now_us()
    entries = [_Entry(obj["id"], _claimed_version(obj)) for obj in objects]
    checked: list[tuple[int, CheckedObject]] = []
    settings = get_settings()
    limits = SizeLimits(settings.max_object_bytes, settings.max_nesting_depth)
    for index, obj in enumerate(objects):
        try:
            item = check_submitted(obj, strict=collection.validation == "strict", limits=limits)
        except ObjectRejected as exc:
            entries[index].message = str(exc)
            continue
        except RecursionError:  # last resort: the checks bound nesting, but one object must never sink the rest
            entries[index].message = "the object nests too deeply to be checked; flatten it"
            continue
        entries[index].warnings += item.warnings
        checked.append((index, item))
    markings = _AudienceMarkings([item for _, item in checked], poster)
    with read_connection() as conn:
        reserved = reserved_objects(conn)
        claims = claimed_identities(conn)
        identities, groups = directory(conn, claims)
        poster = replace(poster, claimed=frozenset(claims.get(poster.participant_id, ())))
        every_claim = frozenset(i for ids in claims.values() for i in ids)
        known = known_to_poster(poster_of(conn, poster.participant_id))
        stored = object_store.stored_hashes(conn, [c.stix_id for _, c in checked if not c.is_sco], known)
        known_atlas = _known_atlas(conn, [item for _, item in checked])
    for index, item in checked:
        if item.atlas_ids:
            entries[index].warnings += unknown_atlas_findings(item.obj, known_atlas)
    people, target = Directory(identities, groups), Target(collection.public, collection.default_group)
    placed: list[tuple[int, CheckedObject, Candidate]] = []
    # Marking-definitions first: an object may rely only on markings that were accepted.
    for index, item in sorted(checked, key=lambda pair: pair[1].type != "marking-definition"):
        try:
            _preflight(item, target, poster, markings, people, reserved,
                       repost=(item.stix_id, item.content_hash) in stored,
                       claimed=item.stix_id in every_claim)
            if (item.stix_id, item.content_hash) in stored:  # a copy of stored content: the store decides
                placed.append((index, item, Candidate.of(item, _REPOST)))
                continue
            audience = decide_audience(item, poster, target, people, markings)
        except ObjectRejected as exc:
            entries[index].message = str(exc)
            entries[index].reason = "sharing"
            metrics().sharing_refusals.labels(exc.rule or "other").inc()
            if item.type == "marking-definition":
                markings.forget(item.stix_id)
            continue
        placed.append((index, item, Candidate.of(item, audience)))
    with write_transaction() as conn:
        now = now_us()
        names = poster_of(conn, poster.participant_id)  # again, under the write lock: its groups as of now
        outcomes = object_store.add_objects(conn, collection.id, poster.participant_id,
                                            [cand for _, _, cand in placed], now, known_to_poster(names))
        for (index, _, _), outcome in zip(placed, outcomes, strict=True):
            entries[index].version = format_timestamp(outcome.version)
            entries[index].ok = outcome.error is None
            entries[index].message = outcome.error
            entries[index].reason = "conflict"
        kept = [(item, cand, out) for (_, item, cand), out in zip(placed, outcomes, strict=True) if out.seq]
        feeds = _route_to_feeds(conn, collection, poster, names, kept, now)
        _add_exchange_markings(conn, [collection.id, *feeds], kept, markings, now)
        status = _status(collection, poster.participant_id, request_timestamp, entries)
        insert_status(conn, status)
        record(conn, "objects.add", participant_id=poster.participant_id, key_id=key_id,
               collection_id=collection.id, object_count=status.success_count,
               detail={"status_id": status.id, "failures": status.failure_count}, subject=names.slug)
    _count(entries)
    return status, [(i, e.message or "rejected") for i, e in enumerate(entries) if not e.ok]


def _count(entries: list[_Entry]) -> None:
    """The metrics of one submission, once it is committed."""
    accepted = sum(1 for e in entries if e.ok)
    if accepted:
        metrics().objects_accepted.inc(accepted)
    for reason, count in Counter(e.reason for e in entries if not e.ok).items():
        metrics().objects_rejected.labels(reason).inc(count)


def _preflight(item: CheckedObject, target: Target, poster: Poster, markings: _AudienceMarkings,
               people: Directory, reserved: dict[str, str | None], *, repost: bool, claimed: bool) -> None:
    """Rules that hold for re-posts of stored content too; raises ObjectRejected. ``claimed``: the id is an
    identity id a participant claimed (see ``_check_identity``)."""
    if item.stix_id in reserved and reserved[item.stix_id] != item.content_hash:
        copy = "" if reserved[item.stix_id] is None else " (only an exact copy of the exchange's own is accepted)"
        raise ObjectRejected(f"{item.stix_id} is reserved: it is {reserved_reason(item.stix_id)}. Reference it; "
                             f"do not post an object under it{copy}", rule="reserved_id")
    if repost and item.type == "marking-definition" and item.stix_id not in markings.minted:
        check_copied_marking(item, poster)
    unknown = [] if repost else markings.unknown(item)  # a re-post keeps the audience decided at first
    if unknown and item.tlp is not None:  # (without TLP, that is the message to give)
        raise ObjectRejected(f"marking {unknown[0]} is neither TLP nor a marking-definition this exchange holds "
                             "for you (one it minted, or one you posted): send it in the same envelope, or mint an "
                             "audience marking (POST /admin/audiences)", rule="unknown_marking")
    check_public(target, item.tlp)
    if item.type == "identity" and item.stix_id in people.identities:
        _check_identity(item.stix_id, poster, repost=repost, claimed=claimed)


def _check_identity(stix_id: str, poster: Poster, *, repost: bool, claimed: bool) -> None:
    """An identity object under a participant's id. The exchange publishes real identities (a re-post of its copy
    is fine, the store checks the copy); a claimed id's identity object is its claimant's to post, and nobody
    else's, not even as a copy of one they stored before the claim (the claim withdrew those)."""
    if claimed and stix_id in poster.claimed:
        return
    if repost and not claimed:
        return
    raise ObjectRejected(f"{stix_id} is the identity of a participant of this exchange: the exchange "
                         "publishes participants' identities (see the directory collection)", rule="identity")


def _add_exchange_markings(conn: Connection, collection_ids: list[str],
                           stored: list[tuple[CheckedObject, Candidate, StoreOutcome]],
                           markings: _AudienceMarkings, now: int) -> None:
    """Minted audience markings join the collections (and feeds) of the objects that use them, so that
    readers can resolve them: a marking is stored with its own audience (its recipients) and embargo, so it is
    served only to its recipients and only from the end of its embargo, like the objects that use it. An
    embargo-only marking (readable by every participant) joins only with objects every participant may read:
    served beside a narrower object, it would tell everyone else that such an object was posted (issue 12)."""
    wanted = {ref for item, cand, _ in stored for ref in item.marking_refs
              if ref not in TLP_BY_ID and _no_wider(markings(ref), cand.audience)}
    seqs = object_store.exchange_object_seqs(conn, sorted(wanted))
    for collection_id in collection_ids if seqs else []:
        object_store.add_to_collection(conn, collection_id, seqs, now)


def _no_wider(spec: AudienceSpec | None, user: Audience) -> bool:
    """Whether a marking with this spec reaches nobody its user does not (a re-post's audience is the stored
    one, unknown here: only markings with recipients, whose users reach at least them, join with it)."""
    if spec is None or spec.has_recipients:
        return spec is not None
    return user is not _REPOST and user.tlp <= Tlp.GREEN and not user.has_recipients


def _route_to_feeds(conn: Connection, collection: CollectionRow, poster: Poster, names: Grantee,
                    stored: list[tuple[CheckedObject, Candidate, StoreOutcome]], now: int) -> list[str]:
    """The feeds the stored objects were routed to. Who posted is a fact for ``producers``/``producer_kinds``
    selectors only for objects that name one of the poster's real identities (``Facts.of``)."""
    if not stored:
        return []
    who = (names.kind, names.slug, set(poster.real_identities))
    arrivals = [(out.seq, Facts.of(item.obj, int(cand.audience.tlp), *who, collection.id, item.terms))
                for item, cand, out in stored if out.seq is not None and cand.audience is not _REPOST]
    return route(conn, arrivals, now)


def _known_atlas(conn: Connection, items: list[CheckedObject]) -> set[str]:
    """ATLAS technique ids the exchange holds, or that arrive in this envelope."""
    wanted = sorted({t for item in items for t in item.atlas_ids})
    arriving = {x for item in items if (x := item.index["atlas_id"])}
    return (known_atlas_ids(conn, wanted) if wanted else set()) | arriving


def _status(collection: CollectionRow, producer_id: int, request_timestamp: int,
            entries: list[_Entry]) -> StatusRow:
    successes = [e.as_status() for e in entries if e.ok]
    failures = [e.as_status() for e in entries if not e.ok]
    return StatusRow(
        id=str(uuid.uuid4()), api_root=collection.api_root, collection_id=collection.id,
        participant_id=producer_id, request_timestamp=request_timestamp, total_count=len(entries),
        success_count=len(successes), failure_count=len(failures), pending_count=0,
        successes=orjson.dumps(successes).decode(), failures=orjson.dumps(failures).decode(), pendings="[]",
    )
