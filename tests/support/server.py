"""A real ``aisx serve`` on a loopback port, on SQLite or on a throwaway PostgreSQL database."""

import atexit
import functools
import itertools
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

TAXII = "application/taxii+json;version=2.1"
# httpx makes a TLS context (certifi's CA bundle loaded) for every client and every ``httpx.get`` it is not given
# one for: 20 ms of CPU each, measured with ``time.process_time()`` around ``httpx.Client()``, and the suite makes
# thousands of them, nearly all for plain-HTTP loopback servers. Every test client is given this one instead.
TLS = ssl.create_default_context()
AISX = [sys.executable, "-m", "app.cli"]

# Put first on the PYTHONPATH of every server and CLI run: see production_imports/rfc3987_syntax.py.
PRODUCTION_IMPORTS = Path(__file__).resolve().parent / "production_imports"
REPO = Path(__file__).resolve().parents[2]

# Ports for servers that must be told their port before they start (medallion writes its own URL into its
# discovery document): below the kernel's ephemeral range (32768-60999 on Linux), so neither a bind to port 0
# nor an outgoing connection can take one, and a slice of its own for each pytest-xdist worker.
_PORTS_PER_WORKER = 400
_next_port = itertools.count()


def free_port() -> int:
    """A free loopback port no other test process will pick. ``aisx serve`` needs none: see ``Server.port``."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    base = 20000 + (worker % 30) * _PORTS_PER_WORKER
    for _ in range(_PORTS_PER_WORKER):
        port = base + next(_next_port) % _PORTS_PER_WORKER
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {base}-{base + _PORTS_PER_WORKER - 1}")


def listening_port(log: str) -> int | None:
    """The port of uvicorn's "Uvicorn running on http://127.0.0.1:PORT" line in a server log, if it is there."""
    listening = re.search(r"Uvicorn running on \S+://[^\s:]+:(\d+)", log)
    return int(listening.group(1)) if listening else None


def aisx_environment(**settings: str) -> dict[str, str]:
    """This test process's environment without its own AISX_* variables, plus ``settings``, as
    ``for_aisx_process`` gives it: what an ``aisx`` process a test starts is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISX_")}
    return for_aisx_process({**env, **settings})


def for_aisx_process(env: dict[str, str]) -> dict[str, str]:
    """``env`` with PRODUCTION_IMPORTS first on PYTHONPATH (after nothing, or before what is there) and TMPDIR set
    to ``children_tempdir()``."""
    rest = env.get("PYTHONPATH")
    return {**env, "PYTHONPATH": f"{PRODUCTION_IMPORTS}{os.pathsep}{rest}" if rest else str(PRODUCTION_IMPORTS),
            "TMPDIR": str(children_tempdir())}


@functools.cache
def children_tempdir() -> Path:
    """The temporary directory of every process this test process starts, removed when it exits.

    A server makes a temporary directory for its metrics (``aisx-metrics-*``) and removes it when it stops, but the
    servers the tests kill with SIGKILL (crash, leadership and backup tests) cannot: about 22 such directories were
    left in /tmp by every database pass. Under this directory they go when the test process does."""
    path = Path(tempfile.mkdtemp(prefix="aisx-tests-"))
    atexit.register(shutil.rmtree, path, True)
    return path


class Launched:
    """A process the launcher (tests/support/launcher.py) forked, with the part of ``subprocess.Popen`` the tests
    use: its pid, its exit status once it ended (negative: the signal that ended it), waiting, signals."""

    def __init__(self, args: list[str], pid: int, status: Path) -> None:
        self.args, self.pid, self._status = args, pid, status
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self._status.exists():
            self.returncode = int(self._status.read_text())
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.005)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Launcher:
    """This test process's launcher, started on first use and ended at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._statuses: Path | None = None  # made at the first start, removed at exit
        self._count = itertools.count()

    def _started(self) -> tuple[subprocess.Popen, Path]:
        if self._statuses is None:
            self._statuses = Path(tempfile.mkdtemp(prefix="aisx-launched-"))
            atexit.register(self._end)
        if self._process is None or self._process.poll() is not None:
            env = aisx_environment()
            env["PYTHONPATH"] += os.pathsep + str(REPO)
            self._process = subprocess.Popen(  # stderr not a terminal, as for the processes it replaces
                [sys.executable, "-m", "tests.support.launcher"], cwd=REPO, env=env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=(self._statuses / "launcher.log").open("ab"), text=True)
        return self._process, self._statuses

    def _end(self) -> None:
        """At exit: the launcher ends at the end of its input; its status files go with it."""
        if self._process is not None and self._process.stdin is not None:
            with suppress(OSError):
                self._process.stdin.close()
            with suppress(subprocess.TimeoutExpired):
                self._process.wait(10)
        if self._statuses is not None:
            shutil.rmtree(self._statuses, ignore_errors=True)

    def launch(self, args: list[str], *, cwd: Path, env: dict[str, str], stdout: Path, stderr: Path,
               new_session: bool = False) -> Launched:
        with self._lock:
            process, statuses = self._started()
            status = statuses / f"{next(self._count)}.status"
            request = {"argv": args, "cwd": str(cwd), "env": env, "stdin": os.devnull, "stdout": str(stdout),
                       "stderr": str(stderr), "new_session": new_session, "status": str(status)}
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(orjson.dumps(request).decode() + "\n")
            process.stdin.flush()
            pid = process.stdout.readline()
        if not pid:
            raise RuntimeError(f"the launcher exited: {(statuses / 'launcher.log').read_text()}")
        return Launched([*AISX, *args], int(pid), status)


