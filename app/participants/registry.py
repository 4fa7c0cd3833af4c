"""Admitting participants and issuing their keys."""

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection

from app.config import get_settings
from app.errors import NotFound, Refused
from app.participants.directory import DIRECTORY_ALIAS, publish_identity
from app.participants.keys import NewKey, new_key
from app.sharing.exchange import reserved_objects
from app.store import participants as store
from app.store.collections import Subject, find_collection
from app.store.engine import now_us
from app.store.objects import withdraw_participant_copies

KINDS = ("lab", "agency", "vendor", "operator")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")


class RegistryError(Refused):
    """A request the registry refuses; the message says why. (One that names a participant, key, collection or
    API root that does not exist raises ``app.errors.NotFound``.)"""


def parse_subject(text: str) -> Subject:
    """A grant subject: ``SLUG``, ``group:NAME``, ``kind:KIND`` or ``everyone`` (every participant); raises
    RegistryError. Whether a slug names a participant is the caller's question (a feed may grant one that is
    admitted later)."""
    if text == "everyone":
        return Subject("kind", "*")
    prefix, sep, value = text.partition(":")
    if sep and prefix == "group" and value:
        return Subject("group", value)
    if sep and prefix == "kind":
        if value not in KINDS:
            raise RegistryError(f"kind must be one of {', '.join(KINDS)}, not {value!r}")
        return Subject("kind", value)
    if sep:
        raise RegistryError(f"grant subject {text!r} must be SLUG, group:NAME, kind:KIND or everyone")
    return Subject("participant", text)


@dataclass(frozen=True)
class NewParticipant:
    id: int
    slug: str
    identity_id: str
    pseudonym_identity_id: str


def add_participant(conn: Connection, slug: str, name: str, kind: str, groups: list[str] | None = None,
                    sectors: list[str] | None = None, identity_id: str | None = None,
                    claimed: list[str] | None = None) -> NewParticipant:
    """Create a participant with a STIX identity (fresh, or the one it already publishes under), an unrelated
    random pseudonym identity, and the other identity ids it already publishes under (``claim_identity``)."""
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
        # An identity object a participant posted under this id does not block the organisation that uses it:
        # admitting it withdraws that object (``publish``). Participants' and the exchange's ids do.
        _check_free(conn, identity_id)
    named = [i for i in (identity_id, *(claimed or [])) if i is not None]
    if len(set(named)) != len(named):
        raise RegistryError("the identity ids must be distinct")
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
    for other in claimed or []:
        claim_identity(conn, slug, other)
    return NewParticipant(participant_id, slug, identity_id, pseudonym_id)


def claim_identity(conn: Connection, slug: str, identity_id: str) -> store.ParticipantRow:
    """Attach an identity id the participant already publishes under: objects it creates are then the
    participant's (``created_by_ref`` accepted, ``producers`` feeds select them). Like an identity id given at
    admission, it takes the id over from identity objects others posted under it: their copies are withdrawn
    from every collection, and only the participant may post an identity object under the id from then on."""
    participant = _participant(conn, slug)
    _check_free(conn, identity_id)
    store.add_claim(conn, participant.id, identity_id, now_us())
    withdraw_participant_copies(conn, [identity_id], keep=participant.id)
    return _participant(conn, slug)


def release_identity(conn: Connection, slug: str, identity_id: str) -> store.ParticipantRow:
    """Detach a claimed identity id: objects already stored stay the participant's; new ones created by the id
    are refused from now on."""
    participant = _participant(conn, slug)
    if not store.remove_claim(conn, participant.id, identity_id):
        raise NotFound(f"{identity_id} is not an identity id attached to {slug!r}")
    return _participant(conn, slug)


def _participant(conn: Connection, slug: str) -> store.ParticipantRow:
    participant = store.get_participant_by_slug(conn, slug)
    if participant is None:
        raise NotFound(f"no participant {slug!r}")
    return participant


def _check_free(conn: Connection, identity_id: str) -> None:
    """``identity_id`` is a STIX identity id that no participant (real, pseudonym or claimed) and not the
    exchange (its identity, or an id it reserves) uses."""
    _check_identity_id(identity_id)
    if identity_id in store.directory(conn)[0] or identity_id in reserved_objects(conn):
        raise RegistryError(f"identity {identity_id} is already in use on this exchange")


def _check_identity_id(identity_id: str) -> None:
    prefix, _, suffix = identity_id.partition("--")
    try:
        valid = prefix == "identity" and str(uuid.UUID(suffix)) == suffix
    except ValueError:
        valid = False
    if not valid:
        raise RegistryError(f"{identity_id!r} is not a STIX identity id (identity--<lower-case UUID>)")


def issue_key(conn: Connection, slug: str, label: str | None = None) -> NewKey:
    participant = _participant(conn, slug)
    key = new_key()
    store.insert_key(conn, key_id=key.key_id, participant_id=participant.id, secret_hash=key.secret_hash,
                     label=label, created_at=now_us())
    return key
