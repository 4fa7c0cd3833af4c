"""Several ``aisx serve`` instances on one PostgreSQL database (issue 16, item 14): the background jobs run on
one of them only, the leader (a session-level advisory lock held on a connection of its own); when the leader
is killed with ``kill -9`` (its whole process group), another instance takes the lock over within a bounded
time and the jobs run there.

The observable effect is the embargo release job: an embargoed object enters its collection only when the job
runs (nothing is written after the embargo ends, so no write transaction releases it on the way), and the job
logs each release it makes. So the release line appears in the leader's log and nowhere else; after the kill,
a second embargoed object is released by the instance that took over. The failover timeline is printed (run
with ``-s`` or ``-rP`` to see it)."""

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sharing_helpers import accepted, admit, collection, mint, sdo, stamp
from tests.support.server import Server, ThrowawayDatabase, running_server, start_aisx
from tests.support.stix import TLP_GREEN

needs_postgresql = pytest.mark.skipif(
    not os.environ.get("AISX_TEST_DATABASE_URL"),
    reason="leadership among several instances is PostgreSQL's advisory lock (on SQLite one machine serves one "
           "file: a lock file elects one process, see docs/deployment.md); set AISX_TEST_DATABASE_URL")

LEADER_INTERVAL = 0.5  # AISX_LEADER_INTERVAL: a follower tries the lock this often
TAKEOVER_BOUND = 10.0  # seconds from the kill to the new leader's first "became leader": interval + start-up slack
RELEASED = re.compile(r"embargo release: (\d+) pending member")


def jobs_status(server: Server) -> dict[str, Any]:
    with server.admin_client() as admin:
        answer = admin.get("/admin/jobs")
    assert answer.status_code == 200, answer.text
    return answer.json()


def instance_pid(server: Server) -> int:
    assert server.process is not None
    return server.process.pid


def leader_of(servers: list[Server]) -> Server | None:
    """The server whose process holds the lock, as GET /admin/jobs on each of them tells it (all must agree)."""
    names = {jobs_status(s)["leader"] for s in servers}
    assert len(names) == 1, names
    name = names.pop()
    if name is None:
        return None
    return next(s for s in servers if name.endswith(f":{instance_pid(s)}"))


def releases(server: Server) -> int:
    return sum(int(n) for n in RELEASED.findall(server.log_path.read_text()))


