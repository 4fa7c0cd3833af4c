"""Mirroring an upstream TAXII 2.1 collection into a feed, with taxii2-client.

Incremental by ``added_after``; the checkpoint (the upstream's X-TAXII-Date-Added-Last of the last stored
page) lives in the database and advances only after the page is stored, so a crash re-pulls at most one page,
whose objects are then accepted as identical duplicates: nothing lost, nothing twice. Network errors, 429 and
5xx are retried with exponential backoff (Retry-After honoured). Objects pass the same validation and sharing
rules as any post, attributed to the feed's configured participant."""

import logging
import os
import threading
import time
from typing import Any

import requests
from sqlalchemy import insert, select, update
from taxii2client.v21 import Collection as TaxiiCollection

from app import ingest
from app.feeds.definitions import FeedDefinition, Upstream
from app.sharing.rules import Poster
from app.stix.timestamps import format_timestamp
from app.store.collections import get_collection
from app.store.engine import now_us, read_connection, write_transaction
from app.store.models import Collection, UpstreamState
from app.store.participants import get_participant_by_slug

log = logging.getLogger("aisx.upstream")
_state = UpstreamState.__table__
_collections = Collection.__table__
_TAXII = "application/taxii+json;version=2.1"
_ATTEMPTS = 6


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
            conn.execute(insert(_state).values(feed_id=feed_id, objects_pulled=0, **values))


def feed_states() -> list[dict[str, Any]]:
    """Every feed with its upstream and where mirroring stands (for `aisx feed list` and the admin API)."""
    result = []
    for feed in _feeds():
        entry: dict[str, Any] = {"id": feed.id, "alias": feed.alias, "title": feed.title, "selector": feed.selector}
        if feed.upstream:
            state = _load_state(feed.id)
            entry["upstream"] = {
                "url": feed.upstream.url, "collection": feed.upstream.collection, "checkpoint": state["checkpoint"],
                "objects_pulled": state["objects_pulled"], "last_error": state["last_error"],
                "last_success_at": _stamp(state["last_success_at"]), "last_error_at": _stamp(state["last_error_at"]),
            }
        result.append(entry)
    return result


def _stamp(micros: int | None) -> str | None:
    return format_timestamp(micros) if micros is not None else None


def _remote(upstream: Upstream) -> TaxiiCollection:
    user = os.environ.get(upstream.username_env or "", "") or None
    password = os.environ.get(upstream.password_env or "", "") or None
    url = upstream.url.rstrip("/") + f"/collections/{upstream.collection}/"
    return TaxiiCollection(url, user=user, password=password)


def _get_page(remote: TaxiiCollection, params: dict[str, Any]) -> requests.Response:
    """One page, retried with backoff on network errors, 429 and 5xx."""
    delay = 1.0
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            response = remote._conn.session.get(remote.objects_url, params=params, headers={"Accept": _TAXII},
                                                timeout=60)
        except requests.RequestException as exc:
            problem = f"network error: {exc}"
        else:
            if response.status_code == 200:
                return response
            if response.status_code != 429 and response.status_code < 500:
                raise UpstreamError(f"upstream answered {response.status_code}: {response.text[:300]}")
            problem = f"upstream answered {response.status_code}"
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = max(delay, float(retry_after))
        if attempt == _ATTEMPTS:
            raise UpstreamError(f"{problem} (gave up after {_ATTEMPTS} attempts)")
        log.warning("%s; retrying in %.0fs", problem, delay)
        time.sleep(delay)
        delay = min(delay * 2, 60)
    raise AssertionError("unreachable")


def sync_feed(feed: FeedDefinition) -> dict[str, Any]:
    """Pull everything new from the feed's upstream; returns counts (and the error, if it stopped on one)."""
    assert feed.upstream is not None
    result: dict[str, Any] = {"id": feed.id, "alias": feed.alias, "accepted": 0, "rejected": 0}
    try:
        with read_connection() as conn:
            collection = get_collection(conn, feed.api_root, feed.id)
            producer = get_participant_by_slug(conn, feed.upstream.attribute_to)
        if collection is None or producer is None:
            raise UpstreamError(f"feed {feed.alias}: attribute_to {feed.upstream.attribute_to!r} is not a participant")
        poster = Poster(producer.id, producer.identity_id, producer.pseudonym_identity_id, mirror=True)
        remote = _remote(feed.upstream)
        state = _load_state(feed.id)
        token: str | None = None
        while True:
            params: dict[str, Any] = {"limit": feed.upstream.page_size}
            if token:
                params["next"] = token
            if state["checkpoint"]:
                params["added_after"] = state["checkpoint"]
            response = _get_page(remote, params)
            envelope = response.json()
            objects = [o for o in envelope.get("objects", []) if isinstance(o, dict) and isinstance(o.get("id"), str)]
            if objects:
                status = ingest.submit(collection, poster, objects)
                result["accepted"] += status.success_count
                result["rejected"] += status.failure_count
            last = response.headers.get("X-TAXII-Date-Added-Last")
            if last:  # advance only now that the page is stored
                state["checkpoint"] = last
                state["objects_pulled"] += len(objects)
                _save_state(feed.id, checkpoint=last, objects_pulled=state["objects_pulled"])
            if not envelope.get("more"):
                break
            token = envelope.get("next")
            if not token and not last:
                raise UpstreamError("upstream says more=true but gives neither next nor X-TAXII-Date-Added-Last")
        _save_state(feed.id, last_success_at=now_us(), last_error=None)
    except (UpstreamError, requests.RequestException, ValueError) as exc:
        result["error"] = str(exc)
        _save_state(feed.id, last_error=str(exc)[:2000], last_error_at=now_us())
        log.error("feed %s: %s", feed.alias, exc)
    return result


def sync_all(feed_id: str | None = None) -> list[dict[str, Any]]:
    return [sync_feed(feed) for feed in _feeds(feed_id) if feed.upstream is not None]


def start_background_sync(stop: threading.Event) -> threading.Thread:
    """Poll every upstream at its interval until ``stop`` is set (run by `aisx serve`)."""
    def loop() -> None:
        due: dict[str, float] = {}
        while not stop.is_set():
            for feed in _feeds():
                if feed.upstream and time.monotonic() >= due.get(feed.id, 0):
                    sync_feed(feed)
                    due[feed.id] = time.monotonic() + feed.upstream.poll_interval
            stop.wait(2.0)

    thread = threading.Thread(target=loop, name="aisx-upstream", daemon=True)
    thread.start()
    return thread
