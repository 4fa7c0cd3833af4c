"""Creating, listing, changing and removing collections, and granting access to them."""

import re
import uuid
from typing import Any

from sqlalchemy import Connection

from app.config import get_settings
from app.errors import Conflict, NotFound
from app.feeds.definitions import definition_file
from app.participants.registry import RegistryError, check_fits, parse_subject
from app.sharing.exchange import publish_definitions
from app.store import collections as store
from app.store.collections import CollectionRow, Subject
from app.store.engine import now_us
from app.store.models import collection_table
from app.store.participants import get_participant_by_slug

_ALIAS = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}\Z")


def add_collection(conn: Connection, alias: str, title: str, api_root: str, *, public: bool = False,
                   description: str | None = None, default_group: str | None = None,
                   lenient: bool = False) -> CollectionRow:
    """A new collection, already holding the exchange's definitions (TLP, extensions) for its readers."""
    if not _ALIAS.match(alias):
        raise RegistryError(f"alias {alias!r} must be lower-case letters, digits, '-' and '_'")
    check_fits("the title", title, collection_table.c.title)
    check_fits("the default group", default_group, collection_table.c.default_group)
    if store.get_api_root(conn, api_root) is None:
        raise NotFound(f"no API root {api_root!r}")
    if store.find_collection(conn, alias, api_root) is not None:
        raise RegistryError(f"API root {api_root!r} already has a collection {alias!r}")
    if (holder := store.title_holder(conn, api_root, title)) is not None:
        raise RegistryError(f"API root {api_root!r} already has a collection titled {title!r} ({holder}): TAXII "
                            "clients such as XSOAR and OpenCTI select collections by title, so titles are unique")
    if public and default_group:
        raise RegistryError("a public collection holds TLP:CLEAR only and cannot have a default AMBER group")
    row = CollectionRow(str(uuid.uuid4()), api_root, alias, title, description, public, default_group,
                        "lenient" if lenient else "strict")
    store.insert_collection(conn, row, now_us())
    publish_definitions(conn, row.id)
    return row


def _existing_subject(conn: Connection, text: str) -> Subject:
    """``parse_subject``, and a slug must name a participant."""
    subject = parse_subject(text)
    if subject.kind == "participant" and get_participant_by_slug(conn, subject.value) is None:
        raise NotFound(f"no participant {text!r}")
    return subject


def grant(conn: Connection, subject_text: str, collection: str, *, read: bool, write: bool) -> tuple[
        Subject, CollectionRow]:
    row = _found(conn, collection)
    _not_a_feed(conn, row, "access")
    subject = _existing_subject(conn, subject_text)
    store.set_grant(conn, row.id, subject, read, write)
    return subject, row


# ------------------------------------------------------------------ listing, changing and removing (issue 16)

STANDARD_ALIASES = ("shared", "directory")  # made by app.admin.bootstrap in the default API root


def _found(conn: Connection, collection: str) -> CollectionRow:
    row = store.find_collection(conn, collection)
    if row is None:
        raise NotFound(f"no collection with id or alias {collection!r} (or the alias is ambiguous)")
    return row


def _not_a_feed(conn: Connection, row: CollectionRow, what: str) -> None:
    """Refuse to change a feed here: its definition file is the source of truth, and a change made in the
    database would be undone at the next start or ``aisx feed`` command (as grants on feeds silently were)."""
    (summary,) = store.collection_summaries(conn, row.id)
    if summary.feed is None:
        return
    directory = get_settings().feeds_dir
    path = definition_file(directory, row.id) or f"its file in {directory.resolve()} (AISX_FEEDS_DIR)"
    name = row.alias or row.id
    if what == "access":
        where = f"edit the [access] table of {path}"
    elif what == "removal":
        where = f"delete {path}"
    else:
        where = f"edit {path}"
    raise Conflict(f"{name} is a feed, defined by its file: {where}, then run `aisx feed rebuild {name}` or "
                   "restart `aisx serve` to apply it")


def _subject_text(grant: store.GrantRow) -> str:
    """A grant's subject as ``aisx grant`` takes it: SLUG, group:NAME, kind:KIND or everyone."""
    if grant.subject_kind == "participant":
        return grant.subject
    if (grant.subject_kind, grant.subject) == ("kind", "*"):
        return "everyone"
    return f"{grant.subject_kind}:{grant.subject}"


