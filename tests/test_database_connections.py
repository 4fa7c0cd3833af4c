"""Connections the database ended (PostgreSQL restarted, an idle timeout, an operator's pg_terminate_backend) are
replaced before a request uses them: no request fails for a connection that died while it sat in the pool."""

import os
import time
from pathlib import Path

import psycopg
import pytest

from tests.support.server import TAXII, Server, libpq_url, running_server
from tests.support.stix import indicator

BASE = os.environ.get("AISX_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not BASE, reason="PostgreSQL only: SQLite has no server to end a connection")


def _end_server_connections(srv: Server) -> int:
    """End every session on the server's database (as pg_terminate_backend does) and wait until they are gone."""
    with psycopg.connect(libpq_url(srv.database.url), autocommit=True) as conn:
        ended = [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        for pid in ended:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 30
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (ended,)).fetchone() != (0,):
            assert time.monotonic() < deadline, "the sessions did not end"
            time.sleep(0.05)
    return len(ended)


def test_connections_the_database_ended_are_replaced_before_use(tmp_path: Path) -> None:
    with running_server(tmp_path) as srv:
        lab = srv.add_participant("connections-lab")
        collection = srv.collection_id("shared")
        objects = f"collections/{collection}/objects/"
        for _ in range(3):  # the pool holds connections now
            assert lab.client.get(objects).status_code == 200
        for _ in range(3):
            assert _end_server_connections(srv) > 0
            answers = [lab.client.get(objects).status_code for _ in range(4)]
            answers.append(lab.client.post(objects, json={"objects": [indicator()]},
                                           headers={"Content-Type": TAXII}).status_code)
            answers.append(lab.client.get("collections/").status_code)
            assert answers == [200, 200, 200, 200, 202, 200], answers
