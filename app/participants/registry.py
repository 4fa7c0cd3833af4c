"""Admitting participants and issuing their keys."""

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection

from app.config import get_settings
from app.errors import NotFound, Refused
from app.participants.directory import DIRECTORY_ALIAS, publish_identity
from app.participants.keys import NewKey, key_state, new_key
from app.sharing.exchange import reserved_objects
from app.store import participants as store
from app.store.collections import Subject, find_collection
from app.store.engine import now_us
from app.store.models import api_key_table, grant_table, participant_sector_table, participant_table
from app.store.objects import withdraw_participant_copies

KINDS = ("lab", "agency", "vendor", "operator")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")


class RegistryError(Refused):
    """A request the registry refuses; the message says why. (One that names a participant, key, collection or
    API root that does not exist raises ``app.errors.NotFound``.)"""


def check_fits(what: str, value: str | None, column: Column[Any]) -> None:
    """An operator's free text (a name, a title, a label, a sector) fits its column: a longer one was a 500 on
    PostgreSQL, which refuses what exceeds a VARCHAR's length, and was stored whole by SQLite, which does not."""
    limit = getattr(column.type, "length", None)  # String's, or through SQLModel's AutoString decorator
    if value is not None and limit is not None and len(value) > limit:
        raise RegistryError(f"{what} must be at most {limit} characters, not {len(value)}")


def parse_subject(text: str) -> Subject:
    """A grant subject: ``SLUG``, ``group:NAME``, ``kind:KIND`` or ``everyone`` (every participant); raises
    RegistryError. Whether a slug names a participant is the caller's question (a feed may grant one that is
    admitted later)."""
    if text == "everyone":
        return Subject("kind", "*")
    prefix, sep, value = text.partition(":")
    if sep and prefix == "group" and value:
        check_fits("a group name", value, grant_table.c.subject)
        return Subject("group", value)
    if sep and prefix == "kind":
        if value not in KINDS:
            raise RegistryError(f"kind must be one of {', '.join(KINDS)}, not {value!r}")
        return Subject("kind", value)
    if sep:
        raise RegistryError(f"grant subject {text!r} must be SLUG, group:NAME, kind:KIND or everyone")
    check_fits("a participant's slug", text, grant_table.c.subject)
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
    check_fits("the name", name, participant_table.c.name)
    for sector in sectors or []:
        check_fits("a sector", sector, participant_sector_table.c.sector)
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


def issue_key(conn: Connection, slug: str, label: str | None = None, expires_at: int | None = None,
              now: int | None = None) -> NewKey:
    """A new key for ``slug``, working until ``expires_at`` (µs; None: until revoked)."""
    check_fits("the key's label", label, api_key_table.c.label)
    participant = _participant(conn, slug)
    key = new_key()
    store.insert_key(conn, key_id=key.key_id, participant_id=participant.id, secret_hash=key.secret_hash,
                     label=label, created_at=now or now_us(), expires_at=expires_at)
    return key


# ------------------------------------------------------------------ lifecycle: changing participants, rotating keys


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new: NewKey
    participant: str
    label: str | None
    expires_at: int | None  # the new key's
    old_revoked_at: int  # when the old key stops working (the end of the grace)


def rotate_key(conn: Connection, key_id: str, grace: int, expires_in: int | None = None) -> Rotation:
    """Replace a working key by a new one for the same participant with the same label: the old key keeps working
    for ``grace`` µs (0: stops at once), so clients can switch over, then answers 401 "revoked". The new key
    expires ``expires_in`` µs from now if given, else after the old key's own lifetime if it had one (a 90-day
    key is replaced by a 90-day key), else never. Refused for a key that is revoked, expired or already
    rotated."""
    old = store.get_key(conn, key_id)
    if old is None:
        raise NotFound(f"no key {key_id!r}")
    now = now_us()
    state = key_state(now, old.revoked_at, old.expires_at, old.replaced_by)
    if state != "active":
        detail = f" (replaced by {old.replaced_by})" if old.replaced_by else ""
        raise RegistryError(f"key {key_id} is {state}{detail}: only an active key can be rotated")
    label, created_at = store.key_label(conn, key_id)
    if expires_in is None and old.expires_at is not None:
        expires_in = old.expires_at - created_at
    expires_at = now + expires_in if expires_in is not None else None
    participant = store.get_participant(conn, old.participant_id)
    assert participant is not None
    key = issue_key(conn, participant.slug, label, expires_at, now)
    if not store.replace_key(conn, key_id, key.key_id, now + grace, now):
        raise RegistryError(f"key {key_id} changed while it was being rotated; try again")
    return Rotation(key_id, key, participant.slug, label, expires_at, now + grace)


def update_participant(conn: Connection, slug: str, name: str | None = None, add_groups: list[str] | None = None,
                       remove_groups: list[str] | None = None) -> tuple[store.ParticipantRow, store.ParticipantRow]:
    """Rename ``slug`` and/or change its groups; (before, after). Joining a group it is in, or leaving one it is
    not in, is refused (it is a typing error more often than not, and the audit record should say what changed).
    The new groups count from the participant's next request: group grants and objects addressed to a group
    follow them, including objects addressed to the group before it joined (the audience was frozen as the
    group's name, not its members)."""
    before = _participant(conn, slug)
    add, remove = list(dict.fromkeys(add_groups or [])), list(dict.fromkeys(remove_groups or []))
    if name is None and not add and not remove:
        raise RegistryError("nothing to change: give a new name, groups to add or groups to remove")
    if name is not None and not name.strip():
        raise RegistryError("the name must not be empty")
    check_fits("the name", name, participant_table.c.name)
    for group in add:
        if not _SLUG.match(group):
            raise RegistryError(f"group {group!r} must be lower-case letters, digits and '-'")
    both = sorted(set(add) & set(remove))
    if both:
        raise RegistryError(f"group {both[0]!r} is both added and removed")
    already = sorted(set(add) & set(before.groups))
    if already:
        raise RegistryError(f"{slug} is already in group {already[0]!r}")
    absent = sorted(set(remove) - set(before.groups))
    if absent:
        raise RegistryError(f"{slug} is not in group {absent[0]!r}")
    if name is not None and name != before.name:
        store.set_name(conn, before.id, name)
        directory = find_collection(conn, DIRECTORY_ALIAS, get_settings().default_api_root)
        renamed = _participant(conn, slug)
        if directory is not None:  # a new version of its identity object, under the new name
            publish_identity(conn, directory.id, renamed, store.participant_created_at(conn, before.id), now_us())
    store.change_groups(conn, before.id, add, remove)
    return before, _participant(conn, slug)
