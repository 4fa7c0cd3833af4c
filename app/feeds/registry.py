"""Feeds in the database: each definition is a collection row (its JSON kept on the row) with read grants;
new definitions are backfilled, changed ones rebuilt on request, and arriving objects routed to every feed
whose selector matches."""

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, delete, exists, func, insert, or_, select, update

from app.audit import record
from app.feeds.definitions import FeedDefinition, FeedError
from app.feeds.selector import Facts, Selector
from app.participants.registry import parse_subject
from app.sharing.exchange import publish_definitions
from app.stix.ai import index_terms
from app.store.collections import (
    CollectionRow,
    delete_collection,
    get_api_root,
    insert_collection,
    list_collections,
    title_holder,
)
from app.store.engine import now_us
from app.store.lists import in_list
from app.store.models import (
    collection_table,
    grant_table,
    membership_table,
    participant_table,
    stix_object_table,
    upstream_state_table,
)
from app.store.objects import add_to_collection
from app.store.participants import claimed_identities

_collections = collection_table
_grants = grant_table
_membership = membership_table
_objects = stix_object_table
_participants = participant_table
_upstream_state = upstream_state_table
_REBUILD_BATCH = 2000
log = logging.getLogger("aisx")


def sync_definitions(conn: Connection, feeds: Iterable[FeedDefinition]) -> tuple[list[str], list[str]]:
    """Create or update the feed collections; returns (new feed ids, ids whose selector changed)."""
    created, changed = [], []
    for feed in feeds:
        if get_api_root(conn, feed.api_root) is None:
            raise FeedError(f"{feed.source}: api_root {feed.api_root!r} does not exist")
        row = conn.execute(select(_collections.c.feed, _collections.c.alias, _collections.c.api_root)
                           .where(_collections.c.id == feed.id)).first()
        clash = conn.execute(select(_collections.c.id).where(
            _collections.c.api_root == feed.api_root, _collections.c.alias == feed.alias,
            _collections.c.id != feed.id)).first()
        if clash:
            raise FeedError(f"{feed.source}: alias {feed.alias!r} is already used by collection {clash.id}")
        if (holder := title_holder(conn, feed.api_root, feed.title, other_than=feed.id)) is not None:
            raise FeedError(f"{feed.source}: title {feed.title!r} is already used by collection {holder} (TAXII "
                            "clients such as XSOAR and OpenCTI select collections by title, so titles are unique)")
        if row is None:
            insert_collection(conn, CollectionRow(feed.id, feed.api_root, feed.alias, feed.title, feed.description,
                                                  feed.public, feed.default_group), now_us())
            publish_definitions(conn, feed.id)
            created.append(feed.id)
        else:
            if row.feed is None:
                raise FeedError(f"{feed.source}: id {feed.id} belongs to a collection that is not a feed")
            before = orjson.loads(row.feed)
            if before.get("selector") != feed.selector:
                changed.append(feed.id)
            upstream = feed.upstream.__dict__ if feed.upstream else None
            if _upstream_key(before.get("upstream")) != _upstream_key(upstream):
                # a checkpoint is a position in one upstream collection's timeline: useless for another
                conn.execute(delete(_upstream_state).where(_upstream_state.c.feed_id == feed.id))
        conn.execute(update(_collections).where(_collections.c.id == feed.id).values(
            alias=feed.alias, title=feed.title, description=feed.description, public=feed.public,
            default_group=feed.default_group, feed=feed.to_json()))
        conn.execute(delete(_grants).where(_grants.c.collection_id == feed.id))
        for subject in {parse_subject(text) for text in feed.read}:
            conn.execute(insert(_grants).values(collection_id=feed.id, subject_kind=subject.kind,
                                                subject=subject.value, can_read=True, can_write=False))
    return created, changed


def _upstream_key(upstream: dict[str, Any] | None) -> tuple[str, str] | None:
    return (upstream["url"].rstrip("/"), upstream["collection"]) if upstream else None


def _feed_ids(conn: Connection) -> set[str]:
    return set(conn.execute(select(_collections.c.id).where(_collections.c.feed.is_not(None))).scalars())


def feed_selectors(conn: Connection) -> list[tuple[str, Selector]]:
    """(feed id, selector) for every feed that has one, sources resolved from aliases to ids within its API
    root. (A mirror without a selector takes nothing posted locally.)"""
    rows = conn.execute(select(_collections.c.id, _collections.c.api_root, _collections.c.feed)
                        .where(_collections.c.feed.is_not(None))).all()
    result = []
    open_collections: frozenset[str] | None = None
    for feed_id, api_root, text in rows:
        definition = FeedDefinition.from_json(text)
        if definition.selector is None:
            continue
        if "source_collections" in definition.selector:
            by_name = {c.alias: c.id for c in list_collections(conn, api_root)}
            sources = frozenset(by_name.get(name, name) for name in definition.selector["source_collections"])
        else:
            sources = open_collections if open_collections is not None else (open_collections := _open(conn))
        result.append((feed_id, Selector.build(definition.selector, sources)))
    return result


