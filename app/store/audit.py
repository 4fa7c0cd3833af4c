"""The audit tables: the hash-chained audit log, key use per minute and reads of AMBER/RED objects per day.

Chain. Each audit record's ``hash`` is the SHA-256 (lower-case hex) of the RFC 8785 canonical form of its
``CHAINED`` fields, ``prev_hash`` among them, with ``detail`` as the JSON value it holds; ``position`` counts
from 1 and ``prev_hash`` of the first record is ``GENESIS``. ``append`` takes the previous record inside the
caller's write transaction, which holds the exchange-wide write lock: the chain follows commit order (and the
unique ``position`` would refuse a fork rather than store it)."""

import hashlib
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from app.store.canonical import canonical
from app.store.models import (
    audit_event_table,
    key_use_table,
    object_read_table,
    participant_table,
)

_events = audit_event_table
_key_use = key_use_table
_reads = object_read_table
GENESIS = "0" * 64
CHAINED = ("position", "prev_hash", "at", "participant_id", "key_id", "action", "subject", "collection_id",
           "object_count", "detail")


def record_hash(fields: dict[str, Any]) -> str:
    """The hash of a record (a mapping with at least the ``CHAINED`` fields; ``detail`` as stored: JSON text)."""
    body = {name: fields[name] for name in CHAINED}
    if body["detail"] is not None:
        body["detail"] = orjson.loads(body["detail"])
    return hashlib.sha256(canonical(body)).hexdigest()


def append(conn: Connection, *, at: int, participant_id: int | None, key_id: str | None, action: str,
           subject: str | None, collection_id: str | None, object_count: int, detail: str | None) -> None:
    """Append a record to the chain, in the caller's write transaction (which must hold the write lock)."""
    last = conn.execute(select(_events.c.position, _events.c.hash)
                        .order_by(_events.c.position.desc()).limit(1)).first()
    row: dict[str, Any] = {
        "position": last.position + 1 if last else 1, "prev_hash": last.hash if last else GENESIS, "at": at,
        "participant_id": participant_id, "key_id": key_id, "action": action, "subject": subject,
        "collection_id": collection_id, "object_count": object_count, "detail": detail}
    row["hash"] = record_hash(row)
    conn.execute(insert(_events).values(**row))


def slug_of(conn: Connection, participant_id: int) -> str | None:
    return conn.execute(select(participant_table.c.slug).where(participant_table.c.id == participant_id)).scalar()


def query_events(conn: Connection, *, actor_id: int | None = None, actor_is_exchange: bool = False,
                 action_prefix: str | None = None, subject: str | None = None, collection_id: str | None = None,
                 since: int | None = None, until: int | None = None, oldest_first: bool = False,
                 limit: int = 1000) -> list[dict[str, Any]]:
    """Audit records, newest first (or oldest first), filtered; with the actor's slug as ``actor``."""
    order = _events.c.position.asc() if oldest_first else _events.c.position.desc()
    query = (select(_events, participant_table.c.slug.label("actor"))
             .outerjoin(participant_table, participant_table.c.id == _events.c.participant_id)
             .order_by(order).limit(limit))
    clauses: list[ColumnElement[bool]] = []
    if actor_is_exchange:
        clauses.append(_events.c.participant_id.is_(None))
    elif actor_id is not None:
        clauses.append(_events.c.participant_id == actor_id)
    if action_prefix:
        clauses.append(_events.c.action.startswith(action_prefix, autoescape=True))
    if subject is not None:
        clauses.append(_events.c.subject == subject)
    if collection_id is not None:
        clauses.append(_events.c.collection_id == collection_id)
    if since is not None:
        clauses.append(_events.c.at >= since)
    if until is not None:
        clauses.append(_events.c.at < until)
    return [dict(r._mapping) for r in conn.execute(query.where(*clauses))]


