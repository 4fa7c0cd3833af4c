"""A real ``aisx serve`` on a loopback port, on SQLite or on a throwaway PostgreSQL database."""

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

TAXII = "application/taxii+json;version=2.1"
AISX = [sys.executable, "-m", "app.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ThrowawayDatabase:
    """A SQLite file in ``workdir``, or a fresh PostgreSQL database when AISX_TEST_DATABASE_URL is set."""

    workdir: Path
    url: str = ""
    _pg_admin_url: str | None = None
    _pg_name: str | None = None

    def __post_init__(self) -> None:
        base = os.environ.get("AISX_TEST_DATABASE_URL")
        if not base:
            self.url = f"sqlite:///{self.workdir / 'aisx.db'}"
            return
        import psycopg
        from sqlalchemy.engine import make_url

        self._pg_name = f"aisx_t_{uuid.uuid4().hex[:12]}"
        admin = make_url(base)
        self._pg_admin_url = admin.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(self._pg_admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self._pg_name}"')
        self.url = admin.set(database=self._pg_name).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self._pg_name is None:
            return
        import psycopg

        with psycopg.connect(self._pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')


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
    workdir: Path
    port: int
    database: ThrowawayDatabase
    workers: int = 1
    settings: dict[str, str] = field(default_factory=dict)  # extra AISX_* settings for this server
    process: subprocess.Popen | None = None
    admin_secret: str = ""
    admin_key_id: str = ""
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "server.log"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AISX_")}
        env.update(AISX_DATABASE_URL=self.database.url, AISX_FEEDS_DIR=str(self.workdir / "feeds"),
                   AISX_HOST="127.0.0.1", AISX_PORT=str(self.port))
        env.update(self.settings)
        return env

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def root_url(self) -> str:
        return f"{self.base_url}/taxii2/exchange/"

    def start(self) -> "Server":
        if "AISX_FEEDS_DIR" in self.env:  # a server without it reads the working directory's or the packaged feeds
            Path(self.env["AISX_FEEDS_DIR"]).mkdir(exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*AISX, "serve", "--workers", str(self.workers)], cwd=self.workdir, env=self.env,
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"aisx serve exited: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"aisx serve did not answer: {self.log_path.read_text()}")
        match = re.search(r"key id: (\S+)\s+secret: (\S+)", self.log_path.read_text())
        if match and not self.admin_secret:
            self.admin_key_id, self.admin_secret = match.groups()
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*AISX, *args], cwd=self.workdir, env=self.env, capture_output=True, text=True,
                              timeout=300, check=check)

    def cli_json(self, *args: str) -> dict[str, Any]:
        result = self.cli(*args, "--json")
        return orjson.loads(result.stdout)

    def client(self, secret: str | None = None, *, headers: dict[str, str] | None = None,
               **kwargs: Any) -> httpx.Client:
        headers = {"Accept": TAXII, **(headers or {})}
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        return httpx.Client(base_url=self.root_url, headers=headers, timeout=60, **kwargs)

    def add_participant(self, slug: str, kind: str = "lab", groups: tuple[str, ...] = ()) -> Participant:
        args = ["participant", "add", slug, "--name", slug.title(), "--kind", kind]
        for group in groups:
            args += ["--group", group]
        info = self.cli_json(*args)
        key = self.cli_json("key", "issue", slug)
        return Participant(slug, info["id"], info["identity_id"], info["pseudonym_identity_id"],
                           key["key_id"], key["secret"], self.client(key["secret"]))


@contextmanager
def running_server(workdir: Path, *, workers: int = 1, settings: dict[str, str] | None = None,
                   kind: type[Server] = Server) -> Iterator[Server]:
    """A started ``aisx serve`` of its own on a throwaway database, stopped and dropped afterwards."""
    database = ThrowawayDatabase(workdir)
    srv = kind(workdir, free_port(), database, workers=workers, settings=settings or {})
    try:
        yield srv.start()
    finally:
        srv.stop()
        database.drop()
