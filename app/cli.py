"""The ``aisx`` command line. Every command that creates something takes ``--json`` and then prints exactly
one JSON object on stdout; human messages go to stderr."""

import logging.config
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Concatenate, NoReturn, ParamSpec, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Connection

from app.admin import operations
from app.config import get_settings
from app.errors import ExchangeError
from app.observability.logs import logging_config
from app.sharing.rules import Poster
from app.stix.markings import TLP2_IDS, Tlp, effective_tlp
from app.store.collections import CollectionRow
from app.store.engine import write_transaction

_HELP_ONLY = "aisx.help_only"


class _Root(typer.core.TyperGroup):
    """The ``aisx`` command. Notes whether this run only asks for help (``--help``, or a command group named
    alone), which needs no database: ``aisx participant --help`` on a new machine printed "the database has no
    AISX schema yet" instead of the help."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: typer's own click (or click) Context
        group_alone = len(args) == 1 and isinstance(self.get_command(ctx, args[0]), typer.core.TyperGroup)
        ctx.meta[_HELP_ONLY] = group_alone or "--help" in args
        return super().parse_args(ctx, args)


app = typer.Typer(help="AISX, the AI Security Exchange (TAXII 2.1).", no_args_is_help=True,
                  pretty_exceptions_enable=False, cls=_Root)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
participant_app = typer.Typer(help="Participants (labs, agencies, vendors, operators).", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
collection_app = typer.Typer(help="TAXII collections.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(participant_app, name="participant")
app.add_typer(key_app, name="key")
app.add_typer(collection_app, name="collection")
feed_app = typer.Typer(help="Feeds: selector-defined collections, optionally mirroring upstream TAXII.",
                       no_args_is_help=True)
app.add_typer(feed_app, name="feed")

P = ParamSpec("P")
T = TypeVar("T")
err = Console(stderr=True, soft_wrap=True)  # no wrapping: file:position lines stay one line each


@app.callback()
def _setup(ctx: typer.Context) -> None:
    """Only ``serve`` and ``db upgrade`` migrate and write the exchange's definitions. Every other command (but
    ``openapi``, which needs no database) checks that the schema is at head and the exchange set up, and does
    nothing else: migrating and republishing on every command cost 1-3 s each.

    Every command logs through the same configuration as the server (``app.observability.logs``), so what the
    ``aisx`` loggers say reaches stderr formatted (AISX_LOG_FORMAT), never through Python's last-resort
    handler."""
    logging.config.dictConfig(_log_config())
    needs_no_database = ("serve", "db", "openapi", "audit")  # audit: verify --file needs no database
    if ctx.invoked_subcommand not in needs_no_database and not ctx.meta.get(_HELP_ONLY):
        _require_prepared()


def _require_prepared() -> None:
    from app.sharing.exchange import mint_key
    from app.store.engine import read_connection
    from app.store.migrate import schema_revisions

    current, head = schema_revisions()
    if current is None:
        _fail(f"the database has no AISX schema yet ({_safe_url()}): run `aisx db upgrade` (or `aisx serve`)")
    if current != head:
        _fail(f"the database schema is at revision {current}, this aisx needs {head}: run `aisx db upgrade`")
    with read_connection() as conn:
        if mint_key(conn, create=False) is None:  # prepare() makes it; a migrated, never-prepared exchange has none
            _fail("the exchange is not set up yet: run `aisx db upgrade` (or `aisx serve`)")


JsonFlag = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]


def _emit(as_json: bool, payload: dict[str, Any], human: str) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(payload).decode() + "\n")
    else:
        err.print(human)


def _operate(action: Callable[Concatenate[Connection, int | None, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run an operator action in a write transaction; its refusals become a clean exit 2."""
    try:
        with write_transaction() as conn:
            return action(conn, None, *args, **kwargs)
    except ExchangeError as exc:
        _fail(str(exc))


