"""Participants, their groups and sectors, and API keys."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import (
    Connection,
    Row,
    ScalarSelect,
    Select,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from app.store.audit import last_use_of
from app.store.models import (
    api_key_table,
    client_certificate_table,
    participant_group_table,
    participant_identity_table,
    participant_sector_table,
    participant_table,
)

_participants = participant_table
_groups = participant_group_table
_sectors = participant_sector_table
_keys = api_key_table
_certs = client_certificate_table
_claims = participant_identity_table
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class ParticipantRow:
    id: int
    slug: str
    name: str
    kind: str
    identity_id: str
    pseudonym_identity_id: str
    suspended: bool
    groups: tuple[str, ...]
    sectors: tuple[str, ...]
    claimed: tuple[str, ...] = ()  # identity ids it already published under, attached by the operator


@dataclass(frozen=True)
class KeyRow:
    key_id: str
    participant_id: int
    secret_hash: str
    revoked_at: int | None  # may lie ahead: the end of a rotation's grace
    expires_at: int | None = None
    replaced_by: str | None = None  # the key a rotation issued in its place


# (the participant id column, the value column) of each table ``ParticipantRow`` gathers values from
_MEMBERSHIPS = ((_groups.c.participant_id, _groups.c.name), (_sectors.c.participant_id, _sectors.c.sector),
                (_claims.c.participant_id, _claims.c.identity_id))


def _with_memberships(conn: Connection, row: Row) -> ParticipantRow:
    groups, sectors, claimed = (conn.execute(select(value).where(owner == row.id)).scalars()
                                for owner, value in _MEMBERSHIPS)
    return _participant_row(row, groups, sectors, claimed)


def _participant_row(row: Row, groups: Iterable[str], sectors: Iterable[str], claimed: Iterable[str]
                     ) -> ParticipantRow:
    return ParticipantRow(row.id, row.slug, row.name, row.kind, row.identity_id, row.pseudonym_identity_id,
                          row.suspended, tuple(sorted(groups)), tuple(sorted(sectors)), tuple(sorted(claimed)))


@dataclass(frozen=True)
class Grantee:
    """A participant as grants and the sharing rules name it: id, slug, kind and groups."""

    id: int
    slug: str
    kind: str
    groups: tuple[str, ...]


def get_grantee(conn: Connection, participant_id: int) -> Grantee | None:
    """The participant's grant names, in one statement (``get_participant`` takes four: every POST read them twice,
    8 of the 23 statements of a one-object post)."""
    rows = conn.execute(
        select(_participants.c.slug, _participants.c.kind, _groups.c.name)
        .select_from(_participants.outerjoin(_groups, _groups.c.participant_id == _participants.c.id))
        .where(_participants.c.id == participant_id)).all()
    if not rows:
        return None
    groups = tuple(sorted(row.name for row in rows if row.name is not None))
    return Grantee(participant_id, rows[0].slug, rows[0].kind, groups)


def get_participant(conn: Connection, participant_id: int) -> ParticipantRow | None:
    row = conn.execute(select(_participants).where(_participants.c.id == participant_id)).first()
    return _with_memberships(conn, row) if row else None


def get_participant_by_slug(conn: Connection, slug: str) -> ParticipantRow | None:
    row = conn.execute(select(_participants).where(_participants.c.slug == slug)).first()
    return _with_memberships(conn, row) if row else None


def count_participants(conn: Connection) -> int:
    return len(conn.execute(select(_participants.c.id).limit(1)).all())


def insert_participant(
    conn: Connection, *, slug: str, name: str, kind: str, identity_id: str, pseudonym_identity_id: str,
    groups: list[str], sectors: list[str], created_at: int,
) -> int:
    participant_id = conn.execute(insert(_participants).values(
        slug=slug, name=name, kind=kind, identity_id=identity_id,
        pseudonym_identity_id=pseudonym_identity_id, suspended=False, created_at=created_at,
    ).returning(_participants.c.id)).scalar_one()
    for group in sorted(set(groups)):
        conn.execute(insert(_groups).values(participant_id=participant_id, name=group))
    for sector in sorted(set(sectors)):
        conn.execute(insert(_sectors).values(participant_id=participant_id, sector=sector))
    return participant_id


def insert_key(conn: Connection, *, key_id: str, participant_id: int, secret_hash: str, label: str | None,
               created_at: int, expires_at: int | None = None) -> None:
    conn.execute(insert(_keys).values(key_id=key_id, participant_id=participant_id, secret_hash=secret_hash,
                                      label=label, created_at=created_at, expires_at=expires_at))


def _key(row: Row) -> KeyRow:
    return KeyRow(row.key_id, row.participant_id, row.secret_hash, row.revoked_at, row.expires_at, row.replaced_by)


def revoke_key(conn: Connection, key_id: str, at: int) -> bool:
    """Revoke a key at ``at``: one not revoked yet, or one whose rotation grace would end later (revoking it
    now cuts the grace short)."""
    result = conn.execute(
        update(_keys).where(_keys.c.key_id == key_id, or_(_keys.c.revoked_at.is_(None), _keys.c.revoked_at > at))
        .values(revoked_at=at)
    )
    return result.rowcount > 0


def claimed_identities(conn: Connection) -> dict[int, set[str]]:
    """Participant id → the identity ids attached to it (besides its real identity and pseudonym)."""
    claims: dict[int, set[str]] = {}
    for pid, identity_id in conn.execute(select(_claims.c.participant_id, _claims.c.identity_id)):
        claims.setdefault(pid, set()).add(identity_id)
    return claims


def add_claim(conn: Connection, participant_id: int, identity_id: str, at: int) -> None:
    conn.execute(insert(_claims).values(identity_id=identity_id, participant_id=participant_id, created_at=at))


def remove_claim(conn: Connection, participant_id: int, identity_id: str) -> bool:
    return conn.execute(delete(_claims).where(_claims.c.participant_id == participant_id,
                                              _claims.c.identity_id == identity_id)).rowcount > 0


def directory(conn: Connection, claims: dict[int, set[str]] | None = None) -> tuple[dict[str, int], frozenset[str]]:
    """Every nameable recipient: identity ids (real, pseudonym and claimed) → participant id, and all group
    names. ``claims``: what ``claimed_identities`` answered, if the caller has just read it."""
    identities: dict[str, int] = {}
    for pid, real, pseudonym in conn.execute(
            select(_participants.c.id, _participants.c.identity_id, _participants.c.pseudonym_identity_id)):
        identities[real] = identities[pseudonym] = pid
    claims = claimed_identities(conn) if claims is None else claims
    identities |= {i: pid for pid, ids in claims.items() for i in ids}
    groups = frozenset(conn.execute(select(_groups.c.name).distinct()).scalars())
    return identities, groups


def list_participants(conn: Connection) -> list[ParticipantRow]:
    """Every participant with its groups, sectors and claimed identities: one statement per table, whatever the
    number of participants (``_with_memberships`` for each took 1 + 3 per participant)."""
    rows = conn.execute(select(_participants).order_by(_participants.c.id)).all()
    groups, sectors, claimed = (_grouped(conn.execute(select(owner, value)))
                                for owner, value in _MEMBERSHIPS)
    return [_participant_row(row, groups.get(row.id, ()), sectors.get(row.id, ()), claimed.get(row.id, ()))
            for row in rows]


def _grouped(pairs: Iterable[tuple[K, V]]) -> dict[K, list[V]]:
    """Each first item → the second items paired with it, in the order given."""
    found: dict[K, list[V]] = {}
    for key, value in pairs:
        found.setdefault(key, []).append(value)
    return found


def set_suspended(conn: Connection, slug: str, suspended: bool) -> bool:
    result = conn.execute(update(_participants).where(_participants.c.slug == slug).values(suspended=suspended))
    return result.rowcount > 0


def _last_use() -> ScalarSelect:
    """The newest key_use minute of the outer query's key (see ``list_keys``)."""
    return last_use_of(_keys.c.key_id)