_launcher = _Launcher()
_LAUNCHER_ON = os.environ.get("AISX_TEST_NO_LAUNCHER", "") in ("", "0")


def launchable(env: dict[str, str]) -> bool:
    """Whether a process with this environment can be forked from the launcher: not when AISX_TEST_NO_LAUNCHER is
    set, nor when the test put something of its own on PYTHONPATH (a built wheel, another checkout), whose code
    the launcher has not imported."""
    return _LAUNCHER_ON and env.get("PYTHONPATH") == str(PRODUCTION_IMPORTS)


class _SchemaTemplates:
    """A database at the schema's head, made once per test process and backend by the real migrations
    (``app.store.migrate.upgrade_to_head``), that each ``ThrowawayDatabase(migrated=True)`` starts as a copy of.

    Every server a test starts used to migrate a new database itself: 56 ms of CPU in the server and 96 ms in
    PostgreSQL's backend per database (measured over 5 fresh databases each), for the same tables every time, a
    few hundred times a run. A copy costs a file copy on SQLite, and on PostgreSQL a ``CREATE DATABASE ... TEMPLATE``
    instead of one from ``template1``. Only the schema is copied: each server still makes its own API root,
    collections, exchange key and operator at start, as on a database migrated by ``aisx db upgrade``'s first step.
    The migrations themselves, and what a server does on a database nobody migrated, are tested in
    tests/test_migrations.py and tests/test_collection_lifecycle.py on databases made without a template."""

    def __init__(self) -> None:
        self._sqlite: Path | None = None
        self._postgresql: dict[str, str] = {}  # AISX_TEST_DATABASE_URL -> template database name
        self._lock = threading.Lock()

    def sqlite(self) -> Path:
        with self._lock:
            if self._sqlite is None:
                path = Path(tempfile.mkdtemp(prefix="aisx-schema-")) / "aisx.db"
                _migrate(f"sqlite:///{path}")
                with closing(sqlite3.connect(path)) as conn:  # fold the WAL into the file: one file to copy
                    conn.execute("PRAGMA journal_mode=DELETE")
                atexit.register(shutil.rmtree, path.parent, True)
                self._sqlite = path
            return self._sqlite

    def postgresql(self, base: str) -> str:
        """The template database's name on the server of ``base`` (AISX_TEST_DATABASE_URL)."""
        with self._lock:
            if base not in self._postgresql:
                name, admin_url = f"aisx_t_schema_{uuid.uuid4().hex[:12]}", libpq_url(base)
                _create_postgresql_database(admin_url, name)
                atexit.register(_drop_postgresql_database, admin_url, name)
                _migrate(_postgresql_url(base, name))
                self._postgresql[base] = name
            return self._postgresql[base]


