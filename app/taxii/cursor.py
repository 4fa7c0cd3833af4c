"""The opaque ``next`` token: a keyset position (date_added, sequence) bound to the query it came from.

Reusing a token with another query is refused (TAXII 2.1 Appendix B: ``next`` must not be trusted)."""

import base64
import hashlib
from dataclasses import dataclass

from app.taxii.errors import TaxiiError

_BIGINT = 2**63  # the database columns are signed 64-bit


@dataclass(frozen=True)
class Position:
    date_added: int
    seq: int


def _fingerprint(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def encode_cursor(position: Position, scope: str) -> str:
    raw = f"1.{position.date_added}.{position.seq}.{_fingerprint(scope)}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, scope: str) -> Position:
    """The position in ``token``; 400 if it is malformed or was issued for a different query."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, date_added, seq, fingerprint = raw.split(".")
        position = Position(int(date_added), int(seq))
    except (ValueError, UnicodeDecodeError):
        raise TaxiiError(400, "The 'next' value is not one this server issued.") from None
    if not (0 <= position.date_added < _BIGINT and 0 <= position.seq < _BIGINT):  # tokens are forgeable
        raise TaxiiError(400, "The 'next' value is not one this server issued.")
    if version != "1" or fingerprint != _fingerprint(scope):
        raise TaxiiError(400, "The 'next' value belongs to a different query; repeat the original filters.")
    return position