def grant_view(grant: store.GrantRow) -> dict[str, Any]:
    return {"subject_kind": grant.subject_kind, "subject": grant.subject, "name": _subject_text(grant),
            "can_read": grant.can_read, "can_write": grant.can_write}


def summary_view(summary: store.CollectionSummary) -> dict[str, Any]:
    """A collection as ``aisx collection list --json`` and ``GET /admin/collections`` show it."""
    row = summary.row
    return {"id": row.id, "alias": row.alias, "api_root": row.api_root, "title": row.title,
            "description": row.description, "validation": row.validation, "public": row.public,
            "default_group": row.default_group, "feed": summary.feed is not None, "objects": summary.objects,
            "grants": [grant_view(g) for g in summary.grants]}


def collections(conn: Connection) -> list[dict[str, Any]]:
    return [summary_view(s) for s in store.collection_summaries(conn)]


def grants_of(conn: Connection, collection: str) -> tuple[CollectionRow, list[dict[str, Any]]]:
    row = _found(conn, collection)
    (summary,) = store.collection_summaries(conn, row.id)
    return row, [grant_view(g) for g in summary.grants]


def change(conn: Connection, collection: str, *, title: str | None = None, description: str | None = None,
           clear_description: bool = False, validation: str | None = None) -> tuple[
        CollectionRow, dict[str, Any], dict[str, Any]]:
    """Set a collection's title, description (``clear_description``: remove it) and validation; returns the row
    before, and the changed fields before and after (empty if nothing changed)."""
    row = _found(conn, collection)
    if title is None and description is None and not clear_description and validation is None:
        raise RegistryError("nothing to change: give a title, a description or strict/lenient")
    _not_a_feed(conn, row, "update")
    if validation is not None and validation not in ("strict", "lenient"):
        raise RegistryError(f"validation must be strict or lenient, not {validation!r}")
    if title is not None:
        if not title.strip():
            raise RegistryError("a collection's title cannot be empty")
        check_fits("the title", title, collection_table.c.title)
        if (holder := store.title_holder(conn, row.api_root, title, other_than=row.id)) is not None:
            raise RegistryError(f"API root {row.api_root!r} already has a collection titled {title!r} ({holder}): "
                                "TAXII clients such as XSOAR and OpenCTI select collections by title, so titles "
                                "are unique")
    wanted: dict[str, str | None] = {"title": title, "validation": validation}
    if clear_description or description is not None:
        wanted["description"] = description or None
    current = {"title": row.title, "description": row.description, "validation": row.validation}
    after = {k: v for k, v in wanted.items() if (v is not None or k == "description") and v != current[k]}
    store.update_collection(conn, row.id, after)
    return row, {k: current[k] for k in after}, after


def remove(conn: Connection, collection: str, *, force: bool) -> tuple[store.CollectionSummary, store.Removed]:
    """Remove a collection: refused for a feed (its file decides), for the standard ``shared`` and ``directory``
    (recreated at every start), and, unless ``force``, while participants' objects are in it. The objects stay
    in the exchange either way (``store.delete_collection``)."""
    row = _found(conn, collection)
    _not_a_feed(conn, row, "removal")
    if row.api_root == get_settings().default_api_root and row.alias in STANDARD_ALIASES:
        raise Conflict(f"{row.alias} is one of the collections every exchange has (recreated at every start): it "
                       "cannot be removed; withdraw its grants instead")
    (summary,) = store.collection_summaries(conn, row.id)
    if summary.objects and not force:
        raise Conflict(f"{row.alias or row.id} holds {summary.objects} object versions: remove it with --force "
                       "(force=true in the admin API) to drop them from this collection; the objects stay in the "
                       "exchange and in every other collection")
    return summary, store.delete_collection(conn, row.id)


def revoke(conn: Connection, subject_text: str, collection: str) -> tuple[Subject, CollectionRow]:
    """Remove ``subject``'s grant on a collection (NotFound if it has none)."""
    row = _found(conn, collection)
    _not_a_feed(conn, row, "access")
    subject = parse_subject(subject_text)
    if not store.delete_grant(conn, row.id, subject):
        raise NotFound(f"{subject_text} has no grant on {row.alias or row.id}")
    return subject, row
