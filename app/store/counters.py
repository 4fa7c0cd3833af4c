"""The rate-limit counters' SQL: one row per (scope, key, window) in ``rate_counter``, where every worker adds
what it counted and reads back everyone's totals (``app.participants.ratelimit``).

These statements run once a second in every worker, so each is bounded: the upsert touches only the rows of
what was counted since the last flush, the read seeks ``ix_rate_counter_scope_window`` to the current and
previous windows (it used to filter a scope's whole history, which nothing ever deleted: a table that only
grew, scanned by every worker every second), and ``delete_windows_before`` (the leader's ``counters-cleanup``
job) removes windows no limit looks at any more."""

from collections.abc import Mapping

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.store.models import rate_counter_table

_table = rate_counter_table


def add_counts(conn: Connection, scope: str, deltas: Mapping[tuple[str, int], int]) -> None:
    """Add ``deltas`` ((key, window) → events) to the stored counts, in one multi-row upsert. Rows are sent in
    (key, window) order, so two workers flushing at once lock the rows they share in the same order and cannot
    deadlock on PostgreSQL."""
    if not deltas:
        return
    rows = [{"scope": scope, "key": key, "window": window, "count": count}
            for (key, window), count in sorted(deltas.items())]
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(_table).values(rows)
    conn.execute(statement.on_conflict_do_update(
        index_elements=["scope", "key", "window"], set_={"count": _table.c.count + statement.excluded.count}))


def totals_since(conn: Connection, scope: str, since: int) -> dict[tuple[str, int], int]:
    """Every worker's counts in ``scope`` for windows starting at ``since`` or later, by (key, window)."""
    rows = conn.execute(select(_table.c.key, _table.c.window, _table.c.count).where(
        _table.c.scope == scope, _table.c.window >= since)).all()
    return {(key, window): count for key, window, count in rows}


def delete_windows_before(conn: Connection, before: int) -> int:
    """Delete the counts of windows that started before ``before``, in every scope; how many rows went."""
    return conn.execute(delete(_table).where(_table.c.window < before)).rowcount
