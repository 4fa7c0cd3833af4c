"""The one visibility predicate: which stored object versions a reader may see.

Every read path (objects, an object, versions, manifest, match[id], pagination headers, deletes) filters its
rows with ``visible_to`` and nothing else, so each sharing rule lives here and only here. It is SQL over the
membership row ``m`` and object row ``o`` of ``app.store.objects``, evaluated inside the query — never a scan
in Python, and never served as a superuser.

A version is visible when all of these hold:
1. it has entered the collection (date_added ≤ now; embargoed versions enter when the embargo ends);
2. its audience admits the reader (TLP, recipients, producer — see ``_audience_admits``);
3. the newest version from the same producer admits the reader too (else tightening a marking in a new
   version would leave the old ones readable);
4. for a relationship or sighting: every endpoint the exchange holds is visible by 2-3 as well;
5. in a public collection: it is TLP:CLEAR;
6. for an observable held identically by several producers: no earlier visible copy was already served.

``first_visible`` applies the same clause to a version's predecessors, so match[version]=first is the oldest
version the reader can see, never one it cannot.

The clauses are built once per reader (participant and groups) and reused: building the expression tree costs
more than running the query it filters (aliases copy every column). "Now" is a bind parameter evaluated each
time a statement runs, so a cached clause never goes stale. A clause takes about 370 KB, so each worker keeps
the 64 most recent readers' (at most ~25 MB); another reader's is rebuilt in about 2 ms."""

import time
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import (
    Alias,
    BigInteger,
    BindParameter,
    ColumnElement,
    Table,
    and_,
    bindparam,
    exists,
    not_,
    or_,
    select,
    true,
)

from app.participants.auth import Caller
from app.stix.checks import SCO_TYPES
from app.stix.markings import Tlp
from app.store.models import Membership, ObjectAudience, ObjectRef, StixObject
from app.store.objects import m, o

_membership = Membership.__table__
_audience = ObjectAudience.__table__
_refs = ObjectRef.__table__
_objects = StixObject.__table__
Now = BindParameter[int]


@dataclass(frozen=True)
class Reader:
    """What the predicate needs to know of a caller: who it is and which groups it belongs to."""

    participant_id: int
    groups: tuple[str, ...]


def _reader(caller: Caller | None) -> Reader | None:
    return None if caller is None else Reader(caller.participant_id, tuple(sorted(caller.groups)))


