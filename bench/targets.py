"""Servers under test: AISX (SQLite or PostgreSQL, N workers) and the reference server medallion 3.0.0
(memory backend), each started on a loopback port and reached over HTTP only."""

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.server import Server, ThrowawayDatabase, free_port, libpq_url

TAXII = "application/taxii+json;version=2.1"
MEDALLION_VERSION = "3.0.0"
REQUEST_TIMEOUT = 120  # seconds for one request to medallion
_ROLES = {"writer": "lab-a", "lab": "lab-a", "agency": "agency-1"}  # AISX reader role → participant


@dataclass
class Reader:
    """A client of one target: an httpx client with its credentials, and the collection's URL."""

    name: str
    client: httpx.Client
    collection_url: str


@dataclass
class Target:
    name: str
    pid: int
    readers: dict[str, Reader] = field(default_factory=dict)  # "writer", "lab", "agency", …

    def pids(self) -> list[int]:
        """The server process and its children (uvicorn workers)."""
        return [self.pid, *_children(self.pid)]

    def rss_mb(self) -> float:
        """Resident memory of the server process and its children (uvicorn workers)."""
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                continue
        return total / 1024


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds consumed so far by each of these processes (those still alive)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return used


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two ``cpu_seconds`` readings, counting processes started in between from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle since boot (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process on this machine (backends, writer, WAL writer, …)."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                pids.append(int(comm.parent.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pids


def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return []
    return [int(p) for p in out.split()]


def _client(auth: httpx.Auth | None = None, headers: dict[str, str] | None = None,
            timeout: float = 600) -> httpx.Client:
    return httpx.Client(headers={"Accept": TAXII, "Content-Type": TAXII, **(headers or {})}, auth=auth,
                        timeout=timeout, limits=httpx.Limits(max_keepalive_connections=8))


class AisxTarget:
    """AISX with a bench collection, lab A and lab B posting, an agency reading. Lab A's AMBER/RED objects
    name lab B as recipient, so lab A sees everything it posted and the agency about half (CLEAR, GREEN)."""

    def __init__(self, workdir: Path, postgres_url: str | None, workers: int = 1) -> None:
        if postgres_url:
            os.environ["AISX_TEST_DATABASE_URL"] = postgres_url
        else:
            os.environ.pop("AISX_TEST_DATABASE_URL", None)
        self.database = ThrowawayDatabase(workdir)
        self.server = Server(workdir, free_port(), self.database, workers=workers)
        self.kind = "postgres" if postgres_url else "sqlite"
        self.audience = ""
        self.collection_id = ""

    def start(self) -> Target:
        self.server.start()
        if not self.collection_id:
            self._provision()
        return self._target()

    def _provision(self) -> None:
        srv = self.server
        self.collection_id = srv.cli_json("collection", "add", "bench", "--title", "Benchmark")["id"]
        self.parts = {slug: srv.add_participant(slug, kind) for slug, kind in
                      (("lab-a", "lab"), ("lab-b", "lab"), ("agency-1", "agency"))}
        for slug in self.parts:
            srv.cli("grant", slug, "bench", "--read", "--write")
        self.audience = srv.cli_json("audience", "--identity", self.parts["lab-b"].identity_id)["id"]

    def _target(self) -> Target:
        assert self.server.process is not None
        target = Target(f"aisx-{self.kind}", self.server.process.pid)
        target.readers = {role: self.reader(role) for role in _ROLES}
        return target

    def reader(self, role: str) -> Reader:
        """A new client (its own connection) acting as ``role``: writer, lab or agency."""
        secret = self.parts[_ROLES[role]].secret
        return Reader(role, _client(headers={"Authorization": f"Bearer {secret}"}),
                      f"{self.server.root_url}collections/{self.collection_id}/")

    def restart(self, workers: int) -> Target:
        self.server.stop()
        self.server.workers = workers
        return self.start()

    def stop(self) -> None:
        self.server.stop()

    def drop(self) -> None:
        self.database.drop()

    def disk_mb(self) -> float:
        if self.kind == "sqlite":
            return sum(p.stat().st_size for p in self.server.workdir.glob("aisx.db*")) / 2**20
        import psycopg

        with psycopg.connect(libpq_url(self.database.url), autocommit=True) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        return size / 2**20


class MedallionTarget:
    """medallion 3.0.0 from PyPI in its own virtual environment, memory backend, one read/write collection."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.venv = workdir.parent / "medallion-venv"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def install(self) -> str:
        python = self.venv / "bin" / "python"
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", f"medallion=={MEDALLION_VERSION}"],
                           check=True)
        return subprocess.run([str(python), "-m", "pip", "show", "medallion"], capture_output=True, text=True,
                              check=True).stdout.split("Version: ")[1].split()[0]

    def start(self) -> Target:
        self.collection_id = str(uuid.uuid4())
        data = {
            "/discovery": {"title": "medallion", "api_roots": [f"http://127.0.0.1:{self.port}/bench/"]},
            "bench": {
                "information": {"title": "bench", "versions": [TAXII], "max_content_length": 100 * 2**20},
                "status": [],
                "collections": [{"id": self.collection_id, "title": "bench", "can_read": True, "can_write": True,
                                 "media_types": ["application/stix+json;version=2.1"], "objects": [],
                                 "manifest": []}],
            },
        }
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "data.json").write_text(json.dumps(data))
        config = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                              "filename": str(self.workdir / "data.json")},
                  "users": {"bench": "bench"}, "taxii": {"max_page_size": 1000}}
        (self.workdir / "config.json").write_text(json.dumps(config))
        self.process = subprocess.Popen(
            [str(self.venv / "bin" / "medallion"), "--host", "127.0.0.1", "--port", str(self.port),
             str(self.workdir / "config.json")], stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "medallion.log").open("wb"))
        url = f"http://127.0.0.1:{self.port}/bench/collections/{self.collection_id}/"
        deadline = time.monotonic() + 60
        auth = httpx.BasicAuth("bench", "bench")
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, auth=auth, headers={"Accept": TAXII}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"medallion did not start: {(self.workdir / 'medallion.log').read_text()[-2000:]}")
        target = Target("medallion", self.process.pid)
        for role in ("writer", "lab"):  # a request that takes minutes ends the size (see bench.run._grow)
            target.readers[role] = Reader(role, _client(auth=auth, timeout=REQUEST_TIMEOUT), url)
        return target

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
