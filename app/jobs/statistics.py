"""The planner-statistics refresh: a leader job, so it runs once across every ``aisx serve`` instance, never on
a request path.

The visibility predicate is a set of correlated subqueries whose plans depend on table sizes: on tables that
grew since they were last analysed (PostgreSQL's autovacuum lags behind bulk ingest; SQLite has no statistics
until someone runs ANALYZE) the planner may scan where it should seek — a page of 1,000 goes from milliseconds
to a second at 1M objects. So the statistics are refreshed after the first 1,000 object versions, then each time
the count doubles, then every 20,000 (at 10k objects that keeps a page at 10.6 ms: bench/RESULTS.md).

This used to run ANALYZE inline in the POST, after the write had committed: its failure (a lock timeout, a
broken extended statistic, a full disk on SQLite) turned a stored POST into a 500 and the caller retried a
write that had succeeded (issue 16, item 12). The leader measures growth across all instances from the
database (the highest object ``seq``: one index seek every two seconds), where counting per process refreshed
once per worker and instance; a failure is logged and counted in ``aisx_statistics_refresh_failures``, and the
next run tries again. A new leader refreshes at once if the exchange holds 1,000 versions or more (it cannot
know when the last refresh was; a sampled ANALYZE is cheap). ``aisx ingest`` refreshes once at the end of its
load, which may run with no server at all."""

import logging
import time

from app.observability.metrics import metrics
from app.store.engine import refresh_statistics, stored_versions

log = logging.getLogger("aisx.store")

FIRST_REFRESH = 1_000
REFRESH_EVERY = 20_000
INTERVAL = 2.0  # seconds between two looks at the table's growth


def next_refresh_after(versions: int) -> int:
    """The version count at which the statistics taken at ``versions`` are next refreshed."""
    return versions + min(max(versions, FIRST_REFRESH), REFRESH_EVERY)


def refresh_and_log() -> bool:
    """ANALYZE now; a failure is logged and counted, never raised. True if it succeeded."""
    started = time.monotonic()
    try:
        refresh_statistics()
    except Exception as exc:  # no write depends on it: the next run tries again
        metrics().statistics_refresh_failures.inc()
        log.error("statistics refresh failed: %s", exc)
        return False
    log.info("statistics refreshed in %.0f ms", (time.monotonic() - started) * 1000)
    return True


class StatisticsRefresh:
    """The job's state on this leader: the version count due for the next refresh."""

    def __init__(self) -> None:
        self._due = FIRST_REFRESH

    def run(self) -> None:
        versions = stored_versions()
        if versions < self._due:
            return
        self._due = next_refresh_after(versions)  # a failed refresh waits for the next step, not every tick
        refresh_and_log()
