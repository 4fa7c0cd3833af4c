"""Helpers for the feed and mirroring tests: feed files, servers with extra environment variables, a fault
injecting HTTP forwarder and a medallion server, all on 127.0.0.1 with bounded waits."""

import http.client
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson

from app.stix.timestamps import format_timestamp, parse_timestamp
from tests.support.server import TAXII, TLS, Participant, Server, ThrowawayDatabase, free_port

# ------------------------------------------------------------------ feed files


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def feed_toml(feed_id: str, alias: str, *, selector: dict[str, Any] | None = None, read: tuple[str, ...] = (),
              public: bool | None = None, upstream: dict[str, Any] | None = None, title: str | None = None,
              default_group: str | None = None) -> str:
    lines = [f"id = {_toml_value(feed_id)}", f"alias = {_toml_value(alias)}",
             f"title = {_toml_value(title or f'Feed {alias}')}"]
    if default_group:
        lines.append(f"default_group = {_toml_value(default_group)}")
    if selector is not None:
        lines += ["", "[selector]"] + [f"{k} = {_toml_value(v)}" for k, v in selector.items()]
    lines += ["", "[access]", f"read = {_toml_value(list(read))}"]
    if public is not None:
        lines.append(f"public = {_toml_value(public)}")
    if upstream is not None:
        lines += ["", "[upstream]"] + [f"{k} = {_toml_value(v)}" for k, v in upstream.items()]
    return "\n".join(lines) + "\n"


def write_feed(server: Server, name: str, text: str) -> Path:
    directory = server.workdir / "feeds"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


@contextmanager
def server_with_feeds(workdir: Path, feeds: dict[str, str], settings: dict[str, str] | None = None) -> Iterator[Server]:
    """A started server of its own whose feeds directory holds ``feeds`` (file name → TOML), stopped and its
    database dropped afterwards."""
    database = ThrowawayDatabase(workdir, migrated=True)
    srv = Server(workdir, 0, database, settings=settings or {})
    for name, text in feeds.items():
        write_feed(srv, name, text)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        database.drop()


def new_id() -> str:
    return str(uuid.uuid4())


# ------------------------------------------------------------------ servers and participants


@dataclass
class FeedServer(Server):
    """A ``Server`` whose processes (serve and CLI) also get ``extra_env`` (e.g. upstream credentials)."""

    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        env.update(self.extra_env)
        return env


def admin(server: Server) -> httpx.Client:
    return server.admin_client()


def admit(server: Server, slug: str, kind: str = "lab", groups: tuple[str, ...] = ()) -> Participant:
    """A participant with one key (labelled ``test``), through the admin HTTP API (the server must be running)."""
    return server.add_participant(slug, kind, groups, key_label="test")


def feed_state(server: Server, feed_id: str) -> dict[str, Any]:
    """The feed's entry in GET /admin/feeds."""
    with admin(server) as client:
        response = client.get("/admin/feeds")
    assert response.status_code == 200, response.text
    return next(f for f in response.json() if f["id"] == feed_id)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# ------------------------------------------------------------------ reading a collection


def version_of(obj: dict[str, Any]) -> str:
    stamp = obj.get("modified") or obj.get("created")
    return format_timestamp(parse_timestamp(stamp)) if isinstance(stamp, str) else ""


