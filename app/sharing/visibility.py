"""The one visibility predicate: which stored object versions a reader may see.

Every read path (objects, an object, versions, manifest, match[id], pagination headers, deletes) filters its
rows with ``visible_to`` and nothing else, so each sharing rule lives here and only here. It is SQL over the
membership row ``m`` and object row ``o`` of ``app.store.objects``, evaluated inside the query — never a scan
in Python, and never served as a superuser.

A version is visible when all of these hold:
1. it has entered the collection (date_added ≤ now; embargoed versions enter when the embargo ends);
2. its audience admits the reader (TLP, recipients, producer — see ``_audience_admits``);
3. the newest released version from the same producer admits the reader too (else tightening a marking in a
   new version would leave the old ones readable); a version under embargo does not count until its release;
4. in a public collection: it is TLP:CLEAR;
5. for an observable held identically by several producers: no earlier visible copy was already served;
6. for any other object held by several producers (each posted its own copy without seeing the others'): no
   copy of a producer that posted the id earlier is visible to the reader in the collection.

Noninterference: a reader's answer never depends on an object it cannot see. Rules 1-4 look only at the row
itself and its producer's newest version; rules 5 and 6 look at other copies only through 1-4 for this reader.
No rule looks at what an object references: a relationship is not hidden because an endpoint is (that made
relationships an existence oracle — post one to a candidate's deterministic id and watch whether it vanishes);
its producer marks it as strictly as its endpoints.

``first_visible`` applies the same clause to a version's predecessors, so match[version]=first is the oldest
version the reader can see, never one it cannot.

The clauses are built once per reader (participant and groups; a poster's ``known_to`` by id, slug, kind and
groups) and reused: building the expression tree costs more than running the query it filters (aliases copy
every column). "Now" is a bind parameter evaluated each time a statement runs, so a cached clause never goes
stale. A clause takes about 370 KB, so each worker keeps the 64 most recent readers' (at most ~25 MB); another
reader's is rebuilt in about 2 ms. The store keeps the statements built on them the same way
(``app.store.objects._page_statement``). No clause carries a list as one expanding parameter: SQLAlchemy would
rewrite the statement's text at every execution."""

import re
import time
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    FromClause,
    SmallInteger,
    String,
    and_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)

from app.sharing.access import Caller, grant_subjects
from app.stix.markings import Tlp
from app.stix.model import SCO_TYPES
from app.store.models import (
    collection_table,
    grant_table,
    membership_table,
    object_audience_table,
    stix_object_table,
)
from app.store.objects import m, o
from app.store.participants import Grantee

_membership = membership_table
_audience = object_audience_table
_objects = stix_object_table
_collections = collection_table
_grants = grant_table
Now = BindParameter[int]
Rows = FromClause  # a table or an alias of it (``m``, ``o``, ``_objects.alias()``): the clauses take either


@dataclass(frozen=True)
class Reader:
    """What the predicate needs to know of a caller: who it is and which groups it belongs to."""

    participant_id: int
    groups: tuple[str, ...]


def _reader(caller: Caller | None) -> Reader | None:
    return None if caller is None else Reader(caller.participant_id, tuple(sorted(caller.groups)))


