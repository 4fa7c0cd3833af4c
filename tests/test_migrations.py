"""Migrations: empty → head on SQLite and PostgreSQL, `aisx db upgrade` idempotent, models == migrations."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlmodel import SQLModel

import app.store.models  # noqa: F401  (registers the tables)
from alembic import command
from app.config import get_settings
from app.store.engine import get_engine
from app.store.migrate import alembic_config, upgrade_to_head
from tests.support.server import ThrowawayDatabase, aisx_environment, run_aisx

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database, and the app's engine pointed at it for the duration of the test."""
    throwaway = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrate.db'}"
    elif not os.environ.get("AISX_TEST_DATABASE_URL"):
        pytest.skip("AISX_TEST_DATABASE_URL is not set")
    else:
        throwaway = ThrowawayDatabase(tmp_path)
        url = throwaway.url
    monkeypatch.setenv("AISX_DATABASE_URL", url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        yield url
    finally:
        get_engine().dispose()
        get_engine.cache_clear()
        get_settings.cache_clear()
        if throwaway is not None:
            throwaway.drop()


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _model_differences(conn: Connection) -> list:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return compare_metadata(context, SQLModel.metadata)


def test_single_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_empty_to_head_matches_the_models(database_url: str) -> None:
    with get_engine().connect() as conn:
        assert _tables(conn) == set()
    upgrade_to_head()
    with get_engine().connect() as conn:
        assert _tables(conn) == set(SQLModel.metadata.tables) | {"alembic_version"}
        assert _revision(conn) == HEAD
        assert _model_differences(conn) == []


def test_down_to_base_and_up_again(database_url: str) -> None:
    upgrade_to_head()
    config = alembic_config()
    with get_engine().connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
        conn.commit()
        assert _tables(conn) == {"alembic_version"}
        assert _revision(conn) is None
    upgrade_to_head()
    with get_engine().connect() as conn:
        assert _revision(conn) == HEAD
        assert _model_differences(conn) == []


def _env(database_url: str) -> dict[str, str]:
    return aisx_environment(AISX_DATABASE_URL=database_url)


def test_cli_db_upgrade_twice_is_idempotent(database_url: str, tmp_path: Path) -> None:
    def db_upgrade() -> None:
        result = run_aisx(["db", "upgrade"], cwd=tmp_path, env=_env(database_url),
                          check=False, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        assert "database at head" in result.stderr

    db_upgrade()
    with get_engine().begin() as conn:
        conn.execute(text("INSERT INTO exchange_meta (key, value) VALUES ('probe', 'kept')"))
        schema = {t: [c["name"] for c in inspect(conn).get_columns(t)] for t in _tables(conn)}
    db_upgrade()
    with get_engine().connect() as conn:
        assert _revision(conn) == HEAD
        assert {t: [c["name"] for c in inspect(conn).get_columns(t)] for t in _tables(conn)} == schema
        assert conn.execute(text("SELECT value FROM exchange_meta WHERE key = 'probe'")).scalar() == "kept"


_RACER = """
import sys, time
from pathlib import Path
from app.store.migrate import upgrade_to_head
Path(sys.argv[1]).touch()
while not Path(sys.argv[2]).exists():
    time.sleep(0.002)
upgrade_to_head()
"""


def test_processes_starting_together_migrate_once(database_url: str, tmp_path: Path) -> None:
    """Hosts that start at the same moment on an empty database all come up (no race to create tables)."""
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, str(tmp_path / f"ready-{n}"), str(go)],
                               cwd=tmp_path, env=_env(database_url), stderr=subprocess.PIPE, text=True)
              for n in range(3)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < len(racers) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    for racer in racers:
        _, stderr = racer.communicate(timeout=120)
        assert racer.returncode == 0, stderr
    with get_engine().connect() as conn:
        assert _revision(conn) == HEAD
        assert _model_differences(conn) == []


