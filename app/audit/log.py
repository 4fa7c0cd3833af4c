"""Audit events. Writes, deletes and admin actions are recorded in the same transaction as the change, so
they can neither be lost nor recorded for a change that rolled back; each record is chained to the one before
(``app.store.audit``, docs/audit.md).

Key use and reads of AMBER/RED objects happen on every request: they are counted in the worker — key use per
(key, minute), reads per (reader, object version, day) — and flushed to the database every second in a short
transaction of its own that upserts one row per key and minute (``key_use``) and one per reader, object and day
(``object_read``). The flush never takes the exchange-wide write lock, so it never queues behind an ingest; when
it fails, the failure is logged ("aisx.audit") and the counts are kept for the next flush (a crash loses at most
that second)."""

import atexit
import logging
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection

from app.store import audit as store
from app.store.engine import get_engine, now_us

log = logging.getLogger("aisx.audit")
_MINUTE = 60_000_000
_DAY = 86_400_000_000


def record(conn: Connection, action: str, *, participant_id: int | None, key_id: str | None = None,
           collection_id: str | None = None, object_count: int = 0, detail: dict[str, Any] | None = None,
           subject: str | None = None) -> None:
    """Record an event inside the caller's write transaction. ``subject``: the slug of the participant the event
    is about (default: ``detail["slug"]`` when there is one; for writes of objects, the poster)."""
    if subject is None and detail and isinstance(detail.get("slug"), str):
        subject = detail["slug"]
    elif subject is None and participant_id is not None and action.startswith("objects."):
        subject = store.slug_of(conn, participant_id)  # a participant's own writes are about it
    store.append(conn, at=now_us(), participant_id=participant_id, key_id=key_id, action=action, subject=subject,
                 collection_id=collection_id, object_count=object_count,
                 detail=orjson.dumps(detail).decode() if detail else None)


class _Buffer:
    def __init__(self) -> None:
        self._uses: Counter[tuple[int, str, int]] = Counter()  # (participant, key, minute)
        self._reads: Counter[tuple[int, int, str, int]] = Counter()  # (reader, producer, object, day)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="aisx-audit", daemon=True)
            self._thread.start()
            atexit.register(self.flush)

    def use(self, participant_id: int, key_id: str) -> None:
        minute = now_us() // _MINUTE * _MINUTE
        with self._lock:
            self._uses[(participant_id, key_id, minute)] += 1
            self._start()

    def reads(self, reader_id: int, objects: list[tuple[str, int]]) -> None:
        day = now_us() // _DAY * _DAY
        with self._lock:
            for stix_id, producer_id in objects:
                self._reads[(reader_id, producer_id, stix_id, day)] += 1
            self._start()

    def _run(self) -> None:
        while True:
            threading.Event().wait(1.0)
            self.flush()

    def flush(self) -> None:
        with self._lock:
            uses, self._uses = self._uses, Counter()
            reads, self._reads = self._reads, Counter()
        if not uses and not reads:
            return
        try:
            _write(uses, reads)
        except Exception:
            log.exception("audit flush failed (%d key-use and %d read counts kept for the next flush)",
                          len(uses), len(reads))
            with self._lock:
                self._uses.update(uses)
                self._reads.update(reads)


def _write(uses: Counter[tuple[int, str, int]], reads: Counter[tuple[int, int, str, int]]) -> None:
    """One short transaction of upserts, without the exchange-wide write lock."""
    with get_engine().begin() as conn:
        store.add_key_use(conn, [(p, k, m, n) for (p, k, m), n in uses.items()])
        store.add_reads(conn, [(r, p, s, d, n) for (r, p, s, d), n in reads.items()])


_buffer = _Buffer()


def note_key_use(participant_id: int, key_id: str) -> None:
    _buffer.use(participant_id, key_id)


def note_sensitive_read(participant_id: int, objects: Sequence[tuple[str, int | None]]) -> None:
    """A read that served AMBER or RED objects, (stix id, producer id) each, to a participant
    (``app.taxii.read_counts``). Objects the exchange itself published and the reader's own are not
    counted."""
    counted = [(stix_id, producer) for stix_id, producer in objects
               if producer is not None and producer != participant_id]
    if counted:
        _buffer.reads(participant_id, counted)


def prune(read_retention_days: int, key_use_retention_days: int) -> tuple[int, int]:
    """Delete read counts older than ``read_retention_days`` and key-use counts older than
    ``key_use_retention_days`` (but each key's newest): the retention job. (read rows, key-use rows) deleted."""
    now = now_us()
    with get_engine().begin() as conn:
        reads = store.prune_reads(conn, now // _DAY * _DAY - read_retention_days * _DAY)
        uses = store.prune_key_use(conn, now - key_use_retention_days * _DAY)
    return reads, uses
