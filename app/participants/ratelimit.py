"""Rate limits shared by every worker: requests per API key and failed authentications per client address.

Counting happens in memory (no database work on the request path); once a second each worker adds what it
counted to per-window rows in the database (a minute unless ``rate_limit_window`` says otherwise) and reads back
the totals of every worker. A limit is therefore exact within a worker and at most about a second late across
workers, which is what a rate limit needs."""

import threading
import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.store.engine import write_transaction
from app.store.models import rate_counter_table

_table = rate_counter_table
MINUTE = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds until the window ends, when not allowed


class SharedCounter:
    """Counts events per key in windows of ``window`` seconds, merged across workers through the database."""

    def __init__(self, scope: str, window: int = MINUTE) -> None:
        self.scope, self.length = scope, window
        self._local: Counter[tuple[str, int]] = Counter()  # not yet flushed
        self._global: dict[tuple[str, int], int] = {}  # totals of every worker, as of the last flush
        self._lock = threading.Lock()

    def _window(self, now: float) -> int:
        return int(now) // self.length * self.length

    def count(self, key: str) -> int:
        """The events counted for ``key`` in the current window, everywhere, including this one."""
        window = self._window(time.time())
        with self._lock:
            self._local[(key, window)] += 1
            return self._global.get((key, window), 0) + self._local[(key, window)]

    def peek(self, key: str) -> int:
        window = self._window(time.time())
        with self._lock:
            return self._global.get((key, window), 0) + self._local.get((key, window), 0)

    def flush(self, conn: Connection) -> None:
        with self._lock:
            pending, self._local = self._local, Counter()
        current = self._window(time.time())
        for (key, window), delta in pending.items():
            values = {"scope": self.scope, "key": key, "window": window, "count": delta}
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = insert(_table).values(**values)
            conn.execute(statement.on_conflict_do_update(
                index_elements=["scope", "key", "window"], set_={"count": _table.c.count + delta}))
        rows = conn.execute(select(_table.c.key, _table.c.window, _table.c.count).where(
            _table.c.scope == self.scope, _table.c.window >= current - self.length)).all()
        with self._lock:  # what was counted since the swap is still in _local, and not yet in these totals
            self._global = {(key, window): count for key, window, count in rows}


class Limiter:
    """The two limits of the exchange; limits of 0 switch them off."""

    def __init__(self, per_key: int, auth_failures: int, window: int = MINUTE) -> None:
        self.per_key, self.auth_failures, self.window = per_key, auth_failures, window
        self.requests, self.failures = SharedCounter("key", window), SharedCounter("auth-failure", window)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _ensure_flushing(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._merge()  # once, before this worker's first verdict: it starts with the others' counts
                    self._thread = threading.Thread(target=self._run, name="aisx-ratelimit", daemon=True)
                    self._thread.start()

    def _merge(self) -> None:
        try:
            with write_transaction() as conn:
                self.requests.flush(conn)
                self.failures.flush(conn)
        except Exception:  # the database is away: these counts are lost, the limits stay in force
            pass

    def _run(self) -> None:
        while True:
            time.sleep(1.0)
            self._merge()

    def _retry_after(self) -> int:
        return self.window - int(time.time()) % self.window

    def key_request(self, key_id: str) -> Verdict:
        if not self.per_key:
            return Verdict(True)
        self._ensure_flushing()
        if self.requests.count(key_id) > self.per_key:
            return Verdict(False, self._retry_after())
        return Verdict(True)

    def address_blocked(self, address: str) -> Verdict:
        if not self.auth_failures:
            return Verdict(True)
        self._ensure_flushing()  # also a worker that saw no failure must learn the others' counts
        if self.failures.peek(address) >= self.auth_failures:
            return Verdict(False, self._retry_after())
        return Verdict(True)

    def auth_failed(self, address: str) -> None:
        if self.auth_failures:
            self._ensure_flushing()
            self.failures.count(address)
