"""The ``aisx`` command line. Every command that creates something takes ``--json`` and then prints exactly
one JSON object on stdout; human messages go to stderr."""

import copy
import logging.config
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
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
from app.sharing.rules import Poster
from app.stix.markings import TLP2_IDS, Tlp, effective_tlp
from app.store.collections import CollectionRow
from app.store.engine import write_transaction

app = typer.Typer(help="AISX, the AI Security Exchange (TAXII 2.1).", no_args_is_help=True,
                  pretty_exceptions_enable=False)
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
    """Every command but serve, db and openapi works on a migrated, prepared exchange."""
    if ctx.invoked_subcommand not in ("serve", "db", "openapi"):
        from app.admin.bootstrap import prepare
        from app.feeds.definitions import FeedError

        try:
            prepare()
        except FeedError as exc:
            _fail(str(exc))
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


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
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
    from app.mirroring.upstream import start_background_sync

    if (ssl_certfile is None) != (ssl_keyfile is None):
        _fail("--ssl-certfile and --ssl-keyfile go together")
    if (ssl_ca_certs is not None or ssl_require_client_cert) and ssl_certfile is None:
        _fail("--ssl-ca-certs and --ssl-require-client-cert need --ssl-certfile and --ssl-keyfile")
    if ssl_require_client_cert != (ssl_ca_certs is not None):  # either alone would silently not check clients
        _fail("--ssl-ca-certs and --ssl-require-client-cert go together")
    settings = get_settings()
    log_config = _log_config()
    logging.config.dictConfig(log_config)
    try:
        operator = bootstrap()
    except FeedError as exc:
        _fail(f"cannot start: {exc}")
    if operator is not None:
        err.print("[bold]New exchange.[/bold] Operator participant 'admin' created; its API key (shown once):")
        err.print(f"  key id: {operator.key.key_id}\n  secret: {operator.key.secret}")
    host, port = host or settings.host, port or settings.port
    scheme = "https" if ssl_certfile else "http"
    err.print(f"AISX serving TAXII 2.1 on {scheme}://{host}:{port}/taxii2/ (database: {_safe_url()})")
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
    start_background_sync(stop)  # mirrors upstream feeds; idempotent if several servers run it
    # uvicorn's supervisor kills a worker that has not answered its health check within 5 s and starts another:
    # on a loaded 2-core machine importing and building the app took longer, and a --workers 2 server restarted
    # its children forever and never answered (seen in CI). 60 s still catches a hung worker.
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port,
                workers=workers or settings.workers, log_level="info", access_log=False, log_config=log_config,
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS, **tls, **proxy)
    stop.set()


@app.command("openapi")
def openapi_document() -> None:
    """Print the OpenAPI document of the API, as kept in docs/openapi.json (needs no database)."""
    from app.main import create_app
    from app.openapi import render

    sys.stdout.buffer.write(render(create_app().openapi()).encode())


WORKER_HEALTHCHECK_SECONDS = 60


def _log_config() -> dict[str, Any]:
    """uvicorn's logging plus the ``aisx`` logger at INFO on the same stderr handler. Applied before start-up
    (which logs the feeds directory) and handed to uvicorn, which applies it again in every worker; without it
    the ``aisx`` logger had no handler and its INFO lines went nowhere."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["aisx"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().database_url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from app.store.migrate import upgrade_to_head

    upgrade_to_head()
    err.print(f"database at head ({_safe_url()})")


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
    as_json: JsonFlag = False,
) -> None:
    """Issue an API key; the secret is shown this once and stored only as a hash."""
    key = _operate(operations.new_key, slug, label)
    _emit(as_json, key,
          f"key id: {key['key_id']}\nsecret: {key['secret']}\n(store the secret now: it cannot be shown again)")


@participant_app.command("list")
def participant_list(as_json: JsonFlag = False) -> None:
    """List participants with their groups, identities, keys and state."""
    from app.store import participants as store
    from app.store.engine import read_connection

    with read_connection() as conn:
        rows = [operations.participant_view(p, store.list_keys(conn, p.id)) for p in store.list_participants(conn)]
    lines = [f"{r['slug']:<20} {r['kind']:<9} {'SUSPENDED ' if r['suspended'] else ''}groups={','.join(r['groups'])}"
             f" keys={sum(not k['revoked'] for k in r['keys'])}" for r in rows]
    _emit(as_json, {"participants": rows}, "\n".join(lines) or "no participants")


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


@app.command("audit")
def audit(
    since: Annotated[str | None, typer.Option(help="RFC 3339 timestamp.")] = None,
    participant: Annotated[str | None, typer.Option(help="Participant slug.")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. objects.add, key.revoke, read.amber_red.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000)] = 1000,
    as_json: JsonFlag = False,
) -> None:
    """Show the audit trail: writes, deletes, key use, admin actions and reads of AMBER/RED objects."""
    from app.admin.api import audit_events
    from app.store.engine import read_connection

    try:
        with read_connection() as conn:
            events = audit_events(conn, since, participant, action, limit)
    except ExchangeError as exc:
        _fail(exc.description)
    lines = [f"{e['at']} {e['participant'] or '-':<16} {e['action']:<20} {e['object_count']:>6} "
             f"{e['collection_id'] or ''}" for e in events]
    _emit(as_json, {"events": events}, "\n".join(lines) or "no events")


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
    subject: Annotated[str, typer.Argument(help="SLUG, group:NAME, kind:KIND or everyone.")],
    collection: Annotated[str, typer.Argument(help="Collection id or alias.")],
    read: Annotated[bool, typer.Option("--read/--no-read", help="May read objects.")] = False,
    write: Annotated[bool, typer.Option("--write/--no-write", help="May add objects.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Grant (or, with neither flag, withdraw) access to a collection."""
    done = _operate(operations.set_access, subject, collection, read=read, write=write)
    _emit(as_json, done, f"{done['subject_kind']} {done['subject']} on {collection}: read={read} write={write}")


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


@feed_app.command("list")
def feed_list(as_json: JsonFlag = False) -> None:
    """The feeds, with their selectors and upstream state."""
    from app.mirroring.upstream import feed_states

    feeds = feed_states()
    lines = [f"{f['alias']:<28} {f['id']}  {'upstream ' + f['upstream']['url'] if f.get('upstream') else ''}"
             for f in feeds]
    _emit(as_json, {"feeds": feeds}, "\n".join(lines) or "no feeds")


@feed_app.command("rebuild")
def feed_rebuild(name: Annotated[str, typer.Argument(help="Feed alias or id.")], as_json: JsonFlag = False) -> None:
    """Recompute a feed from every stored object after its definition changed."""
    from app.feeds.definitions import FeedError
    from app.feeds.registry import rebuild

    feed_id = _feed_id(name)
    try:
        with write_transaction() as conn:
            count = rebuild(conn, feed_id)
    except FeedError as exc:
        _fail(str(exc))
    _emit(as_json, {"id": feed_id, "objects": count}, f"feed {name} rebuilt: {count} object versions")


@feed_app.command("sync")
def feed_sync(name: Annotated[str | None, typer.Argument(help="Feed alias or id (default: every upstream).")] = None,
              as_json: JsonFlag = False) -> None:
    """Pull new objects from the feeds' upstream TAXII servers now (resumable, incremental)."""
    from app.mirroring.upstream import sync_all

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
