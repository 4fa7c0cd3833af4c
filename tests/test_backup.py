"""Backups while the server runs (issue 16, item 13): a thread posts small envelopes to a real server through
HTTP without pause while the backup is made; the backup is restored into a fresh directory (SQLite: the backup
file becomes the database) or a fresh database (PostgreSQL: createdb and pg_restore), a new server is started
on it, and every object whose POST had completed (202, status complete) before the backup began is there, with
its status resource.

SQLite: ``aisx db backup`` (the online backup API). PostgreSQL: the very commands docs/deployment.md gives
(``pg_dump -Fc``, ``createdb``, ``pg_restore``), run by a shell with the placeholders of the docs set; a second
test checks that ``aisx db backup`` runs pg_dump itself and that its dump restores with the same commands."""

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from sqlalchemy.engine import make_url

from tests.sharing_helpers import admit, collection, sdo
from tests.support.server import TAXII, Participant, Server, libpq_url, run_aisx, running_server

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "deployment.md"
ON_POSTGRESQL = bool(os.environ.get("AISX_TEST_DATABASE_URL"))
PG_TOOLS = ("pg_dump", "pg_restore", "createdb")

# The backup and restore commands of docs/deployment.md ("Backups"), verbatim: the test fails if the docs change
# them and not this, and runs exactly these.
PG_DUMP = 'pg_dump -Fc -f "$BACKUP" -d "$AISX_PG_URL"'
CREATEDB = 'createdb --maintenance-db="$PG_ADMIN_URL" "$RESTORED_DB"'
PG_RESTORE = 'pg_restore --no-owner --exit-on-error -d "$RESTORED_URL" "$BACKUP"'

needs_pg_tools = pytest.mark.skipif(
    ON_POSTGRESQL and not all(shutil.which(tool) for tool in PG_TOOLS),
    reason=f"the PostgreSQL client programs ({', '.join(PG_TOOLS)}) are not on the PATH")


def _audit_chain_verifies(server: Server) -> bool:
    """``aisx audit verify`` on the restored server: the whole hash chain came through the backup intact."""
    result = server.cli("audit", "verify", "--json", check=False)
    return result.returncode == 0 and orjson.loads(result.stdout)["ok"] is True


@dataclass
class Ingest:
    """Posts one small indicator per envelope without pause; ``completed`` lists, in order, (object id,
    status id) of every POST answered 202 with a complete status and the object accepted."""

    producer: Participant
    cid: str
    completed: list[tuple[str, str]]
    stop: threading.Event
    errors: list[str]

    def run(self) -> None:
        while not self.stop.is_set():
            obj = sdo()
            try:
                answer = self.producer.client.post(f"collections/{self.cid}/objects/",
                                                   content=orjson.dumps({"objects": [obj]}),
                                                   headers={"Content-Type": TAXII})
            except Exception as exc:  # reported by the test, never swallowed
                self.errors.append(repr(exc))
                return
            status = answer.json() if answer.status_code == 202 else {}
            if status.get("status") == "complete" and status.get("success_count") == 1:
                self.completed.append((obj["id"], status["id"]))
            else:
                self.errors.append(f"{answer.status_code} {answer.text[:200]}")


