"""The route dependencies that authenticate: the caller named by a request's headers (which ones, the settings
say), resolved by ``app.participants.auth``."""

from fastapi import Request

from app.config import get_settings
from app.errors import NotAuthenticated
from app.participants.auth import resolve_caller
from app.sharing.access import Caller


def optional_caller(request: Request) -> Caller | None:
    """Route dependency: the authenticated caller, or None for an anonymous request."""
    settings = get_settings()
    cert_header, key_header = settings.client_cert_header, settings.api_key_header
    return resolve_caller(request.headers.get("authorization"), request.client.host if request.client else "-",
                          request.headers.get(cert_header) if cert_header else None,
                          request.headers.get(key_header) if key_header else None)


def require_caller(request: Request) -> Caller:
    """Route dependency: the authenticated caller; 401 with WWW-Authenticate otherwise."""
    caller = optional_caller(request)
    if caller is None:
        raise NotAuthenticated()
    return caller
