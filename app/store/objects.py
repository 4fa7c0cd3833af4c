"""Object versions and collection membership: the only SQL for STIX content.

Reads take a ``visible`` clause and apply it to every row they return, so object-level sharing is enforced in
one place; they never decide visibility themselves. Only ``app.sharing.reads`` calls them: it builds the clause
from the reader, so no route can hand the store a clause of its own (tests/test_layers.py checks the imports)."""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    null,
    or_,
    select,
    true,
    update,
)

from app.stix.checks import CheckedObject
from app.stix.markings import Tlp
from app.stix.timestamps import format_timestamp
from app.store.audience import Audience
from app.store.index import insert_terms, term_rows
from app.store.lists import in_list
from app.store.models import (
    collection_table,
    exchange_meta_table,
    membership_table,
    object_audience_table,
    shared_id_table,
    stix_object_table,
)
from app.store.queries import ObjectFilter, Position, VersionFilter

m = membership_table.alias("m")
o = stix_object_table.alias("o")
_membership = membership_table
_objects = stix_object_table
_meta = exchange_meta_table
_audience = object_audience_table
_CLOCK_KEY = "date_added_clock"
PENDING = 1 << 62
"""date_added of a pending member (embargo not yet released): after every real date, so the visibility
predicate's ``date_added <= now`` hides it from everyone, and no page, header or cursor ever carries it."""
RELEASE_BATCH = 5_000


@dataclass(frozen=True)
class Candidate:
    """An object that passed validation, with the columns the store indexes and its decided audience."""

    stix_id: str
    type: str
    spec_version: str
    version: int | None  # None for objects with neither modified nor created (most SCOs)
    content_hash: str
    raw: str
    is_sco: bool
    audience: Audience
    index: dict[str, Any] = field(default_factory=dict)  # filter columns: confidence, revoked, atlas_id
    terms: tuple[tuple[str, str], ...] = ()  # (kind, value) pairs feed selectors look up

    @classmethod
    def of(cls, item: CheckedObject, audience: Audience) -> "Candidate":
        """The candidate for a checked object with its decided audience (the one way to build one)."""
        return cls(item.stix_id, item.type, item.spec_version, item.version, item.content_hash, item.raw,
                   item.is_sco, audience, item.index, item.terms)


@dataclass(frozen=True)
class StoreOutcome:
    version: int
    error: str | None = None
    seq: int | None = None  # the stored object version, when the outcome is a success


class PageRow(NamedTuple):
    """One row of a page (a named tuple: a page builds a thousand of them)."""

    seq: int
    date_added: int
    stix_id: str
    version: int
    tlp: int
    raw: str | None
    producer_id: int | None  # the real poster (NULL: the exchange); never served, kept for the audit of reads
    shared: bool  # more than one producer holds a copy of this id (``shared_id``; never served either)


# ---------------------------------------------------------------- reads

# PageRow.shared: the row's id is in ``shared_id`` (held by more than one producer): a probe of a small table per
# row, where asking the membership index (does another producer hold a copy here?) descends a tree as large as
# the collection. Single quick runs at 1,000,000 objects could not tell the two apart (full sync 50,172 and
# 52,388 objects/s; 57,488 without either): bench/NOTES.md has the open question.
_SHARED = m.c.stix_id.in_(select(shared_id_table.c.stix_id))


def _version_clause(versions: VersionFilter, first: ColumnElement[bool] | None = None) -> ColumnElement[bool]:
    """match[version] as SQL; exact versions come as the parameter ``exact_versions`` (``_version_params``), so
    a cached statement serves any list of them."""
    if versions.all:
        return true()
    parts: list[ColumnElement[bool]] = []
    if versions.last:
        parts.append(m.c.is_latest)
    if versions.first:
        parts.append(m.c.is_first if first is None else first)
    if versions.exact:
        parts.append(in_list(m.c.version, "exact_versions"))
    return or_(*parts) if parts else false()


def _version_params(versions: VersionFilter) -> dict[str, Any]:
    return {"exact_versions": list(versions.exact)} if versions.exact and not versions.all else {}