def last_key_use(conn: Connection, participant_id: int) -> int | None:
    """When any of the participant's keys was last used (µs; None: never), in one query (see ``list_keys``)."""
    return conn.execute(select(func.max(_last_use())).where(_keys.c.participant_id == participant_id)).scalar()


def list_keys(conn: Connection, participant_id: int) -> list[dict]:
    """A participant's keys, oldest first, with when each was last used (never the secret's hash).

    Last use is read from ``key_use``, where each worker upserts its per-minute counts (``app.audit.note_key_use``):
    the key's newest minute, found by a correlated max() that SQLite and PostgreSQL both answer with one backward
    seek of the primary key (key_id, minute) per key — no column to keep up to date on the request path, and
    exact to the minute the counts are kept in. (The retention job keeps each key's newest row.)"""
    rows = conn.execute(_keys_with_last_use().where(_keys.c.participant_id == participant_id))
    return [dict(r._mapping) for r in rows]


def keys_by_participant(conn: Connection) -> dict[int, list[dict]]:
    """Participant id → its keys as ``list_keys`` gives them, for every participant in one statement."""
    return _grouped((row.participant_id, dict(row._mapping)) for row in conn.execute(_keys_with_last_use()))


def _keys_with_last_use() -> Select:
    """Keys with when each was last used (``list_keys``), oldest first."""
    return (select(_keys.c.participant_id, _keys.c.key_id, _keys.c.label, _keys.c.created_at, _keys.c.revoked_at,
                   _keys.c.expires_at, _keys.c.replaced_by, _last_use().label("last_used_at"))
            .order_by(_keys.c.created_at, _keys.c.key_id))