def test_0009_chains_existing_audit_records_and_moves_key_use(database_url: str) -> None:
    """Records written before the chain existed are chained in id order by 0009, with their subject; the per-flush
    key.use rows become one key_use row per key and minute; ``aisx audit verify`` accepts the result."""
    config = alembic_config()
    with get_engine().begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0008")
    minute = 1_764_000_000_000_000 // 60_000_000 * 60_000_000
    with get_engine().begin() as conn:
        conn.execute(text("INSERT INTO participant (slug, name, kind, identity_id, pseudonym_identity_id, suspended, "
                          "created_at) VALUES ('lab-m', 'Lab M', 'lab', 'identity--1', 'identity--2', false, 1)"))
        pid = conn.execute(text("SELECT id FROM participant WHERE slug = 'lab-m'")).scalar()
        rows = [(minute, None, None, "participant.add", None, 0, '{"slug":"lab-m","kind":"lab"}'),
                (minute, pid, "k1", "key.use", None, 3, None),  # two flushes in the same minute
                (minute + 1, pid, "k1", "objects.add", "c1", 2, '{"status_id":"s1","failures":0}'),
                (minute, pid, "k1", "key.use", None, 4, None),
                (minute + 2, pid, "k1", "read.amber_red", "c1", 1, None)]
        for at, participant, key, action, collection, count, detail in rows:
            conn.execute(text("INSERT INTO audit_event (at, participant_id, key_id, action, collection_id, "
                              "object_count, detail) VALUES (:a, :p, :k, :x, :c, :n, :d)"),
                         {"a": at, "p": participant, "k": key, "x": action, "c": collection, "n": count, "d": detail})
    upgrade_to_head()
    with get_engine().connect() as conn:
        chained = conn.execute(text("SELECT position, action, subject FROM audit_event ORDER BY position")).all()
        uses = conn.execute(text("SELECT key_id, minute, participant_id, count FROM key_use")).all()
    assert [tuple(r) for r in chained] == [(1, "participant.add", "lab-m"), (2, "objects.add", "lab-m"),
                                           (3, "read.amber_red", None)]
    assert [tuple(r) for r in uses] == [("k1", minute, pid, 7)]
    from app.audit.chain import verify_database

    result = verify_database()
    assert result.ok and result.records == 3, result


def test_0011_lists_the_ids_several_producers_hold(database_url: str) -> None:
    """Copies stored before 0011 are found: an id two producers hold is listed, one producer's versions and the
    exchange's own objects are not."""
    config = alembic_config()
    with get_engine().begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")
    with get_engine().begin() as conn:
        for slug in ("lab-x", "lab-y"):
            conn.execute(text("INSERT INTO participant (slug, name, kind, identity_id, pseudonym_identity_id, "
                              "suspended, created_at) VALUES (:s, :s, 'lab', :i, :p, false, 1)"),
                         {"s": slug, "i": f"identity--{slug}", "p": f"identity--{slug}-p"})
        x, y = (conn.execute(text("SELECT id FROM participant WHERE slug = :s"), {"s": s}).scalar()
                for s in ("lab-x", "lab-y"))
        rows = [("ipv4-addr--both", 0, x), ("ipv4-addr--both", 0, y), ("indicator--one", 1, x),
                ("indicator--one", 2, x), ("marking-definition--tlp", 0, None)]
        for stix_id, version, producer in rows:
            conn.execute(text("INSERT INTO stix_object (stix_id, type, spec_version, version, producer_id, "
                              "content_hash, raw, stored_at, tlp, has_audience, is_latest) VALUES (:i, 'x', '2.1', "
                              ":v, :p, 'h', '{}', 1, 1, false, true)"), {"i": stix_id, "v": version, "p": producer})
    upgrade_to_head()
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT stix_id FROM shared_id")).scalars().all() == ["ipv4-addr--both"]


def test_a_new_sqlite_connection_waits_for_the_lock_it_needs_to_turn_on_wal(tmp_path: Path) -> None:
    """The first connection of a process to a SQLite file that is not in WAL mode yet switches it (``PRAGMA
    journal_mode=WAL``). That needs the file to itself, and SQLite answers "database is locked" at once, without
    its busy timeout, while another process holds a write lock: a racer of
    ``test_processes_starting_together_migrate_once`` failed so, twice in full runs. It now waits for the lock."""
    import sqlite3
    import threading

    from app.store.engine import make_engine

    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of its migration
    holder.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.5, holder.execute, ("COMMIT",))
    release.start()
    try:
        engine = make_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        engine.dispose()
    finally:
        release.join()
        holder.close()