def _version_shape(versions: VersionFilter) -> VersionFilter:
    """``versions`` as far as the SQL depends on it: the exact versions are a parameter, so any list of them is
    one placeholder."""
    return replace(versions, exact=(0,) if versions.exact else ())


def _skip_served(rows: list[Row], after: Position | None) -> list[Row]:
    """Drop the rows at the resume date that the previous pages already served (see ``Position``)."""
    if after is None:
        return rows
    served = 0
    while served < min(after.served, len(rows)) and rows[served].date_added == after.date_added:
        served += 1
    return rows[served:]


class _PageShape(NamedTuple):
    """What the SQL of a page statement depends on besides the reader's clauses (the values are parameters)."""

    with_raw: bool
    versions: VersionFilter  # ``_version_shape``
    parameters: frozenset[str]  # which of the optional filters are given


@lru_cache(maxsize=64)
def _page_statement(visible: ColumnElement[bool], first: ColumnElement[bool] | None, shape: _PageShape) -> Select:
    """The page query for one reader's clauses and one shape of filter, built once and run with parameters.

    SQLAlchemy finds a statement's compiled form by a cache key computed by walking the whole statement, and it
    remembers that key on the statement object. Built anew for every request, the statement was walked anew
    every time, and the visibility clause is large: the walk was the largest single cost of a GET (py-spy on the
    server, 1,500 GET objects of 20 objects on SQLite: 13% of all samples in ``_generate_cache_key``, against
    24% for the whole page query).

    The entries hold the clauses as keys, strongly, so an entry can never answer for a clause of another reader
    that reused a freed object's id. The clauses come from ``app.sharing.visibility``'s own per-reader caches, so
    a reader's next request finds the same objects. 64 entries (a reader uses a few shapes: objects, manifest, one
    object, its versions) keep at most 64 clauses alive beyond those caches, about 24 MB at 370 KB a clause."""
    named = shape.parameters
    query = (
        select(m.c.seq, m.c.date_added, m.c.stix_id, m.c.version, o.c.tlp, o.c.raw if shape.with_raw else null(),
               m.c.producer_id, _SHARED)
        .select_from(m.join(o, o.c.seq == m.c.object_seq))
        .where(m.c.collection_id == bindparam("collection_id"), visible, _version_clause(shape.versions, first))
    )
    if "stix_id" in named:
        query = query.where(m.c.stix_id == bindparam("stix_id"))
    for name, column in (("ids", m.c.stix_id), ("types", m.c.type), ("spec_versions", m.c.spec_version)):
        if name in named:
            query = query.where(in_list(column, name))
    if "added_after" in named:
        query = query.where(m.c.date_added > bindparam("added_after"))
    if "after" in named:
        query = query.where(m.c.date_added >= bindparam("after"))
    return query.order_by(m.c.date_added, m.c.seq).limit(bindparam("page_rows", type_=Integer))


def page(
    conn: Connection,
    collection_id: str,
    flt: ObjectFilter,
    visible: ColumnElement[bool],
    *,
    stix_id: str | None = None,
    with_raw: bool = True,
    first: ColumnElement[bool] | None = None,
) -> tuple[list[PageRow], bool]:
    """One page of membership rows in (date_added, seq) order, and whether more follow. ``first`` says which
    rows are the first version for this reader (default: the first version in the collection).

    A page resumes at ``flt.after`` by date alone (``date_added >=``, a plain seek of the page index) and drops
    the rows at that date already served, so the resume point names no sequence number."""
    skipped = flt.after.served if flt.after is not None else 0
    optional: dict[str, Any] = {
        "stix_id": stix_id, "ids": list(flt.ids), "types": list(flt.types), "spec_versions": list(flt.spec_versions),
        "added_after": flt.added_after, "after": None if flt.after is None else flt.after.date_added,
    }
    params = {name: value for name, value in optional.items() if value is not None and value != []}
    shape = _PageShape(with_raw, _version_shape(flt.versions), frozenset(params))
    params.update(collection_id=collection_id, page_rows=flt.limit + skipped + 1, **_version_params(flt.versions))
    rows = _skip_served(list(conn.execute(_page_statement(visible, first, shape), params)), flt.after)
    more = len(rows) > flt.limit
    return list(map(PageRow._make, rows[: flt.limit])), more


