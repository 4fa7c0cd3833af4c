"""The embargo release job: on the leader among ``aisx serve`` instances (``app.jobs``), every
``embargo_release_interval`` seconds, dates the pending members
whose embargo has ended (``app.store.objects.release_due``) in a write transaction of their own.

Each write transaction releases what is due as well (``add_to_collection`` does it first), so under a steady
flow of writes an embargoed object enters its collections at the first write after its embargo ends; on a
quiet exchange this job does it. Visibility bound: an embargoed object is never visible before its
``embargo_until`` (its membership carries no date until then, and the visibility predicate also checks the end
of the embargo); it is visible at most one interval (default 1 s) plus one wait for the write lock after it.

The job probes with a read first (one index seek), so an idle worker never takes the write lock."""

import logging

from app.store import objects as object_store
from app.store.engine import now_us, read_connection, write_transaction

log = logging.getLogger("aisx.embargo")


def release() -> int:
    """Release every pending member whose embargo has ended, batch by batch; returns how many."""
    released = 0
    while True:
        with read_connection() as conn:
            if not object_store.release_is_due(conn, now_us()):
                return released
        with write_transaction() as conn:
            count = object_store.release_due(conn, now_us())
        released += count
        if count < object_store.RELEASE_BATCH:
            return released
