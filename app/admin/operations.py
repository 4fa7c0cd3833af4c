"""Operator actions shared by the admin HTTP API and the CLI. Each runs in the caller's write transaction
and records an audit event there."""

import re
from typing import Any

from sqlalchemy import Connection

from app.admin import collections as collection_admin
from app.admin.collections import add_collection, grant
from app.audit import record
from app.errors import NotFound
from app.participants.auth import normalise_fingerprint
from app.participants.keys import key_state, parse_duration, parse_expiry
from app.participants.registry import (
    RegistryError,
    add_participant,
    claim_identity,
    issue_key,
    release_identity,
    rotate_key,
)
from app.participants.registry import update_participant as registry_update
from app.sharing.exchange import mint_audience_marking, publish
from app.sharing.rules import Directory
from app.stix.checks import ObjectRejected, check_object
from app.stix.markings import AudienceSpec, Tlp
from app.stix.timestamps import format_timestamp
from app.store import participants as store
from app.store.audience import Audience
from app.store.engine import now_us
from app.store.objects import held


def participant_view(row: store.ParticipantRow, keys: list[dict[str, Any]] | None = None,
                     last_key_use: int | None = None) -> dict[str, Any]:
    """A participant as the admin API and ``aisx participant ... --json`` show it; with ``keys`` (rows of
    ``store.list_keys``), its keys and when any of them was last used (else ``last_key_use``, µs), as the
    participant list shows them."""
    view: dict[str, Any] = {
        "slug": row.slug, "id": row.id, "name": row.name, "kind": row.kind, "groups": list(row.groups),
        "sectors": list(row.sectors), "identity_id": row.identity_id,
        "pseudonym_identity_id": row.pseudonym_identity_id, "claimed_identity_ids": list(row.claimed),
        "suspended": row.suspended, "state": "suspended" if row.suspended else "active",
        "last_key_use": _stamp(last_key_use),
    }
    if keys is not None:
        now = now_us()
        view["keys"] = [key_view(k, now) for k in keys]
        used = [k["last_used_at"] for k in keys if k["last_used_at"] is not None]
        view["last_key_use"] = format_timestamp(max(used)) if used else None
    return view


# ------------------------------------------------------------------ lifecycle (issue 16): participants and keys


def key_view(key: dict[str, Any], now: int) -> dict[str, Any]:
    """A key as operators see it (a row of ``store.list_keys``): never its secret, nor the secret's hash."""
    state = key_state(now, key["revoked_at"], key["expires_at"], key["replaced_by"])
    return {"key_id": key["key_id"], "label": key["label"], "created": _stamp(key["created_at"]),
            "last_used": _stamp(key["last_used_at"]), "expires_at": _stamp(key["expires_at"]),
            "revoked_at": _stamp(key["revoked_at"]), "replaced_by": key["replaced_by"], "state": state,
            "revoked": state == "revoked"}


def list_participants(conn: Connection) -> list[dict[str, Any]]:
    """Every participant with its keys and last key use (``aisx participant list``, GET /admin/participants)."""
    keys = store.keys_by_participant(conn)
    return [participant_view(p, keys.get(p.id, [])) for p in store.list_participants(conn)]


def keys_of(conn: Connection, slug: str) -> list[dict[str, Any]]:
    """A participant's keys, oldest first (``aisx key list``, GET /admin/participants/{slug}/keys)."""
    participant = store.get_participant_by_slug(conn, slug)
    if participant is None:
        raise NotFound(f"no participant {slug!r}")
    now = now_us()
    return [key_view(k, now) for k in store.list_keys(conn, participant.id)]


def groups(conn: Connection) -> list[dict[str, Any]]:
    """Every group with its members (``aisx group list``, GET /admin/groups)."""
    return [{"name": name, "members": members} for name, members in store.group_members(conn).items()]