def wait(condition: Any, timeout: float, what: str) -> float:
    """Poll ``condition`` until true; the time.monotonic() at which it was."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.05)
    return time.monotonic()


def visible(client: httpx.Client, cid: str, stix_id: str) -> bool:
    return client.get(f"collections/{cid}/objects/{stix_id}/").status_code == 200


def test_a_lone_server_leads_and_the_cli_and_admin_api_say_so(tmp_path: Path) -> None:
    """On either database: the only instance leads, and ``aisx jobs status`` and GET /admin/jobs name it (by
    host:pid) with the jobs it runs; once it is stopped, nobody leads (the lock goes with the process)."""
    with running_server(tmp_path) as server:
        state = jobs_status(server)
        assert state["leader"].endswith(f":{instance_pid(server)}"), state
        assert {"embargo-release", "upstream-mirroring", "statistics-refresh", "counters-cleanup",
                "audit-retention"} <= {job["name"] for job in state["jobs"]}
        assert server.cli_json("jobs", "status")["leader"] == state["leader"]
        server.stop()
        assert server.cli_json("jobs", "status")["leader"] is None


def test_aisx_jobs_run_takes_over_when_the_server_stops(tmp_path: Path) -> None:
    """On either database (SQLite: the lock file): ``aisx jobs run`` beside a serving instance waits as a
    follower, takes the jobs over once the server is gone, and gives the lock up when told to stop."""
    with running_server(tmp_path, settings={"AISX_LEADER_INTERVAL": str(LEADER_INTERVAL)}) as server:
        log = tmp_path / "jobs.log"
        runner = start_aisx(["jobs", "run"], cwd=server.workdir, env=server.env, log=log)
        try:
            text = log.read_text
            wait(lambda: "following" in text(), 20, "the runner to find the server leading")
            assert "became leader" not in text() and jobs_status(server)["leader"].endswith(
                f":{instance_pid(server)}"), text()
            server.stop()
            stopped = time.monotonic()
            took_over = wait(lambda: "became leader" in text(), TAKEOVER_BOUND, "aisx jobs run to take over")
            print(f"\naisx jobs run took over {took_over - stopped:.2f} s after the server stopped")
            assert f":{runner.pid}" in server.cli_json("jobs", "status")["leader"]
            runner.send_signal(signal.SIGTERM)
            assert runner.wait(20) == 0
            assert "leadership released" in text()
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.wait()


@needs_postgresql
def test_one_instance_runs_the_jobs_and_another_takes_over_when_it_is_killed(tmp_path: Path) -> None:
    database = ThrowawayDatabase(tmp_path, migrated=True)
    settings = {"AISX_LEADER_INTERVAL": str(LEADER_INTERVAL), "AISX_EMBARGO_RELEASE_INTERVAL": "0.2"}
    servers = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        servers.append(Server(tmp_path / name, 0, database, settings=settings, own_process_group=True))
    timeline: list[tuple[float, str]] = []
    t0 = time.monotonic()

    def note(what: str, at: float | None = None) -> None:
        timeline.append(((at or time.monotonic()) - t0, what))

    try:
        first, second = servers
        first.start()
        second.admin_secret = first.admin_secret  # one exchange: the second instance finds it bootstrapped
        second.start()
        note(f"both instances serving (pids {instance_pid(first)}, {instance_pid(second)})")

        leader = leader_of(servers)
        assert leader is not None, "no instance leads"
        follower = second if leader is first else first
        became = [s for s in servers if "became leader" in s.log_path.read_text()]
        assert became == [leader], "exactly one instance became leader"
        assert "following" in follower.log_path.read_text(), "the other tried the lock and found it taken"
        note(f"leader: pid {instance_pid(leader)}; follower: pid {instance_pid(follower)}")

        producer, reader = admit(leader, "producer"), admit(leader, "reader")
        cid = collection(leader, "embargoed")
        reader_client = follower.client(reader.secret)

        # 1. The leader alone releases: one embargoed object, nothing written after its embargo ends.
        obj = sdo(marking=[TLP_GREEN, mint(producer.client, embargo=stamp(1.5))["id"]])
        accepted(producer.client, cid, obj)
        note("posted an object embargoed for 1.5 s")
        note("first object released", wait(lambda: visible(reader_client, cid, obj["id"]), 20, "the release"))
        wait(lambda: releases(leader) >= 1, 5, "the leader's release log line")
        assert releases(follower) == 0, "the job ran on the leader only"

        # 2. kill -9 of the leader's whole process group; the follower takes over within the bound.
        os.killpg(instance_pid(leader), signal.SIGKILL)
        assert leader.process is not None
        leader.process.wait(10)
        killed = time.monotonic()
        note(f"kill -9 of the leader's process group (pid {instance_pid(leader)})", killed)
        took_over = wait(lambda: "became leader" in follower.log_path.read_text(), TAKEOVER_BOUND,
                         "the follower to take over")
        note(f"follower logged 'became leader' ({took_over - killed:.2f} s after the kill)", took_over)
        assert leader_of([follower]) is follower

        # 3. The jobs run on the new leader: a second embargoed object is released there.
        with follower.client(producer.secret) as producer_client:
            again = sdo(marking=[TLP_GREEN, mint(producer_client, embargo=stamp(1.0))["id"]])
            accepted(producer_client, cid, again)
        note("posted a second object embargoed for 1 s (to the new leader)")
        note("second object released",
             wait(lambda: visible(reader_client, cid, again["id"]), 20, "the release by the new leader"))
        wait(lambda: releases(follower) >= 1, 5, "the new leader's release log line")
        assert releases(follower) >= 1
        assert took_over - killed < TAKEOVER_BOUND
    finally:
        print("\nfailover timeline (seconds since the first start):")
        for at, what in timeline:
            print(f"  {at:7.2f}  {what}")
        for server in servers:
            if server.process is not None and server.process.poll() is None:
                os.killpg(server.process.pid, signal.SIGTERM)
                server.process.wait(20)
        database.drop()