def _open(conn: Connection) -> frozenset[str]:
    """Collections every participant may read (or anyone, if public): the default sources of a feed. A GREEN
    object posted where only some participants read must not reach a feed that everyone reads, so a restricted
    collection feeds a feed only when the feed names it."""
    everyone = select(_grants.c.collection_id).where(
        _grants.c.subject_kind == "kind", _grants.c.subject == "*", _grants.c.can_read)
    rows = conn.execute(select(_collections.c.id).where(
        _collections.c.feed.is_(None), or_(_collections.c.public, _collections.c.id.in_(everyone))))
    return frozenset(rows.scalars())


def route(conn: Connection, arrivals: Sequence[tuple[int, Facts]], now: int,
          selectors: list[tuple[str, Selector]] | None = None) -> list[str]:
    """Add each arriving object version to every feed whose selector matches (feeds never feed feeds);
    returns the feeds that took some."""
    selectors = feed_selectors(conn) if selectors is None else selectors
    feed_ids = _feed_ids(conn)
    touched = []
    for feed_id, selector in selectors:
        seqs = [seq for seq, facts in arrivals
                if facts.source_collection not in feed_ids and selector.matches(facts)]
        if seqs:
            add_to_collection(conn, feed_id, seqs, now)
            touched.append(feed_id)
    return touched


def rebuild(conn: Connection, feed_id: str) -> int:
    """Recompute what a feed's selector takes from every stored version in its sources; returns how many
    versions the feed now holds. Versions that (re-)enter get a new date_added, so pollers see the feed's
    new content as new. What was put into the feed directly stays: the exchange's own definitions (every
    collection serves them) and the objects mirrored from its upstream."""
    feed_ids = _feed_ids(conn)
    if feed_id not in feed_ids:
        raise FeedError(f"no feed {feed_id}")
    selector = dict(feed_selectors(conn)).get(feed_id)
    elsewhere = _membership.alias()
    routed = list(conn.execute(select(_membership.c.seq).where(
        _membership.c.collection_id == feed_id,
        _membership.c.producer_id.is_not(None),
        exists(select(elsewhere.c.seq).where(elsewhere.c.object_seq == _membership.c.object_seq,
                                             elsewhere.c.collection_id.not_in(feed_ids))),
    )).scalars())
    for start in range(0, len(routed), _REBUILD_BATCH):
        conn.execute(delete(_membership).where(in_list(_membership.c.seq, "seqs")),
                     {"seqs": routed[start:start + _REBUILD_BATCH]})
    if selector is not None:
        _select_into(conn, feed_id, selector, feed_ids)
    return conn.execute(select(func.count()).select_from(_membership)
                        .where(_membership.c.collection_id == feed_id)).scalar_one()


def _select_into(conn: Connection, feed_id: str, selector: Selector, feed_ids: set[str]) -> None:
    query = (
        select(_membership.c.seq, _membership.c.object_seq, _membership.c.collection_id, _objects.c.raw,
               _objects.c.tlp, _objects.c.producer_id, _participants.c.kind, _participants.c.slug,
               _participants.c.identity_id)
        .select_from(_membership.join(_objects, _objects.c.seq == _membership.c.object_seq)
                     .outerjoin(_participants, _participants.c.id == _objects.c.producer_id))
        .order_by(_membership.c.seq)
    )
    claims = claimed_identities(conn)
    seen: set[int] = set()
    last = 0
    while True:
        rows = conn.execute(query.where(_membership.c.seq > last).limit(_REBUILD_BATCH)).all()
        if not rows:
            return
        last = max(r.seq for r in rows)
        wanted = []
        for row in rows:
            if row.collection_id in feed_ids or row.object_seq in seen:
                continue
            obj = orjson.loads(row.raw)
            identities = {row.identity_id, *claims.get(row.producer_id, ())} if row.identity_id else set()
            facts = Facts.of(obj, row.tlp, row.kind, row.slug, identities, row.collection_id, index_terms(obj))
            if selector.matches(facts):
                seen.add(row.object_seq)
                wanted.append(row.object_seq)
        if wanted:
            add_to_collection(conn, feed_id, wanted, now_us())


def remove_undefined(conn: Connection, feeds: Iterable[FeedDefinition]) -> list[tuple[str, str]]:
    """Remove the feeds no file defines any more (the files are the source of truth): each feed collection with
    its memberships, grants and mirroring checkpoint; the objects stay in the exchange. Logged and audited;
    returns the (id, alias) of each feed removed."""
    defined = {feed.id for feed in feeds}
    query = select(_collections.c.id, _collections.c.alias).where(_collections.c.feed.is_not(None))
    gone = [(i, a) for i, a in conn.execute(query.order_by(_collections.c.alias)) if i not in defined]
    for feed_id, alias in gone:
        removed = delete_collection(conn, feed_id)
        record(conn, "feed.remove", participant_id=None, collection_id=feed_id,
               detail={"alias": alias, "memberships": removed.memberships, "reason": "definition file removed"})
        log.warning("feed %s (%s): its definition file is gone; removed (%d memberships dropped, the objects stay "
                    "in the exchange)", alias, feed_id, removed.memberships)
    return gone
