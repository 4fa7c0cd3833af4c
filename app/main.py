"""The ASGI application: TAXII routes, health check, and error handling that always answers with a TAXII
error resource (never a stack trace)."""

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import FileResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
from app.admin.api import router as admin_router
from app.config import get_settings
from app.errors import ExchangeError
from app.openapi import build_openapi
from app.sharing.embargo import start_release_job
from app.shipped import schemas_dir
from app.store.engine import read_connection
from app.taxii import errors
from app.taxii.routes import router as taxii_router

log = logging.getLogger("aisx")


def create_app() -> FastAPI:
    app = FastAPI(
        title="AISX — AI Security Exchange",
        version=__version__,
        description="TAXII 2.1 server for sharing AI-related cyber threat intelligence.",
        lifespan=_lifespan,
    )
    app.add_exception_handler(ExchangeError, errors.exchange_error_handler)
    app.add_exception_handler(StarletteHTTPException, errors.http_exception_handler)
    app.add_exception_handler(RequestValidationError, errors.validation_error_handler)
    app.add_middleware(_BodyDeadline)
    app.add_middleware(_TaxiiTrailingSlash)
    app.add_middleware(_RefuseOddQueries)
    app.add_middleware(_Answer500WithoutClosing)
    _allow_cross_origin(app, get_settings().cors_origin_list)
    app.include_router(taxii_router)
    app.include_router(admin_router)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]

    @app.get("/schemas/{name}", tags=["operations"], operation_id="get_schema")
    def schema(name: str) -> FileResponse:
        """The JSON Schemas of the extensions this exchange defines and enforces."""
        path = schemas_dir() / name
        if not name.endswith(".json") or "/" in name or not path.is_file():
            raise errors.TaxiiError(404, f"No schema {name!r}.")
        return FileResponse(path, media_type="application/schema+json")

    @app.get("/healthz", tags=["operations"], operation_id="get_health")
    def healthz() -> JSONResponse:
        with read_connection() as conn:
            conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok", "version": __version__})

    return app


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Each worker runs the embargo release job while it serves (see ``app.sharing.embargo``)."""
    stop = threading.Event()
    start_release_job(stop, get_settings().embargo_release_interval)
    yield
    stop.set()


def _allow_cross_origin(app: FastAPI, origins: list[str]) -> None:
    """CORS only for the origins an operator lists in AISX_CORS_ORIGINS; with none, browsers on other origins
    get no Access-Control-* header and so cannot read any answer. Keys travel in the Authorization header, never
    as cookies, so credentialed CORS is never needed. Added last, the middleware is outermost: error answers
    (414, 429, …) carry the headers too, and preflights are answered before authentication."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware, allow_origins=origins, allow_credentials=False,
        allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Accept", "Content-Type"],
        expose_headers=["X-TAXII-Date-Added-First", "X-TAXII-Date-Added-Last", "Retry-After", "WWW-Authenticate"],
        max_age=600,
    )


class _RefuseOddQueries:
    """414 for query strings longer than any honest filter (no work grows with attacker-chosen input); 400 and
    404 for NUL characters in the query or the path, which nothing legitimate contains.

    This and the next are plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` relays every response body
    through extra streams on the event loop, which with pages of 1,000 objects made the event loop the
    bottleneck of a worker."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = _query_refusal(scope) if scope["type"] == "http" else None
        if refusal is not None:
            await errors.error_response(refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _query_refusal(scope: Scope) -> errors.TaxiiError | None:
    most = get_settings().max_query_length
    query = scope.get("query_string", b"")
    if len(query) > most:
        return errors.TaxiiError(414, f"The query string is longer than {most} bytes.")
    if b"%00" in query or b"\x00" in query:  # no identifier, filter or name holds a NUL; PostgreSQL text cannot
        return errors.TaxiiError(400, "NUL characters are not accepted in parameters.")
    if "\x00" in scope.get("path", ""):
        return errors.TaxiiError(404, "No such resource.")
    return None


class _HttpOnly:
    """A plain ASGI middleware that acts on HTTP requests only (``handle``) and passes anything else through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class _TaxiiTrailingSlash(_HttpOnly):
    """A TAXII path without its trailing slash is answered as the slashed one, not redirected: every TAXII 2.1
    URL ends in '/', but clients configured by hand (Sentinel's API-root URL, MISP, scripts) often drop it, and not
    every client follows a 307 — nor should a POST body have to travel twice."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith("/taxii2") and not path.endswith("/"):
            scope = {**scope, "path": path + "/", "raw_path": scope.get("raw_path", path.encode()) + b"/"}
        await self.app(scope, receive, send)


class _BodyDeadline(_HttpOnly):
    """408 for a request body that stalls for ``body_read_timeout`` between two chunks or is not complete
    ``body_read_deadline`` seconds after the request began, whichever comes first, on every route: with a
    per-chunk timeout alone, one byte every second held a request (and its buffers) open indefinitely.

    The limit is enforced where the body is received, so it applies to whatever reads it; the 408 is raised
    into that reader and rendered like every TAXII error. Once the body is complete, ``receive`` is passed
    through untouched (it then only ever reports a disconnect)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = get_settings()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.body_read_deadline
        complete = False

        async def receive_in_time() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            wait = min(settings.body_read_timeout, deadline - loop.time())
            try:
                message = await asyncio.wait_for(receive(), max(wait, 0.0))
            except TimeoutError:
                raise errors.TaxiiError(408, f"The request body did not arrive in time (at most "
                                             f"{settings.body_read_deadline:g} s in all, "
                                             f"{settings.body_read_timeout:g} s without data).") from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, receive_in_time, send)


class _Answer500WithoutClosing(_HttpOnly):
    """An unexpected error becomes a TAXII 500 error resource here, inside the app, so the server neither
    re-raises it (which would drop the client's kept-alive connection) nor shows a stack trace."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception as exc:
            if started:  # part of an answer is on the wire: nothing sound can follow it
                raise
            request = Request(scope)
            log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
            response = await errors.unexpected_error_handler(request, exc)
            await response(scope, receive, send)
