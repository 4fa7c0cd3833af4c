"""TAXII error resources (TAXII 2.1 §3.6). Every error leaves as one, with http_status equal to the
response status and the TAXII media type: the protocol's own (``TaxiiError``) and the refusals domain code
raises (``app.errors``), which get their status and headers here, at the edge."""

from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.errors import Conflict, ExchangeError, Forbidden, NotAuthenticated, NotFound, Refused, TooManyRequests
from app.taxii.media import TAXII_MEDIA_TYPE

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

WWW_AUTHENTICATE = 'Bearer realm="aisx", Token realm="aisx", Basic realm="aisx", charset="UTF-8"'


class TaxiiError(ExchangeError):
    """Raise in the protocol layer to answer with a TAXII error resource of this status."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        title: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description, details=details)
        self.status = status
        self.title = title or _TITLES.get(status, "Error")
        self.headers = headers or {}


_STATUSES = ((NotAuthenticated, 401), (Forbidden, 403), (NotFound, 404), (Conflict, 409), (Refused, 422),
             (TooManyRequests, 429))  # first match: Conflict before Refused, which it refines


def as_taxii(error: ExchangeError) -> TaxiiError:
    """The TAXII error a refusal is answered with (400 for a refusal of no particular kind)."""
    if isinstance(error, TaxiiError):
        return error
    status = next((status for kind, status in _STATUSES if isinstance(error, kind)), 400)
    headers: dict[str, str] = {}
    if isinstance(error, NotAuthenticated):
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(error.retry_after)
    return TaxiiError(status, error.description, details=error.details, headers=headers)


def error_response(error: TaxiiError) -> Response:
    body: dict[str, Any] = {
        "title": error.title,
        "description": error.description,
        "http_status": str(error.status),
    }
    if error.details:
        body["details"] = error.details
    return Response(orjson.dumps(body), status_code=error.status, media_type=TAXII_MEDIA_TYPE,
                    headers=error.headers)


async def exchange_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ExchangeError)
    return error_response(as_taxii(exc))


async def http_exception_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    description = {404: "No such resource.", 405: "This method is not allowed on this resource."}.get(
        exc.status_code, str(exc.detail)
    )
    return error_response(TaxiiError(exc.status_code, description, headers=dict(exc.headers or {})))


async def validation_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"where": ".".join(str(part) for part in err.get("loc", ())), "problem": err.get("msg", "")}
        for err in exc.errors()
    ]
    return error_response(TaxiiError(400, "The request is malformed.", details={"problems": problems}))


async def unexpected_error_handler(_request: Request, _exc: Exception) -> Response:
    return error_response(TaxiiError(500, "The server failed to process this request; it has been logged."))
