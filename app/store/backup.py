"""A consistent copy of the exchange's database while servers keep serving it (``aisx db backup``).

SQLite: the online backup API (``sqlite3.Connection.backup``) into a new file beside the target, renamed into
place once complete and checked (``PRAGMA quick_check``). The copy is taken in ONE step, i.e. inside one read
transaction: SQLite restarts a stepwise backup whenever another connection writes to the source, so under a
steady ingest a backup in steps of N pages might never finish, while in WAL mode one long read blocks no writer
(it only holds the WAL back from being checkpointed past it until it ends). The copy is the database as of the
moment that read began: every write committed before it, none after.

PostgreSQL: ``pg_dump --format=custom`` (one snapshot: consistent while the servers write), restored with
``createdb`` and ``pg_restore`` (docs/deployment.md, "Backups"). ``aisx db backup`` runs pg_dump itself when it is
on the PATH and otherwise refuses, naming the command to run. The password, if the URL has one, goes to pg_dump
in its environment (PGPASSWORD), never on its command line, where any local user could read it."""

import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from app.errors import Refused


@dataclass(frozen=True)
class Backup:
    path: Path
    database: str  # sqlite or postgresql
    bytes: int
    seconds: float


def libpq_url(database_url: str) -> tuple[str, str | None]:
    """The libpq URL of a SQLAlchemy PostgreSQL URL (no driver, no password) and the password apart."""
    url = make_url(database_url)
    return (url.set(drivername="postgresql", password=None).render_as_string(hide_password=False),
            url.password if url.password is None else str(url.password))


def pg_dump_command(database_url: str, target: Path) -> list[str]:
    return ["pg_dump", "--format=custom", f"--file={target}", f"--dbname={libpq_url(database_url)[0]}"]


def backup(database_url: str, target: Path, progress: Callable[[str], None]) -> Backup:
    if target.exists():
        raise Refused(f"{target} exists: a backup is written to a new file only")
    if not target.parent.is_dir():
        raise Refused(f"{target.parent} is not a directory")
    started = time.monotonic()
    if database_url.startswith("sqlite"):
        _sqlite(database_url, target, progress)
        kind = "sqlite"
    else:
        _postgresql(database_url, target, progress)
        kind = "postgresql"
    return Backup(target, kind, target.stat().st_size, time.monotonic() - started)


def _sqlite(database_url: str, target: Path, progress: Callable[[str], None]) -> None:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise Refused("an in-memory database has nothing to back up")
    if not Path(database).is_file():
        raise Refused(f"no database file at {database}")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(database, timeout=60)
    try:
        pages, page_size = (source.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "page_size"))
        progress(f"copying {pages} pages ({pages * page_size / 1e6:.1f} MB) from {database}")
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy, pages=-1)  # one step, one snapshot: see the module docstring
            check = copy.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            copy.close()
    finally:
        source.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise Refused(f"the copy failed its integrity check: {check}")
    partial.rename(target)


def _postgresql(database_url: str, target: Path, progress: Callable[[str], None]) -> None:
    command = pg_dump_command(database_url, target)
    if shutil.which("pg_dump") is None:
        raise Refused("pg_dump is not on the PATH: install the PostgreSQL client (the server's major version or "
                      f"newer) and run: pg_dump --format=custom --file={target} --dbname=<database URL> "
                      "(see docs/deployment.md, Backups)")
    url, password = libpq_url(database_url)
    progress(f"running pg_dump --format=custom on {make_url(url).render_as_string(hide_password=True)}")
    env = {**os.environ, **({"PGPASSWORD": password} if password else {})}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        raise Refused(f"pg_dump failed (exit {done.returncode}): {done.stderr.strip()}")
