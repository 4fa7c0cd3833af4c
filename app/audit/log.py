"""Audit events. Writes, deletes and admin actions are recorded in the same transaction as the change, so
they can neither be lost nor recorded for a change that rolled back. Key use and reads of AMBER/RED objects
happen on every request; they are counted per (key, action, collection, minute) in the worker and flushed to
the database every second, so reads never wait for a write lock (a crash loses at most that second)."""

import atexit
import threading
from collections import Counter
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from app.store.engine import now_us, write_transaction
from app.store.models import audit_event_table

_events = audit_event_table
_MINUTE = 60_000_000


def record(conn: Connection, action: str, *, participant_id: int | None, key_id: str | None = None,
           collection_id: str | None = None, object_count: int = 0, detail: dict[str, Any] | None = None) -> None:
    """Record an event inside the caller's transaction."""
    conn.execute(insert(_events).values(
        at=now_us(), participant_id=participant_id, key_id=key_id, action=action, collection_id=collection_id,
        object_count=object_count, detail=orjson.dumps(detail).decode() if detail else None,
    ))


class _Buffer:
    def __init__(self) -> None:
        self._counts: Counter[tuple[int, str, str, str | None, int]] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, participant_id: int, key_id: str, action: str, collection_id: str | None, count: int) -> None:
        minute = now_us() // _MINUTE * _MINUTE
        with self._lock:
            self._counts[(participant_id, key_id, action, collection_id, minute)] += count
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="aisx-audit", daemon=True)
                self._thread.start()
                atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            threading.Event().wait(1.0)
            self.flush()

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return
        rows = [{"at": minute, "participant_id": pid, "key_id": key_id, "action": action,
                 "collection_id": collection_id, "object_count": n, "detail": None}
                for (pid, key_id, action, collection_id, minute), n in counts.items()]
        try:
            with write_transaction() as conn:
                conn.execute(insert(_events), rows)
        except Exception:  # the database is away: keep the counts for the next flush
            with self._lock:
                self._counts.update(counts)


_buffer = _Buffer()


def note_key_use(participant_id: int, key_id: str) -> None:
    _buffer.add(participant_id, key_id, "key.use", None, 1)


def note_sensitive_read(participant_id: int, key_id: str, collection_id: str, objects: int) -> None:
    """A read that returned ``objects`` AMBER or RED object versions."""
    _buffer.add(participant_id, key_id, "read.amber_red", collection_id, objects)


def query_events(conn: Connection, *, since: int | None = None, participant_id: int | None = None,
                 action: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    query = select(_events).order_by(_events.c.at, _events.c.id).limit(limit)
    if since is not None:
        query = query.where(_events.c.at >= since)
    if participant_id is not None:
        query = query.where(_events.c.participant_id == participant_id)
    if action is not None:
        query = query.where(_events.c.action == action)
    return [dict(r._mapping) for r in conn.execute(query)]