@dataclass(frozen=True)
class Held:
    """What the store holds under one id, for deciding whether a poster may rely on it as a marking."""

    owner: int | None  # the producer of the newest version (NULL: the exchange), who alone adds versions
    raw: str  # the owner's newest version
    hashes: frozenset[str]  # content hashes of every stored version, any producer


def held(conn: Connection, stix_ids: Sequence[str]) -> dict[str, Held]:
    """For each stored id: its owner, the owner's newest version and the hashes of all versions."""
    if not stix_ids:
        return {}
    rows = conn.execute(select(_objects.c.stix_id, _objects.c.producer_id, _objects.c.content_hash,
                               _objects.c.raw).where(in_list(_objects.c.stix_id, "ids"))
                        .order_by(_objects.c.seq), {"ids": list(set(stix_ids))}).all()
    hashes: dict[str, set[str]] = {}
    newest: dict[str, Row] = {}
    for row in rows:
        hashes.setdefault(row.stix_id, set()).add(row.content_hash)
        newest[row.stix_id] = row  # the owner's newest version is the newest row (only the owner adds some)
    return {i: Held(r.producer_id, r.raw, frozenset(hashes[i])) for i, r in newest.items()}


def withdraw_participant_copies(conn: Connection, stix_ids: Sequence[str], keep: int | None = None) -> int:
    """Remove from every collection (feeds included) the versions of these ids that participants (but ``keep``)
    stored, when the exchange or a participant claiming them takes the ids over; the rows stay in the store for
    the audit. Returns memberships removed."""
    others = _objects.c.producer_id.is_not(None) if keep is None else _objects.c.producer_id != keep
    ids = {"ids": list(stix_ids)}
    if not stix_ids or not conn.execute(select(_objects.c.seq).where(
            in_list(_objects.c.stix_id, "ids"), others).limit(1), ids).first():
        return 0
    members = _membership.c.producer_id.is_not(None) if keep is None else _membership.c.producer_id != keep
    collections = list(conn.execute(select(collection_table.c.id)).scalars())
    return conn.execute(delete(_membership).where(  # by (collection_id, stix_id): the membership index
        in_list(_membership.c.collection_id, "cids"),
        in_list(_membership.c.stix_id, "ids"), members),
        {"cids": collections, "ids": list(stix_ids)}).rowcount


def stored_hashes(conn: Connection, stix_ids: Sequence[str],
                  known: ColumnElement[bool] | None = None) -> set[tuple[str, str]]:
    """(id, content hash) of every stored version of these ids (only those rows ``o`` that ``known`` admits:
    a poster's re-post shortcut must not depend on versions it cannot see)."""
    if not stix_ids:
        return set()
    rows = conn.execute(_stored_hashes_statement(known), {"ids": list(set(stix_ids))})
    return {(stix_id, content_hash) for stix_id, content_hash in rows}


@lru_cache(maxsize=64)
def _stored_hashes_statement(known: ColumnElement[bool] | None) -> Select:
    """Built once per poster's clause, as the page statements are (see ``_page_statement``)."""
    return select(o.c.stix_id, o.c.content_hash).where(in_list(o.c.stix_id, "ids"),
                                                       true() if known is None else known)


def visible_producers(conn: Connection, collection_id: str, stix_id: str, visible: ColumnElement[bool]) -> set[
        int | None]:
    """Producers of the versions of one object the reader can see in a collection (empty: it looks absent)."""
    query = (
        select(m.c.producer_id).select_from(m.join(o, o.c.seq == m.c.object_seq))
        .where(m.c.collection_id == collection_id, m.c.stix_id == stix_id, visible).distinct()
    )
    return set(conn.execute(query).scalars())


