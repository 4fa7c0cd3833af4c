"""Mirroring an upstream TAXII 2.1 collection into a feed: a job above ``app.ingest`` (objects pulled are
submitted like any post) that reads the upstream with httpx, GETting its objects endpoint page by page.

Incremental by ``added_after``; one run keeps the ``added_after`` it started from and follows ``next``
(servers bind ``next`` to the query it came from). Every object version is pulled (``match[version]=all``).
The checkpoint lives in the database and advances only after a page is stored: to the page's
X-TAXII-Date-Added-Last once the last page is in, and, while more pages follow, to just before it (objects
added at that very instant may continue on the next page; many servers give a whole request one
date_added). An interrupted run therefore resumes at most one page plus the objects of one instant early,
and what it pulls again is accepted as identical duplicates: nothing lost, nothing twice. Network errors,
429 and 5xx are retried with exponential backoff (Retry-After honoured); other failures stop the run with
the error recorded. Objects pass the same validation and sharing rules as any post, attributed to the
feed's configured participant."""

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from sqlalchemy import insert, select, update

from app import ingest
from app.feeds.definitions import FeedDefinition, Upstream
from app.observability.metrics import metrics, seconds_since
from app.sharing.rules import Poster
from app.stix.timestamps import TimestampError, format_timestamp, parse_timestamp
from app.store.collections import get_collection
from app.store.engine import now_us, read_connection, write_transaction
from app.store.models import collection_table, upstream_state_table
from app.store.participants import get_participant_by_slug
from app.taxii.media import TAXII_MEDIA_TYPE

log = logging.getLogger("aisx.upstream")
_state = upstream_state_table
_collections = collection_table
_MAX_DELAY = 60.0
_MAX_RETRY_AFTER = 300.0
_MAX_EMPTY_PAGES = 100  # in a row with more=true: the upstream is going round in circles
_MAX_FAILURES = 20
_TIMEOUT = 60.0


class UpstreamError(RuntimeError):
    pass


def _feeds(feed_id: str | None = None) -> list[FeedDefinition]:
    query = select(_collections.c.feed).where(_collections.c.feed.is_not(None))
    if feed_id is not None:
        query = query.where(_collections.c.id == feed_id)
    with read_connection() as conn:
        return [FeedDefinition.from_json(text) for text in conn.execute(query).scalars()]


def _load_state(feed_id: str) -> dict[str, Any]:
    with read_connection() as conn:
        row = conn.execute(select(_state).where(_state.c.feed_id == feed_id)).first()
    return dict(row._mapping) if row else {"feed_id": feed_id, "checkpoint": None, "objects_pulled": 0,
                                            "last_success_at": None, "last_error": None, "last_error_at": None}


def _save_state(feed_id: str, **values: Any) -> None:
    with write_transaction() as conn:
        if conn.execute(select(_state.c.feed_id).where(_state.c.feed_id == feed_id)).first():
            conn.execute(update(_state).where(_state.c.feed_id == feed_id).values(**values))
        else:
            conn.execute(insert(_state).values({"feed_id": feed_id, "objects_pulled": 0, **values}))


def feed_states() -> list[dict[str, Any]]:
    """Every feed with its upstream and where mirroring stands (for `aisx feed list` and the admin API)."""
    result = []
    for feed in _feeds():
        entry: dict[str, Any] = {"id": feed.id, "alias": feed.alias, "title": feed.title, "selector": feed.selector,
                                 "access": {"read": list(feed.read), "public": feed.public}}
        if feed.upstream:
            state = _load_state(feed.id)
            entry["upstream"] = {
                "url": feed.upstream.url, "collection": feed.upstream.collection, "state": _condition(state),
                "checkpoint": state["checkpoint"],
                "objects_pulled": state["objects_pulled"], "last_error": state["last_error"],
                "last_success_at": _stamp(state["last_success_at"]), "last_error_at": _stamp(state["last_error_at"]),
            }
        result.append(entry)
    return result


