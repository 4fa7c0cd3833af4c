"""Participants, their groups and sectors, and API keys."""

from dataclasses import dataclass

from sqlalchemy import Connection, Row, delete, insert, select, update

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
    revoked: bool


def _with_memberships(conn: Connection, row: Row) -> ParticipantRow:
    groups = conn.execute(select(_groups.c.name).where(_groups.c.participant_id == row.id)).scalars()
    sectors = conn.execute(select(_sectors.c.sector).where(_sectors.c.participant_id == row.id)).scalars()
    return ParticipantRow(row.id, row.slug, row.name, row.kind, row.identity_id, row.pseudonym_identity_id,
                          row.suspended, tuple(sorted(groups)), tuple(sorted(sectors)),
                          tuple(sorted(conn.execute(select(_claims.c.identity_id)
                                                    .where(_claims.c.participant_id == row.id)).scalars())))


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
               created_at: int) -> None:
    conn.execute(insert(_keys).values(key_id=key_id, participant_id=participant_id, secret_hash=secret_hash,
                                      label=label, created_at=created_at))


def _key(row: Row) -> KeyRow:
    return KeyRow(row.key_id, row.participant_id, row.secret_hash, row.revoked_at is not None)


def revoke_key(conn: Connection, key_id: str, at: int) -> bool:
    result = conn.execute(
        update(_keys).where(_keys.c.key_id == key_id, _keys.c.revoked_at.is_(None)).values(revoked_at=at)
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


def directory(conn: Connection) -> tuple[dict[str, int], frozenset[str]]:
    """Every nameable recipient: identity ids (real, pseudonym and claimed) → participant id, and all group
    names."""
    identities: dict[str, int] = {}
    for pid, real, pseudonym in conn.execute(
            select(_participants.c.id, _participants.c.identity_id, _participants.c.pseudonym_identity_id)):
        identities[real] = identities[pseudonym] = pid
    identities |= {i: pid for pid, ids in claimed_identities(conn).items() for i in ids}
    groups = frozenset(conn.execute(select(_groups.c.name).distinct()).scalars())
    return identities, groups


def list_participants(conn: Connection) -> list[ParticipantRow]:
    rows = conn.execute(select(_participants).order_by(_participants.c.id)).all()
    return [_with_memberships(conn, row) for row in rows]


def set_suspended(conn: Connection, slug: str, suspended: bool) -> bool:
    result = conn.execute(update(_participants).where(_participants.c.slug == slug).values(suspended=suspended))
    return result.rowcount > 0


def list_keys(conn: Connection, participant_id: int) -> list[dict]:
    rows = conn.execute(select(_keys.c.key_id, _keys.c.label, _keys.c.created_at, _keys.c.revoked_at)
                        .where(_keys.c.participant_id == participant_id).order_by(_keys.c.created_at))
    return [dict(r._mapping) for r in rows]


@dataclass(frozen=True)
class KeyHolder:
    """A key with the participant holding it: what authentication needs, in two queries."""

    key: KeyRow
    participant_id: int
    slug: str
    kind: str
    identity_id: str
    pseudonym_identity_id: str
    suspended: bool
    groups: tuple[str, ...]


def find_key_holder(conn: Connection, *, secret_hash: str | None = None, key_id: str | None = None) -> KeyHolder | None:
    """The key (by secret hash, or by key id) and its participant."""
    where = _keys.c.secret_hash == secret_hash if key_id is None else _keys.c.key_id == key_id
    row = conn.execute(
        select(_keys, _participants.c.slug, _participants.c.kind, _participants.c.identity_id,
               _participants.c.pseudonym_identity_id, _participants.c.suspended)
        .join(_participants, _participants.c.id == _keys.c.participant_id).where(where)
    ).first()
    return _holder(conn, row) if row is not None else None


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
    key = KeyRow(f"cert:{row.fingerprint[:16]}", row.participant_id, "", row.revoked_at is not None)
    return _holder(conn, row, key)


def _holder(conn: Connection, row: Row, key: KeyRow | None = None) -> KeyHolder:
    groups = conn.execute(select(_groups.c.name).where(_groups.c.participant_id == row.participant_id)).scalars()
    return KeyHolder(key or _key(row), row.participant_id, row.slug, row.kind, row.identity_id,
                     row.pseudonym_identity_id, row.suspended, tuple(sorted(groups)))


def add_certificate(conn: Connection, participant_id: int, fingerprint: str, label: str | None, at: int) -> None:
    conn.execute(insert(_certs).values(fingerprint=fingerprint, participant_id=participant_id, label=label,
                                       created_at=at))


def revoke_certificate(conn: Connection, fingerprint: str, at: int) -> bool:
    result = conn.execute(update(_certs).where(_certs.c.fingerprint == fingerprint, _certs.c.revoked_at.is_(None))
                          .values(revoked_at=at))
    return result.rowcount > 0
