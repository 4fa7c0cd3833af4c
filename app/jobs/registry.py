"""The periodic jobs the leader runs: a name, an interval and a function, registered once per process.

The built-in jobs are registered by ``register_builtin_jobs``; another part adds its own with ``register``
(before ``app.jobs.start`` runs, i.e. at import or in ``register_builtin_jobs``)."""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from app.config import Settings

log = logging.getLogger("aisx.jobs")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval: float  # seconds between the end of one run and the start of the next
    run: Callable[[], object]


_jobs: dict[str, PeriodicJob] = {}
_lock = threading.Lock()


def register(name: str, interval: float, run: Callable[[], object]) -> None:
    """Run ``run`` every ``interval`` seconds on the leader (the one ``aisx serve`` instance holding the leader
    lock). ``run`` must be safe to run again after an interruption: a leader that loses its lock mid-run
    finishes that run, and its successor may start the same job moments later."""
    with _lock:
        _jobs[name] = PeriodicJob(name, interval, run)


def registered() -> list[PeriodicJob]:
    with _lock:
        return list(_jobs.values())


def register_builtin_jobs(settings: Settings) -> None:
    """The exchange's own background work. Idempotent (registering a name again replaces it)."""
    from app.jobs import statistics
    from app.mirroring.upstream import sync_due_feeds
    from app.participants.ratelimit import forget_old_windows
    from app.sharing.embargo import release

    def release_embargoes() -> None:
        count = release()
        if count:
            log.info("embargo release: %d pending member(s) entered their collections", count)

    def audit_retention() -> None:
        from app.audit.log import prune

        reads, uses = prune(settings.audit_read_retention_days, settings.audit_key_use_retention_days)
        if reads or uses:
            log.info("audit retention: %d read count(s) and %d key-use count(s) past retention deleted", reads, uses)

    due: dict[str, float] = {}  # per feed, when it is next due; kept across runs on this leader
    register("embargo-release", settings.embargo_release_interval, release_embargoes)
    register("upstream-mirroring", 2.0, lambda: sync_due_feeds(due))
    register("audit-retention", settings.audit_retention_interval, audit_retention)
    register("counters-cleanup", min(float(settings.rate_limit_window), 60.0),
             lambda: forget_old_windows(settings.rate_limit_window))
    register("statistics-refresh", statistics.INTERVAL, statistics.StatisticsRefresh().run)