def stream_chain(conn: Connection, *, since: int | None = None, until: int | None = None,
                 from_position: int | None = None, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every audit record in chain order (optionally from a time or a position on), ``batch`` rows at a time:
    keyset pages on ``position``, so memory stays bounded whatever the chain's length and whatever the driver."""
    first: int | None = from_position
    if since is not None:
        first = conn.execute(select(func.min(_events.c.position)).where(_events.c.at >= since)).scalar()
        if first is None:
            return
    after = (first - 1) if first is not None else 0
    while True:
        query = select(_events).where(_events.c.position > after).order_by(_events.c.position).limit(batch)
        if until is not None:
            query = query.where(_events.c.at < until)
        rows = conn.execute(query).all()
        for row in rows:
            yield dict(row._mapping)
        if len(rows) < batch:
            return
        after = rows[-1].position


# ------------------------------------------------------------------ key use, per key and minute


def _upsert(conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """Insert ``rows``, adding ``count`` to the row already there (INSERT … ON CONFLICT DO UPDATE)."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    conn.execute(statement.on_conflict_do_update(
        index_elements=keys, set_={"count": table.c.count + statement.excluded.count}), rows)


def add_key_use(conn: Connection, counts: list[tuple[int, str, int, int]]) -> None:
    """(participant id, key id, minute, requests) rows, added to what is stored; in key order (no deadlock
    between workers upserting the same rows)."""
    rows = [{"participant_id": p, "key_id": k, "minute": m, "count": n}
            for p, k, m, n in sorted(counts, key=lambda c: (c[1], c[2]))]
    _upsert(conn, _key_use, rows, ["key_id", "minute"])


def last_use_of(key_id: ColumnElement[Any]) -> Any:
    """The newest minute a key was used in (a scalar subquery on ``key_id``; one backward seek of the primary
    key (key_id, minute))."""
    return select(func.max(_key_use.c.minute)).where(_key_use.c.key_id == key_id).scalar_subquery()


def prune_key_use(conn: Connection, before: int) -> int:
    """Delete key-use rows older than ``before``, but each key's newest row (its "last used")."""
    k = _key_use.alias("k")
    newest = select(func.max(k.c.minute)).where(k.c.key_id == _key_use.c.key_id).scalar_subquery()
    return conn.execute(delete(_key_use).where(_key_use.c.minute < before, _key_use.c.minute < newest)).rowcount


# ------------------------------------------------------------------ reads of AMBER/RED objects, per day


def add_reads(conn: Connection, counts: list[tuple[int, int, str, int, int]]) -> None:
    """(reader id, producer id, stix id, day, object versions) rows, added to what is stored."""
    rows = [{"reader_id": r, "producer_id": p, "stix_id": s, "day": d, "count": n}
            for r, p, s, d, n in sorted(counts, key=lambda c: (c[0], c[1], c[2], c[3]))]
    _upsert(conn, _reads, rows, ["reader_id", "producer_id", "stix_id", "day"])


_reader = participant_table.alias("reader")


def _reads_query(producer_id: int, since: int | None, until: int | None, *columns: Any) -> Any:
    """SELECT ``columns`` from ``producer_id``'s read counts in [since, until); ``_reader`` is who read."""
    query = select(*columns).join(_reader, _reader.c.id == _reads.c.reader_id).where(
        _reads.c.producer_id == producer_id)
    if since is not None:
        query = query.where(_reads.c.day >= since)
    if until is not None:
        query = query.where(_reads.c.day < until)
    return query


def reads_of(conn: Connection, producer_id: int, *, since: int | None = None, until: int | None = None,
             limit: int = 10000) -> list[dict[str, Any]]:
    """Reads of ``producer_id``'s objects, newest day first: day, reader slug, stix id, count."""
    query = _reads_query(producer_id, since, until, _reads.c.day, _reader.c.slug.label("reader"), _reads.c.stix_id,
                         _reads.c.count)
    query = query.order_by(_reads.c.day.desc(), _reader.c.slug, _reads.c.stix_id).limit(limit)
    return [dict(r._mapping) for r in conn.execute(query)]


def readers_of(conn: Connection, producer_id: int, *, since: int | None = None,
               until: int | None = None) -> list[dict[str, Any]]:
    """Per day and reader, newest day first: how many of ``producer_id``'s objects it read and how often. Summed
    in SQL over every row: sums made from ``reads_of``'s rows would stop at its limit."""
    query = _reads_query(producer_id, since, until, _reads.c.day, _reader.c.slug.label("reader"),
                         func.count().label("objects"), func.sum(_reads.c.count).label("count"))
    query = query.group_by(_reads.c.day, _reader.c.slug).order_by(_reads.c.day.desc(), _reader.c.slug)
    return [dict(r._mapping) for r in conn.execute(query)]


def prune_reads(conn: Connection, before: int) -> int:
    return conn.execute(delete(_reads).where(_reads.c.day < before)).rowcount
