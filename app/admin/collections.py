"""Creating collections and granting access to them."""

import re
import uuid

from sqlalchemy import Connection

from app.errors import NotFound
from app.participants.registry import RegistryError, parse_subject
from app.sharing.exchange import publish_definitions
from app.store import collections as store
from app.store.collections import CollectionRow, Subject
from app.store.engine import now_us
from app.store.participants import get_participant_by_slug

_ALIAS = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}\Z")


def add_collection(conn: Connection, alias: str, title: str, api_root: str, *, public: bool = False,
                   description: str | None = None, default_group: str | None = None,
                   lenient: bool = False) -> CollectionRow:
    """A new collection, already holding the exchange's definitions (TLP, extensions) for its readers."""
    if not _ALIAS.match(alias):
        raise RegistryError(f"alias {alias!r} must be lower-case letters, digits, '-' and '_'")
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
    row = store.find_collection(conn, collection)
    if row is None:
        raise NotFound(f"no collection with id or alias {collection!r} (or the alias is ambiguous)")
    subject = _existing_subject(conn, subject_text)
    store.set_grant(conn, row.id, subject, read, write)
    return subject, row
