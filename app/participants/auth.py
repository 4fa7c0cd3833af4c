"""Who is calling: an API key resolved to a participant on every request, so a revoked key or a suspended
participant is refused at once by every worker.

The key travels the way the caller's TAXII client can send it: ``Authorization: Bearer <secret>``,
``Authorization: Token <secret>`` (taxii2-client's ``TokenAuth``, used by Cortex XSOAR and the OpenCTI connector),
``Authorization: Basic`` with key id and secret, scheme names in any case (MISP sends ``basic``), or the secret
alone in the header named by ``AISX_API_KEY_HEADER`` (XSOAR's ``_header:NAME``, OpenCTI's USE_APIKEY). The
route dependencies that read those headers are ``app.taxii.auth``'s."""

import base64
import binascii
import hmac
import re
from functools import lru_cache

from app.audit import note_key_use
from app.config import get_settings
from app.errors import NotAuthenticated, TooManyRequests
from app.observability.logs import note_key
from app.observability.metrics import metrics
from app.participants.keys import hash_secret, key_state
from app.participants.ratelimit import Limiter, Verdict
from app.sharing.access import Caller
from app.stix.timestamps import format_timestamp
from app.store import participants as store
from app.store.engine import now_us, read_connection

_KEY_ID = re.compile(r"^aisx_k_[0-9a-f]{16}\Z")  # anything else cannot be a key id: refused before any query


_SECRET_SCHEMES = frozenset({"bearer", "token"})  # the secret alone follows the scheme name


def _credentials(header: str) -> tuple[str | None, str]:
    """(key id or None, secret) from an Authorization header."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() in _SECRET_SCHEMES and value:
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            key_id, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise NotAuthenticated("Malformed Basic credentials.") from None
        if sep and _KEY_ID.match(key_id) and secret:
            return key_id, secret
        raise NotAuthenticated(
            "Basic credentials must be '<key id>:<secret>', the key id like aisx_k_0123456789abcdef.")
    raise NotAuthenticated("Unsupported Authorization scheme: use Bearer <secret>, Token <secret> or "
                           "Basic <key id>:<secret>.")


def resolve_caller(header: str | None, address: str = "-", certificate: str | None = None,
                   api_key: str | None = None) -> Caller | None:
    """The caller named by an Authorization header, else by the secret in the API-key header, else by a client
    certificate fingerprint that the TLS proxy passed on; None when there is none of them. NotAuthenticated when
    it is invalid; TooManyRequests when its key is over its rate limit or ``address`` has failed authentication
    too often."""
    if not header and api_key:
        header = f"Bearer {api_key}"
    if not header and not certificate:
        return None
    blocked = limiter().address_blocked(address)
    if not blocked.allowed:
        metrics().rate_limited.labels("auth_failures").inc()
        raise _too_many("Too many failed authentications from this address; wait before retrying.", blocked)
    try:
        holder = _key_holder(header) if header else _certificate_holder(certificate or "")
        if holder.suspended:
            raise NotAuthenticated("This participant is suspended; contact the exchange operators.",
                                   reason="suspended")
    except NotAuthenticated as exc:
        metrics().auth_failures.labels(exc.reason).inc()
        limiter().auth_failed(address)
        raise
    note_key(holder.key.key_id)  # the request's log line names the key (never the secret)
    verdict = limiter().key_request(holder.key.key_id)
    if not verdict.allowed:
        metrics().rate_limited.labels("key").inc()
        raise _too_many("This API key is over its request rate limit.", verdict)
    note_key_use(holder.participant_id, holder.key.key_id)
    return Caller(holder.participant_id, holder.slug, holder.kind, holder.groups, holder.identity_id,
                  holder.pseudonym_identity_id, holder.key.key_id)


def _key_holder(header: str) -> store.KeyHolder:
    key_id, secret = _credentials(header)
    secret_hash = hash_secret(secret)
    with read_connection() as conn:
        holder = store.find_key_holder(conn, secret_hash=secret_hash, key_id=key_id)
    if holder is None or not hmac.compare_digest(holder.key.secret_hash, secret_hash):
        raise NotAuthenticated("Invalid or revoked API key.", reason="invalid")
    refusal = key_refusal(holder.key, now_us())
    if refusal is not None:
        raise refusal
    return holder


def key_refusal(key: store.KeyRow, now: int) -> NotAuthenticated | None:
    """Why a key whose secret matched no longer works at ``now``, or None while it does. Said plainly, because
    only the holder of the secret gets this far: an unknown key gets the generic message above. The times are
    compared here on every request (from the row the one lookup query read), so an expiry or the end of a
    rotation's grace takes effect at that microsecond, in every worker, with no job to run."""
    state = key_state(now, key.revoked_at, key.expires_at, key.replaced_by)
    if state == "revoked":
        assert key.revoked_at is not None
        when = format_timestamp(key.revoked_at)
        if key.replaced_by is not None:
            return NotAuthenticated(f"This API key was revoked at {when}, when the grace period of its rotation "
                                    "ended; use the key that replaced it.", reason="revoked")
        return NotAuthenticated(f"This API key was revoked at {when}.", reason="revoked")
    if state == "expired":
        assert key.expires_at is not None
        return NotAuthenticated(f"This API key expired at {format_timestamp(key.expires_at)}; ask the exchange "
                                "operators for a new one.", reason="expired")
    return None


def _certificate_holder(fingerprint: str) -> store.KeyHolder:
    with read_connection() as conn:
        holder = store.find_certificate_holder(conn, normalise_fingerprint(fingerprint))
    if holder is None or holder.key.revoked_at is not None:
        raise NotAuthenticated("This client certificate is not registered with the exchange, or it was revoked.",
                               reason="certificate")
    return holder


def normalise_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint as lower-case hex, from the forms proxies send (colons, upper case, sha256: prefix)."""
    return text.strip().lower().removeprefix("sha256:").replace(":", "")


def _too_many(description: str, verdict: Verdict) -> TooManyRequests:
    return TooManyRequests(description, retry_after=verdict.retry_after)


@lru_cache
def limiter() -> Limiter:
    settings = get_settings()
    return Limiter(settings.rate_limit_per_minute, settings.auth_failures_per_minute, settings.rate_limit_window)