def mirror_lag() -> dict[tuple[str, ...], float]:
    """Per upstream-mirrored feed (by alias), seconds since its last successful pull; +Inf when it never
    succeeded. Read from the database at scrape time, so any worker of any instance answers the same."""
    now = time.time()
    with read_connection() as conn:
        last = dict(conn.execute(select(_state.c.feed_id, _state.c.last_success_at)).tuples().all())
    return {(feed.alias,): seconds_since(last[feed.id], now) if last.get(feed.id) is not None else float("inf")
            for feed in _feeds() if feed.upstream is not None}


def _condition(state: dict[str, Any]) -> str:
    """never-synced, ok (the last run succeeded) or failing (the last run stopped on an error)."""
    success, error = state["last_success_at"], state["last_error_at"]
    if success is None and error is None:
        return "never-synced"
    return "failing" if error is not None and (success is None or error > success) else "ok"


def _stamp(micros: int | None) -> str | None:
    return format_timestamp(micros) if micros is not None else None


@dataclass(frozen=True)
class Remote:
    """An upstream collection's objects endpoint, and the HTTP Basic credentials to read it with (none unless
    both the user and the password are configured)."""

    objects_url: str
    auth: httpx.BasicAuth | None


def _remote(upstream: Upstream) -> Remote:
    credentials = []
    for name in (upstream.username_env, upstream.password_env):
        if name and not os.environ.get(name):
            raise UpstreamError(f"the environment variable {name} (the upstream credentials) is not set")
        credentials.append(os.environ.get(name) if name else None)
    user, password = credentials
    url = upstream.url.rstrip("/") + f"/collections/{upstream.collection}/objects/"
    return Remote(url, httpx.BasicAuth(user, password) if user and password else None)


def _get_page(client: httpx.Client, remote: Remote, params: dict[str, Any], upstream: Upstream) -> httpx.Response:
    """One page, retried with backoff on network errors, 429 and 5xx."""
    delay = upstream.retry_backoff
    for attempt in range(1, upstream.retry_attempts + 1):
        wait = delay
        try:
            response = client.get(remote.objects_url, params=params, headers={"Accept": TAXII_MEDIA_TYPE},
                                  auth=remote.auth)
        except httpx.RequestError as exc:
            problem = f"network error: {exc}"
        else:
            if response.status_code == 200:
                return response
            if response.status_code != 429 and response.status_code < 500:
                raise UpstreamError(f"upstream answered {response.status_code}: {response.text[:300]}")
            problem = f"upstream answered {response.status_code}"
            retry_after = response.headers.get("Retry-After", "").strip()
            if retry_after.isdigit():
                wait = max(wait, min(float(retry_after), _MAX_RETRY_AFTER))
        if attempt == upstream.retry_attempts:
            raise UpstreamError(f"{problem} (gave up after {attempt} attempts)")
        log.warning("%s; retrying in %.1fs", problem, wait)
        time.sleep(wait)
        delay = min(delay * 2, _MAX_DELAY)
    raise AssertionError("unreachable")


def _envelope(response: httpx.Response) -> dict[str, Any]:
    try:
        envelope = orjson.loads(response.content)  # strict JSON: no NaN or Infinity from an upstream
    except ValueError:
        raise UpstreamError(f"upstream sent a page that is not JSON: {response.text[:200]!r}") from None
    if not isinstance(envelope, dict):
        raise UpstreamError("upstream sent a page that is not a TAXII envelope")
    return envelope


def _micros(timestamp: str | None) -> int | None:
    try:
        return parse_timestamp(timestamp) if timestamp else None
    except TimestampError:
        return None


def _checkpoint_after(last: str, more: bool) -> str | None:
    """Where the next run may start once a page whose X-TAXII-Date-Added-Last is ``last`` is stored."""
    if not more:
        return last
    micros = _micros(last)
    return format_timestamp(micros - 1) if micros else None


def sync_feed(feed: FeedDefinition) -> dict[str, Any]:
    """Pull everything new from the feed's upstream; returns counts (and the error, if it stopped on one)."""
    # one connection pool per run; redirects followed, at most 60 s to connect and between two reads
    with httpx.Client(timeout=_TIMEOUT, follow_redirects=True) as client:
        return _sync(feed, client)


