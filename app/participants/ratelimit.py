"""Rate limits shared by every worker: requests per API key and failed authentications per client address.

Counting happens in memory (no database work on the request path); once a second each worker adds what it
counted to per-window rows in the database (a minute unless ``rate_limit_window`` says otherwise) and reads back
the totals of every worker. A limit is therefore exact within a worker and at most about a second late across
workers, which is what a rate limit needs.

The once-a-second flush is bounded work (``app.store.counters``): one upsert of what changed, in a short
transaction of its own (it used to take the exchange-wide write lock, so every worker queued behind ingests once
a second), and an indexed read of the current and previous windows only. Old windows are deleted by the leader's
``counters-cleanup`` job (``forget_old_windows``). A flush that fails is logged (once per run of failures, and
when flushing works again) and its counts are kept in memory and added at the next flush, not dropped."""

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

from app.observability.metrics import metrics
from app.store import counters
from app.store.engine import read_connection, short_transaction

log = logging.getLogger("aisx.ratelimit")
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
        self._unlearned: Counter[tuple[str, int]] = Counter()  # taken by a flush, not yet in _global
        self._global: dict[tuple[str, int], int] = {}  # totals of every worker, as of the last flush
        self._lock = threading.Lock()

    def _window(self, now: float) -> int:
        return int(now) // self.length * self.length

    def count(self, key: str) -> int:
        """The events counted for ``key`` in the current window, everywhere, including this one."""
        window = self._window(time.time())
        with self._lock:
            self._local[(key, window)] += 1
            return self._known((key, window))

    def peek(self, key: str) -> int:
        window = self._window(time.time())
        with self._lock:
            return self._known((key, window))

    def _known(self, slot: tuple[str, int]) -> int:
        """Every worker's count as of the last flush, plus this worker's since: counted here and not yet flushed,
        or taken by a flush whose totals have not been read back yet. (Without the second, the counts of a
        flush under way were in neither, and a verdict made meanwhile let one more event through per flush.)"""
        return self._global.get(slot, 0) + self._unlearned.get(slot, 0) + self._local.get(slot, 0)

    def take_pending(self) -> Counter[tuple[str, int]]:
        """What this worker counted since the last flush (handed to the database by the caller); it still counts
        here until ``learn`` has the totals that include it."""
        with self._lock:
            pending, self._local = self._local, Counter()
            self._unlearned.update(pending)
        return pending

    def give_back(self, pending: Counter[tuple[str, int]]) -> None:
        """Counts whose flush failed: kept for the next one, except windows no limit looks at any more."""
        oldest = self.since()
        with self._lock:
            self._unlearned.subtract(pending)
            self._unlearned = +self._unlearned  # drop the slots at zero
            self._local.update({k: n for k, n in pending.items() if k[1] >= oldest})

    def since(self) -> int:
        """The first window a verdict may still need: the previous one (its totals finish arriving late)."""
        return self._window(time.time()) - self.length

    def learn(self, totals: dict[tuple[str, int], int]) -> None:
        """Every worker's totals, read after this worker's last successful write: they include what every flush
        took so far. What was counted since the last swap is still in _local, and not yet in these totals."""
        with self._lock:
            self._global = totals
            self._unlearned.clear()


class Limiter:
    """The two limits of the exchange; limits of 0 switch them off."""

    def __init__(self, per_key: int, auth_failures: int, window: int = MINUTE) -> None:
        self.per_key, self.auth_failures, self.window = per_key, auth_failures, window
        self.requests, self.failures = SharedCounter("key", window), SharedCounter("auth-failure", window)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._failing = False

    def _ensure_flushing(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._merge()  # once, before this worker's first verdict: it starts with the others' counts
                    self._thread = threading.Thread(target=self._run, name="aisx-ratelimit", daemon=True)
                    self._thread.start()

    def _merge(self) -> None:
        """Add this worker's counts to the database and read back everyone's. On failure the counts wait for
        the next flush, the limits stay in force with what this worker knows, and the failure is logged."""
        pending = [(counter, counter.take_pending()) for counter in (self.requests, self.failures)]
        try:
            if any(deltas for _, deltas in pending):  # an idle worker opens no write transaction (on SQLite: no
                with short_transaction() as conn:     # write lock) every second
                    for counter, deltas in pending:
                        counters.add_counts(conn, counter.scope, deltas)
        except Exception as exc:
            for counter, deltas in pending:
                counter.give_back(deltas)
            self._failed(exc)
            return
        try:
            with read_connection() as conn:
                totals = [counters.totals_since(conn, c.scope, c.since()) for c in (self.requests, self.failures)]
        except Exception as exc:  # the counts are stored; only the others' totals are a second older
            self._failed(exc)
            return
        self.requests.learn(totals[0])
        self.failures.learn(totals[1])
        if self._failing:
            log.warning("rate-limit counters: flushing works again")
            self._failing = False

    def _failed(self, exc: Exception) -> None:
        metrics().counter_flush_failures.inc()
        if not self._failing:
            log.error("rate-limit counters: cannot flush to the database (%s: %s); the counts are kept and "
                      "retried every second", type(exc).__name__, exc)
        self._failing = True

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


def forget_old_windows(window: int) -> int:
    """Delete the counts of windows that ended before the previous one (no verdict reads them any more); how
    many rows went. The leader runs it once a window (``counters-cleanup`` in ``app.jobs.registry``)."""
    before = int(time.time()) // window * window - window
    with short_transaction() as conn:
        return counters.delete_windows_before(conn, before)