def sensitive_copies(conn: Connection, collection_id: str, stix_ids: Sequence[str], admitted: ColumnElement[bool],
                     versions: VersionFilter, first: ColumnElement[bool] | None) -> list[tuple[str, int]]:
    """(id, producer) of each copy of ``stix_ids`` in a collection with an AMBER or RED version that ``admitted``
    lets the reader see and ``versions`` selects (the exchange's own objects have no producer: left out)."""
    query = (
        select(m.c.stix_id, o.c.producer_id).select_from(m.join(o, o.c.seq == m.c.object_seq))
        .where(m.c.collection_id == collection_id, in_list(m.c.stix_id, "ids"),
               o.c.tlp >= int(Tlp.AMBER), o.c.producer_id.is_not(None), admitted, _version_clause(versions, first))
        .distinct()
    )
    params = {"ids": list(stix_ids), **_version_params(versions)}
    return [(stix_id, producer_id) for stix_id, producer_id in conn.execute(query, params)]


# ---------------------------------------------------------------- writes


def _existing_versions(conn: Connection, ids: Sequence[str], known: ColumnElement[bool] | None) -> list[Row]:
    return list(conn.execute(_existing_versions_statement(known), {"ids": list(ids)}))


@lru_cache(maxsize=64)
def _existing_versions_statement(known: ColumnElement[bool] | None) -> Select:
    """Built once per poster's clause, as the page statements are (see ``_page_statement``)."""
    return (select(o.c.seq, o.c.stix_id, o.c.version, o.c.producer_id, o.c.content_hash, o.c.tlp, o.c.is_latest)
            .where(in_list(o.c.stix_id, "ids"), true() if known is None else known))


def add_objects(
    conn: Connection, collection_id: str | None, producer_id: int | None, candidates: Sequence[Candidate], now: int,
    known: ColumnElement[bool] | None = None,
) -> list[StoreOutcome]:
    """Store each candidate (unless an identical copy exists) and add it to the collection (if one is given).

    Only the stored versions ``known`` admits are taken into account (``app.sharing.visibility.known_to``: the
    poster's own and what it can see; None: all, for the exchange itself), so that no answer depends on an
    object the poster cannot see. Ownership: a producer owns its own copy of an id; a producer without one may
    not post under an id whose earlier copy it can see (SCOs excepted: one copy per producer). Posting under an
    id whose copy it cannot see answers exactly as for a new id and starts the poster's own copy; readers get
    one producer's copy per collection (visibility rule 6). An identical re-post is a success (TAXII §5.5) —
    also by a non-owner, who may however add someone else's object to another collection only if it is
    TLP:CLEAR. A different payload under an existing version is a conflict and leaves the stored copy untouched."""
    existing = _existing_versions(conn, list({c.stix_id for c in candidates}), known)
    by_key = {(r.stix_id, r.version, r.producer_id): r for r in existing}
    first_seen = {(r.stix_id, r.producer_id): r.version for r in existing}
    owners = {r.stix_id: r.producer_id for r in sorted(existing, key=lambda r: r.seq)}
    owners |= {stix_id: producer for stix_id, producer in first_seen if producer == producer_id}
    owners |= {stix_id: None for stix_id, producer in first_seen if producer is None}  # the exchange's ids are its own
    in_collection = _members(conn, collection_id, [r.seq for r in existing])
    outcomes: list[StoreOutcome] = []
    slots: list[_Slot] = []  # one per candidate: the version it stands for
    new_rows: list[dict] = []
    new_candidates: list[Candidate] = []
    pending: dict[tuple[str, int, int | None], tuple[_Slot, str]] = {}  # this call's new versions: slot, hash
    for cand in candidates:
        version = cand.version
        if version is None:  # unversioned: its version is the first time this producer's copy arrived
            version = first_seen.get((cand.stix_id, producer_id), now)
        owner = producer_id if producer_id is None else owners.get(cand.stix_id, producer_id)  # exchange wins
        if owner != producer_id and not cand.is_sco:
            seq, error = _foreign_repost(cand, version, by_key.get((cand.stix_id, version, owner)), in_collection)
            outcomes.append(StoreOutcome(version, error))
            slots.append(_Slot(seq))
            continue
        key = (cand.stix_id, version, producer_id)
        copy = (_Slot(by_key[key].seq), by_key[key].content_hash) if key in by_key else pending.get(key)
        if copy is not None:  # this producer already holds this version (stored, or earlier in this call)
            same = copy[1] == cand.content_hash
            outcomes.append(StoreOutcome(version, None if same else _conflict_message(cand, version)))
            slots.append(copy[0] if same else _Slot())
            continue
        owners.setdefault(cand.stix_id, producer_id)
        pending[key] = (_Slot(new=len(new_rows)), cand.content_hash)
        slots.append(pending[key][0])
        new_rows.append(_object_row(cand, version, producer_id, now))
        new_candidates.append(cand)
        outcomes.append(StoreOutcome(version))
    new_seqs = _insert_objects(conn, new_rows, new_candidates, existing)
    resolved = [slot.resolve(new_seqs) for slot in slots]
    if collection_id is not None:
        _add_memberships(conn, collection_id, candidates, outcomes, resolved, now)
    return [StoreOutcome(o.version, o.error, None if o.error else seq) for o, seq in zip(outcomes, resolved,
                                                                                         strict=True)]


