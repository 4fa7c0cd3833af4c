"""API keys: a public key id and a 256-bit random secret, of which only a SHA-256 is stored; and the pure rules of
a key's lifetime (expiry and rotation times, its state at a given moment)."""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.errors import Refused


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    # A fast hash is right here: the secret has 256 bits of entropy, so it cannot be guessed offline,
    # and a slow KDF on every request would make each TAXII page several times slower.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> NewKey:
    key_id = "aisx_k_" + secrets.token_hex(8)
    secret = "aisx_s_" + secrets.token_urlsafe(32)
    return NewKey(key_id, secret, hash_secret(secret))


# ------------------------------------------------------------------ lifetimes


class DurationError(Refused):
    """An expiry or grace period the exchange cannot read; the message says what was expected."""


_SECOND = 1_000_000
_UNITS = {"s": _SECOND, "m": 60 * _SECOND, "h": 3600 * _SECOND, "d": 86400 * _SECOND, "w": 7 * 86400 * _SECOND}
_DURATION = re.compile(r"^([0-9]{1,9})([smhdw])\Z")
_DURATION_HELP = "a duration such as 90d, 12h, 30m, 45s or 2w"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX = 100 * 365 * 86400 * _SECOND  # a century: anything longer is a typing error, not a key policy


def parse_duration(text: str, *, allow_zero: bool = False) -> int:
    """Microseconds in ``text``: a whole number and one unit (s, m, h, d, w). Zero only with ``allow_zero`` (a
    rotation grace of 0 revokes the old key at once; a key that expires at once is a mistake)."""
    value = text.strip()
    match = _DURATION.match(value)
    if not match:
        if value.startswith("-"):
            raise DurationError(f"{text!r} is negative: give {_DURATION_HELP}")
        raise DurationError(f"{text!r} is not {_DURATION_HELP}")
    micros = int(match.group(1)) * _UNITS[match.group(2)]
    if micros == 0 and not allow_zero:
        raise DurationError(f"{text!r} is zero: give {_DURATION_HELP}")
    if micros > _MAX:
        raise DurationError(f"{text!r} is longer than 100 years")
    return micros


def parse_expiry(text: str, now: int) -> int:
    """When a key issued at ``now`` (µs since the epoch) expires, as µs since the epoch: ``text`` is a duration
    from now (``90d``, ``12h``, ``30m``) or an RFC 3339 timestamp with a zone (``Z`` or an offset) that is after
    ``now``. Raises DurationError saying what is wrong."""
    value = text.strip()
    if _DURATION.match(value) or re.match(r"^-[0-9]+[smhdw]\Z", value):
        return now + parse_duration(value)
    if not re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}", value):
        raise DurationError(f"{text!r} is neither {_DURATION_HELP} nor an RFC 3339 timestamp "
                            "(2027-01-31T00:00:00Z)")
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise DurationError(f"{text!r} is not a valid RFC 3339 timestamp (like 2027-01-31T00:00:00Z)") from None
    if moment.tzinfo is None:
        raise DurationError(f"{text!r} has no time zone: end it with Z or an offset such as +02:00")
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    if micros <= now:
        raise DurationError(f"{text!r} is in the past: a key must expire after it is issued")
    return micros


def key_state(now: int, revoked_at: int | None, expires_at: int | None, replaced_by: str | None) -> str:
    """``revoked``, ``expired``, ``rotating`` (replaced, working until its grace ends) or ``active``.

    A rotation stores the end of the grace as the old key's ``revoked_at``, so a key revoked "in the future" is
    still working: no background job has to revoke it, every request compares the times."""
    if revoked_at is not None and revoked_at <= now:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    if replaced_by is not None or revoked_at is not None:
        return "rotating"
    return "active"
