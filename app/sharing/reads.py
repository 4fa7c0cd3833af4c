"""The one read API: every read of STIX content, for a reader, in a collection.

Each function builds the visibility clause from the reader itself (``app.sharing.visibility``) and hands it to
the store, so no caller can pass the store a clause of its own, or none: the HTTP layer, the admin API and the
CLI import these functions and never the store's query functions or the clause builders
(tests/test_layers.py parses app/ and checks it)."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection

from app.sharing.access import Caller
from app.sharing.visibility import admitted_to, first_visible, known_to, visible_to
from app.stix.markings import Tlp
from app.store import objects as object_store
from app.store.collections import CollectionRow
from app.store.objects import PageRow
from app.store.participants import Grantee, get_grantee
from app.store.queries import ObjectFilter, Position, VersionFilter, following


@dataclass(frozen=True)
class Page:
    rows: list[PageRow]
    more: bool
    resume_at: Position | None  # where the next page starts; None when no more follow


def page(conn: Connection, reader: Caller | None, collection: CollectionRow, query: ObjectFilter, *,
         stix_id: str | None = None, with_raw: bool = True) -> Page:
    """One page of what ``reader`` (None: anonymous) may see of ``collection`` under ``query`` (of one object
    only, with ``stix_id``), in date_added order."""
    visible = visible_to(reader, public_collection=collection.public)
    first = first_visible(reader, public_collection=collection.public) if query.versions.first else None
    rows, more = object_store.page(conn, collection.id, query, visible, stix_id=stix_id, with_raw=with_raw,
                                   first=first)
    resume_at = following([r.date_added for r in rows], query.after) if more else None
    return Page(rows, more, resume_at)


def served_sensitive(served: Sequence[PageRow]) -> set[tuple[str, int | None]]:
    """(id, producer) of each AMBER or RED version a page served, for the producers' read statistics."""
    return {(r.stix_id, r.producer_id) for r in served if r.tlp >= Tlp.AMBER}


def shared_ids(served: Sequence[PageRow]) -> list[str]:
    """The served ids that several producers hold (``PageRow.shared``)."""
    return sorted({r.stix_id for r in served if r.shared})


def shared_copies(conn: Connection, reader: Caller, collection: CollectionRow, query: ObjectFilter,
                  ids: Sequence[str]) -> list[tuple[str, int]]:
    """For read statistics, of ids several producers hold (``shared_ids``): (id, producer) for each producer whose
    copy the reader may see (rules 1-4) with an AMBER or RED version that ``query`` selects — what the page would
    have served of that copy had rules 5 and 6 not served another producer's.

    Rules 5 and 6 serve one copy of an id that several producers hold. Counting only the served copy told a
    producer, through ``GET /me/reads``, that a reader who had read its id was served someone else's copy: that
    another producer holds the id, in a copy the producer cannot see. Only the ids that several producers hold need
    this second query (the page query says which those are): asked for every id of every page, it would be a
    second query on every read."""
    admitted = admitted_to(reader, public_collection=collection.public)
    first = first_visible(reader, public_collection=collection.public) if query.versions.first else None
    return object_store.sensitive_copies(conn, collection.id, ids, admitted, query.versions, first)


def producers(conn: Connection, reader: Caller, collection: CollectionRow, stix_id: str) -> set[int | None]:
    """Producers of the versions of ``stix_id`` that ``reader`` can see in ``collection`` (empty: it looks
    absent)."""
    visible = visible_to(reader, public_collection=collection.public)
    return object_store.visible_producers(conn, collection.id, stix_id, visible)


def remove_own(conn: Connection, reader: Caller, collection: CollectionRow, stix_id: str,
               versions: VersionFilter) -> int:
    """Remove the versions of ``reader``'s own copy of ``stix_id`` that it can see and ``versions`` selects
    from ``collection``; returns how many."""
    visible = visible_to(reader, public_collection=collection.public)
    return object_store.remove_from_collection(conn, collection.id, stix_id, versions, visible,
                                               reader.participant_id)


def poster_of(conn: Connection, participant_id: int) -> Grantee:
    """The participant a post is written as, by its grant names (what ``known_to_poster`` depends on)."""
    poster = get_grantee(conn, participant_id)
    if poster is None:
        raise LookupError(f"participant {participant_id} does not exist")
    return poster


def known_to_poster(poster: Grantee) -> ColumnElement[bool]:
    """The stored versions a post by ``poster`` may take into account (ownership, identical re-posts): its own, the
    exchange's, and what it can read somewhere (``app.sharing.visibility.known_to``), so that no answer to a write
    depends on objects the poster cannot see."""
    return known_to(poster)