def _query(read: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    """One read of the exchange's state for a listing; a refusal (an unknown slug, a bad filter) exits 2 with
    its message."""
    from app.store.engine import read_connection

    try:
        with read_connection() as conn:
            return read(conn, *args, **kwargs)
    except ExchangeError as exc:
        _fail(exc.description)


def _fail(message: str) -> NoReturn:
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}")  # a message may hold [brackets]: `[access]`, a path
    raise typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (AISX_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (AISX_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    ssl_certfile: Annotated[Path | None, typer.Option(
        help="Serve HTTPS with this PEM certificate (chain); needs --ssl-keyfile.", exists=True, dir_okay=False,
    )] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(
        help="The PEM private key of --ssl-certfile.", exists=True, dir_okay=False)] = None,
    ssl_ca_certs: Annotated[Path | None, typer.Option(
        help="PEM CA bundle that client certificates must be issued by (with --ssl-require-client-cert).",
        exists=True, dir_okay=False)] = None,
    ssl_require_client_cert: Annotated[bool, typer.Option(
        help="Mutual TLS: refuse clients without a certificate issued by --ssl-ca-certs.")] = False,
) -> None:
    """Apply migrations, create what an empty exchange needs, then serve TAXII 2.1."""
    import ssl

    import uvicorn

    from app.admin.bootstrap import bootstrap
    from app.feeds.definitions import FeedError
    from app.jobs import start as start_jobs

    if (ssl_certfile is None) != (ssl_keyfile is None):
        _fail("--ssl-certfile and --ssl-keyfile go together")
    if (ssl_ca_certs is not None or ssl_require_client_cert) and ssl_certfile is None:
        _fail("--ssl-ca-certs and --ssl-require-client-cert need --ssl-certfile and --ssl-keyfile")
    if ssl_require_client_cert != (ssl_ca_certs is not None):  # either alone would silently not check clients
        _fail("--ssl-ca-certs and --ssl-require-client-cert go together")
    settings = get_settings()
    metrics_dir = _metrics_directory()
    log_config = _log_config()
    logging.config.dictConfig(log_config)
    try:
        operator = bootstrap()
    except FeedError as exc:
        _fail(f"cannot start: {exc}")
    json_logs = settings.log_format == "json"
    if operator is not None and json_logs:  # one JSON line, like every other line of the log
        logging.getLogger("aisx").warning(
            "New exchange. Operator participant 'admin' created; its API key (shown once): key id: %s secret: %s "
            "(keep it now)", operator.key.key_id, operator.key.secret)
    elif operator is not None:
        err.print("[bold]New exchange.[/bold] Operator participant 'admin' created; its API key (shown once):")
        err.print(f"  key id: {operator.key.key_id}\n  secret: {operator.key.secret}")
    host, port = host or settings.host, port or settings.port
    scheme = "https" if ssl_certfile else "http"
    serving = f"AISX serving TAXII 2.1 on {scheme}://{host}:{port}/taxii2/ (database: {_safe_url()})"
    if json_logs:
        logging.getLogger("aisx").info("%s", serving)
    else:
        err.print(serving)
    scrape = _serve_metrics(settings.metrics_listen) if settings.metrics_listen else None
    tls: dict[str, Any] = {}
    if ssl_certfile is not None:
        tls = {"ssl_certfile": str(ssl_certfile), "ssl_keyfile": str(ssl_keyfile),
               "ssl_ca_certs": str(ssl_ca_certs) if ssl_ca_certs else None,
               "ssl_cert_reqs": ssl.CERT_REQUIRED if ssl_require_client_cert else ssl.CERT_NONE}
    # Behind a reverse proxy the client address (which failed-authentication throttling counts) is in
    # X-Forwarded-For: trust it only from the proxies named in AISX_FORWARDED_ALLOW_IPS, never by default.
    proxy: dict[str, Any] = {"proxy_headers": False}
    if settings.forwarded_allow_ips:
        proxy = {"proxy_headers": True, "forwarded_allow_ips": settings.forwarded_allow_ips}
    stop = threading.Event()
    # Background jobs (embargo release, upstream mirroring, ...) in this process only, not in each worker, and
    # only while this instance holds the leader lock: once across every instance on the database (app.jobs).
    leadership = start_jobs(stop)
    # uvicorn's supervisor kills a worker that has not answered its health check within 5 s and starts another:
    # on a loaded 2-core machine importing and building the app took longer, and a --workers 2 server restarted
    # its children forever and never answered (seen in CI). 60 s still catches a hung worker.
    stopped_by: int | None = None
    try:
        with _stop_signals_unwind():
            uvicorn.run("app.main:create_app", factory=True, host=host, port=port,
                        workers=workers or settings.workers, log_level="info", access_log=False,
                        log_config=log_config, timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS, **tls, **proxy)
    except _StopSignal as signalled:
        stopped_by = signalled.signum
    stop.set()
    leadership.resign()
    if scrape is not None:
        scrape.shutdown()
    if metrics_dir is not None:
        import shutil

        shutil.rmtree(metrics_dir, ignore_errors=True)
    if stopped_by is not None:
        signal.raise_signal(stopped_by)  # the default handlers are back: the process ends as the signal says


