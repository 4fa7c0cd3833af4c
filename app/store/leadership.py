"""The lock that makes one ``aisx serve`` instance the leader, the one that runs the background jobs
(``app.jobs``).

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) taken on a connection of its own, outside
the pool, held for as long as this instance leads. The lock belongs to the session, so a leader that dies loses
it with its session: a ``kill -9`` closes the socket and PostgreSQL ends the session at once; a host that
vanishes (power, network) is found dead by TCP keepalives, which this connection asks of the server for its
own socket (``tcp_keepalives_*``, about 25 s) and sets on the client side too, with a TCP user timeout, so a
leader cut off from the database notices that its session is gone within the same bound. Who leads is read
from ``pg_locks`` joined to ``pg_stat_activity``: the leader's connection carries its instance name as
``application_name``.

SQLite (one machine, one file): an exclusive ``flock`` on a file beside the database (``aisx.db.leader``),
held on an open descriptor for as long as this process leads. The kernel drops it when the process dies, however
it dies. The holder writes its instance name into the file, so others can say who leads."""

import fcntl
import os
from contextlib import suppress
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

# "AISXJOBS": distinct from the write lock's key (engine._WRITE_LOCK_KEY), which is transaction-scoped.
LEADER_LOCK_KEY = 0x414953584A4F4253
_HIGH, _LOW = LEADER_LOCK_KEY >> 32, LEADER_LOCK_KEY & 0xFFFFFFFF


class LeaderLock:
    """Try, keep and give up the leader lock; ``holder`` says who holds it (any process may ask)."""

    def try_acquire(self) -> bool:
        raise NotImplementedError

    def still_held(self) -> bool:
        """False once the lock may have gone (the session or the file is gone): stop leading."""
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def holder(self) -> str | None:
        raise NotImplementedError


def leader_lock(database_url: str, instance: str) -> LeaderLock:
    if database_url.startswith("sqlite"):
        return FileLeaderLock(_sqlite_path(database_url), instance)
    return PostgresLeaderLock(database_url, instance)


def _sqlite_path(database_url: str) -> Path | None:
    database = make_url(database_url).database
    return Path(database + ".leader") if database and database != ":memory:" else None


class PostgresLeaderLock(LeaderLock):
    def __init__(self, database_url: str, instance: str) -> None:
        # NullPool: the leader's connection is its own, never handed to a request, and closed for good on loss.
        # application_name is at most 63 bytes in PostgreSQL.
        self._engine = create_engine(database_url, poolclass=NullPool, hide_parameters=True, connect_args={
            "application_name": f"aisx-leader {instance}"[:63],
            "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
            "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
            "tcp_user_timeout": 25_000, "connect_timeout": 10,
        }).execution_options(isolation_level="AUTOCOMMIT")
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        conn = self._engine.connect()
        try:
            taken = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}).scalar())
        except Exception:
            conn.close()
            raise
        if taken:
            self._conn = conn
        else:
            conn.close()
        return taken

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))  # the session lives, so its session-level lock does
            return True
        except Exception:
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY})
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.close()

    def holder(self) -> str | None:
        with self._engine.connect() as conn:
            name = conn.execute(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :high AND l.objid = :low "
                "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ), {"high": _HIGH, "low": _LOW}).scalar()
        return None if name is None else str(name).removeprefix("aisx-leader ")


class FileLeaderLock(LeaderLock):
    """``flock`` rather than ``fcntl`` record locks: a flock belongs to the open file description, so a second
    descriptor in the same process (``holder`` asking) conflicts with it as another process's would."""

    def __init__(self, path: Path | None, instance: str) -> None:
        self._path, self._instance = path, instance
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._path is None:  # an in-memory database belongs to one process: it leads
            return True
        handle = self._path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(self._instance + "\n")
        handle.flush()
        self._file = handle
        return True

    def still_held(self) -> bool:
        """False if the file was removed (the lock is then on a file nobody else can see): let go of it, and the
        next try takes a lock on the file at the path again."""
        if self._path is None:
            return True
        if self._file is not None and os.path.exists(self._path):
            return True
        self.release()
        return False

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            with suppress(OSError):
                handle.truncate(0)
                handle.close()

    def holder(self) -> str | None:
        if self._path is None:
            return self._instance
        if self._file is not None:
            return self._instance
        try:
            handle = self._path.open("r")
        except FileNotFoundError:
            return None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:  # held: by the instance named in it
                return handle.read().strip() or "unknown"
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