def update_participant(conn: Connection, actor: int | None, slug: str, *, name: str | None = None,
                       add_groups: list[str] | None = None,
                       remove_groups: list[str] | None = None) -> dict[str, Any]:
    """Rename a participant and/or change its groups; audited with the name and groups before and after."""
    before, after = registry_update(conn, slug, name, add_groups, remove_groups)
    record(conn, "participant.update", participant_id=actor, detail={
        "slug": slug, "before": {"name": before.name, "groups": list(before.groups)},
        "after": {"name": after.name, "groups": list(after.groups)}})
    return _view(conn, after)


def rotate(conn: Connection, actor: int | None, key_id: str, grace: str,
           expires: str | None = None) -> dict[str, Any]:
    """Replace a key (``registry.rotate_key``); the old one works until the grace ends. ``grace`` is a duration
    (``24h``; ``0s``: at once), ``expires`` the new key's expiry (a duration or RFC 3339 timestamp)."""
    now = now_us()
    grace_us = parse_duration(grace, allow_zero=True)
    expires_in = parse_expiry(expires, now) - now if expires is not None else None
    done = rotate_key(conn, key_id, grace_us, expires_in)
    record(conn, "key.rotate", participant_id=actor, key_id=key_id, detail={
        "slug": done.participant, "new_key_id": done.new.key_id, "old_key_revoked_at": _stamp(done.old_revoked_at),
        "expires_at": _stamp(done.expires_at)})
    return {"key_id": done.new.key_id, "secret": done.new.secret, "participant": done.participant,
            "label": done.label, "expires_at": _stamp(done.expires_at), "replaces": key_id,
            "old_key_revoked_at": _stamp(done.old_revoked_at)}


def _stamp(micros: int | None) -> str | None:
    return format_timestamp(micros) if micros is not None else None


def _view(conn: Connection, row: store.ParticipantRow) -> dict[str, Any]:
    """``participant_view`` with its last key use (one query)."""
    return participant_view(row, last_key_use=store.last_key_use(conn, row.id))


def admit(conn: Connection, actor: int | None, slug: str, name: str, kind: str, groups: list[str],
          sectors: list[str], identity_id: str | None = None, claimed: list[str] | None = None) -> dict[str, Any]:
    new = add_participant(conn, slug, name, kind, groups, sectors, identity_id, claimed)
    record(conn, "participant.add", participant_id=actor, detail={"slug": slug, "kind": kind})
    for other in claimed or []:
        record(conn, "participant.identity.add", participant_id=actor, detail={"slug": slug, "identity_id": other})
    return {"slug": new.slug, "id": new.id, "identity_id": new.identity_id,
            "pseudonym_identity_id": new.pseudonym_identity_id, "claimed_identity_ids": list(claimed or [])}


def claim(conn: Connection, actor: int | None, slug: str, identity_id: str) -> dict[str, Any]:
    """Attach an identity id ``slug`` already publishes under (see ``registry.claim_identity``)."""
    row = claim_identity(conn, slug, identity_id)
    record(conn, "participant.identity.add", participant_id=actor, detail={"slug": slug, "identity_id": identity_id})
    return _view(conn, row)


def unclaim(conn: Connection, actor: int | None, slug: str, identity_id: str) -> dict[str, Any]:
    row = release_identity(conn, slug, identity_id)
    record(conn, "participant.identity.remove", participant_id=actor,
           detail={"slug": slug, "identity_id": identity_id})
    return _view(conn, row)


def new_key(conn: Connection, actor: int | None, slug: str, label: str | None,
            expires: str | None = None) -> dict[str, Any]:
    """Issue a key; ``expires`` is a duration from now (``90d``) or an RFC 3339 timestamp (None: never)."""
    now = now_us()
    expires_at = parse_expiry(expires, now) if expires is not None else None
    key = issue_key(conn, slug, label, expires_at, now)
    record(conn, "key.issue", participant_id=actor, key_id=key.key_id,
           detail={"slug": slug, "expires_at": _stamp(expires_at)})
    return {"key_id": key.key_id, "secret": key.secret, "participant": slug, "expires_at": _stamp(expires_at)}