def _now() -> Now:
    return bindparam("now", type_=BigInteger, unique=True, callable_=lambda: time.time_ns() // 1000)


def _released(obj: Table, now: Now) -> ColumnElement[bool]:
    return or_(obj.c.release_at.is_(None), obj.c.release_at <= now)


def _listed(obj: Table, reader: Reader) -> ColumnElement[bool]:
    recipient = _audience.alias()
    named = recipient.c.participant_id == reader.participant_id
    if reader.groups:
        named = or_(named, recipient.c.group_name.in_(reader.groups))
    return exists(select(recipient.c.id).where(recipient.c.object_seq == obj.c.seq, named))


def _audience_admits(obj: Table, reader: Reader | None, now: Now) -> ColumnElement[bool]:
    """TLP and recipients, for one object version (no collection involved).

    CLEAR → everyone; GREEN → every participant (only the recipients, if it names some); AMBER, AMBER+STRICT
    and RED → the named recipients (a collection default group is frozen in as one); the producer always.
    Nobody, the producer included, sees a version before its embargo ends."""
    if reader is None:
        return and_(obj.c.tlp == int(Tlp.CLEAR), _released(obj, now))
    listed = _listed(obj, reader)
    by_tlp = or_(
        obj.c.tlp == int(Tlp.CLEAR),
        and_(obj.c.tlp == int(Tlp.GREEN), or_(not_(obj.c.has_audience), listed)),
        and_(obj.c.tlp >= int(Tlp.AMBER), listed),
    )
    return and_(_released(obj, now), or_(obj.c.producer_id == reader.participant_id, by_tlp))


def _object_visible(obj: Table, reader: Reader | None, now: Now) -> ColumnElement[bool]:
    """Rules 2 and 3: this version and the producer's newest version both admit the reader."""
    newest = _objects.alias()
    newest_admits = exists(select(newest.c.seq).where(
        newest.c.stix_id == obj.c.stix_id,
        newest.c.producer_id.is_not_distinct_from(obj.c.producer_id),
        newest.c.is_latest,
        _audience_admits(newest, reader, now),
    ))
    return and_(_audience_admits(obj, reader, now), or_(obj.c.is_latest, newest_admits))


def _endpoints_visible(reader: Reader | None, now: Now, obj: Alias) -> ColumnElement[bool]:
    """Rule 4: no essential reference points at an object the exchange holds but the reader cannot see."""
    ref = _refs.alias()
    held, seen = _objects.alias(), _objects.alias()
    hidden_endpoint = exists(select(ref.c.ref_id).where(
        ref.c.object_seq == obj.c.seq,
        exists(select(held.c.seq).where(held.c.stix_id == ref.c.ref_id)),
        not_(exists(select(seen.c.seq).where(
            seen.c.stix_id == ref.c.ref_id, seen.c.is_latest, _audience_admits(seen, reader, now)))),
    ))
    return or_(not_(obj.c.has_essential_refs), not_(hidden_endpoint))


def _first_identical_copy(reader: Reader | None, now: Now, mem: Alias, obj: Alias) -> ColumnElement[bool]:
    """Rule 6: serve an observable's identical copies from several producers once."""
    earlier_m, earlier_o = _membership.alias(), _objects.alias()
    duplicate_seen = exists(select(earlier_m.c.seq).select_from(
        earlier_m.join(earlier_o, earlier_o.c.seq == earlier_m.c.object_seq)
    ).where(
        earlier_m.c.collection_id == mem.c.collection_id,
        earlier_m.c.stix_id == mem.c.stix_id,
        earlier_m.c.seq < mem.c.seq,
        earlier_o.c.content_hash == obj.c.content_hash,
        earlier_o.c.producer_id.is_distinct_from(obj.c.producer_id),
        _audience_admits(earlier_o, reader, now),
    ))
    return or_(mem.c.type.not_in(SCO_TYPES), not_(duplicate_seen))


def visible_to(caller: Caller | None, *, public_collection: bool) -> ColumnElement[bool]:
    """The clause every read query applies to its membership rows ``m`` joined to their objects ``o``."""
    return _visible(_reader(caller), public_collection)


def first_visible(caller: Caller | None, *, public_collection: bool) -> ColumnElement[bool]:
    """match[version]=first for this reader: no earlier version of the same copy is visible to it in the
    collection. (A version the reader cannot see must not be "first" for it: it would look absent in every
    other answer, so "first" would betray it by returning nothing.)"""
    return _first_visible(_reader(caller), public_collection)


@lru_cache(maxsize=64)
def _visible(reader: Reader | None, public_collection: bool) -> ColumnElement[bool]:
    return _visible_rows(reader, public_collection, m, o, _now())


def _visible_rows(reader: Reader | None, public_collection: bool, mem: Alias, obj: Alias,
                  now: Now) -> ColumnElement[bool]:
    return and_(
        mem.c.date_added <= now,
        _object_visible(obj, reader, now),
        _endpoints_visible(reader, now, obj),
        obj.c.tlp == int(Tlp.CLEAR) if public_collection else true(),
        _first_identical_copy(reader, now, mem, obj),
    )


@lru_cache(maxsize=64)
def _first_visible(reader: Reader | None, public_collection: bool) -> ColumnElement[bool]:
    earlier_m, earlier_o = _membership.alias(), _objects.alias()
    return not_(exists(select(earlier_m.c.seq).select_from(
        earlier_m.join(earlier_o, earlier_o.c.seq == earlier_m.c.object_seq)
    ).where(
        earlier_m.c.collection_id == m.c.collection_id,
        earlier_m.c.stix_id == m.c.stix_id,
        earlier_m.c.producer_id.is_not_distinct_from(m.c.producer_id),
        earlier_m.c.version < m.c.version,
        _visible_rows(reader, public_collection, earlier_m, earlier_o, _now()),
    )))
