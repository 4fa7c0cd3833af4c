"""The ASGI application: TAXII routes, health check, and error handling that always answers with a TAXII
error resource (never a stack trace)."""

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
from app.admin.api import require_operator
from app.admin.api import router as admin_router
from app.admin.me import router as me_router
from app.config import get_settings
from app.errors import ExchangeError
from app.mirroring.upstream import mirror_lag
from app.observability import logs, metrics
from app.openapi import build_openapi
from app.sharing.access import Caller
from app.shipped import schemas_dir
from app.store.engine import get_engine, read_connection
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
    app.add_middleware(_NoteRoute)
    app.add_middleware(_BodyDeadline)
    app.add_middleware(_TaxiiTrailingSlash)
    app.add_middleware(_RefuseOddQueries)
    app.add_middleware(_Answer500WithoutClosing)
    _allow_cross_origin(app, get_settings().cors_origin_list)
    app.add_middleware(_Observe)  # outermost: it times and logs every answer, CORS preflights and 414s too
    metrics.metrics()  # every family exists from the start, at zero
    # The routers' routes as they were declared, not ``include_router``: FastAPI (0.137 and later) builds every
    # included route again for each app, on its first request (dependants, TypeAdapters): 31% of a forked test
    # server's start (py-spy, 8 starts). Declared routes are complete (their router's prefix, tags and dependencies
    # were applied then), built once at import, before a test launcher forks. A server start went
    # from 0.123-0.127 to 0.103-0.108 s of CPU (6 starts each, 2 alternating rounds); the OpenAPI document is the same.
    # One difference: ``app.dependency_overrides`` does not reach these routes (nothing here uses it).
    for router in (taxii_router, admin_router, me_router):
        app.router.routes.extend(router.routes)
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

    @app.get("/metrics", tags=["operations"], operation_id="get_metrics")
    def metrics_text(_: Caller = Depends(require_operator)) -> Response:
        """Prometheus metrics of every worker process of this server, for operator keys (scrapers without a
        key use AISX_METRICS_ADDRESS)."""
        return Response(metrics_exposition(), media_type=metrics.CONTENT_TYPE)

    return app


def metrics_exposition() -> bytes:
    """The metrics in the text format: what every process counted, plus what only the database knows now (how
    long ago each upstream feed was last mirrored). Also served by ``aisx serve`` on AISX_METRICS_ADDRESS."""
    lag = metrics.GaugeCollector(
        "aisx_upstream_lag_seconds", "Seconds since the last successful pull of each upstream-mirrored feed "
        "(+Inf if it never succeeded).", ["feed"], mirror_lag)
    return metrics.exposition([lag])


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Each worker makes its database engine as it starts (no connection is opened until a request needs one),
    so that ``aisx_db_pool_size`` counts every live worker's pool from the start, not only the pools of workers
    that happened to have served a request yet. The background jobs (embargo release, mirroring, ...) are not
    started here: they run once per ``aisx serve`` instance, and only on the leader among instances
    (``app.jobs``, started by ``aisx serve``)."""
    get_engine()
    yield


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


class _Observe(_HttpOnly):
    """Every HTTP request: a request id (the client's X-Request-ID if it is a plain token, else a new one),
    echoed in the answer; one log line (``app.observability.logs``); and the request histogram by route
    template, method and status. Plain ASGI, like the others, and it does nothing per body chunk.

    Cost, measured on the 2-core test machine (SQLite, one worker, 2,000 sequential authenticated GET /taxii2/
    over one connection, three runs each, the log written to a file): median 1.54-1.60 ms before, 1.71-1.78 ms
    with the histogram and the log line, about 0.15 ms a request; a request that reads objects hides it."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        sent = headers.get(logs.REQUEST_ID_HEADER.encode())
        sent_id = sent.decode("latin-1") if sent is not None else None
        # the request's credentials are looked for only in an id the client sent: most requests send none
        record = logs.begin_request(logs.request_id(sent_id, _credentials(headers) if sent_id is not None else ()))
        status = 500
        echoed = (logs.REQUEST_ID_HEADER.encode(), record.request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), echoed]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - record.started
            method = metrics.method_label(scope.get("method", "-"))
            metrics.observe_request(record.route or "unmatched", method, status, elapsed)
            logs.log_request(record, method, status, elapsed)


def _credentials(headers: dict[bytes, bytes]) -> tuple[str, ...]:
    """The secrets a request carries (Authorization's value, a Basic password, the API-key header), so that a
    request id holding one is replaced, not logged."""
    found = []
    authorization = headers.get(b"authorization", b"").decode("latin-1").strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        found += [authorization, value.strip()]
        if scheme.lower() == "basic":
            with suppress(binascii.Error, ValueError):
                found += base64.b64decode(value.strip() + "==").decode("latin-1").split(":")
    key_header = get_settings().api_key_header
    if key_header:
        found.append(headers.get(key_header.lower().encode(), b"").decode("latin-1").strip())
    return tuple(c for c in found if len(c) >= 8)


class _NoteRoute(_HttpOnly):
    """Innermost: once the router has matched, its route template (``/taxii2/{api_root}/…``) is what the log
    line and the metrics name the request by — never the path, which holds ids and whatever a client typed."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            record = logs.current_request()
            if record is not None and route is not None:
                record.route = getattr(route, "path", None)


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
            record = logs.current_request()  # the route template, not the path: a path may hold a secret
            log.error("unhandled error on %s %s (request_id=%s)", request.method,
                      (record.route if record else None) or "unmatched", record.request_id if record else "-",
                      exc_info=exc)
            response = await errors.unexpected_error_handler(request, exc)
            await response(scope, receive, send)