def set_suspended(conn: Connection, actor: int | None, slug: str, suspended: bool) -> dict[str, Any]:
    if not store.set_suspended(conn, slug, suspended):
        raise NotFound(f"no participant {slug!r}")
    record(conn, "participant.suspend" if suspended else "participant.reinstate", participant_id=actor,
           detail={"slug": slug})
    row = store.get_participant_by_slug(conn, slug)
    assert row is not None
    return _view(conn, row)


def revoke(conn: Connection, actor: int | None, key_id: str) -> dict[str, Any]:
    if not store.revoke_key(conn, key_id, now_us()):
        raise NotFound(f"no active key {key_id!r}")
    key = store.get_key(conn, key_id)
    holder = store.get_participant(conn, key.participant_id) if key is not None else None
    record(conn, "key.revoke", participant_id=actor, key_id=key_id, subject=holder.slug if holder else None)
    return {"key_id": key_id, "revoked": True}


def mint(conn: Connection, actor: int | None, spec: AudienceSpec) -> dict[str, Any]:
    """Mint (or find) the exchange-audience marking for a recipient set and store it as the exchange's."""
    identities, groups = store.directory(conn)
    try:
        marking = mint_audience_marking(conn, spec, Directory(identities, groups))
    except ObjectRejected as exc:
        raise RegistryError(str(exc)) from None
    holder = held(conn, [marking["id"]]).get(marking["id"])
    if holder is None or holder.owner is not None or check_object(marking).content_hash not in holder.hashes:
        # (publishing makes the exchange's canonical body the one stored and served under the id, whatever
        # else was there: minting never hands out an id that stands for other content)
        recipients = frozenset(identities[i] for i in spec.identities)
        # Seen by the recipients only (every participant, for an embargo-only marking), and by nobody before the
        # embargo ends: a marking served earlier would tell its readers that an embargoed object was posted,
        # and until when (issue 12). It joins collections with the objects that use it (pipeline).
        tlp = Tlp.AMBER if spec.has_recipients else Tlp.GREEN
        publish(conn, None, [marking], Audience(tlp, spec.embargo_until, recipients, frozenset(spec.groups)))
    record(conn, "audience.mint", participant_id=actor, detail={"marking_id": marking["id"]})
    return marking


def add_certificate(conn: Connection, actor: int | None, slug: str, fingerprint: str,
                    label: str | None) -> dict[str, Any]:
    """Let a client certificate (SHA-256 fingerprint of its DER form) authenticate ``slug``."""
    participant = store.get_participant_by_slug(conn, slug)
    if participant is None:
        raise NotFound(f"no participant {slug!r}")
    fingerprint = normalise_fingerprint(fingerprint)
    if not re.fullmatch(r"[0-9a-f]{64}", fingerprint):
        raise RegistryError("a certificate fingerprint is the SHA-256 of its DER form: 64 hex digits")
    if store.find_certificate_holder(conn, fingerprint) is not None:
        raise RegistryError("this certificate is already registered")
    store.add_certificate(conn, participant.id, fingerprint, label, now_us())
    record(conn, "certificate.add", participant_id=actor, detail={"slug": slug, "fingerprint": fingerprint})
    return {"participant": slug, "fingerprint": fingerprint}


def revoke_certificate(conn: Connection, actor: int | None, fingerprint: str) -> dict[str, Any]:
    fingerprint = normalise_fingerprint(fingerprint)
    if not store.revoke_certificate(conn, fingerprint, now_us()):
        raise NotFound(f"no active certificate {fingerprint}")
    record(conn, "certificate.revoke", participant_id=actor, detail={"fingerprint": fingerprint})
    return {"fingerprint": fingerprint, "revoked": True}