def _now() -> Now:
    return bindparam("now", type_=BigInteger, unique=True, callable_=lambda: time.time_ns() // 1000)


# TLP levels as constants in the SQL text, not parameters: they are the code's own, the same in every query
_CLEAR, _GREEN = (literal_column(str(int(level)), SmallInteger) for level in (Tlp.CLEAR, Tlp.GREEN))


def _released(obj: Rows, now: Now) -> ColumnElement[bool]:
    return or_(obj.c.release_at.is_(None), obj.c.release_at <= now)


def _listed(obj: Rows, reader: Reader) -> ColumnElement[bool]:
    recipient = _audience.alias()
    named = recipient.c.participant_id == reader.participant_id
    if reader.groups:
        named = or_(named, recipient.c.group_name.in_([literal(group) for group in reader.groups]))
    return exists(select(recipient.c.id).where(recipient.c.object_seq == obj.c.seq, named))


def _audience_admits(obj: Rows, reader: Reader | None, now: Now) -> ColumnElement[bool]:
    """TLP and recipients, for one object version (no collection involved).

    CLEAR → everyone; GREEN → every participant (only the recipients, if it names some); AMBER, AMBER+STRICT
    and RED → the named recipients (a collection default group is frozen in as one); the producer always.
    Nobody, the producer included, sees a version before its embargo ends."""
    if reader is None:
        return and_(obj.c.tlp == _CLEAR, _released(obj, now))
    # GREEN without recipients, or GREEN and above naming the reader: the recipients' subquery appears once (as
    # "GREEN: no recipients or listed; AMBER and above: listed" it appeared twice, in a statement that PostgreSQL
    # parses and plans on each connection, and that psycopg converts at every execution)
    by_tlp = or_(
        obj.c.tlp == _CLEAR,
        and_(obj.c.tlp == _GREEN, not_(obj.c.has_audience)),
        and_(obj.c.tlp >= _GREEN, _listed(obj, reader)),
    )
    return and_(_released(obj, now), or_(obj.c.producer_id == reader.participant_id, by_tlp))


def _object_visible(obj: Rows, reader: Reader | None, now: Now) -> ColumnElement[bool]:
    """Rules 2 and 3: this version admits the reader, and so does the producer's newest released version. A
    version still under embargo does not count yet: it does not exist for anyone until its release (else an
    embargoed update would hide the versions before it, telling every reader that an update is coming)."""
    newest, newer = _objects.alias(), _objects.alias()
    same_copy = and_(newest.c.stix_id == obj.c.stix_id, newest.c.producer_id.is_not_distinct_from(obj.c.producer_id))
    newest_released_admits = exists(select(newest.c.seq).where(
        same_copy,
        _released(newest, now),
        not_(exists(select(newer.c.seq).where(
            newer.c.stix_id == newest.c.stix_id,
            newer.c.producer_id.is_not_distinct_from(newest.c.producer_id),
            newer.c.version > newest.c.version,
            _released(newer, now),
        ))),
        _audience_admits(newest, reader, now),
    ))
    return and_(_audience_admits(obj, reader, now), or_(obj.c.is_latest, newest_released_admits))


def _sql_strings(names: frozenset[str]) -> list[ColumnElement[str]]:
    """Constant names of ours as SQL string literals; only letters, digits and hyphens, so quoting is enough."""
    if unsafe := sorted(name for name in names if not re.fullmatch("[a-z0-9-]+", name)):
        raise ValueError(f"not a plain type name: {unsafe}")
    return [literal_column(f"'{name}'", String) for name in sorted(names)]


_SCO_TYPE_LIST = _sql_strings(SCO_TYPES)


def _is_sco(mem: Rows) -> ColumnElement[bool]:
    """The row is an observable. The type names are written into the SQL, and the reader's groups are separate
    parameters: a list given as one expanding parameter makes SQLAlchemy rewrite the statement's text at every
    execution (``IN (__[POSTCOMPILE_…])``), and these clauses are in every read."""
    return mem.c.type.in_(_SCO_TYPE_LIST)


def _first_identical_copy(reader: Reader | None, now: Now, mem: Rows, obj: Rows) -> ColumnElement[bool]:
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
    return or_(not_(_is_sco(mem)), not_(duplicate_seen))


def _first_producers_copy(reader: Reader | None, public_collection: bool, now: Now, mem: Rows,
                          obj: Rows) -> ColumnElement[bool]:
    """Rule 6: of the copies several producers posted under one id, serve the earliest producer's that the
    reader can see (by rules 1-4), so no reader gets two producers' "versions" of one object in a collection."""
    other_m, other_o = _membership.alias(), _objects.alias()
    mine, theirs = _objects.alias(), _objects.alias()
    my_first = select(func.min(mine.c.seq)).where(
        mine.c.stix_id == obj.c.stix_id, mine.c.producer_id.is_not_distinct_from(obj.c.producer_id)
    ).correlate(obj).scalar_subquery()  # two levels down: auto-correlation would not reach ``obj``
    earlier_copy_seen = exists(select(other_m.c.seq).select_from(
        other_m.join(other_o, other_o.c.seq == other_m.c.object_seq)
    ).where(
        other_m.c.collection_id == mem.c.collection_id,
        other_m.c.stix_id == mem.c.stix_id,
        other_m.c.producer_id.is_distinct_from(mem.c.producer_id),
        exists(select(theirs.c.seq).where(theirs.c.stix_id == other_o.c.stix_id,
                                          theirs.c.producer_id.is_not_distinct_from(other_o.c.producer_id),
                                          theirs.c.seq < my_first)),
        _own_rules(reader, public_collection, other_m, other_o, now),
    ))
    return or_(_is_sco(mem), not_(earlier_copy_seen))


def visible_to(caller: Caller | None, *, public_collection: bool) -> ColumnElement[bool]:
    """The clause every read query applies to its membership rows ``m`` joined to their objects ``o``."""
    return _visible(_reader(caller), public_collection)


def first_visible(caller: Caller | None, *, public_collection: bool) -> ColumnElement[bool]:
    """match[version]=first for this reader: no earlier version of the same copy is visible to it in the
    collection. (A version the reader cannot see must not be "first" for it: it would look absent in every
    other answer, so "first" would betray it by returning nothing.)"""
    return _first_visible(_reader(caller), public_collection)


def admitted_to(caller: Caller, *, public_collection: bool) -> ColumnElement[bool]:
    """Rules 1-4 only, for the rows ``m``/``o``: every copy the reader may see before rules 5 and 6 serve one copy
    per id. What counts as a read of a producer's object (``app.sharing.reads.shared_copies``)."""
    return _admitted(_reader(caller), public_collection)


def known_to(poster: Grantee) -> ColumnElement[bool]:
    """Which stored versions (rows ``o``) a write by ``poster`` may take into account: its own, the exchange's
    (reserved ids), marking-definitions (resolved exchange-wide: see docs/threat-model/oracles.md), and others'
    only if the poster can read them in some collection (rules 1-4 there). Ownership conflicts and the identical
    re-post shortcut consult nothing else, so a write's answer never reveals an object the poster cannot see.

    Built once per poster (id, slug, kind and groups: everything it depends on) like the read clauses: building
    it was 45% of the server's CPU for a one-object POST (py-spy, 600 POSTs on SQLite)."""
    return _known(poster.id, poster.slug, poster.kind, tuple(sorted(poster.groups)))


@lru_cache(maxsize=64)
def _known(poster_id: int, slug: str, kind: str, groups: tuple[str, ...]) -> ColumnElement[bool]:
    reader, now = Reader(poster_id, groups), _now()
    named = [and_(_grants.c.subject_kind == s.kind, _grants.c.subject == s.value)
             for s in grant_subjects(slug, kind, groups)]
    granted = select(_grants.c.collection_id).where(_grants.c.can_read, or_(*named))
    public = select(_collections.c.id).where(_collections.c.public)
    mem = _membership.alias()
    readable_member = exists(select(mem.c.seq).where(
        mem.c.object_seq == o.c.seq, mem.c.date_added <= now,
        or_(and_(mem.c.collection_id.in_(granted), mem.c.collection_id.not_in(public)),
            and_(mem.c.collection_id.in_(public), o.c.tlp == _CLEAR)),
    ))
    return or_(o.c.producer_id == poster_id, o.c.producer_id.is_(None), o.c.type == "marking-definition",
               and_(_object_visible(o, reader, now), readable_member))


@lru_cache(maxsize=64)
def _admitted(reader: Reader | None, public_collection: bool) -> ColumnElement[bool]:
    return _own_rules(reader, public_collection, m, o, _now())


@lru_cache(maxsize=64)
def _visible(reader: Reader | None, public_collection: bool) -> ColumnElement[bool]:
    return _visible_rows(reader, public_collection, m, o, _now())


def _own_rules(reader: Reader | None, public_collection: bool, mem: Rows, obj: Rows,
               now: Now) -> ColumnElement[bool]:
    """Rules 1-4: what one membership row and its producer's own versions decide."""
    return and_(
        mem.c.date_added <= now,
        _object_visible(obj, reader, now),
        obj.c.tlp == _CLEAR if public_collection else true(),
    )


def _visible_rows(reader: Reader | None, public_collection: bool, mem: Rows, obj: Rows,
                  now: Now) -> ColumnElement[bool]:
    return and_(
        _own_rules(reader, public_collection, mem, obj, now),
        _first_identical_copy(reader, now, mem, obj),
        _first_producers_copy(reader, public_collection, now, mem, obj),
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
