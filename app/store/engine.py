"""Database engine, connections and the write transaction.

Writers are serialised (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), and
every write takes its ``date_added`` only once it holds that lock. So date_added order is commit order and an
``added_after`` poller can never miss an object that committed "in the past"."""

import select
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.pool import ConnectionPoolEntry

from app.config import get_settings
from app.observability.metrics import metrics

_WRITE_LOCK_KEY = 0x41495358  # "AISX"


def now_us() -> int:
    """The current time as integer microseconds since the epoch."""
    return time.time_ns() // 1000


def make_engine(url: str, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    # hide_parameters: a database error is logged without its parameters, which may hold what a client sent.
    # jit=off: the visibility predicate's correlated subqueries give the page query a high estimated cost, so
    # PostgreSQL JIT-compiled it on every execution — 330 ms of compilation for a 8 ms query at 1M objects.
    # pool_use_lifo: a checkout takes the connection returned last, not the one idle longest, so the statements of a
    # lightly loaded worker run on as few connections as possible, where their prepared statements (see below) and
    # the backend's caches are warm; the connections left idle can be closed by the server's idle timeouts
    # (``_refuse_ended_connection`` replaces them). Busy, every connection is used either way. test_noninterference
    # alone on PostgreSQL, 2 alternating rounds: PostgreSQL's CPU 18.6-20.3 s against 22.2-23.1 s; the test suite's
    # PostgreSQL pass, 2 alternating rounds: 205.4 and 225.4 s against 230.9 and 244.2 s, PostgreSQL's CPU 87.4-94.2
    # s against 101.8-107.9 s (the young servers of the tests).
    #
    # Generic plans: psycopg prepares every statement at its first execution on a connection (prepare_threshold=0;
    # by default only at the fifth) and PostgreSQL plans a prepared statement once, for any parameters
    # (plan_cache_mode=force_generic_plan; by default it plans the first five executions for their parameters, then
    # compares). The statements are a fixed set built once per shape (the visibility clause per reader, see
    # ``app.store.objects._page_statement``), and the values seldom change the best plan (an id, a collection, a
    # cursor position, a page size): planning was 45% of PostgreSQL's CPU (perf over tests/test_sharing_matrix.py:
    # planner 4.1% of the machine's samples, PostgreSQL 10%). Six of the heaviest test modules on PostgreSQL, 2
    # alternating rounds: PostgreSQL's CPU 16.4-18.2 s against 24.6-25.6 s. ``python -m bench.run --sizes 1000000
    # --databases postgres``, one after the other on the 2-core machine (bench/NOTES.md): GET p50 3.55 -> 2.46 ms,
    # p99 9.15 -> 3.38 ms, page of 1000 p50 26.4 -> 24.6 ms, match[id] 7.4 -> 2.6 ms, full sync as the agency 30,196
    # -> 40,239 objects/s; ingest 3,220 -> 3,076 objects/s (envelopes of 1,000).
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_use_lifo=True,
                           hide_parameters=True, connect_args={
                               "options": "-c jit=off -c plan_cache_mode=force_generic_plan",
                               "prepare_threshold": 0})
    event.listen(engine, "checkout", _refuse_ended_connection)
    return engine