@dataclass(frozen=True)
class _Slot:
    """The stored version a candidate stands for: one already stored (``seq``), one this call inserts (``new``,
    its index among the new rows, whose seqs are known only after the insert), or none (an error)."""

    seq: int | None = None
    new: int | None = None

    def resolve(self, new_seqs: Sequence[int]) -> int | None:
        return new_seqs[self.new] if self.new is not None else self.seq


def _members(conn: Connection, collection_id: str | None, object_seqs: list[int]) -> set[int]:
    if not object_seqs or collection_id is None:
        return set()
    return set(conn.execute(
        select(_membership.c.object_seq).where(
            _membership.c.collection_id == collection_id,
            in_list(_membership.c.object_seq, "seqs"),
        ), {"seqs": object_seqs}
    ).scalars())


def _foreign_repost(cand: Candidate, version: int, owned: Row | None, in_collection: set[int]) -> tuple[
        int | None, str | None]:
    """A non-owner posting an owned id: fine only as an identical copy, and across collections only if CLEAR."""
    if owned is None or owned.content_hash != cand.content_hash:
        return None, (f"{cand.stix_id} belongs to another participant: only its creator may post versions of it "
                      "(STIX 2.1 §3.6). Reference it instead, or create your own object with a new id.")
    if owned.seq in in_collection or owned.tlp == Tlp.CLEAR or owned.producer_id is None:
        return owned.seq, None  # the exchange's own objects (definitions, minted markings) travel freely
    return None, (f"{cand.stix_id} belongs to another participant and is not TLP:CLEAR, so only its creator may "
                  "add it to another collection.")


def _object_row(cand: Candidate, version: int, producer_id: int | None, now: int) -> dict:
    audience = cand.audience
    return {
        "stix_id": cand.stix_id, "type": cand.type, "spec_version": cand.spec_version, "version": version,
        "producer_id": producer_id, "content_hash": cand.content_hash, "raw": cand.raw, "stored_at": now,
        "tlp": int(audience.tlp), "release_at": audience.release_at, "has_audience": audience.has_recipients,
        "is_latest": False,
        "confidence": None, "revoked": False, "atlas_id": None, **cand.index,
    }


def _conflict_message(cand: Candidate, version: int) -> str:
    what = "version " + format_timestamp(version) if cand.version is not None else "unversioned object"
    return (
        f"{cand.stix_id} {what} is already stored with different content; STIX requires every copy of a "
        "version to be identical: post the change as a new version with a later 'modified'."
    )