def get_key(conn: Connection, key_id: str) -> KeyRow | None:
    row = conn.execute(select(_keys).where(_keys.c.key_id == key_id)).first()
    return _key(row) if row is not None else None


def key_label(conn: Connection, key_id: str) -> tuple[str | None, int]:
    """(label, created_at) of an existing key."""
    row = conn.execute(select(_keys.c.label, _keys.c.created_at).where(_keys.c.key_id == key_id)).one()
    return row.label, row.created_at


def replace_key(conn: Connection, key_id: str, replaced_by: str, revoke_at: int, now: int) -> bool:
    """Mark ``key_id`` as replaced by ``replaced_by`` and revoked from ``revoke_at`` (the end of the grace), if it
    still works at ``now`` and was not replaced before. The time is stored, not acted on: authentication compares
    it on every request, so no background job has to revoke the key."""
    result = conn.execute(
        update(_keys).where(
            _keys.c.key_id == key_id, _keys.c.replaced_by.is_(None),
            or_(_keys.c.revoked_at.is_(None), _keys.c.revoked_at > now),
            or_(_keys.c.expires_at.is_(None), _keys.c.expires_at > now))
        .values(replaced_by=replaced_by, revoked_at=revoke_at)
    )
    return result.rowcount > 0


def participant_created_at(conn: Connection, participant_id: int) -> int:
    return conn.execute(select(_participants.c.created_at).where(_participants.c.id == participant_id)).scalar_one()


def set_name(conn: Connection, participant_id: int, name: str) -> None:
    conn.execute(update(_participants).where(_participants.c.id == participant_id).values(name=name))


def change_groups(conn: Connection, participant_id: int, add: list[str], remove: list[str]) -> None:
    """Join ``add`` and leave ``remove`` (set-based; joining a group twice or leaving one not joined is a no-op).
    Visibility follows at once: every request reads its caller's groups afresh (``find_key_holder``), and group
    grants and group-addressed objects are matched against them."""
    if remove:
        conn.execute(delete(_groups).where(_groups.c.participant_id == participant_id, _groups.c.name.in_(remove)))
    have = set(conn.execute(select(_groups.c.name).where(_groups.c.participant_id == participant_id)).scalars())
    new = sorted(set(add) - have)
    if new:
        conn.execute(insert(_groups), [{"participant_id": participant_id, "name": g} for g in new])


