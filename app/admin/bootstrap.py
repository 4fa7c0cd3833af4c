"""First start: the default API root, the shared collection, and an operator if there is nobody yet."""

import logging
from dataclasses import dataclass
from typing import Any

from app.admin.collections import add_collection
from app.audit import record
from app.config import get_settings
from app.errors import NotFound, Refused
from app.feeds.definitions import FeedError, load_feeds
from app.feeds.registry import rebuild, remove_undefined, sync_definitions
from app.participants.keys import NewKey
from app.participants.registry import add_participant, issue_key
from app.sharing.exchange import mint_key, publish_definitions
from app.store import collections as collection_store
from app.store.collections import Subject
from app.store.engine import write_transaction
from app.store.migrate import upgrade_to_head
from app.store.participants import count_participants

log = logging.getLogger("aisx")
_STANDARD_COLLECTIONS = (
    ("shared", "Shared exchange collection", "Read and write for every participant.", True),
    ("directory", "Participant directory",
     "The STIX identities of the exchange's participants, for naming recipients. Read-only.", False),
)


@dataclass(frozen=True)
class FirstOperator:
    slug: str
    key: NewKey


def prepare() -> None:
    """Migrate, then create what every exchange has: the default API root, the ``shared`` and ``directory``
    collections, the exchange's definitions in every collection, and the feeds of ``AISX_FEEDS_DIR`` (new ones
    backfilled, those whose file is gone removed). Idempotent; a bad feed file raises FeedError naming the file
    and the problem (after the exchange's own definitions are committed: fixing the file and running any
    ``aisx feed`` command then applies the feeds). Run by ``aisx serve`` and ``aisx db upgrade`` only."""
    upgrade_to_head()
    settings = get_settings()
    root = settings.default_api_root
    with write_transaction() as conn:
        collection_store.ensure_api_root(conn, root, "AISX exchange", "Default API root of the AI Security Exchange.",
                                         settings.max_content_length)
        created = set()  # add_collection has published the definitions into these
        for alias, title, description, write in _STANDARD_COLLECTIONS:
            if collection_store.find_collection(conn, alias, root) is None:
                row = add_collection(conn, alias, title, root, description=description)
                collection_store.set_grant(conn, row.id, Subject("kind", "*"), True, write)
                created.add(row.id)
        mint_key(conn, create=True)  # before any worker mints: two making it at once would collide
        for api_root in collection_store.list_api_roots(conn):  # this release's definitions in every other one
            for row in collection_store.list_collections(conn, api_root.name):
                if row.id not in created:
                    publish_definitions(conn, row.id)
    sync_feeds()


def sync_feeds() -> list[tuple[str, str]]:
    """Apply the feed files of ``AISX_FEEDS_DIR``, the source of truth: create new feeds (backfilled), update
    changed ones (their grants from their ``[access]`` table), remove those whose file is gone (logged; objects
    stay). Returns the (id, alias) of those removed. Run at start and by the ``aisx feed`` commands; raises
    FeedError for a bad file (nothing applied then)."""
    feeds = load_feeds(get_settings().feeds_dir)
    with write_transaction() as conn:
        created, changed = sync_definitions(conn, feeds)
        removed = remove_undefined(conn, feeds)
        for feed_id in created:
            rebuild(conn, feed_id)
    for feed_id in changed:
        log.warning("feed %s: its selector changed; run `aisx feed rebuild %s` to recompute it", feed_id, feed_id)
    return removed


def rebuild_feed(actor: int | None, name: str) -> dict[str, Any]:
    """``aisx feed rebuild`` and ``POST /admin/feeds/{feed}/rebuild``: apply the feed files (a feed whose file is
    gone is removed), then recompute feed ``name`` (alias or id) from every stored object, audited as
    ``feed.rebuild``. Refused for a bad feed file, NotFound for a name that is no feed."""
    try:
        removed = sync_feeds()
    except FeedError as exc:
        raise Refused(str(exc)) from None
    gone_too = [{"id": feed_id, "alias": alias} for feed_id, alias in removed]
    gone = next((feed_id for feed_id, alias in removed if name in (feed_id, alias)), None)
    if gone is not None:
        return {"id": gone, "objects": 0, "removed": True, "removed_feeds": gone_too}
    with write_transaction() as conn:
        row = collection_store.find_collection(conn, name)
        try:
            count = rebuild(conn, row.id) if row is not None else None
        except FeedError:  # a collection, not a feed
            count = None
        if row is None or count is None:
            raise NotFound(f"no feed {name!r}")
        record(conn, "feed.rebuild", participant_id=actor, collection_id=row.id,
               detail={"alias": row.alias, "objects": count})
    return {"id": row.id, "objects": count, "removed": False, "removed_feeds": gone_too}


def bootstrap() -> FirstOperator | None:
    """``prepare``, then an operator ``admin`` if there is no participant yet; returns its key once."""
    prepare()
    with write_transaction() as conn:
        if count_participants(conn):
            return None
        add_participant(conn, "admin", "Exchange operator", "operator")
        return FirstOperator("admin", issue_key(conn, "admin", label="bootstrap"))
