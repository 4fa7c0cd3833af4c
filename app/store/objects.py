"""Object versions and collection membership: the only SQL for STIX content.

Reads take a ``visible`` clause from ``app.sharing`` and apply it to every row they return, so object-level
sharing is enforced in one place; they never decide visibility themselves."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from app.store.models import ExchangeMeta, Membership, StixObject
from app.taxii.cursor import Position
from app.taxii.filters import ObjectFilter, VersionFilter

m = Membership.__table__.alias("m")
o = StixObject.__table__.alias("o")
_membership = Membership.__table__
_objects = StixObject.__table__
_meta = ExchangeMeta.__table__
_CLOCK_KEY = "date_added_clock"


ALL_VERSIONS = VersionFilter(all=True, last=False)


@dataclass(frozen=True)
class Candidate:
    """An object that passed validation, with the columns the store indexes."""

    stix_id: str
    type: str
    spec_version: str
    version: int | None  # None for objects with neither modified nor created (most SCOs)
    content_hash: str
    raw: str


@dataclass(frozen=True)
class StoreOutcome:
    version: int
    error: str | None = None


@dataclass(frozen=True)
class PageRow:
    seq: int
    date_added: int
    stix_id: str
    version: int
    raw: str | None


# ---------------------------------------------------------------- reads


def _version_clause(versions: VersionFilter) -> ColumnElement[bool]:
    if versions.all:
        return true()
    parts: list[ColumnElement[bool]] = []
    if versions.last:
        parts.append(m.c.is_latest)
    if versions.first:
        parts.append(m.c.is_first)
    if versions.exact:
        parts.append(m.c.version.in_(versions.exact))
    return or_(*parts) if parts else false()


def _after(position: Position) -> ColumnElement[bool]:
    return or_(
        m.c.date_added > position.date_added,
        and_(m.c.date_added == position.date_added, m.c.seq > position.seq),
    )


def page(
    conn: Connection,
    collection_id: str,
    flt: ObjectFilter,
    visible: ColumnElement[bool],
    *,
    stix_id: str | None = None,
    with_raw: bool = True,
) -> tuple[list[PageRow], bool]:
    """One page of membership rows in (date_added, seq) order, and whether more follow."""
    columns = [m.c.seq, m.c.date_added, m.c.stix_id, m.c.version, o.c.raw if with_raw else None]
    query = (
        select(*[c for c in columns if c is not None])
        .select_from(m.join(o, o.c.seq == m.c.object_seq))
        .where(m.c.collection_id == collection_id, visible, _version_clause(flt.versions))
    )
    if stix_id is not None:
        query = query.where(m.c.stix_id == stix_id)
    if flt.ids:
        query = query.where(m.c.stix_id.in_(flt.ids))
    if flt.types:
        query = query.where(m.c.type.in_(flt.types))
    if flt.spec_versions:
        query = query.where(m.c.spec_version.in_(flt.spec_versions))
    if flt.added_after is not None:
        query = query.where(m.c.date_added > flt.added_after)
    if flt.after is not None:
        query = query.where(_after(flt.after))
    query = query.order_by(m.c.date_added, m.c.seq).limit(flt.limit + 1)
    rows = conn.execute(query).all()
    more = len(rows) > flt.limit
    return [PageRow(r[0], r[1], r[2], r[3], r[4] if with_raw else None) for r in rows[: flt.limit]], more


def object_exists(conn: Connection, collection_id: str, stix_id: str, visible: ColumnElement[bool]) -> bool:
    query = (
        select(m.c.seq)
        .select_from(m.join(o, o.c.seq == m.c.object_seq))
        .where(m.c.collection_id == collection_id, m.c.stix_id == stix_id, visible)
        .limit(1)
    )
    return conn.execute(query).first() is not None


# ---------------------------------------------------------------- writes


def _existing_versions(conn: Connection, ids: Sequence[str]) -> dict[tuple[str, int | None, int], tuple]:
    rows = conn.execute(
        select(_objects.c.seq, _objects.c.stix_id, _objects.c.version, _objects.c.producer_id,
               _objects.c.content_hash).where(_objects.c.stix_id.in_(ids))
    ).all()
    return {(r.stix_id, r.version, r.producer_id): (r.seq, r.content_hash) for r in rows}


def add_objects(
    conn: Connection, collection_id: str, producer_id: int, candidates: Sequence[Candidate], now: int
) -> list[StoreOutcome]:
    """Store each candidate (unless an identical copy exists) and add it to the collection, all at ``now``.

    An identical re-post is a success (TAXII §5.5); a different payload under an existing version from the
    same producer is a conflict and leaves the stored copy untouched."""
    existing = _existing_versions(conn, list({c.stix_id for c in candidates}))
    first_seen = {(sid, prod): version for sid, version, prod in existing}
    # Each slot is an existing object seq, None for a failure, or -1-i for new_rows[i] (seq not known yet).
    outcomes: list[StoreOutcome] = []
    object_seqs: list[int | None] = []
    new_rows: list[dict] = []
    pending: dict[tuple[str, int, int], tuple[int, str]] = {}
    for cand in candidates:
        version = cand.version
        if version is None:  # unversioned: one copy per producer, its version the first time it arrived
            version = first_seen.get((cand.stix_id, producer_id), now)
        key = (cand.stix_id, version, producer_id)
        known = existing.get(key) or pending.get(key)
        if known is not None:
            seq, content_hash = known
            if content_hash != cand.content_hash:
                outcomes.append(StoreOutcome(version, _conflict_message(cand, version)))
                object_seqs.append(None)
                continue
            outcomes.append(StoreOutcome(version))
            object_seqs.append(seq)
            continue
        pending[key] = (-1 - len(new_rows), cand.content_hash)
        new_rows.append({
            "stix_id": cand.stix_id, "type": cand.type, "spec_version": cand.spec_version, "version": version,
            "producer_id": producer_id, "content_hash": cand.content_hash, "raw": cand.raw, "stored_at": now,
        })
        outcomes.append(StoreOutcome(version))
        object_seqs.append(-len(new_rows))
    new_seqs = _insert_objects(conn, new_rows)
    resolved = [
        None if seq is None else (new_seqs[-seq - 1] if seq < 0 else seq) for seq in object_seqs
    ]
    _add_memberships(conn, collection_id, candidates, outcomes, resolved, producer_id, now)
    return outcomes


def _conflict_message(cand: Candidate, version: int) -> str:
    from app.stix.timestamps import format_timestamp

    what = "version " + format_timestamp(version) if cand.version is not None else "unversioned object"
    return (
        f"{cand.stix_id} {what} is already stored with different content; STIX requires every copy of a "
        "version to be identical: post the change as a new version with a later 'modified'."
    )


def _insert_objects(conn: Connection, rows: list[dict]) -> list[int]:
    if not rows:
        return []
    result = conn.execute(insert(_objects).returning(_objects.c.seq, sort_by_parameter_order=True), rows)
    return [r[0] for r in result.all()]


def _add_memberships(
    conn: Connection,
    collection_id: str,
    candidates: Sequence[Candidate],
    outcomes: Sequence[StoreOutcome],
    object_seqs: Sequence[int | None],
    producer_id: int,
    now: int,
) -> None:
    wanted = {seq: (cand, out) for cand, out, seq in zip(candidates, outcomes, object_seqs, strict=True)
              if seq is not None}
    if not wanted:
        return
    present = set(conn.execute(
        select(_membership.c.object_seq).where(
            _membership.c.collection_id == collection_id, _membership.c.object_seq.in_(list(wanted))
        )
    ).scalars())
    rows = [
        {"collection_id": collection_id, "object_seq": seq, "stix_id": cand.stix_id, "type": cand.type,
         "spec_version": cand.spec_version, "version": out.version, "producer_id": producer_id,
         "is_latest": False, "is_first": False}
        for seq, (cand, out) in wanted.items() if seq not in present
    ]
    if rows:
        first = allocate_dates(conn, len(rows), now)
        for offset, row in enumerate(rows):
            row["date_added"] = first + offset
        conn.execute(insert(_membership), rows)
        refresh_version_flags(conn, collection_id, list({r["stix_id"] for r in rows}))


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
    """Recompute is_first / is_latest for these objects in one collection (per producer copy)."""
    if not stix_ids:
        return
    peers = _membership.alias("peers")
    same_object = and_(
        peers.c.collection_id == _membership.c.collection_id,
        peers.c.stix_id == _membership.c.stix_id,
        peers.c.producer_id == _membership.c.producer_id,
    )
    newest = select(func.max(peers.c.version)).where(same_object).scalar_subquery()
    oldest = select(func.min(peers.c.version)).where(same_object).scalar_subquery()
    conn.execute(
        update(_membership)
        .where(_membership.c.collection_id == collection_id,
               _membership.c.stix_id.in_(bindparam("ids", expanding=True)))
        .values(is_latest=_membership.c.version == newest, is_first=_membership.c.version == oldest),
        {"ids": list(stix_ids)},
    )


def remove_from_collection(
    conn: Connection, collection_id: str, stix_id: str, versions: VersionFilter, visible: ColumnElement[bool]
) -> int:
    """Remove the matching visible versions of one object from a collection; returns how many went."""
    doomed = select(m.c.seq).select_from(m.join(o, o.c.seq == m.c.object_seq)).where(
        m.c.collection_id == collection_id, m.c.stix_id == stix_id, visible, _version_clause(versions)
    )
    seqs = list(conn.execute(doomed).scalars())
    if seqs:
        conn.execute(delete(_membership).where(_membership.c.seq.in_(seqs)))
        refresh_version_flags(conn, collection_id, [stix_id])
    return len(seqs)
