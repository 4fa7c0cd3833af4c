"""Admitting participants and issuing their keys."""

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection

from app.config import get_settings
from app.participants.directory import DIRECTORY_ALIAS, publish_identity
from app.participants.keys import NewKey, new_key
from app.sharing.exchange import reserved_objects
from app.store import participants as store
from app.store.collections import find_collection
from app.store.engine import now_us

KINDS = ("lab", "agency", "vendor", "operator")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")


class RegistryError(ValueError):
    """A request the registry refuses; the message says why."""


class NotFound(RegistryError):
    """The request names a participant, key, collection or API root that does not exist."""


@dataclass(frozen=True)
class NewParticipant:
    id: int
    slug: str
    identity_id: str
    pseudonym_identity_id: str


def add_participant(conn: Connection, slug: str, name: str, kind: str, groups: list[str] | None = None,
                    sectors: list[str] | None = None, identity_id: str | None = None) -> NewParticipant:
    """Create a participant with a STIX identity (fresh, or the one it already publishes under) and an
    unrelated random pseudonym identity."""
    if not _SLUG.match(slug):
        raise RegistryError(f"slug {slug!r} must be lower-case letters, digits and '-' (at most 63)")
    if kind not in KINDS:
        raise RegistryError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    for group in groups or []:
        if not _SLUG.match(group):
            raise RegistryError(f"group {group!r} must be lower-case letters, digits and '-'")
    if store.get_participant_by_slug(conn, slug) is not None:
        raise RegistryError(f"participant {slug!r} already exists")
    if identity_id is not None:
        _check_identity_id(identity_id)
        # An identity object a participant posted under this id does not block the organisation that uses it:
        # admitting it withdraws that object (``publish``). Participants' and the exchange's ids do.
        if identity_id in store.directory(conn)[0] or identity_id in reserved_objects(conn):
            raise RegistryError(f"identity {identity_id} is already in use on this exchange")
    # Independent UUIDv4s: the pseudonym cannot be derived from the real identity.
    identity_id = identity_id or f"identity--{uuid.uuid4()}"
    pseudonym_id = f"identity--{uuid.uuid4()}"
    created_at = now_us()
    participant_id = store.insert_participant(
        conn, slug=slug, name=name, kind=kind, identity_id=identity_id, pseudonym_identity_id=pseudonym_id,
        groups=groups or [], sectors=sectors or [], created_at=created_at,
    )
    directory = find_collection(conn, DIRECTORY_ALIAS, get_settings().default_api_root)
    if directory is None:
        raise RegistryError("the exchange is not set up yet: run `aisx db upgrade` or `aisx serve` first")
    participant = store.get_participant(conn, participant_id)
    assert participant is not None
    publish_identity(conn, directory.id, participant, created_at)
    return NewParticipant(participant_id, slug, identity_id, pseudonym_id)


def _check_identity_id(identity_id: str) -> None:
    prefix, _, suffix = identity_id.partition("--")
    try:
        valid = prefix == "identity" and str(uuid.UUID(suffix)) == suffix
    except ValueError:
        valid = False
    if not valid:
        raise RegistryError(f"{identity_id!r} is not a STIX identity id (identity--<lower-case UUID>)")


def issue_key(conn: Connection, slug: str, label: str | None = None) -> NewKey:
    participant = store.get_participant_by_slug(conn, slug)
    if participant is None:
        raise NotFound(f"no participant {slug!r}")
    key = new_key()
    store.insert_key(conn, key_id=key.key_id, participant_id=participant.id, secret_hash=key.secret_hash,
                     label=label, created_at=now_us())
    return key
