"""Admitting participants and issuing their keys."""

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection

from app.participants.keys import NewKey, new_key
from app.store import participants as store
from app.store.engine import now_us

KINDS = ("lab", "agency", "vendor", "operator")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")


class RegistryError(ValueError):
    pass


@dataclass(frozen=True)
class NewParticipant:
    id: int
    slug: str
    identity_id: str
    pseudonym_identity_id: str


def add_participant(conn: Connection, slug: str, name: str, kind: str, groups: list[str] | None = None,
                    sectors: list[str] | None = None) -> NewParticipant:
    """Create a participant with a fresh STIX identity and an unrelated random pseudonym identity."""
    if not _SLUG.match(slug):
        raise RegistryError(f"slug {slug!r} must be lower-case letters, digits and '-' (at most 63)")
    if kind not in KINDS:
        raise RegistryError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    for group in groups or []:
        if not _SLUG.match(group):
            raise RegistryError(f"group {group!r} must be lower-case letters, digits and '-'")
    if store.get_participant_by_slug(conn, slug) is not None:
        raise RegistryError(f"participant {slug!r} already exists")
    # Two independent UUIDv4s: the pseudonym cannot be derived from the real identity.
    identity_id, pseudonym_id = f"identity--{uuid.uuid4()}", f"identity--{uuid.uuid4()}"
    participant_id = store.insert_participant(
        conn, slug=slug, name=name, kind=kind, identity_id=identity_id, pseudonym_identity_id=pseudonym_id,
        groups=groups or [], sectors=sectors or [], created_at=now_us(),
    )
    return NewParticipant(participant_id, slug, identity_id, pseudonym_id)


def issue_key(conn: Connection, slug: str, label: str | None = None) -> NewKey:
    participant = store.get_participant_by_slug(conn, slug)
    if participant is None:
        raise RegistryError(f"no participant {slug!r}")
    key = new_key()
    store.insert_key(conn, key_id=key.key_id, participant_id=participant.id, secret_hash=key.secret_hash,
                     label=label, created_at=now_us())
    return key