def create_collection(conn: Connection, actor: int | None, alias: str, title: str, api_root: str, *,
                      public: bool = False, description: str | None = None, default_group: str | None = None,
                      lenient: bool = False) -> dict[str, Any]:
    """A new collection (``collections.add_collection``), as ``aisx collection add --json`` prints it."""
    row = add_collection(conn, alias, title, api_root, public=public, description=description,
                         default_group=default_group, lenient=lenient)
    shape = {"alias": row.alias, "api_root": row.api_root, "public": row.public, "validation": row.validation}
    record(conn, "collection.add", participant_id=actor, collection_id=row.id,
           detail={**shape, "default_group": row.default_group})
    return {"id": row.id, **shape}


def set_access(conn: Connection, actor: int | None, subject: str, collection: str, *, read: bool,
               write: bool) -> dict[str, Any]:
    """Grant (or, with neither flag, withdraw) access (``collections.grant``), as ``aisx grant --json`` prints it."""
    who, row = grant(conn, subject, collection, read=read, write=write)
    access = {"subject_kind": who.kind, "subject": who.value, "can_read": read, "can_write": write}
    record(conn, "collection.grant", participant_id=actor, collection_id=row.id, detail=access,
           subject=who.value if who.kind == "participant" else None)
    return {"collection_id": row.id, **access}


# ------------------------------------------------------------------ listing, changing and removing collections


def list_collections(conn: Connection) -> list[dict[str, Any]]:
    """Every collection with its validation, feed flag, object count and grants (``aisx collection list``)."""
    return collection_admin.collections(conn)


def update_collection(conn: Connection, actor: int | None, collection: str, *, title: str | None = None,
                      description: str | None = None, clear_description: bool = False,
                      validation: str | None = None) -> dict[str, Any]:
    """Change a collection's title, description or validation; audited with the fields before and after."""
    row, before, after = collection_admin.change(conn, collection, title=title, description=description,
                                                 clear_description=clear_description, validation=validation)
    if after:
        record(conn, "collection.update", participant_id=actor, collection_id=row.id,
               detail={"alias": row.alias, "before": before, "after": after})
    (view,) = [c for c in collection_admin.collections(conn) if c["id"] == row.id]
    return view


def remove_collection(conn: Connection, actor: int | None, collection: str, *, force: bool) -> dict[str, Any]:
    """Remove a collection (refused while it holds objects unless ``force``); the objects stay in the exchange."""
    summary, removed = collection_admin.remove(conn, collection, force=force)
    row = summary.row
    answer = {"id": row.id, "alias": row.alias, "api_root": row.api_root, "objects": summary.objects,
              "memberships": removed.memberships, "pending": removed.pending, "grants": removed.grants}
    record(conn, "collection.remove", participant_id=actor, collection_id=row.id, object_count=summary.objects,
           detail={**answer, "force": force})
    return {**answer, "removed": True}


def list_grants(conn: Connection, collection: str) -> dict[str, Any]:
    """A collection's grants (``aisx grant list``)."""
    row, grants = collection_admin.grants_of(conn, collection)
    return {"collection_id": row.id, "alias": row.alias, "grants": grants}


def revoke_access(conn: Connection, actor: int | None, subject: str, collection: str) -> dict[str, Any]:
    """Remove a subject's grant on a collection (``aisx grant SUBJECT COLLECTION --revoke``)."""
    who, row = collection_admin.revoke(conn, subject, collection)
    access = {"subject_kind": who.kind, "subject": who.value}
    record(conn, "collection.revoke", participant_id=actor, collection_id=row.id, detail=access,
           subject=who.value if who.kind == "participant" else None)
    return {"collection_id": row.id, **access, "revoked": True}


def note_backup(conn: Connection, actor: int | None, path: str, database: str, size: int) -> dict[str, Any]:
    """Record that a backup was made (``aisx db backup``), once it is complete."""
    done = {"path": path, "database": database, "bytes": size}
    record(conn, "db.backup", participant_id=actor, detail=done)
    return done