def _sync(feed: FeedDefinition, client: httpx.Client) -> dict[str, Any]:
    assert feed.upstream is not None
    upstream = feed.upstream
    result: dict[str, Any] = {"id": feed.id, "alias": feed.alias, "accepted": 0, "rejected": 0, "pages": 0,
                              "failures": []}  # the first rejections, as the status resources list them
    metrics().upstream_pulls.labels(feed.alias).inc()
    try:
        with read_connection() as conn:
            collection = get_collection(conn, feed.api_root, feed.id)
            producer = get_participant_by_slug(conn, upstream.attribute_to)
        if collection is None or producer is None:
            raise UpstreamError(f"feed {feed.alias}: attribute_to {upstream.attribute_to!r} is not a participant")
        poster = Poster(producer.id, producer.identity_id, producer.pseudonym_identity_id, mirror=True)
        remote = _remote(upstream)
        state = _load_state(feed.id)
        since: str | None = state["checkpoint"]  # fixed for the run: `next` belongs to the query it came from
        token: str | None = None
        empty = 0
        while True:
            params: dict[str, Any] = {"limit": upstream.page_size, "match[version]": "all"}
            if since:
                params["added_after"] = since
            if token:
                params["next"] = token
            response = _get_page(client, remote, params, upstream)
            envelope = _envelope(response)
            objects = [o for o in envelope.get("objects") or [] if isinstance(o, dict) and isinstance(o.get("id"), str)]
            if objects:
                status = ingest.submit(collection, poster, objects)
                result["accepted"] += status.success_count
                result["rejected"] += status.failure_count
                if status.failure_count and len(result["failures"]) < _MAX_FAILURES:
                    result["failures"] += orjson.loads(status.failures)[:_MAX_FAILURES - len(result["failures"])]
            result["pages"] += 1
            more = envelope.get("more") is True
            last = response.headers.get("X-TAXII-Date-Added-Last")
            checkpoint = _checkpoint_after(last, more) if last else None
            before = _micros(state["checkpoint"])
            if checkpoint and (before is None or (_micros(checkpoint) or 0) > before):
                state["checkpoint"] = checkpoint  # advanced only now that the page is stored
            state["objects_pulled"] += len(objects)
            metrics().upstream_objects.labels(feed.alias).inc(len(objects))
            _save_state(feed.id, checkpoint=state["checkpoint"], objects_pulled=state["objects_pulled"])
            if not more:
                break
            empty = 0 if objects else empty + 1
            if empty >= _MAX_EMPTY_PAGES:
                raise UpstreamError(f"upstream says more=true but sent {empty} empty pages in a row")
            token = envelope.get("next") if isinstance(envelope.get("next"), str) else None
            if not token:  # a server without `next`: page by added_after alone
                if not last:
                    raise UpstreamError("upstream says more=true but gives neither next nor X-TAXII-Date-Added-Last")
                since = last
        _save_state(feed.id, last_success_at=now_us())
    except Exception as exc:
        expected = isinstance(exc, UpstreamError | httpx.HTTPError | httpx.InvalidURL)
        message = str(exc) if expected else f"{type(exc).__name__}: {exc}"
        result["error"] = message
        metrics().upstream_failures.labels(feed.alias).inc()
        log.error("feed %s: %s", feed.alias, message, exc_info=not expected)
        try:
            _save_state(feed.id, last_error=message[:2000], last_error_at=now_us())
        except Exception:
            log.exception("feed %s: could not record the error", feed.alias)
    return result


def sync_all(feed_id: str | None = None) -> list[dict[str, Any]]:
    return [sync_feed(feed) for feed in _feeds(feed_id) if feed.upstream is not None]


def sync_due_feeds(due: dict[str, float]) -> None:
    """One pass of background mirroring: sync every upstream feed whose poll interval has passed since its last
    run (``due`` maps a feed id to when it is next due, kept by the caller between passes). Run by the leader
    only (``app.jobs``): one instance mirrors, however many serve."""
    try:
        feeds = _feeds()
    except Exception:  # e.g. the database is briefly unreachable: the next pass tries again
        log.exception("upstream sync: cannot read the feeds")
        return
    for feed in feeds:
        if feed.upstream and time.monotonic() >= due.get(feed.id, 0):
            sync_feed(feed)  # records its own errors
            due[feed.id] = time.monotonic() + feed.upstream.poll_interval
