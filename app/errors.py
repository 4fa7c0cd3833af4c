"""Refusals, in the exchange's own terms: domain code raises them, and each face renders them — the HTTP edge as
a TAXII error resource (``app.taxii.errors``: the kind of refusal picks the status, and the edge alone adds
WWW-Authenticate or Retry-After), the CLI as a message and exit status 2. So no domain module knows HTTP, and
the same refusal reads the same over TAXII, the admin API and the command line."""

from typing import Any

_AUTHENTICATE = ("Authentication required: send an API key as Authorization: Bearer <secret>, Token <secret> or "
                 "Basic <key id>:<secret>.")


class ExchangeError(Exception):
    """A request the exchange refuses; ``description`` says why, to the requester, and ``details`` (optional)
    says it to a program."""

    def __init__(self, description: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.details = details


class NotAuthenticated(ExchangeError):
    """No credentials where they are needed, or credentials that name no active key of an active participant.
    ``reason`` is a short code for the metrics: missing, malformed, invalid, revoked, expired, suspended,
    certificate."""

    def __init__(self, description: str = _AUTHENTICATE, *, reason: str = "malformed") -> None:
        super().__init__(description)
        self.reason = reason


class Forbidden(ExchangeError):
    """The caller is known, and may not do this."""


class NotFound(ExchangeError):
    """What the request names does not exist, or the caller may not know that it does."""


class Refused(ExchangeError):
    """The request is well-formed but cannot be carried out as it stands (a taken name, a bad value)."""


class Conflict(Refused):
    """Refused because of what the target holds or is (a collection that still holds objects, a feed whose
    definition file decides it): the request may succeed once that changes."""


class TooManyRequests(ExchangeError):
    """Over a rate limit; ``retry_after`` seconds from now it may succeed."""

    def __init__(self, description: str, *, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = retry_after
