"""Background jobs run once across every ``aisx serve`` instance on one database: by the leader.

``start`` (called by ``aisx serve``, in its main process, not in each worker) registers the built-in jobs and
starts the leadership and job threads; ``status`` says who leads and which jobs there are (``aisx jobs status``,
``GET /admin/jobs``). See ``app.jobs.leader`` and ``app.store.leadership``."""

import threading
from functools import cache
from typing import Any

from app.config import get_settings
from app.jobs import leader
from app.jobs.leader import Leadership, instance_name
from app.jobs.registry import PeriodicJob, register, register_builtin_jobs, registered
from app.store.leadership import FileLeaderLock, LeaderLock, leader_lock

__all__ = ["PeriodicJob", "register", "registered", "start", "status"]


def start(stop: threading.Event) -> Leadership:
    settings = get_settings()
    register_builtin_jobs(settings)
    name = instance_name()
    leadership = Leadership(leader_lock(settings.database_url, name), name, settings.leader_interval)
    leader.start(leadership, registered(), stop)
    return leadership


def status() -> dict[str, Any]:
    """Who leads (its instance name, ``host:pid``, or None while no instance does) and the jobs it runs."""
    settings = get_settings()
    if not registered():  # a CLI process: ``aisx serve`` registered them when it started
        register_builtin_jobs(settings)
    lock = _observer(settings.database_url)
    kind = "lock file" if isinstance(lock, FileLeaderLock) else "postgresql advisory lock"
    return {"leader": lock.holder(), "lock": kind, "leader_interval": settings.leader_interval,
            "jobs": [{"name": job.name, "interval": job.interval} for job in registered()]}


@cache
def _observer(database_url: str) -> LeaderLock:
    """The lock object ``status`` asks who holds the leader lock (it never takes it): one per process, not a new
    one (on PostgreSQL, a new engine) per ``GET /admin/jobs``."""
    return leader_lock(database_url, instance_name())