class _StopSignal(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _stop_signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGINT raise ``_StopSignal`` while ``aisx serve`` runs uvicorn.

    uvicorn, once it has shut down on one of them, raises it again with the handler that was there before, so that
    the process ends as the signal says. With Python's default handlers that ended the process inside
    ``uvicorn.run``, and nothing after it ran: the background jobs were not stopped, the leadership not resigned,
    the temporary metrics directory not removed (1,529 ``aisx-metrics-*`` directories had piled up in /tmp after a
    day of test runs). Raised as an exception instead, the signal unwinds out of ``uvicorn.run``, ``serve`` cleans
    up, and then raises it again with the default handlers back. A signal that comes before uvicorn has put its own
    handlers in place stops the server the same way."""
    def unwind(signum: int, _frame: object) -> None:
        raise _StopSignal(signum)

    previous = {sig: signal.signal(sig, unwind) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _metrics_directory() -> Path | None:
    """Where this run's processes count their metrics (prometheus-client multiprocess mode), so that /metrics
    sums every worker: PROMETHEUS_MULTIPROC_DIR if the operator set it (emptied now: counters start at zero
    with the server), else a new temporary directory, removed at exit (which is then returned)."""
    import os
    import tempfile

    from app.observability.metrics import use_directory

    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="aisx-metrics-"))
    use_directory(directory)
    return None if chosen else directory


def _serve_metrics(address: tuple[str, int]) -> Any:
    """GET /metrics without credentials on AISX_METRICS_ADDRESS (a thread of this process, which sees every
    worker's metrics through the shared directory). Only /metrics is there; nothing is logged per scrape."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from app.main import metrics_exposition
    from app.observability.metrics import CONTENT_TYPE

    class Scrape(BaseHTTPRequestHandler):
        server_version, sys_version = "aisx", ""  # not the Python version
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            try:
                body = metrics_exposition()
            except Exception:
                logging.getLogger("aisx.metrics").exception("metrics exposition failed")
                self.send_error(500)
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    host, port = address
    try:
        server = ThreadingHTTPServer((host, port), Scrape)
    except OSError as exc:
        _fail(f"cannot listen for metrics on {host}:{port} (AISX_METRICS_ADDRESS): {exc.strerror}")
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="aisx-metrics", daemon=True).start()
    logging.getLogger("aisx").info("metrics for scrapers on http://%s:%d/metrics", host, server.server_port)
    return server


@app.command("openapi")
def openapi_document() -> None:
    """Print the OpenAPI document of the API, as kept in docs/openapi.json (needs no database)."""
    from app.main import create_app
    from app.openapi import render

    sys.stdout.buffer.write(render(create_app().openapi()).encode())


WORKER_HEALTHCHECK_SECONDS = 60


def _log_config() -> dict[str, Any]:
    """The logging of every ``aisx`` process (``app.observability.logs``), in AISX_LOG_FORMAT. ``serve``
    applies it before start-up (which logs the feeds directory) and hands it to uvicorn, which applies it again
    in every worker."""
    return logging_config(get_settings().log_format)


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().database_url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration, then write what every exchange has (the default API root, the shared and
    directory collections, the exchange's definitions) and apply the feed files, as `aisx serve` does."""
    from app.admin.bootstrap import prepare
    from app.feeds.definitions import FeedError

    try:
        prepare()
    except FeedError as exc:
        _fail(f"database at head, but the feeds were not applied: {exc}")
    err.print(f"database at head ({_safe_url()})")


@db_app.command("backup")
def db_backup(
    path: Annotated[Path, typer.Argument(help="The new file to write (refused if it exists).")],
    as_json: JsonFlag = False,
) -> None:
    """A consistent copy of the database while servers keep running: SQLite's online backup, or pg_dump
    --format=custom for PostgreSQL (restore: docs/deployment.md, Backups)."""
    from app.store.backup import backup

    settings = get_settings()
    try:
        made = backup(settings.database_url, path.resolve(), lambda message: err.print(message))
    except ExchangeError as exc:
        _fail(str(exc))
    _operate(operations.note_backup, str(made.path), made.database, made.bytes)
    _emit(as_json, {"path": str(made.path), "database": made.database, "bytes": made.bytes,
                    "seconds": round(made.seconds, 3)},
          f"backup written: {made.path} ({made.bytes} bytes, {made.seconds:.1f} s)")


jobs_app = typer.Typer(help="Background jobs and which `aisx serve` instance runs them (the leader).",
                       no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("status")
def jobs_status(as_json: JsonFlag = False) -> None:
    """Which instance leads (runs the background jobs), and the jobs it runs."""
    from app.jobs import status

    state = status()
    lines = [f"leader: {state['leader'] or 'none (no aisx serve holds the leader lock)'} ({state['lock']})"]
    lines += [f"  {job['name']:<22} every {job['interval']:g} s" for job in state["jobs"]]
    _emit(as_json, state, "\n".join(lines))


@jobs_app.command("run")
def jobs_run() -> None:
    """Run the background jobs without serving (beside a uvicorn run by hand): this process joins the election
    of a leader like an `aisx serve` instance, and runs the jobs while it leads. Stops on SIGTERM or Ctrl-C."""
    import signal

    from app.jobs import start as start_jobs

    logging.config.dictConfig(_log_config())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    leadership = start_jobs(stop)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        stop.set()
    leadership.resign()


@participant_app.command("add")
def participant_add(
    slug: str,
    name: Annotated[str, typer.Option(help="Display name of the organisation.")],
    kind: Annotated[str, typer.Option(help="lab, agency, vendor or operator.")],
    group: Annotated[list[str] | None, typer.Option(help="A group to join (repeatable).")] = None,
    sector: Annotated[list[str] | None, typer.Option(help="An industry sector (repeatable).")] = None,
    identity_id: Annotated[str | None, typer.Option(
        help="The STIX identity id the organisation already publishes under (default: a new one).")] = None,
    claimed_identity: Annotated[list[str] | None, typer.Option(
        help="Another identity id it already publishes under (repeatable; see `participant identity add`).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Admit a participant; it gets a STIX identity and an unlinkable pseudonym identity."""
    new = _operate(operations.admit, slug, name, kind, group or [], sector or [], identity_id, claimed_identity or [])
    _emit(as_json, new, f"participant {slug} added (identity {new['identity_id']})")


identity_app = typer.Typer(help="Identity ids a participant already publishes under (its exports' created_by_ref).",
                           no_args_is_help=True)
participant_app.add_typer(identity_app, name="identity")


@identity_app.command("add")
def identity_add(slug: str, identity_id: str, as_json: JsonFlag = False) -> None:
    """Attach IDENTITY_ID: objects created by it are accepted as SLUG's, and identity objects others posted
    under it are withdrawn. Refused if another participant or the exchange uses the id."""
    _emit(as_json, _operate(operations.claim, slug, identity_id), f"{identity_id} is now {slug}'s")


@identity_app.command("remove")
def identity_remove(slug: str, identity_id: str, as_json: JsonFlag = False) -> None:
    """Detach IDENTITY_ID: stored objects stay SLUG's; new objects created by it are refused."""
    _emit(as_json, _operate(operations.unclaim, slug, identity_id), f"{identity_id} detached from {slug}")


@key_app.command("issue")
def key_issue(
    slug: str,
    label: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    expires: Annotated[str | None, typer.Option(
        help="When the key stops working: a duration from now (90d, 12h, 30m, 2w) or an RFC 3339 timestamp with a "
             "zone (default: never, until revoked).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Issue an API key; the secret is shown this once and stored only as a hash."""
    key = _operate(operations.new_key, slug, label, expires)
    until = f"\nexpires: {key['expires_at']}" if key["expires_at"] else ""
    _emit(as_json, key, f"key id: {key['key_id']}\nsecret: {key['secret']}{until}\n"
                        "(store the secret now: it cannot be shown again)")


@participant_app.command("list")
def participant_list(as_json: JsonFlag = False) -> None:
    """List participants with their kinds, groups, identities, state, working keys and last key use."""
    rows = _query(operations.list_participants)
    if as_json:
        _emit(True, {"participants": rows}, "")
        return
    table = _table("participant", "name", "kind", "state", "groups", "identities", "keys", "last key use")
    for r in rows:
        identities = "\n".join([r["identity_id"], *r["claimed_identity_ids"]])
        working = sum(k["state"] in ("active", "rotating") for k in r["keys"])
        table.add_row(r["slug"], r["name"], r["kind"], r["state"], ", ".join(r["groups"]) or "-", identities,
                      f"{working} of {len(r['keys'])}", r["last_key_use"] or "never")
    _print_table(table, bool(rows), "no participants")


@participant_app.command("suspend")
def participant_suspend(slug: str, as_json: JsonFlag = False) -> None:
    """Suspend a participant: every key is refused from its next request on."""
    _emit(as_json, _operate(operations.set_suspended, slug, True), f"participant {slug} suspended")


@participant_app.command("reinstate")
def participant_reinstate(slug: str, as_json: JsonFlag = False) -> None:
    """Lift a suspension."""
    _emit(as_json, _operate(operations.set_suspended, slug, False), f"participant {slug} reinstated")


@key_app.command("revoke")
def key_revoke(key_id: str, as_json: JsonFlag = False) -> None:
    """Revoke a key: refused from its next request on, whichever worker serves it."""
    _emit(as_json, _operate(operations.revoke, key_id), f"key {key_id} revoked")


# ------------------------------------------------------------------ lifecycle (issue 16): participants and keys

group_app = typer.Typer(help="Groups of participants (recipients of group-addressed objects, subjects of grants).",
                        no_args_is_help=True)
app.add_typer(group_app, name="group")


def _table(*columns: str) -> Any:
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _print_table(table: Any, has_rows: bool, empty: str) -> None:
    """A table on stderr (human output), as wide as the terminal, or unwrapped when stderr is not one."""
    if not has_rows:
        err.print(empty)
        return
    Console(stderr=True, width=None if err.is_terminal else 250).print(table)


@participant_app.command("update")
def participant_update(
    slug: str,
    name: Annotated[str | None, typer.Option(help="New display name (republished in the directory).")] = None,
    add_group: Annotated[list[str] | None, typer.Option(help="A group to join (repeatable).")] = None,
    remove_group: Annotated[list[str] | None, typer.Option(help="A group to leave (repeatable).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rename a participant or change its groups; the groups count from its next request (group grants and
    group-addressed objects). Audited with the name and groups before and after."""
    row = _operate(operations.update_participant, slug, name=name, add_groups=add_group or [],
                   remove_groups=remove_group or [])
    _emit(as_json, row, f"participant {slug}: name {row['name']!r}, groups {', '.join(row['groups']) or '-'}")


@group_app.command("list")
def group_list(as_json: JsonFlag = False) -> None:
    """Every group with its members (a group exists while it has members)."""
    rows = _query(operations.groups)
    if as_json:
        _emit(True, {"groups": rows}, "")
        return
    table = _table("group", "members")
    for g in rows:
        table.add_row(g["name"], ", ".join(g["members"]))
    _print_table(table, bool(rows), "no groups")


@key_app.command("list")
def key_list(slug: str, as_json: JsonFlag = False) -> None:
    """A participant's keys: id, label, created, last used, expiry and state (never a secret)."""
    keys = _query(operations.keys_of, slug)
    if as_json:
        _emit(True, {"participant": slug, "keys": keys}, "")
        return
    table = _table("key id", "label", "state", "created", "last used", "expires", "revoked", "replaced by")
    for k in keys:
        table.add_row(k["key_id"], k["label"] or "-", k["state"], k["created"], k["last_used"] or "never",
                      k["expires_at"] or "never", k["revoked_at"] or "-", k["replaced_by"] or "-")
    _print_table(table, bool(keys), f"{slug} has no keys")


@key_app.command("rotate")
def key_rotate(
    key_id: str,
    grace: Annotated[str, typer.Option(
        help="How long the old key keeps working: a duration such as 24h, 30m or 2d (0s: it stops at once).")] = "24h",
    expires: Annotated[str | None, typer.Option(
        help="The new key's expiry, a duration or RFC 3339 timestamp (default: the old key's lifetime again if it "
             "had one, else never).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replace a key by a new one for the same participant and label; the secret is shown this once. The old key
    works until the grace ends, then answers 401."""
    new = _operate(operations.rotate, key_id, grace, expires)
    until = f"\nexpires: {new['expires_at']}" if new["expires_at"] else ""
    _emit(as_json, new, f"key id: {new['key_id']}\nsecret: {new['secret']}{until}\n"
                        f"(store the secret now: it cannot be shown again)\n"
                        f"{key_id} works until {new['old_key_revoked_at']}")


cert_app = typer.Typer(help="Client certificates (mutual TLS through a verifying proxy).", no_args_is_help=True)
app.add_typer(cert_app, name="cert")


@cert_app.command("add")
def cert_add(
    slug: str,
    fingerprint: Annotated[str | None, typer.Option(help="SHA-256 of the certificate (DER), hex.")] = None,
    pem: Annotated[Path | None, typer.Option(help="The certificate as a PEM file (fingerprint computed).")] = None,
    label: Annotated[str | None, typer.Option(help="What the certificate is for.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Let a client certificate authenticate a participant (see docs/deployment.md, mutual TLS)."""
    if (fingerprint is None) == (pem is None):
        _fail("give exactly one of --fingerprint or --pem")
    if pem is not None:
        import hashlib
        import ssl

        try:
            fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.read_text())).hexdigest()
        except (OSError, ValueError) as exc:
            _fail(f"{pem}: not a PEM certificate ({exc})")
    assert fingerprint is not None  # given, or computed from --pem (exactly one of them, checked above)
    result = _operate(operations.add_certificate, slug, fingerprint, label)
    _emit(as_json, result, f"certificate {result['fingerprint']} now authenticates {slug}")


@cert_app.command("revoke")
def cert_revoke(fingerprint: str, as_json: JsonFlag = False) -> None:
    """Stop a client certificate from authenticating, from its next request on."""
    _emit(as_json, _operate(operations.revoke_certificate, fingerprint), f"certificate {fingerprint} revoked")


@app.command("audience")
def audience(
    identity: Annotated[list[str] | None, typer.Option(help="Recipient identity id (repeatable).")] = None,
    group: Annotated[list[str] | None, typer.Option(help="Recipient group (repeatable).")] = None,
    embargo_until: Annotated[str | None, typer.Option(help="RFC 3339 UTC end of embargo.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Mint the exchange-audience marking-definition for a recipient set (same set, same marking)."""
    from app.stix.markings import AudienceSpec
    from app.stix.timestamps import TimestampError, parse_timestamp

    try:
        embargo = parse_timestamp(embargo_until, require_utc=True) if embargo_until else None
    except TimestampError as exc:
        _fail(f"--embargo-until: {exc}")
    if not identity and not group and embargo is None:
        _fail("name at least one --identity or --group, or an --embargo-until")
    spec = AudienceSpec(tuple(sorted(set(identity or []))), tuple(sorted(set(group or []))), embargo)
    marking = _operate(operations.mint, spec)
    _emit(as_json, marking, f"marking id: {marking['id']}\nreference it in object_marking_refs")


audit_app = typer.Typer(help="The audit trail: list it, check its hash chain, export it, see who read what.",
                        invoke_without_command=True)
app.add_typer(audit_app, name="audit")
Moment = "RFC 3339 timestamp, or a duration back from now (24h, 7d)."


@audit_app.callback()
def audit(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option(help="Who acted: a participant slug, or 'exchange' (the CLI, "
                                                   "background jobs).")] = None,
    action: Annotated[str | None, typer.Option(help="Action prefix: participant., key.revoke, objects.")] = None,
    participant: Annotated[str | None, typer.Option(help="Whom the event is about (slug): the participant "
                                                         "admitted, suspended, keyed; the poster of objects.")] = None,
    collection: Annotated[str | None, typer.Option(help="Collection id.")] = None,
    since: Annotated[str | None, typer.Option(help=Moment)] = None,
    until: Annotated[str | None, typer.Option(help=Moment)] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000)] = 1000,
    oldest_first: Annotated[bool, typer.Option("--oldest-first", help="Oldest first (default: newest first).")]
    = False,
    as_json: JsonFlag = False,
) -> None:
    """Show the audit trail, newest first: writes, deletes and admin actions (key use: `aisx key list`; reads
    of AMBER/RED objects: `aisx audit reads`)."""
    if ctx.invoked_subcommand is not None:
        return
    from app.admin.audit import Filters, audit_events, human_detail

    _require_prepared()
    events = _query(audit_events, Filters(actor, action, participant, collection, since, until, limit, oldest_first))
    if as_json:
        _emit(True, {"events": events}, "")
        return
    rows = [(str(e["position"]), e["at"][:19] + "Z", e["participant"] or "exchange", e["action"],
             e["subject"] or "", str(e["object_count"]) if e["object_count"] else "",
             (e["collection_id"] or "")[:8], human_detail(e["detail"])) for e in events]
    _rows_table(("#", "TIME (UTC)", "ACTOR", "ACTION", "SUBJECT", "OBJECTS", "COLL.", "DETAIL"), rows,
           "no events")


def _rows_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], empty: str) -> None:
    from rich.markup import escape

    table = _table(*header)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))  # a detail may hold [brackets]
    _print_table(table, bool(rows), empty)


@audit_app.command("verify")
def audit_verify(
    file: Annotated[Path | None, typer.Option("--file", help="Check an export (JSON lines) offline instead of "
                                                             "the database.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check the audit log's hash chain, record by record; name the first broken record. Exit 1 when broken."""
    from app.audit.chain import parse_lines, verify_database, verify_records

    if file is None:
        _require_prepared()
        result = verify_database()
        where = "the database"
    else:
        try:
            with file.open("rb") as lines:
                result = verify_records(parse_lines(lines), from_genesis=False)
        except (OSError, ValueError) as exc:
            _fail(f"{file}: {exc}")
        where = str(file)
    if as_json:
        _emit(True, result.as_dict(), "")
    elif result.broken is None:
        err.print(f"audit chain OK: {result.records} record(s) in {where}"
                  + (f", positions {result.first_position}..{result.last_position}; head hash {result.head_hash}"
                     if result.records else ""), highlight=False)
    else:
        b = result.broken
        err.print(f"audit chain BROKEN in {where} at position {b.position}"
                  + (f" (record id {b.id})" if b.id is not None else "") + f": {b.problem}\n"
                  f"{result.records} record(s) before it verified", highlight=False)
    if result.broken is not None:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    since: Annotated[str | None, typer.Option(help=Moment)] = None,
    until: Annotated[str | None, typer.Option(help=Moment)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to FILE (default: stdout).")] = None,
) -> None:
    """Write the audit records (all, or from --since) as JSON lines, in chain order: `aisx audit verify --file`
    checks them offline."""
    from app.admin.audit import parse_moment
    from app.audit.chain import export_lines
    from app.store.engine import now_us

    _require_prepared()
    now = now_us()
    try:
        start, end = parse_moment("--since", since, now), parse_moment("--until", until, now)
    except ExchangeError as exc:
        _fail(exc.description)
    count = 0
    with (output.open("xb") if output is not None else open(sys.stdout.fileno(), "wb", closefd=False)) as sink:
        for line in export_lines(since=start, until=end):
            sink.write(line)
            count += 1
    if output is not None:
        err.print(f"{count} audit record(s) written to {output}", highlight=False)


@audit_app.command("reads")
def audit_reads(
    producer: Annotated[str, typer.Option(help="The producer's slug.")],
    since: Annotated[str | None, typer.Option(help=Moment)] = None,
    until: Annotated[str | None, typer.Option(help=Moment)] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000)] = 10000,
    as_json: JsonFlag = False,
) -> None:
    """Who read a producer's AMBER and RED objects, per day: readers, objects and read counts."""
    from app.admin.audit import producer_reads

    _require_prepared()
    reads = _query(producer_reads, producer, since, until, limit)
    if as_json:
        _emit(True, reads, "")
        return
    summary = [(r["day"], r["reader"], str(r["objects"]), str(r["count"])) for r in reads["by_reader"]]
    _rows_table(("DAY", "READER", "OBJECTS", "READS"), summary, f"no reads of {producer}'s AMBER/RED objects")
    if summary:
        err.print("")
        _rows_table(("DAY", "READER", "READS", "OBJECT"), [(r["day"], r["reader"], str(r["count"]), r["object_id"])
                                                       for r in reads["reads"]], "")


@collection_app.command("add")
def collection_add(
    alias: str,
    title: Annotated[str, typer.Option(help="Human-readable title.")],
    api_root: Annotated[str | None, typer.Option(help="API root (default: exchange).")] = None,
    description: Annotated[str | None, typer.Option(help="What the collection holds.")] = None,
    public: Annotated[bool, typer.Option(help="Readable without credentials (TLP:CLEAR only).")] = False,
    default_group: Annotated[str | None, typer.Option(
        help="Group that AMBER objects posted without recipients are shared with (frozen per object).")] = None,
    lenient: Annotated[bool, typer.Option(
        help="Accept objects that break a STIX MUST, recording warnings (default: strict, reject them).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a TAXII collection."""
    made = _operate(operations.create_collection, alias, title, api_root or get_settings().default_api_root,
                    public=public, description=description, default_group=default_group, lenient=lenient)
    _emit(as_json, made, f"collection {made['alias']} created: /taxii2/{made['api_root']}/collections/{made['id']}/")


@app.command("grant")
def grant_command(
    subject: Annotated[str, typer.Argument(help="SLUG, group:NAME, kind:KIND or everyone; `list` to list the "
                                                "collection's grants.")],
    collection: Annotated[str, typer.Argument(help="Collection id or alias.")],
    read: Annotated[bool, typer.Option("--read/--no-read", help="May read objects.")] = False,
    write: Annotated[bool, typer.Option("--write/--no-write", help="May add objects.")] = False,
    revoke: Annotated[bool, typer.Option("--revoke", help="Remove SUBJECT's grant on the collection.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Grant (or, with neither flag, withdraw) access to a collection; `--revoke` removes the grant, and
    `aisx grant list COLLECTION` lists the collection's grants. Feeds take their grants from their files."""
    if subject == "list" and not (read or write or revoke):
        _grant_list(collection, as_json)
        return
    if revoke:
        if read or write:
            _fail("--revoke goes without --read and --write")
        gone = _operate(operations.revoke_access, subject, collection)
        _emit(as_json, gone, f"{gone['subject_kind']} {gone['subject']}: grant on {collection} revoked")
        return
    done = _operate(operations.set_access, subject, collection, read=read, write=write)
    _emit(as_json, done, f"{done['subject_kind']} {done['subject']} on {collection}: read={read} write={write}")


def _grant_list(collection: str, as_json: bool) -> None:
    listed = _query(operations.list_grants, collection)
    lines = [f"{g['name']:<32} {'read' if g['can_read'] else '-':<5} {'write' if g['can_write'] else '-'}"
             for g in listed["grants"]]
    _emit(as_json, listed, "\n".join(lines) or f"no grants on {collection}")


@collection_app.command("list")
def collection_list(as_json: JsonFlag = False) -> None:
    """Every collection: alias, id, API root, title, strict or lenient, public, feed, object count, grants."""
    from rich.table import Table

    rows = _query(operations.list_collections)
    if as_json:
        _emit(True, {"collections": rows}, "")
        return
    table = Table("alias", "id", "api root", "title", "validation", "public", "feed", "objects", "grants",
                  box=None, pad_edge=False)
    for c in rows:
        grants = ", ".join(f"{g['name']}:{'r' if g['can_read'] else ''}{'w' if g['can_write'] else ''}"
                           for g in c["grants"] if g["can_read"] or g["can_write"])
        table.add_row(c["alias"] or "-", c["id"], c["api_root"], c["title"], c["validation"],
                      "yes" if c["public"] else "no", "feed" if c["feed"] else "-", str(c["objects"]), grants or "-")
    # a terminal's width, or wide enough that a piped table keeps one line per collection
    Console(stderr=True, width=None if err.is_terminal else 240).print(table if rows else "no collections")


@collection_app.command("update")
def collection_update(
    collection: Annotated[str, typer.Argument(help="Collection id or alias.")],
    title: Annotated[str | None, typer.Option(help="New title (unique in its API root).")] = None,
    description: Annotated[str | None, typer.Option(help="New description (\"\" removes it).")] = None,
    strict: Annotated[bool | None, typer.Option(
        "--strict/--lenient", help="Reject objects that break a STIX MUST (strict) or accept them with warnings.",
        show_default=False)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a collection's title, description or validation. Feeds change in their files."""
    validation = None if strict is None else ("strict" if strict else "lenient")
    view = _operate(operations.update_collection, collection, title=title, description=description or None,
                    clear_description=description == "", validation=validation)
    _emit(as_json, view, f"collection {view['alias'] or view['id']}: title {view['title']!r}, {view['validation']}")


@collection_app.command("remove")
def collection_remove(
    collection: Annotated[str, typer.Argument(help="Collection id or alias.")],
    force: Annotated[bool, typer.Option(help="Remove it even though it holds objects: they stay in the exchange "
                                             "(and in every other collection); only this collection goes.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove a collection with its grants and memberships. Refused while it holds objects unless --force, for
    feeds (delete the feed's file instead) and for the standard shared and directory collections."""
    gone = _operate(operations.remove_collection, collection, force=force)
    _emit(as_json, gone, f"collection {gone['alias'] or gone['id']} removed ({gone['objects']} object versions "
                         "left in the exchange, no longer in it)")


_TLP_LEVELS = {"clear": Tlp.CLEAR, "green": Tlp.GREEN, "amber": Tlp.AMBER, "amber+strict": Tlp.AMBER_STRICT,
               "red": Tlp.RED}
_PRINTED, _LISTED = 20, 1000  # failures printed (listed with --json) before "and N more"


@app.command(epilog="Exit status: 0 every object accepted; 1 some objects rejected (each listed as FILE:POSITION "
                    "ID: MESSAGE, positions counting from 0); 2 nothing could be ingested (usage, unknown participant "
                    "or collection, no write grant, suspended participant, unreadable file: envelopes before it stay "
                    "ingested).")
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Bundles, envelopes, JSON arrays or JSON lines (.gz ok).")],
    as_slug: Annotated[str, typer.Option("--as", help="Participant posting the objects.")],
    collection: Annotated[str, typer.Option(help="Collection id or alias.")],
    batch: Annotated[int, typer.Option(min=1, max=10000, help="Objects per envelope (one transaction each).")] = 1000,
    tlp: Annotated[str | None, typer.Option(
        help="Mark objects that carry no TLP marking with this TLP 2.0 marking (clear, green, amber, amber+strict, "
             "red). Never done by default: the exchange itself never adds a marking; with this flag you, the "
             "operator, mark them for the lab.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Bulk-load STIX as the participant would with a TAXII POST: the same write grant, suspension and
    per-object checks, streamed in envelopes, with a progress bar."""
    from app import ingest as submissions
    from app.ingest.files import StixFile, UnreadableFile
    from app.store.collections import find_collection
    from app.store.engine import read_connection

    level = _TLP_LEVELS.get(tlp) if tlp is not None else None
    if tlp is not None and level is None:
        _fail(f"--tlp must be one of {', '.join(_TLP_LEVELS)}, not {tlp!r}")
    with read_connection() as conn:
        target = find_collection(conn, collection)
        if target is None:
            _fail(f"no collection with id or alias {collection!r}")
        try:
            poster = submissions.authorise_post(conn, target, submissions.acting_as(conn, as_slug))
        except ExchangeError as exc:
            _fail(f"{as_slug} may not post to {collection}: {exc.description}")
    tally = _Tally()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, disable=as_json or not err.is_terminal) as progress:
        for path in files:
            try:
                source = StixFile(path)
                task = progress.add_task(path.name, total=source.size)
                for chunk in _envelopes(source, batch):
                    _submit(target, poster, path, chunk, level, tally)
                    progress.update(task, completed=source.bytes_read)
            except (OSError, UnreadableFile) as exc:
                _fail(f"{exc} ({tally.accepted} objects accepted before)")
    if tally.accepted:  # a bulk load may run with no server, hence no leader to refresh the planner's statistics
        from app.jobs.statistics import refresh_and_log

        refresh_and_log()
    _report(tally, target.alias or target.id, as_json)
    if tally.rejected:
        raise typer.Exit(1)


class _Tally:
    def __init__(self) -> None:
        self.accepted = 0
        self.rejected = 0
        self.failures: list[dict[str, Any]] = []  # the first _LISTED

    def fail(self, path: Path, index: int, stix_id: Any, message: str) -> None:
        self.rejected += 1
        if len(self.failures) < _LISTED:
            self.failures.append({"file": str(path), "index": index,
                                  "id": stix_id if isinstance(stix_id, str) else None, "message": message})


def _envelopes(source: Iterable[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    """Lists of up to ``size`` (position, object) pairs, read as they are needed."""
    chunk: list[tuple[int, Any]] = []
    for item in source:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _submit(target: CollectionRow, poster: Poster, path: Path, chunk: list[tuple[int, Any]], level: Tlp | None,
            tally: _Tally) -> None:
    from app import ingest as submissions

    named = [(i, _marked(obj, level)) for i, obj in chunk if isinstance(obj, dict) and isinstance(obj.get("id"), str)]
    failures = [(i, None, "not a JSON object with a string 'id'") for i, obj in chunk
                if not (isinstance(obj, dict) and isinstance(obj.get("id"), str))]
    if named:
        status, failed = submissions.submit_positions(target, poster, [obj for _, obj in named])
        tally.accepted += status.success_count
        failures += [(named[p][0], named[p][1]["id"], message) for p, message in failed]
    for index, stix_id, message in sorted(failures, key=lambda f: f[0]):  # in file order
        tally.fail(path, index, stix_id, message)


def _marked(obj: dict[str, Any], level: Tlp | None) -> dict[str, Any]:
    """``obj`` with the TLP marking of ``--tlp`` when it carries none (marking-definitions travel as they are)."""
    if level is None or obj.get("type") == "marking-definition" or effective_tlp(obj) is not None:
        return obj
    return {**obj, "object_marking_refs": [*(obj.get("object_marking_refs") or []), TLP2_IDS[level]]}


def _report(tally: _Tally, where: str, as_json: bool) -> None:
    summary = {"accepted": tally.accepted, "rejected": tally.rejected, "failures": tally.failures,
               "more_failures": tally.rejected - len(tally.failures)}
    lines = [f"{tally.accepted} accepted, {tally.rejected} rejected into {where}"]
    lines += [f"  {f['file']}:{f['index']} {f['id'] or '-'}: {f['message']}" for f in tally.failures[:_PRINTED]]
    more = tally.rejected - min(len(tally.failures), _PRINTED)
    lines += [f"  and {more} more"] if more else []
    _emit(as_json, summary, "\n".join(lines))


def _feed_id(name: str) -> str:
    from app.store.collections import find_collection
    from app.store.engine import read_connection

    with read_connection() as conn:
        row = find_collection(conn, name)
    if row is None:
        _fail(f"no feed {name!r}")
    return row.id


def _apply_feed_files() -> list[tuple[str, str]]:
    """The feed commands first apply the feed files (the source of truth): new feeds are created and
    backfilled, changed ones updated, those whose file is gone removed. Returns the (id, alias) removed."""
    from app.admin.bootstrap import sync_feeds
    from app.feeds.definitions import FeedError

    try:
        removed = sync_feeds()
    except FeedError as exc:
        _fail(str(exc))
    _say_removed(removed)
    return removed


def _say_removed(removed: list[tuple[str, str]]) -> None:
    for feed_id, alias in removed:
        err.print(f"feed {alias} ({feed_id}) removed: its definition file is gone (its objects stay in the exchange)")


def _access_text(access: dict[str, Any]) -> str:
    return (", ".join(access["read"]) or "nobody") + (" (public: anyone, TLP:CLEAR only)" if access["public"] else "")


@feed_app.command("list")
def feed_list(as_json: JsonFlag = False) -> None:
    """The feeds, with their selectors, access and upstream state (after applying the feed files)."""
    from app.mirroring.upstream import feed_states

    _apply_feed_files()
    feeds = feed_states()
    lines = []
    for f in feeds:
        lines.append(f"{f['alias']:<28} {f['id']}  {f['title']}")
        lines.append(f"  selector: {orjson.dumps(f['selector']).decode() if f['selector'] is not None else 'none'}")
        lines.append(f"  read:     {_access_text(f['access'])}")
        if f.get("upstream"):
            up = f["upstream"]
            lines.append(f"  upstream: {up['url']} collection {up['collection']} ({up['state']})")
    _emit(as_json, {"feeds": feeds}, "\n".join(lines) or "no feeds")


@feed_app.command("rebuild")
def feed_rebuild(name: Annotated[str, typer.Argument(help="Feed alias or id.")], as_json: JsonFlag = False) -> None:
    """Apply the feed files (removing feeds whose file is gone), then recompute a feed from every stored object
    after its definition changed."""
    from app.admin.bootstrap import rebuild_feed

    try:
        rebuilt = rebuild_feed(None, name)
    except ExchangeError as exc:
        _fail(exc.description)
    _say_removed([(feed["id"], feed["alias"]) for feed in rebuilt["removed_feeds"]])
    _emit(as_json, rebuilt, f"feed {name} removed" if rebuilt["removed"]
          else f"feed {name} rebuilt: {rebuilt['objects']} object versions")


@feed_app.command("sync")
def feed_sync(name: Annotated[str | None, typer.Argument(help="Feed alias or id (default: every upstream).")] = None,
              as_json: JsonFlag = False) -> None:
    """Pull new objects from the feeds' upstream TAXII servers now (resumable, incremental)."""
    from app.mirroring.upstream import sync_all

    _apply_feed_files()
    results = sync_all(_feed_id(name) if name else None)
    lines = [f"{r['alias']}: {r['accepted']} accepted, {r['rejected']} rejected"
             + (f" — error: {r['error']}" if r.get("error") else "") for r in results]
    _emit(as_json, {"feeds": results}, "\n".join(lines) or "no feed has an upstream")
    if any(r.get("error") for r in results):
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