def _refuse_ended_connection(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    """A pooled connection the server ended while it sat idle (PostgreSQL restarted, an idle timeout, an operator's
    pg_terminate_backend) is replaced before it is used: the pool discards it and checks out another when this
    raises DisconnectionError (SQLAlchemy's custom pessimistic disconnect handling).

    An idle connection has nothing to read unless the server wrote to it, and a server that ends a session writes
    its last message and closes the socket: a zero-timeout poll of the socket tells, without a round trip. This
    replaced ``pool_pre_ping``, which sent ``SELECT 1`` at every checkout, two to four per request: 100 us of the
    server's CPU per checkout against 23 us without it (3,000 checkouts on the 2-core machine), plus the round trip
    and PostgreSQL's work. tests/test_database_connections.py ends every session of a running server and expects
    no request to fail."""
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise exc.DisconnectionError("the database ended this connection while it was idle")


def _turn_on_wal(cursor: sqlite3.Cursor, patience: float = 60) -> None:
    """``PRAGMA journal_mode=WAL``, waiting up to ``patience`` seconds for the lock it needs. Switching a file that
    is not in WAL mode yet needs the file to itself, and SQLite answers "database is locked" at once, without the
    busy timeout, while another process holds a write lock: processes starting together on a new file (one of them
    migrating it) failed so. Once the file is in WAL mode the pragma needs no lock."""
    deadline = time.monotonic() + patience
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        _turn_on_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        # SQLite's default page cache is 2 MB: at a million objects every page read and index update would go
        # to the OS. 16 MB of cache per connection and a 128 MB memory map keep the hot index pages in memory. (The
        # mapped pages count in the process's resident memory: 256 MB put a 1M-object server at 305 MB.)
        cursor.execute("PRAGMA cache_size=-16384")
        cursor.execute("PRAGMA mmap_size=134217728")
        # Checkpoint the WAL every 20,000 pages (80 MB) instead of every 1,000: index pages that many commits
        # touch are written back once, not once per commit (validated ingest at 1M objects: +17%). The WAL file
        # is truncated back to 100 MB after a checkpoint that let it grow beyond.
        cursor.execute("PRAGMA wal_autocheckpoint=20000")
        cursor.execute("PRAGMA journal_size_limit=104857600")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("aisx_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    engine = make_engine(settings.database_url, settings.db_pool_size)
    _watch_pool(engine)
    return engine


def _watch_pool(engine: Engine) -> None:
    """Keep the pool gauges of this process current: its size once, and one more connection in use at each
    checkout, one less at each checkin (SQLAlchemy dispatches a checkin for every connection that was checked
    out, an invalidated one too)."""
    pool = engine.pool
    size = getattr(pool, "size", None)
    metrics().pool_size.set(size() if callable(size) else 0)
    event.listen(pool, "checkout", lambda *_: metrics().pool_checked_out.inc())
    event.listen(pool, "checkin", lambda *_: metrics().pool_checked_out.dec())


def _read_engine() -> Engine:
    """The engine for reads. On SQLite a read transaction is one snapshot for all its statements. PostgreSQL
    gives each statement its own snapshot under READ COMMITTED anyway, so its reads run in autocommit: a
    BEGIN and a COMMIT round trip less on every read."""
    engine = get_engine()
    return engine if engine.dialect.name == "sqlite" else _autocommit(engine)


@lru_cache(maxsize=4)
def _autocommit(engine: Engine) -> Engine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def read_connection() -> Iterator[Connection]:
    """A connection for reading (on SQLite, in one read transaction, so a page is one consistent snapshot)."""
    with _read_engine().connect() as conn, conn.begin():
        yield conn


@contextmanager
def short_transaction() -> Iterator[Connection]:
    """A plain transaction for bookkeeping that orders nothing against the objects (the rate-limit counters):
    on PostgreSQL without the exchange-wide write lock, so it never waits behind an ingest or makes one wait
    (the flushers of every worker took that lock once a second); on SQLite ``BEGIN IMMEDIATE`` still, which is
    how SQLite has one writer without deadlocks between readers that upgrade."""
    with get_engine().connect() as raw:
        conn = raw.execution_options(aisx_write=True)
        with conn.begin():
            yield conn


@contextmanager
def write_transaction() -> Iterator[Connection]:
    """A transaction holding the exchange-wide write lock; commits on success, rolls back on error."""
    with short_transaction() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK_KEY})
        yield conn


def stored_versions() -> int:
    """How many object versions were ever stored (the highest ``stix_object.seq``: one index seek), the
    planner-statistics job's measure of growth."""
    with get_engine().connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(seq), 0) FROM stix_object")).scalar() or 0)


def refresh_statistics() -> None:
    """ANALYZE the tables the read queries plan over (sampled on SQLite: fast at any size, enough for the
    planner to pick the selective index)."""
    engine = get_engine()
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE stix_object, membership, object_audience, object_term"))
        else:
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            conn.exec_driver_sql("ANALYZE")
        conn.commit()