def _migrate(url: str) -> None:
    """The migrations to head, as ``upgrade_to_head`` runs them (Alembic's upgrade on a connection handed in), in
    this process on an engine of its own: no setting is read and no engine of the application is cached here. A new
    Python per template (``python -c 'upgrade_to_head()'``) spent most of its time importing: 1.5-2 s of CPU, eight
    times a run."""
    from alembic import command
    from app.store.engine import make_engine
    from app.store.migrate import alembic_config

    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def libpq_url(url: str) -> str:
    """``url`` (a SQLAlchemy URL of a PostgreSQL database) as a plain libpq URL, for psycopg's own connections."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _postgresql_url(base: str, name: str) -> str:
    """``base`` with database ``name``."""
    from sqlalchemy.engine import make_url

    return make_url(base).set(database=name).render_as_string(hide_password=False)


def _create_postgresql_database(admin_url: str, name: str, template: str | None = None) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def _drop_postgresql_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_templates = _SchemaTemplates()


# The schema of a database, as text: every relation, column, index, constraint, trigger, function, type, schema and
# extension outside PostgreSQL's own, with alembic's revision. Two databases with the same text have the same schema.
_SCHEMA_TEXT = """
SELECT string_agg(item, E'\n' ORDER BY item) FROM (
  SELECT format('relation %s %s %s', n.nspname, c.relname, c.relkind) AS item
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'
  UNION ALL
  SELECT format('column %s %s %s %s %s', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod),
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  UNION ALL
  SELECT format('trigger %s', pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT format('function %s %s', p.oid::regprocedure, md5(p.prosrc))
    FROM pg_proc p WHERE p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  UNION ALL
  SELECT format('type %s', t.oid::regtype) FROM pg_type t
   WHERE t.typnamespace <> ALL(ARRAY['pg_catalog', 'information_schema', 'pg_toast']::regnamespace[])
  UNION ALL
  SELECT format('schema %s', nspname) FROM pg_namespace
  UNION ALL
  SELECT format('extension %s %s', extname, extversion) FROM pg_extension
  UNION ALL
  SELECT format('alembic %s', version_num) FROM alembic_version
) items
"""


# The planner's statistics of every relation outside PostgreSQL's own catalogs (toast tables aside: their names
# hold oids, and nothing plans over them).
_RELATION_STATISTICS = """
SELECT n.nspname, c.relname, c.relpages, c.reltuples, c.relallvisible
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'
"""


@dataclass(frozen=True)
class _Template:
    """What an emptied database must match: the template's schema, as ``_SCHEMA_TEXT``, and the planner's
    statistics of its relations, as ``_RELATION_STATISTICS``."""

    schema_text: str
    statistics: list[tuple[str, str, int, float, int]]


class _UsedDatabases:
    """The migrated PostgreSQL databases this test process has finished with, emptied again for the next
    ``ThrowawayDatabase(migrated=True)``.

    A copy of the template (``CREATE DATABASE ... TEMPLATE``) costs PostgreSQL 300 ms of CPU: all 7.5 MB of the
    database, system catalogs included, go through its buffers and into the WAL. Emptying a used one costs about
    5 ms per table the test wrote to (``TRUNCATE`` gives a table new files), and a server started on an emptied
    database with one participant and five reads cost 150-190 ms of PostgreSQL's CPU against 330-460 ms on a new
    copy, and 610-680 ms of wall time against 790-930 ms (10 servers, 2 alternating rounds of each).

    An emptied database is what a new copy of the template is (tests/test_throwaway_databases.py compares them):
    no session left on it, the same schema (checked: a database whose ``_SCHEMA_TEXT`` differs from the
    template's is dropped instead), no rows but alembic's, its sequences at their start, and the planner's
    statistics the template's (TRUNCATE keeps what ANALYZE learnt of the columns, and leaves a truncated table's
    indexes with statistics a new index does not have)."""

    def __init__(self) -> None:
        self._free: dict[str, list[str]] = {}  # AISX_TEST_DATABASE_URL -> emptied databases
        self._templates: dict[str, _Template] = {}  # AISX_TEST_DATABASE_URL -> its template's facts
        self._lock = threading.Lock()
        atexit.register(self._drop_all)

    def take(self, base: str) -> str | None:
        with self._lock:
            free = self._free.get(base)
            return free.pop() if free else None

    def give_back(self, base: str, name: str) -> None:
        """Empty ``name`` and keep it for the next test, or drop it if it cannot be made new again."""
        import psycopg

        admin_url = libpq_url(base)
        try:
            emptied = _end_sessions(admin_url, name) and self._emptied(base, name)
        except psycopg.errors.InsufficientPrivilege:  # resetting statistics takes a superuser
            emptied = False
        if not emptied:
            _drop_postgresql_database(admin_url, name)
            return
        with self._lock:
            self._free.setdefault(base, []).append(name)

    def _emptied(self, base: str, name: str) -> bool:
        import psycopg

        template = self._template(base)
        with psycopg.connect(libpq_url(_postgresql_url(base, name)), autocommit=True) as conn:
            if conn.execute(_SCHEMA_TEXT).fetchone() != (template.schema_text,):
                return False
            written = [row[0] for row in conn.execute(  # a table never written to has no pages
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE tablename <> 'alembic_version' "
                "AND schemaname NOT IN ('pg_catalog', 'information_schema') "
                "AND pg_relation_size(format('%I.%I', schemaname, tablename)) > 0")]
            drawn = [row[0] for row in conn.execute(
                "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences WHERE last_value IS NOT NULL")]
            with conn.transaction():
                if written:
                    conn.execute(f"TRUNCATE {', '.join(written)} CASCADE")
                for sequence in drawn:
                    conn.execute(f"ALTER SEQUENCE {sequence} RESTART")
                conn.execute("DELETE FROM pg_statistic WHERE starelid IN (SELECT oid FROM pg_class "
                             "WHERE relnamespace <> ALL(ARRAY['pg_catalog', 'information_schema', 'pg_toast']"
                             "::regnamespace[]))")
                columns = list(zip(*template.statistics, strict=True))
                conn.execute(
                    "UPDATE pg_class c SET relpages = t.pages, reltuples = t.tuples, relallvisible = t.visible "
                    "FROM unnest(%s::text[], %s::text[], %s::int[], %s::real[], %s::int[]) "
                    "AS t(nsp, rel, pages, tuples, visible) "
                    "WHERE c.relnamespace = t.nsp::regnamespace AND c.relname = t.rel "
                    "AND (c.relpages, c.reltuples, c.relallvisible) IS DISTINCT FROM (t.pages, t.tuples, t.visible)",
                    [list(column) for column in columns])
        return True

    def _template(self, base: str) -> _Template:
        import psycopg

        with self._lock:
            if base not in self._templates:
                template = _postgresql_url(base, _templates.postgresql(base))
                with psycopg.connect(libpq_url(template), autocommit=True) as conn:
                    row = conn.execute(_SCHEMA_TEXT).fetchone()
                    statistics = conn.execute(_RELATION_STATISTICS).fetchall()
                self._templates[base] = _Template(row[0] if row else "", statistics)
            return self._templates[base]

    def _drop_all(self) -> None:
        for base, names in self._free.items():
            for name in names:
                _drop_postgresql_database(libpq_url(base), name)


def _end_sessions(admin_url: str, name: str, patience: float = 10) -> bool:
    """Whether every session on database ``name`` ended within ``patience`` seconds of being told to."""
    import psycopg

    deadline = time.monotonic() + patience
    with psycopg.connect(admin_url, autocommit=True) as conn:
        while True:
            left = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()
            if left == (0,):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)


_used_databases = _UsedDatabases()


@dataclass
class ThrowawayDatabase:
    """A SQLite file in ``workdir``, or a PostgreSQL database of its own when AISX_TEST_DATABASE_URL is set: empty,
    or with ``migrated``, a copy of one at the schema's head (``_SchemaTemplates``; on PostgreSQL, an emptied one
    another test of this process has finished with when there is one, ``_UsedDatabases``)."""

    workdir: Path
    migrated: bool = False
    url: str = ""
    _pg_base: str | None = None  # AISX_TEST_DATABASE_URL
    _pg_name: str | None = None

    def __post_init__(self) -> None:
        base = os.environ.get("AISX_TEST_DATABASE_URL")
        if not base:
            path = self.workdir / "aisx.db"
            if self.migrated:
                self.workdir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(_templates.sqlite(), path)
            self.url = f"sqlite:///{path}"
            return
        self._pg_base = base
        self._pg_name = _used_databases.take(base) if self.migrated else None
        if self._pg_name is None:
            self._pg_name = f"aisx_t_{uuid.uuid4().hex[:12]}"
            template = _templates.postgresql(base) if self.migrated else None
            _create_postgresql_database(libpq_url(base), self._pg_name, template)
        self.url = _postgresql_url(base, self._pg_name)

    def drop(self) -> None:
        """Drop the database, or, when it was made ``migrated``, empty it for the next test (``_UsedDatabases``).
        A second call does nothing."""
        name, self._pg_name = self._pg_name, None
        if name is None or self._pg_base is None:
            return
        if self.migrated:
            _used_databases.give_back(self._pg_base, name)
        else:
            _drop_postgresql_database(libpq_url(self._pg_base), name)


def start_aisx(args: list[str], *, cwd: Path, env: dict[str, str], log: Path,
               new_session: bool = False) -> subprocess.Popen | Launched:
    """``aisx ARGS...`` started in the background, its output and errors appended to ``log``: forked from the
    launcher where it can be (``launchable``), else ``subprocess.Popen``. A ``--workers N`` server's supervisor is
    forked too; uvicorn spawns its workers as new interpreters, as it does in production."""
    with log.open("ab") as out:  # there before this returns, whichever way the process starts
        if launchable(env):
            return _launcher.launch(args, cwd=cwd, env=env, stdout=log, stderr=log, new_session=new_session)
        return subprocess.Popen([*AISX, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=new_session)


def run_aisx(args: list[str], *, cwd: Path, env: dict[str, str], check: bool = True,
             timeout: float = 300) -> subprocess.CompletedProcess:
    """Like ``subprocess.run([*AISX, *args], capture_output=True, text=True)``, forked from the launcher where it
    can be (``launchable``)."""
    if not launchable(env):
        return subprocess.run([*AISX, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                              check=check)
    with tempfile.TemporaryDirectory(prefix="aisx-cli-") as streams:
        out, err = Path(streams) / "stdout", Path(streams) / "stderr"
        process = _launcher.launch(args, cwd=cwd, env=env, stdout=out, stderr=err)
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        result = subprocess.CompletedProcess([*AISX, *args], returncode, out.read_text(errors="replace"),
                                             err.read_text(errors="replace"))
    if check:
        result.check_returncode()
    return result


@dataclass
class Participant:
    slug: str
    id: int
    identity_id: str
    pseudonym_identity_id: str
    key_id: str
    secret: str
    client: httpx.Client

    @property
    def basic_auth(self) -> tuple[str, str]:
        return (self.key_id, self.secret)


@dataclass
class Server:
    """``aisx serve`` as a subprocess. Started with port 0, it binds a port the kernel picks and
    ``start`` reads which one from its log, so parallel test processes never race for a port; a restart of the
    same Server binds that port again, so clients made before it keep working."""

    workdir: Path
    port: int  # 0: let the kernel pick (see the docstring)
    database: ThrowawayDatabase
    workers: int = 1
    settings: dict[str, str] = field(default_factory=dict)  # extra AISX_* settings for this server
    own_process_group: bool = False  # started in a session of its own, so a test can kill -9 its whole group
    process: subprocess.Popen | Launched | None = None
    admin_secret: str = ""
    admin_key_id: str = ""
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "server.log"

    @property
    def env(self) -> dict[str, str]:
        return aisx_environment(AISX_DATABASE_URL=self.database.url, AISX_FEEDS_DIR=str(self.workdir / "feeds"),
                                AISX_HOST="127.0.0.1", AISX_PORT=str(self.port), **self.settings)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def root_url(self) -> str:
        return f"{self.base_url}/taxii2/exchange/"

    def start(self) -> "Server":
        if "AISX_FEEDS_DIR" in self.env:  # a server without it reads the working directory's or the packaged feeds
            Path(self.env["AISX_FEEDS_DIR"]).mkdir(exist_ok=True)
        args = ["serve", "--workers", str(self.workers)]
        offset = self.log_end()
        self.process = start_aisx(args, cwd=self.workdir, env=self.env, log=self.log_path,
                                  new_session=self.own_process_group)
        self.port = self._wait_until_serving(offset)
        match = re.search(r"key id: (\S+)\s+secret: (\S+)", self.log_path.read_text())
        if match and not self.admin_secret:
            self.admin_key_id, self.admin_secret = match.groups()
        return self

    def log_end(self) -> int:
        """Where the log ends now (0 before the first start): what a start after this call writes comes after it."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def _wait_until_serving(self, offset: int) -> int:
        """The port, once uvicorn said it listens on it and /healthz answers 200."""
        assert self.process is not None
        port = self.port
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"aisx serve exited: {self.log_path.read_text()}")
            if not port:
                port = listening_port(self.log_since(offset)) or 0
            if port:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, verify=TLS).status_code == 200:
                        return port
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"aisx serve did not answer: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """``aisx ARGS...`` run in this server's directory and environment, its output captured."""
        return run_aisx(list(args), cwd=self.workdir, env=self.env, check=check)

    def cli_json(self, *args: str) -> dict[str, Any]:
        result = self.cli(*args, "--json")
        return orjson.loads(result.stdout)

    def client(self, secret: str | None = None, *, headers: dict[str, str] | None = None,
               **kwargs: Any) -> httpx.Client:
        headers = {"Accept": TAXII, **(headers or {})}
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        return httpx.Client(verify=TLS, base_url=self.root_url, headers=headers, timeout=60, **kwargs)

    def admin_client(self) -> httpx.Client:
        """A client of the admin API (``/admin/...``) with the operator key."""
        return httpx.Client(verify=TLS,
                            base_url=self.base_url, headers={"Authorization": f"Bearer {self.admin_secret}"},
                            timeout=60)

    def add_participant(self, slug: str, kind: str = "lab", groups: tuple[str, ...] = (), *,
                        identity_id: str | None = None, key_label: str | None = None) -> Participant:
        """A participant with one API key, made through the admin API with the operator key (two ``aisx``
        runs, participant add and key issue, cost about 2.5 s of CPU; these two requests a few milliseconds)."""
        body: dict[str, Any] = {"slug": slug, "name": slug.title(), "kind": kind, "groups": list(groups)}
        if identity_id:
            body["identity_id"] = identity_id
        with self.admin_client() as admin:
            made = admin.post("/admin/participants", json=body)
            assert made.status_code == 201, made.text
            key = admin.post(f"/admin/participants/{slug}/keys", json={"label": key_label})
            assert key.status_code == 201, key.text
        info, secret = made.json(), key.json()["secret"]
        return Participant(slug, info["id"], info["identity_id"], info["pseudonym_identity_id"],
                           key.json()["key_id"], secret, self.client(secret))


    def collection_id(self, alias: str) -> str:
        """The id of the collection ``alias`` of the default API root, as the operator lists it."""
        with self.client(self.admin_secret) as client:
            collections = client.get("collections/").json()["collections"]
        return next(c["id"] for c in collections if c.get("alias") == alias)

    def add_collection(self, alias: str, title: str, **options: Any) -> dict[str, Any]:
        """A collection made through the admin API (``POST /admin/collections``); ``options`` are its other body
        properties (description, api_root, public, default_group, lenient). Answers like
        ``aisx collection add --json``."""
        with self.admin_client() as admin:
            made = admin.post("/admin/collections", json={"alias": alias, "title": title, **options})
        assert made.status_code == 201, made.text
        return made.json()

    def grant(self, subject: str, collection: str, *, read: bool = False, write: bool = False) -> dict[str, Any]:
        """``subject``'s access to ``collection`` (id or alias) set through the admin API, like ``aisx grant``."""
        with self.admin_client() as admin:
            done = admin.post(f"/admin/collections/{collection}/grants",
                              json={"subject": subject, "read": read, "write": write})
        assert done.status_code == 200, done.text
        return done.json()

@contextmanager
def running_server(workdir: Path, *, workers: int = 1, settings: dict[str, str] | None = None,
                   kind: type[Server] = Server, before_start: Callable[[Server], None] | None = None,
                   ) -> Iterator[Server]:
    """A started ``aisx serve`` of its own on a throwaway database, stopped and dropped afterwards;
    ``before_start`` prepares its working directory (feed files)."""
    database = ThrowawayDatabase(workdir, migrated=True)
    srv = kind(workdir, 0, database, workers=workers, settings=settings or {})
    try:
        if before_start is not None:
            before_start(srv)
        yield srv.start()
    finally:
        srv.stop()
        database.drop()
