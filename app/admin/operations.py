"""Operator actions shared by the admin HTTP API and the CLI. Each runs in the caller's write transaction
and records an audit event there."""

import re
from typing import Any

from sqlalchemy import Connection

from app.admin.collections import add_collection, grant
from app.audit import record
from app.errors import NotFound
from app.participants.auth import normalise_fingerprint
from app.participants.registry import (
    RegistryError,
    add_participant,
    claim_identity,
    issue_key,
    release_identity,
)
from app.sharing.exchange import mint_audience_marking, publish
from app.sharing.rules import Directory
from app.stix.checks import ObjectRejected, check_object
from app.stix.markings import AudienceSpec, Tlp
from app.store import participants as store
from app.store.audience import Audience
from app.store.engine import now_us
from app.store.objects import held


def participant_view(row: store.ParticipantRow, keys: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "slug": row.slug, "id": row.id, "name": row.name, "kind": row.kind, "groups": list(row.groups),
        "sectors": list(row.sectors), "identity_id": row.identity_id,
        "pseudonym_identity_id": row.pseudonym_identity_id, "claimed_identity_ids": list(row.claimed),
        "suspended": row.suspended,
    }
    if keys is not None:
        view["keys"] = [{"key_id": k["key_id"], "label": k["label"], "revoked": k["revoked_at"] is not None}
                        for k in keys]
    return view


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
    return participant_view(row)


def unclaim(conn: Connection, actor: int | None, slug: str, identity_id: str) -> dict[str, Any]:
    row = release_identity(conn, slug, identity_id)
    record(conn, "participant.identity.remove", participant_id=actor,
           detail={"slug": slug, "identity_id": identity_id})
    return participant_view(row)


def new_key(conn: Connection, actor: int | None, slug: str, label: str | None) -> dict[str, str]:
    key = issue_key(conn, slug, label)
    record(conn, "key.issue", participant_id=actor, key_id=key.key_id, detail={"slug": slug})
    return {"key_id": key.key_id, "secret": key.secret, "participant": slug}


def set_suspended(conn: Connection, actor: int | None, slug: str, suspended: bool) -> dict[str, Any]:
    if not store.set_suspended(conn, slug, suspended):
        raise NotFound(f"no participant {slug!r}")
    record(conn, "participant.suspend" if suspended else "participant.reinstate", participant_id=actor,
           detail={"slug": slug})
    row = store.get_participant_by_slug(conn, slug)
    assert row is not None
    return participant_view(row)


def revoke(conn: Connection, actor: int | None, key_id: str) -> dict[str, Any]:
    if not store.revoke_key(conn, key_id, now_us()):
        raise NotFound(f"no active key {key_id!r}")
    record(conn, "key.revoke", participant_id=actor, key_id=key_id)
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
    record(conn, "collection.grant", participant_id=actor, collection_id=row.id, detail=access)
    return {"collection_id": row.id, **access}