def _note_shared(conn: Connection, stix_ids: list[str]) -> None:
    """Add to ``shared_id`` those of ``stix_ids`` that more than one producer now holds (the exchange counting as
    one). Writes hold the exchange-wide write lock, so two writers never add the same id at once."""
    held = conn.execute(
        select(_objects.c.stix_id).where(in_list(_objects.c.stix_id, "ids"))
        .group_by(_objects.c.stix_id)
        .having(func.count(func.distinct(func.coalesce(_objects.c.producer_id, -1))) > 1),
        {"ids": stix_ids}).scalars().all()
    if held:
        known = set(conn.execute(select(shared_id_table.c.stix_id).where(
            in_list(shared_id_table.c.stix_id, "ids")), {"ids": list(held)}).scalars())
        if fresh := [{"stix_id": stix_id} for stix_id in held if stix_id not in known]:
            conn.execute(insert(shared_id_table), fresh)


def _insert_objects(conn: Connection, rows: list[dict], candidates: Sequence[Candidate],
                    existing: Sequence[Row]) -> list[int]:
    """Insert new object versions with their recipients; returns their seqs.

    is_latest is computed here from the versions already read, so only rows it demotes are updated; and the
    insert is a plain executemany followed by one indexed read of the new seqs (the caller holds the write
    lock), several times faster than INSERT … RETURNING."""
    if not rows:
        return []
    newest: dict[tuple[str, int | None], int] = {}
    versions = [(r.stix_id, r.producer_id, r.version) for r in existing]
    versions += [(r["stix_id"], r["producer_id"], r["version"]) for r in rows]
    for stix_id, producer, version in versions:
        key = (stix_id, producer)
        newest[key] = max(newest.get(key, version), version)
    for row in rows:
        row["is_latest"] = row["version"] == newest[(row["stix_id"], row["producer_id"])]
    demoted = [r.seq for r in existing if r.is_latest and r.version < newest[(r.stix_id, r.producer_id)]]
    if demoted:
        conn.execute(update(_objects).where(in_list(_objects.c.seq, "seqs"))
                     .values(is_latest=False), {"seqs": demoted})
    conn.execute(insert(_objects), rows)
    _note_shared(conn, sorted({r["stix_id"] for r in rows}))
    keys = conn.execute(
        select(_objects.c.seq, _objects.c.stix_id, _objects.c.version).where(
            in_list(_objects.c.stix_id, "ids"),
            _objects.c.producer_id.is_not_distinct_from(rows[0]["producer_id"]),
        ), {"ids": list({r["stix_id"] for r in rows})}
    ).all()
    seq_of = {(stix_id, version): seq for seq, stix_id, version in keys}
    seqs = [seq_of[(r["stix_id"], r["version"])] for r in rows]
    audience_rows = []
    for seq, cand in zip(seqs, candidates, strict=True):
        audience_rows += [{"object_seq": seq, "participant_id": p, "group_name": None}
                          for p in sorted(cand.audience.participants)]
        audience_rows += [{"object_seq": seq, "participant_id": None, "group_name": g}
                          for g in sorted(cand.audience.groups)]
    if audience_rows:
        conn.execute(insert(_audience), audience_rows)
    insert_terms(conn, [row for seq, cand in zip(seqs, candidates, strict=True) for row in term_rows(seq, cand.terms)])
    return seqs


def _add_memberships(
    conn: Connection,
    collection_id: str,
    candidates: Sequence[Candidate],
    outcomes: Sequence[StoreOutcome],
    object_seqs: Sequence[int | None],
    now: int,
) -> None:
    wanted = {seq: cand for cand, out, seq in zip(candidates, outcomes, object_seqs, strict=True)
              if seq is not None and out.error is None}
    if not wanted:
        return
    add_to_collection(conn, collection_id, list(wanted), now)


