"""Who is calling: an API key (Bearer secret, or Basic with key id and secret) resolved to a participant
on every request, so a revoked key or a suspended participant is refused at once by every worker."""

import base64
import binascii
import hmac
from dataclasses import dataclass

from fastapi import Request

from app.audit import note_key_use
from app.participants.keys import hash_secret
from app.store import participants as store
from app.store.collections import Subject
from app.store.engine import read_connection
from app.taxii.errors import unauthorized


@dataclass(frozen=True)
class Caller:
    participant_id: int
    slug: str
    kind: str
    groups: tuple[str, ...]
    identity_id: str
    pseudonym_identity_id: str
    key_id: str

    @property
    def subjects(self) -> list[Subject]:
        """Every grant subject that names this caller."""
        return [
            Subject("participant", self.slug),
            Subject("kind", self.kind),
            Subject("kind", "*"),
            *(Subject("group", g) for g in self.groups),
        ]

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"


def _credentials(header: str) -> tuple[str | None, str]:
    """(key id or None, secret) from an Authorization header."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            key_id, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized("Malformed Basic credentials.") from None
        if sep and key_id and secret:
            return key_id, secret
        raise unauthorized("Basic credentials must be '<key id>:<secret>'.")
    raise unauthorized("Unsupported Authorization scheme: use Bearer <secret> or Basic <key id>:<secret>.")


def resolve_caller(header: str | None) -> Caller | None:
    """The caller named by an Authorization header; None when there is none; 401 when it is invalid."""
    if not header:
        return None
    key_id, secret = _credentials(header)
    secret_hash = hash_secret(secret)
    with read_connection() as conn:
        key = store.find_key_by_hash(conn, secret_hash) if key_id is None else store.find_key(conn, key_id)
        if key is None or not hmac.compare_digest(key.secret_hash, secret_hash) or key.revoked:
            raise unauthorized("Invalid or revoked API key.")
        participant = store.get_participant(conn, key.participant_id)
    if participant is None or participant.suspended:
        raise unauthorized("This participant is suspended; contact the exchange operators.")
    note_key_use(participant.id, key.key_id)
    return Caller(participant.id, participant.slug, participant.kind, participant.groups,
                  participant.identity_id, participant.pseudonym_identity_id, key.key_id)


def optional_caller(request: Request) -> Caller | None:
    """Route dependency: the authenticated caller, or None for an anonymous request."""
    return resolve_caller(request.headers.get("authorization"))


def require_caller(request: Request) -> Caller:
    """Route dependency: the authenticated caller; 401 with WWW-Authenticate otherwise."""
    caller = optional_caller(request)
    if caller is None:
        raise unauthorized()
    return caller
