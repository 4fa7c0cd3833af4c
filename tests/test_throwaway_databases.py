"""The test harness's PostgreSQL databases (tests/support/server.py): a migrated database a test has finished
with is emptied and handed to the next test instead of a new copy of the template, and it must then be exactly
what a new copy is, or the tests after it would run on something no deployment starts from."""

import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support.server import (
    TAXII,
    ThrowawayDatabase,
    _create_postgresql_database,
    _drop_postgresql_database,
    _postgresql_url,
    _templates,
    libpq_url,
    running_server,
)
from tests.support.stix import indicator

BASE = os.environ.get("AISX_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not BASE, reason="PostgreSQL only: SQLite databases are new file copies")

_STATE = {
    "schema": "SELECT format('%s %s %s', relname, relkind, pg_relation_size(oid)) FROM pg_class "
              "WHERE relnamespace = 'public'::regnamespace ORDER BY 1",
    "statistics": "SELECT format('%s %s %s %s', relname, relpages, reltuples, relallvisible) FROM pg_class "
                  "WHERE relnamespace = 'public'::regnamespace ORDER BY 1",
    "column statistics": "SELECT starelid::regclass::text FROM pg_statistic s JOIN pg_class c ON c.oid = s.starelid "
                         "WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1",
    "sequences": "SELECT format('%s %s', sequencename, last_value) FROM pg_sequences ORDER BY 1",
    "alembic": "SELECT version_num FROM alembic_version",
}


def _state(url: str) -> dict[str, Any]:
    """What a test could see of a database before its server writes anything: relations and their sizes, the
    planner's statistics, sequences, alembic's revision, and every table's row count."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        state: dict[str, Any] = {name: conn.execute(query).fetchall() for name, query in _STATE.items()}
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        state["rows"] = {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone() for table in tables}
        state["next ids"] = [conn.execute(f"SELECT nextval('{sequence}')").fetchone() for (sequence,) in
                             conn.execute("SELECT sequencename FROM pg_sequences ORDER BY 1").fetchall()]
    return state


def _name(url: str) -> str:
    return str(make_url(url).database)


def _exists(name: str) -> bool:
    with psycopg.connect(libpq_url(BASE), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _superuser() -> bool:
    with psycopg.connect(libpq_url(BASE), autocommit=True) as conn:
        return conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (True,)


def test_a_database_a_server_wrote_to_is_handed_out_again_as_a_new_copy_would_be(tmp_path: Path) -> None:
    if not _superuser():
        pytest.skip("only a superuser can reset the planner's statistics: every database is a new copy")
    (tmp_path / "first").mkdir()
    with running_server(tmp_path / "first") as srv:
        lab = srv.add_participant("lab")
        shared = srv.collection_id("shared")
        posted = lab.client.post(f"collections/{shared}/objects/", json={"objects": [indicator() for _ in range(50)]},
                                 headers={"Content-Type": TAXII})
        assert posted.status_code == 202 and posted.json()["success_count"] == 50
        with psycopg.connect(libpq_url(srv.database.url), autocommit=True) as conn:
            conn.execute("ANALYZE")  # as the statistics job does: column statistics and reltuples set
        open_session = psycopg.connect(libpq_url(srv.database.url))  # left open, as a killed server's would be
        open_session.execute("SELECT 1 FROM participant FOR UPDATE")  # and holding locks
        used = srv.database.url
    (tmp_path / "second").mkdir()
    again = ThrowawayDatabase(tmp_path / "second", migrated=True)
    new_copy = "aisx_t_new_copy_" + os.urandom(4).hex()
    _create_postgresql_database(libpq_url(BASE), new_copy, _templates.postgresql(BASE))
    try:
        assert again.url == used, "the emptied database was not handed out again"
        with pytest.raises(psycopg.OperationalError):
            open_session.execute("SELECT 1")  # ended before the database was emptied
        assert _state(again.url) == _state(_postgresql_url(BASE, new_copy))
    finally:
        open_session.close()
        again.drop()
        _drop_postgresql_database(libpq_url(BASE), new_copy)


def test_a_database_whose_schema_a_test_changed_is_dropped_instead(tmp_path: Path) -> None:
    database = ThrowawayDatabase(tmp_path, migrated=True)
    name = _name(database.url)
    with psycopg.connect(libpq_url(database.url), autocommit=True) as conn:
        conn.execute("ALTER TABLE participant ADD COLUMN left_behind integer")
    database.drop()
    assert not _exists(name)
    nxt = ThrowawayDatabase(tmp_path, migrated=True)
    try:
        assert _name(nxt.url) != name
        with psycopg.connect(libpq_url(nxt.url)) as conn:
            columns = conn.execute("SELECT column_name FROM information_schema.columns "
                                   "WHERE table_name = 'participant'").fetchall()
        assert ("left_behind",) not in columns
    finally:
        nxt.drop()
