"""Reads of AMBER and RED objects, counted for their producers' statistics (``GET /me/reads``, docs/audit.md).

What a page served is counted at once. An id that several producers hold needs one more query — which of the
other copies the reader may see (``app.sharing.reads.shared_copies``) — and that query runs on a thread of its
own, after the answer: run on the request, it made an answer (and the next one on the same connection) a
query longer whenever another producer held a copy of a served id, one the reader may not know of. A read costs
one indexed query (docs/threat-model.md, timing).

The waiting jobs are bounded (``_MOST_WAITING``): past that a job is dropped with a warning rather than kept in
memory; like the audit buffer, a job still waiting when the process ends is lost."""

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from app.audit import note_sensitive_read
from app.sharing import reads
from app.sharing.access import Caller
from app.store.collections import CollectionRow
from app.store.engine import read_connection
from app.store.objects import PageRow
from app.store.queries import ObjectFilter

log = logging.getLogger("aisx.audit")

_MOST_WAITING = 10_000
_jobs: queue.Queue[Callable[[], None]] = queue.Queue(maxsize=_MOST_WAITING)
_worker_lock = threading.Lock()
_worker: threading.Thread | None = None


def count_reads(caller: Caller, collection: CollectionRow, query: ObjectFilter, served: Sequence[PageRow]) -> None:
    """Count what ``served`` (a page of ``query``) gave ``caller`` (see the module's docstring)."""
    counted = reads.served_sensitive(served)
    note_sensitive_read(caller.participant_id, list(counted))
    shared = reads.shared_ids(served)
    if shared:
        _later(lambda: _count_other_copies(caller, collection, query, shared, counted))


def _count_other_copies(caller: Caller, collection: CollectionRow, query: ObjectFilter, ids: list[str],
                        counted: set[tuple[str, int | None]]) -> None:
    """The copies of ``ids`` the page did not serve; those it served were ``counted`` already."""
    with read_connection() as conn:
        copies = reads.shared_copies(conn, caller, collection, query, ids)
    note_sensitive_read(caller.participant_id, [copy for copy in copies if copy not in counted])


def _later(job: Callable[[], None]) -> None:
    global _worker
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_work, name="aisx-read-counts", daemon=True)
            _worker.start()
    try:
        _jobs.put_nowait(job)
    except queue.Full:
        log.warning("read counts: %d jobs already waiting; the reads of one page's shared ids are not counted",
                    _MOST_WAITING)


def _work() -> None:
    while True:
        job = _jobs.get()
        try:
            job()
        except Exception:
            log.exception("read counts: counting the reads of shared ids failed")