def read_all(client: httpx.Client, cid: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Every object version of a collection the client may see, in date_added order, following ``next``."""
    objects: list[dict[str, Any]] = []
    params: dict[str, str] = {"match[version]": "all", "limit": str(limit)}
    for _ in range(1000):
        response = client.get(f"collections/{cid}/objects/", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        objects += body.get("objects", [])
        if not body.get("more"):
            return objects
        params = {**params, "next": body["next"]}
    raise AssertionError("pagination does not end")


def by_version(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    keyed: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects:
        key = (obj["id"], version_of(obj))
        assert key not in keyed, f"{key} served twice"
        keyed[key] = obj
    return keyed


def manifest_dates(client: httpx.Client, cid: str) -> dict[tuple[str, str], int]:
    """(id, version) → date_added in microseconds, from the manifest endpoint."""
    response = client.get(f"collections/{cid}/manifest/", params={"match[version]": "all", "limit": "10000"})
    assert response.status_code == 200, response.text
    assert not response.json().get("more")
    return {(r["id"], format_timestamp(parse_timestamp(r["version"]))): parse_timestamp(r["date_added"])
            for r in response.json().get("objects", [])}


def post(client: httpx.Client, cid: str, *objects: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"collections/{cid}/objects/", content=orjson.dumps({"objects": list(objects)}),
                           headers={"Content-Type": TAXII})
    assert response.status_code == 202, response.text
    return response.json()


def mint(client: httpx.Client, *, identities: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> str:
    """An exchange-minted audience marking (POST /admin/audiences with a participant key); returns its id."""
    response = client.post(str(client.base_url.copy_with(path="/admin/audiences")),
                           json={"recipient_identities": list(identities), "recipient_groups": list(groups)})
    assert response.status_code == 201, response.text
    return response.json()["id"]


# ------------------------------------------------------------------ a fault-injecting forwarder


@dataclass(frozen=True)
class Reply:
    """Answer a request without forwarding it."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


DROP = "drop"  # close the connection without an answer (what a stopped server looks like to a client)
CORRUPT = "corrupt"  # forward, then cut the body short


@dataclass
class Hit:
    number: int  # 1-based count of requests to an objects endpoint
    path: str
    params: dict[str, str]
    status: int | None = None  # None: dropped
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body_objects: list[dict[str, Any]] = field(default_factory=list)  # of a forwarded 200 page

    @property
    def last(self) -> str:
        """The page's X-TAXII-Date-Added-Last."""
        return self.headers["x-taxii-date-added-last"]


class FaultProxy:
    """Forwards HTTP to ``target`` (http://127.0.0.1:PORT). ``plan(hit)`` decides per request to an objects
    endpoint: None to forward, a ``Reply``, ``DROP`` or ``CORRUPT``; it may block (bounded by the caller) to hold
    a request. A target that refuses the connection makes the request dropped."""

    def __init__(self, target: str, plan: Callable[[Hit], Reply | str | None] | None = None) -> None:
        self.target = urlsplit(target)
        self.plan = plan
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def object_hits(self) -> list[Hit]:
        with self._lock:
            return list(self.hits)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        action: Reply | str | None = None
        hit = None
        if parts.path.endswith("/objects/"):
            with self._lock:
                hit = Hit(len(self.hits) + 1, parts.path, dict(parse_qsl(parts.query)))
                self.hits.append(hit)
            action = self.plan(hit) if self.plan else None
        if action == DROP:
            return
        if isinstance(action, Reply):
            self._answer(handler, action.status, action.headers, action.body, hit)
            return
        try:
            connection = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=60)
            headers = {k: v for k, v in handler.headers.items() if k.lower() in ("authorization", "accept")}
            connection.request("GET", handler.path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            status, answer_headers = response.status, dict(response.getheaders())
            connection.close()
        except OSError:
            return  # the target is down: the client sees the connection close
        if action == CORRUPT:
            body = body[: len(body) // 2]
        elif hit is not None and status == 200:
            hit.body_objects = orjson.loads(body).get("objects", [])
        self._answer(handler, status, answer_headers, body, hit)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes,
                hit: Hit | None) -> None:
        if hit is not None:
            hit.status, hit.headers = status, {k.lower(): v for k, v in headers.items()}
        handler.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)


# ------------------------------------------------------------------ medallion, the OASIS reference server


@dataclass
class Medallion:
    """medallion (installed from PyPI with the test extra) with its memory backend on a loopback port."""

    workdir: Path
    user: str = "mirror"
    password: str = field(default_factory=lambda: uuid.uuid4().hex)
    collection_id: str = field(default_factory=new_id)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/intel/"

    def client(self) -> httpx.Client:
        return httpx.Client(verify=TLS,
                            base_url=self.root_url, auth=(self.user, self.password), headers={"Accept": TAXII},
                            timeout=30)

    def start(self) -> "Medallion":
        self.workdir.mkdir(parents=True, exist_ok=True)
        data = {
            "/discovery": {"title": "medallion under test", "description": "", "contact": "",
                           "default": self.root_url, "api_roots": [self.root_url]},
            "intel": {
                "information": {"title": "Intel", "description": "", "versions": [TAXII],
                                "max_content_length": 10485760},
                "status": [],
                "collections": [{"id": self.collection_id, "title": "Shared intel", "description": "",
                                 "can_read": True, "can_write": True,
                                 "media_types": ["application/stix+json;version=2.1"], "objects": [],
                                 "manifest": []}],
            },
        }
        (self.workdir / "data.json").write_text(json.dumps(data))
        config = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                              "filename": str(self.workdir / "data.json"), "session_timeout": 300},
                  "users": {self.user: self.password}, "taxii": {"max_page_size": 100}}
        (self.workdir / "config.json").write_text(json.dumps(config))
        log = (self.workdir / "medallion.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1", "--port", str(self.port),
             str(self.workdir / "config.json")], cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"medallion exited: {(self.workdir / 'medallion.log').read_text()}")
            try:
                with self.client() as client:
                    if client.get("").status_code == 200:
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"medallion did not answer: {(self.workdir / 'medallion.log').read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def post(self, *objects: dict[str, Any]) -> dict[str, Any]:
        with self.client() as client:
            response = client.post(f"collections/{self.collection_id}/objects/",
                                   content=orjson.dumps({"objects": list(objects)}),
                                   headers={"Content-Type": TAXII})
        assert response.status_code == 202, response.text
        return response.json()
