"""The filter index written at ingest: ``object_term`` rows (the values feed selectors match on) and the
``confidence``/``revoked``/``atlas_id`` columns of ``stix_object``, so that a selector is an index lookup."""

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, delete, insert, select, update

from app.stix.ai import index_columns, index_terms
from app.store.models import object_term_table, stix_object_table

_terms = object_term_table
_objects = stix_object_table
_CHUNK = 500


def term_rows(object_seq: int, terms: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """Index rows; a value with a NUL is left out (PostgreSQL text cannot hold one, and no selector asks for it)."""
    return [{"object_seq": object_seq, "kind": kind, "value": value} for kind, value in terms if "\x00" not in value]


def insert_terms(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert ``{"object_seq", "kind", "value"}`` rows (one executemany)."""
    if rows:
        conn.execute(insert(_terms), rows)


def known_atlas_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Which of these ATLAS external ids (AML.T0051, …) the exchange holds as attack-patterns."""
    wanted = sorted(set(ids))
    known: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start:start + _CHUNK]
        known.update(conn.execute(select(_objects.c.atlas_id).distinct().where(_objects.c.atlas_id.in_(chunk)))
                     .scalars())
    return known


def reindex(conn: Connection, batch: int = 1000) -> int:
    """Recompute the index columns and terms of every stored object from its JSON; returns how many objects
    have terms or non-default columns. For migrations and for new index kinds."""
    conn.execute(delete(_terms))
    set_columns = (update(_objects).where(_objects.c.seq == bindparam("b_seq"))
                   .values({c: bindparam(f"b_{c}") for c in ("confidence", "revoked", "atlas_id")}))
    indexed = 0
    last = 0
    while True:
        rows = conn.execute(select(_objects.c.seq, _objects.c.raw).where(_objects.c.seq > last)
                            .order_by(_objects.c.seq).limit(batch)).all()
        if not rows:
            return indexed
        updates, terms = [], []
        for seq, raw in rows:
            obj = orjson.loads(raw)
            columns = index_columns(obj)
            found = term_rows(seq, index_terms(obj))
            if found or columns != {"confidence": None, "revoked": False, "atlas_id": None}:
                indexed += 1
                updates.append({"b_seq": seq, **{f"b_{c}": v for c, v in columns.items()}})
                terms += found
        if updates:
            conn.execute(set_columns, updates)
        insert_terms(conn, terms)
        last = rows[-1][0]
