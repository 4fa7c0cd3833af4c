"""The gate of every post, TAXII POST and ``aisx ingest`` alike: the poster must be an active participant with
a write grant on the collection. (``aisx ingest`` used to skip it and wrote into the read-only directory, into
feeds, and as suspended participants.)"""

from sqlalchemy import Connection

from app.errors import Forbidden, NotFound
from app.sharing.access import Access, Caller, access_for, require_write
from app.sharing.rules import Poster
from app.store.collections import CollectionRow
from app.store.participants import get_participant_by_slug


def authorise_post(conn: Connection, collection: CollectionRow, caller: Caller | None,
                   access: Access | None = None) -> Poster:
    """The poster ``caller`` is on ``collection``; NotAuthenticated, Forbidden or NotFound unless it may add
    objects. ``access``: the caller's access to ``collection``, if the caller has just read it."""
    require_write(access if access is not None else access_for(conn, collection, caller), caller)
    assert caller is not None
    return Poster(caller.participant_id, caller.identity_id, caller.pseudonym_identity_id)


def acting_as(conn: Connection, slug: str) -> Caller:
    """The participant an operator posts for (``aisx ingest --as``), refused as its keys would be: suspended
    participants may not post. NotFound for an unknown slug, Forbidden for a suspended participant."""
    participant = get_participant_by_slug(conn, slug)
    if participant is None:
        raise NotFound(f"no participant {slug!r}")
    if participant.suspended:
        raise Forbidden(f"participant {slug!r} is suspended: reinstate it first (`aisx participant reinstate`)")
    return Caller(participant.id, participant.slug, participant.kind, participant.groups, participant.identity_id,
                  participant.pseudonym_identity_id, key_id="")