def steady_ingest(server: Server, name: str) -> tuple[Ingest, threading.Thread]:
    producer = admit(server, f"{name}-producer")
    ingest = Ingest(producer, collection(server, name), [], threading.Event(), [])
    thread = threading.Thread(target=ingest.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(ingest.completed) < 20:
        assert not ingest.errors, ingest.errors
        assert time.monotonic() < deadline, "the ingest did not get going"
        time.sleep(0.05)
    return ingest, thread


def check_restored(server: Server, restored: Server, ingest: Ingest, before: list[tuple[str, str]]) -> None:
    """Every object of ``before`` and its status resource, through the restored server."""
    restored.admin_secret = server.admin_secret
    with restored.client(ingest.producer.secret) as client:
        for stix_id, status_id in before:
            got = client.get(f"collections/{ingest.cid}/objects/{stix_id}/")
            assert got.status_code == 200, (stix_id, got.text)
            assert [o["id"] for o in got.json()["objects"]] == [stix_id]
            status = client.get(f"status/{status_id}/")
            assert status.status_code == 200, (status_id, status.text)
            assert status.json()["status"] == "complete" and status.json()["success_count"] == 1, status.json()
    assert _audit_chain_verifies(restored)


@dataclass
class RestoredDatabase:
    """A database a backup was restored into (the ``database`` of a Server started on it)."""

    url: str
    admin_url: str | None = None
    name: str | None = None

    def drop(self) -> None:
        if self.name is not None:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def run_documented(command: str, env: dict[str, str]) -> None:
    assert command in DOCS.read_text(), f"docs/deployment.md no longer gives: {command}"
    done = subprocess.run(["bash", "-c", command], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, (command, done.stderr)


def pg_restore_documented(server: Server, backup: Path) -> RestoredDatabase:
    """createdb + pg_restore into a fresh database, with the commands of the docs."""
    name = f"aisx_t_{uuid.uuid4().hex[:12]}"
    source = make_url(server.database.url)
    admin_url = libpq_url(source.set(database="postgres").render_as_string(hide_password=False))
    restored_url = source.set(database=name).render_as_string(hide_password=False)
    env = {"BACKUP": str(backup), "PG_ADMIN_URL": admin_url, "RESTORED_DB": name,
           "RESTORED_URL": libpq_url(restored_url)}
    run_documented(CREATEDB, env)
    database = RestoredDatabase(restored_url, admin_url, name)
    try:
        run_documented(PG_RESTORE, env)
    except BaseException:
        database.drop()
        raise
    return database


def restore(server: Server, backup: Path, directory: Path) -> RestoredDatabase:
    """The backup restored into ``directory`` (SQLite: copied there as the database file) or a fresh PostgreSQL
    database (the documented commands)."""
    directory.mkdir()
    if ON_POSTGRESQL:
        return pg_restore_documented(server, backup)
    shutil.copyfile(backup, directory / "aisx.db")
    return RestoredDatabase(f"sqlite:///{directory / 'aisx.db'}")


@contextmanager
def restored_server(server: Server, backup: Path, directory: Path) -> Iterator[Server]:
    database = restore(server, backup, directory)
    restored = Server(directory, 0, database)  # type: ignore[arg-type]  # a database of its own kind
    try:
        yield restored.start()
    finally:
        restored.stop()
        database.drop()


@needs_pg_tools
def test_a_backup_made_during_a_steady_ingest_restores_every_completed_post(tmp_path: Path) -> None:
    (tmp_path / "live").mkdir()
    with running_server(tmp_path / "live") as server:
        ingest, thread = steady_ingest(server, "backup")
        try:
            before = list(ingest.completed)  # every POST that had completed when the backup began
            started = time.monotonic()
            if ON_POSTGRESQL:
                backup = tmp_path / "aisx.dump"
                run_documented(PG_DUMP, {"BACKUP": str(backup), "AISX_PG_URL": libpq_url(server.database.url)})
            else:
                backup = tmp_path / "aisx-backup.db"
                made = server.cli_json("db", "backup", str(backup))
                assert made["database"] == "sqlite" and made["bytes"] == backup.stat().st_size > 0, made
            took = time.monotonic() - started
            during = len(ingest.completed) - len(before)
            time.sleep(0.3)  # the ingest goes on after the backup too
        finally:
            ingest.stop.set()
            thread.join(30)
        assert not ingest.errors, ingest.errors
        print(f"\nbackup of {len(before)} completed posts took {took:.2f} s; {during} more posts completed "
              f"meanwhile; {len(ingest.completed)} in all")
        with restored_server(server, backup, tmp_path / "restored") as restored:
            check_restored(server, restored, ingest, before)


@needs_pg_tools
def test_aisx_db_backup_writes_a_new_file_only_and_is_audited(tmp_path: Path) -> None:
    """``aisx db backup`` on either database (pg_dump on PostgreSQL, restored with the documented commands):
    it says what it wrote, refuses a path that exists, and leaves a db.backup audit record."""
    (tmp_path / "live").mkdir()
    with running_server(tmp_path / "live") as server:
        producer = admit(server, "solo")
        cid = collection(server, "solo")
        obj = sdo()
        answer = producer.client.post(f"collections/{cid}/objects/", content=orjson.dumps({"objects": [obj]}),
                                      headers={"Content-Type": TAXII})
        assert answer.status_code == 202 and answer.json()["success_count"] == 1, answer.text
        backup = tmp_path / "aisx.backup"
        made = server.cli_json("db", "backup", str(backup))
        assert made == {**made, "path": str(backup), "bytes": backup.stat().st_size,
                        "database": "postgresql" if ON_POSTGRESQL else "sqlite"}
        again = server.cli("db", "backup", str(backup), check=False)
        assert again.returncode == 2 and "exists" in again.stderr, again.stderr
        with server.admin_client() as admin:
            events = admin.get("/admin/audit", params={"action": "db.backup"}).json()
        details = [orjson.loads(e["detail"]) if isinstance(e["detail"], str) else e["detail"] for e in events]
        assert [d["path"] for d in details] == [str(backup)], events
        if ON_POSTGRESQL:  # a password in the URL goes to pg_dump in its environment, and is printed nowhere
            password = f"pw-{uuid.uuid4().hex}"
            url = make_url(server.database.url).set(password=password).render_as_string(hide_password=False)
            done = run_aisx(["db", "backup", str(tmp_path / "second.dump"), "--json"], cwd=server.workdir,
                            env={**server.env, "AISX_DATABASE_URL": url}, check=False, timeout=120)
            assert done.returncode == 0, done.stderr
            assert password not in done.stdout + done.stderr
        ingest = Ingest(producer, cid, [], threading.Event(), [])
        with restored_server(server, backup, tmp_path / "restored") as restored:
            check_restored(server, restored, ingest, [(obj["id"], answer.json()["id"])])
