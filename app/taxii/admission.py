"""How many envelope POSTs one API key may have in progress at once, per worker.

Validating an envelope is CPU work in a worker thread that holds the GIL most of the time; every other request
of that worker waits for the GIL between its own steps. One key posting 8 MiB envelopes over several
connections at once multiplied every reader's latency (see bench/fairness.py and
docs/threat-model/http-dos.md); capping the key's concurrent POSTs bounds its share of the worker, and the
429 with Retry-After tells an honest client to pace itself instead of queueing in the server."""

from collections import Counter
from collections.abc import AsyncIterator

from fastapi import Depends

from app.config import get_settings
from app.observability.metrics import metrics
from app.sharing.access import Caller
from app.taxii.auth import optional_caller
from app.taxii.errors import TaxiiError

_in_progress: Counter[str] = Counter()  # key id → POSTs now running; touched only on the event loop


async def post_slot(caller: Caller | None = Depends(optional_caller)) -> AsyncIterator[None]:
    """Route dependency: hold one of the caller's ``max_concurrent_posts_per_key`` slots for the request, or
    429. Async, so it runs on the event loop and needs no lock."""
    most = get_settings().max_concurrent_posts_per_key
    if caller is None or not most:
        yield
        return
    if _in_progress[caller.key_id] >= most:
        metrics().rate_limited.labels("concurrent_posts").inc()
        raise TaxiiError(429, f"This API key already has {most} envelope POSTs in progress; wait for one to end.",
                         headers={"Retry-After": "1"}, details={"max_concurrent_posts_per_key": most})
    _in_progress[caller.key_id] += 1
    try:
        yield
    finally:
        _in_progress[caller.key_id] -= 1
        if not _in_progress[caller.key_id]:
            del _in_progress[caller.key_id]
