"""Leadership among ``aisx serve`` instances: the one holding the leader lock (``app.store.leadership``) runs
the periodic jobs (``app.jobs.registry``); the others wait to take over.

One thread keeps the leadership: every ``leader_interval`` seconds a follower tries the lock (so it takes over
at most that long after the leader's lock is released: at once when the leader's process dies, since its
session or descriptor goes with it; a vanished host within the keepalive bound of ``app.store.leadership``),
and a leader checks that it still holds it (its session is alive). Each job runs in a thread of its own, so a
long mirror pull never delays an embargo release, and runs only while this process leads. A job run that has
begun when leadership is lost finishes: the jobs are written to be idempotent (a release dates what is due once;
a mirror pull accepts objects again as identical duplicates), so the brief overlap with a successor is harmless.

Log lines (logger ``aisx.jobs``), each with this instance's name (``host:pid``): "following" (once, when it
first finds another instance leading), "became leader", "lost leadership", "leadership released" (shutdown)."""

import logging
import os
import socket
import threading
from collections.abc import Callable

from app.jobs.registry import PeriodicJob
from app.store.leadership import LeaderLock

log = logging.getLogger("aisx.jobs")


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    def __init__(self, lock: LeaderLock, instance: str, interval: float) -> None:
        self.lock, self.instance, self.interval = lock, instance, interval
        self.leading = threading.Event()
        self._resigning = threading.Lock()
        self._following = False  # said so in the log since the last time it led (or since start)

    def tick(self) -> None:
        """One step: keep, lose or try to take the lock."""
        if self.leading.is_set():
            if not self.lock.still_held():
                self.leading.clear()
                log.warning("lost leadership (instance %s): background jobs stop here", self.instance)
            return
        try:
            taken = self.lock.try_acquire()
        except Exception as exc:  # the database is away: try again next tick
            log.warning("leader lock: cannot try it (%s)", type(exc).__name__)
            return
        if taken:
            self.leading.set()
            self._following = False
            log.info("became leader (instance %s): running the background jobs here", self.instance)
        elif not self._following:
            self._following = True
            log.info("following (instance %s): another instance leads and runs the background jobs",
                     self.instance)

    def run(self, stop: threading.Event) -> None:
        self.tick()
        while not stop.wait(self.interval):
            self.tick()
        self.resign()

    def resign(self) -> None:
        """Give the lock up at shutdown, so another instance takes over at its next try (not a keepalive later)."""
        with self._resigning:
            if self.leading.is_set():
                self.leading.clear()
                self.lock.release()
                log.info("leadership released (instance %s): stopping", self.instance)


def _job_loop(job: PeriodicJob, leadership: Leadership, stop: threading.Event) -> Callable[[], None]:
    def loop() -> None:
        while not stop.is_set():
            if not leadership.leading.wait(0.5):
                continue
            try:
                job.run()
            except Exception:  # e.g. the database briefly away: the next run tries again
                log.exception("background job %s failed", job.name)
            stop.wait(job.interval)
    return loop


def start(leadership: Leadership, jobs: list[PeriodicJob], stop: threading.Event) -> list[threading.Thread]:
    threads = [threading.Thread(target=leadership.run, args=(stop,), name="aisx-leader", daemon=True)]
    threads += [threading.Thread(target=_job_loop(job, leadership, stop), name=f"aisx-job-{job.name}", daemon=True)
                for job in jobs]
    for thread in threads:
        thread.start()
    return threads