def add_to_collection(conn: Connection, collection_id: str, object_seqs: list[int], now: int) -> None:
    """Add stored object versions to a collection (those not there yet), each with the next date_added of the
    exchange clock. A version still under embargo at ``now`` joins as a pending member instead (``PENDING``):
    ``release_due`` dates it through the same clock once the embargo is over, so it enters the collection —
    for every reader, and after everything committed before — only then.

    Members whose embargo has ended are released first, so they precede this write's objects."""
    release_due(conn, now)
    present = _members(conn, collection_id, object_seqs)
    object_seqs = [seq for seq in dict.fromkeys(object_seqs) if seq not in present]
    if not object_seqs:
        return
    rows = conn.execute(
        select(_objects.c.seq, _objects.c.stix_id, _objects.c.type, _objects.c.spec_version, _objects.c.version,
               _objects.c.producer_id, _objects.c.release_at)
        .where(in_list(_objects.c.seq, "seqs")), {"seqs": object_seqs}
    ).all()
    order = {seq: i for i, seq in enumerate(object_seqs)}
    rows = sorted(rows, key=lambda r: order[r.seq])
    waiting = [r.release_at is not None and r.release_at > now for r in rows]
    dated = waiting.count(False)
    dates = iter(range(allocate_dates(conn, dated, now) if dated else 0, PENDING))
    members = [
        {"collection_id": collection_id, "object_seq": r.seq, "stix_id": r.stix_id, "type": r.type,
         "spec_version": r.spec_version, "version": r.version, "producer_id": r.producer_id,
         "date_added": PENDING if wait else next(dates), "release_at": r.release_at if wait else None,
         "is_latest": False, "is_first": False}
        for r, wait in zip(rows, waiting, strict=True)
    ]
    _set_version_flags(conn, collection_id, [r for r in members if r["date_added"] != PENDING])
    conn.execute(insert(_membership), members)


def release_due(conn: Connection, now: int, limit: int = RELEASE_BATCH) -> int:
    """Date the pending members whose embargo has ended by ``now``, in (end of embargo, seq) order, with fresh
    values of the exchange clock; returns how many (at most ``limit``: the write lock is not held for long,
    the rest are due at the next call).

    The caller holds the write lock, so these dates follow commit order like every other write's: a poller
    whose last X-TAXII-Date-Added-Last predates this commit gets them on its next poll and cannot skip them.
    Dating them at write time (the end of the embargo, as before) let a write that took an earlier date and
    committed later land behind a poller's checkpoint. One seek, one clock update and one row update per
    member: 1,000 members sharing an embargo end are released in milliseconds (they cost quadratic time
    when each was stepped past the others at write time)."""
    due = conn.execute(
        select(_membership.c.seq, _membership.c.collection_id, _membership.c.stix_id)
        .where(_membership.c.release_at <= now)
        .order_by(_membership.c.release_at, _membership.c.seq).limit(limit)).all()
    if not due:
        return 0
    first = allocate_dates(conn, len(due), now)
    conn.execute(
        update(_membership).where(_membership.c.seq == bindparam("member"))
        .values(date_added=bindparam("date"), release_at=None),
        [{"member": row.seq, "date": first + i} for i, row in enumerate(due)])
    released: dict[str, set[str]] = {}
    for row in due:
        released.setdefault(row.collection_id, set()).add(row.stix_id)
    for collection_id, stix_ids in released.items():
        refresh_version_flags(conn, collection_id, sorted(stix_ids))
    return len(due)


def release_is_due(conn: Connection, now: int) -> bool:
    """Whether some pending member's embargo has ended by ``now`` (one seek of the pending index)."""
    return conn.execute(select(_membership.c.seq).where(_membership.c.release_at <= now).limit(1)).first() is not None