def group_members(conn: Connection) -> dict[str, list[str]]:
    """Every group (a group exists while it has members) → its members' slugs, sorted; one join."""
    return _grouped(conn.execute(select(_groups.c.name, _participants.c.slug)
                                 .join(_participants, _participants.c.id == _groups.c.participant_id)
                                 .order_by(_groups.c.name, _participants.c.slug)))


@dataclass(frozen=True)
class KeyHolder:
    """A key with the participant holding it: what authentication needs, in one query."""

    key: KeyRow
    participant_id: int
    slug: str
    kind: str
    identity_id: str
    pseudonym_identity_id: str
    suspended: bool
    groups: tuple[str, ...]


# Every authenticated request runs these: built once, they skip building the statement and walking it for
# SQLAlchemy's cache key each time (a small SELECT built per call cost 53 µs of CPU, prebuilt 18 µs). The holder's
# groups come in the same statement, a row per group (a second statement per request before).
_KEY_WITH_HOLDER = (select(_keys, _participants.c.slug, _participants.c.kind, _participants.c.identity_id,
                           _participants.c.pseudonym_identity_id, _participants.c.suspended,
                           _groups.c.name.label("group_name"))
                    .join(_participants, _participants.c.id == _keys.c.participant_id)
                    .outerjoin(_groups, _groups.c.participant_id == _keys.c.participant_id))
_KEY_BY_SECRET_HASH = _KEY_WITH_HOLDER.where(_keys.c.secret_hash == bindparam("secret_hash"))
_KEY_BY_ID = _KEY_WITH_HOLDER.where(_keys.c.key_id == bindparam("key_id"))
_GROUP_NAMES = select(_groups.c.name).where(_groups.c.participant_id == bindparam("participant_id"))


def find_key_holder(conn: Connection, *, secret_hash: str | None = None, key_id: str | None = None) -> KeyHolder | None:
    """The key (by secret hash, or by key id) and its participant."""
    if key_id is None:
        rows = conn.execute(_KEY_BY_SECRET_HASH, {"secret_hash": secret_hash}).all()
    else:
        rows = conn.execute(_KEY_BY_ID, {"key_id": key_id}).all()
    if not rows:
        return None
    return _holder(rows[0], _key(rows[0]), [row.group_name for row in rows if row.group_name is not None])


def find_certificate_holder(conn: Connection, fingerprint: str) -> KeyHolder | None:
    """The participant a client certificate authenticates, as a key holder whose key id is ``cert:<fp>``."""
    row = conn.execute(
        select(_certs.c.fingerprint, _certs.c.participant_id, _certs.c.revoked_at, _participants.c.slug,
               _participants.c.kind, _participants.c.identity_id, _participants.c.pseudonym_identity_id,
               _participants.c.suspended)
        .join(_participants, _participants.c.id == _certs.c.participant_id).where(_certs.c.fingerprint == fingerprint)
    ).first()
    if row is None:
        return None
    key = KeyRow(f"cert:{row.fingerprint[:16]}", row.participant_id, "", row.revoked_at)
    return _holder(row, key, conn.execute(_GROUP_NAMES, {"participant_id": row.participant_id}).scalars())


def _holder(row: Row, key: KeyRow, groups: Iterable[str]) -> KeyHolder:
    return KeyHolder(key, row.participant_id, row.slug, row.kind, row.identity_id, row.pseudonym_identity_id,
                     row.suspended, tuple(sorted(groups)))


def add_certificate(conn: Connection, participant_id: int, fingerprint: str, label: str | None, at: int) -> None:
    conn.execute(insert(_certs).values(fingerprint=fingerprint, participant_id=participant_id, label=label,
                                       created_at=at))


def revoke_certificate(conn: Connection, fingerprint: str, at: int) -> bool:
    result = conn.execute(update(_certs).where(_certs.c.fingerprint == fingerprint, _certs.c.revoked_at.is_(None))
                          .values(revoked_at=at))
    return result.rowcount > 0