def _set_version_flags(conn: Connection, collection_id: str, members: list[dict]) -> None:
    """is_first / is_latest for new dated membership rows, demoting the rows already there that they supersede.
    Pending members (under embargo) take no part: a version does not exist for anyone until its release."""
    if not members:
        return
    present = conn.execute(
        select(_membership.c.seq, _membership.c.stix_id, _membership.c.producer_id, _membership.c.version,
               _membership.c.is_first, _membership.c.is_latest)
        .where(_membership.c.collection_id == collection_id, _membership.c.date_added != PENDING,
               in_list(_membership.c.stix_id, "ids")),
        {"ids": list({r["stix_id"] for r in members})},
    ).all()
    span: dict[tuple[str, int | None], tuple[int, int]] = {}
    for stix_id, producer_id, version in [(r.stix_id, r.producer_id, r.version) for r in present] + [
            (r["stix_id"], r["producer_id"], r["version"]) for r in members]:
        low, high = span.get((stix_id, producer_id), (version, version))
        span[(stix_id, producer_id)] = (min(low, version), max(high, version))
    for row in members:
        low, high = span[(row["stix_id"], row["producer_id"])]
        row["is_first"], row["is_latest"] = row["version"] == low, row["version"] == high
    not_first = [r.seq for r in present if r.is_first and r.version > span[(r.stix_id, r.producer_id)][0]]
    not_latest = [r.seq for r in present if r.is_latest and r.version < span[(r.stix_id, r.producer_id)][1]]
    for flag, seqs in (("is_first", not_first), ("is_latest", not_latest)):
        if seqs:
            conn.execute(update(_membership).where(in_list(_membership.c.seq, "seqs"))
                         .values({flag: False}), {"seqs": seqs})


def allocate_dates(conn: Connection, count: int, now: int) -> int:
    """Reserve ``count`` distinct date_added values, the first returned, each after every earlier one.

    Distinct values let a client page by ``added_after`` alone without losing rows that would otherwise
    tie at a page edge; the write lock held by the caller makes them follow commit order."""
    last = conn.execute(select(_meta.c.value).where(_meta.c.key == _CLOCK_KEY)).scalar()
    first = max(now, int(last) + 1) if last is not None else now
    value = str(first + count - 1)
    if last is None:
        conn.execute(insert(_meta).values(key=_CLOCK_KEY, value=value))
    else:
        conn.execute(update(_meta).where(_meta.c.key == _CLOCK_KEY).values(value=value))
    return first


def refresh_version_flags(conn: Connection, collection_id: str, stix_ids: Sequence[str]) -> None:
    """Recompute is_first / is_latest for these objects in one collection (per producer copy), among the
    dated members: pending ones (under embargo) keep both flags false until their release."""
    if not stix_ids:
        return
    peers = _membership.alias("peers")
    same_object = and_(
        peers.c.collection_id == _membership.c.collection_id,
        peers.c.stix_id == _membership.c.stix_id,
        peers.c.producer_id.is_not_distinct_from(_membership.c.producer_id),
        peers.c.date_added != PENDING,
    )
    newest = select(func.max(peers.c.version)).where(same_object).scalar_subquery()
    oldest = select(func.min(peers.c.version)).where(same_object).scalar_subquery()
    conn.execute(
        update(_membership)
        .where(_membership.c.collection_id == collection_id, _membership.c.date_added != PENDING,
               in_list(_membership.c.stix_id, "ids"))
        .values(is_latest=_membership.c.version == newest, is_first=_membership.c.version == oldest),
        {"ids": list(stix_ids)},
    )


def remove_from_collection(
    conn: Connection, collection_id: str, stix_id: str, versions: VersionFilter, visible: ColumnElement[bool],
    producer_id: int,
) -> int:
    """Remove the matching visible versions of one producer's object from a collection; returns how many."""
    doomed = select(m.c.seq).select_from(m.join(o, o.c.seq == m.c.object_seq)).where(
        m.c.collection_id == collection_id, m.c.stix_id == stix_id, m.c.producer_id == producer_id, visible,
        _version_clause(versions),
    )
    seqs = list(conn.execute(doomed, _version_params(versions)).scalars())
    if seqs:
        conn.execute(delete(_membership).where(_membership.c.seq.in_(seqs)))
        refresh_version_flags(conn, collection_id, [stix_id])
    return len(seqs)


def exchange_object_seqs(conn: Connection, stix_ids: Sequence[str]) -> list[int]:
    """Seqs of the newest versions of these ids that the exchange itself published (producer NULL)."""
    if not stix_ids:
        return []
    return list(conn.execute(select(_objects.c.seq).where(
        in_list(_objects.c.stix_id, "ids"), _objects.c.producer_id.is_(None),
        _objects.c.is_latest), {"ids": list(stix_ids)}).scalars())
