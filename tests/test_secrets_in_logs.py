"""Secrets stay secret (issue: hardening, 7). A server of its own is driven through every endpoint with valid,
wrong, revoked, suspended and malformed credentials — secrets as Bearer, as Basic user name or password, in
query strings, paths, other headers, cookies, request bodies and malformed HTTP — while keys are issued and
revoked with the CLI and the admin API and errors are provoked. Then its log and every CLI output are scanned
for every secret the test issued (and each secret's SHA-256, the stored form): none may appear, except where a
secret is shown by design — once, to whoever issued it (the bootstrap banner of ``aisx serve``, the output of
``aisx key issue``, the answer of ``POST /admin/participants/{slug}/keys``). No answer carries another secret or
a stack trace."""

import base64
import binascii
import contextlib
import json
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.participants.keys import hash_secret
from tests.hardening_support import running_server, shared_collection_id
from tests.support.server import TAXII, TLS, Server
from tests.support.stix import indicator


@dataclass
class Exposure:
    """Everything that left the server or the CLI, with the secrets each was allowed to carry."""

    secrets: set[str] = field(default_factory=set)
    outputs: list[tuple[str, str, set[str]]] = field(default_factory=list)  # (what, text, allowed secrets)
    requests: int = 0

    def issued(self, secret: str) -> str:
        self.secrets.add(secret)
        return secret

    def cli(self, srv: Server, *args: str, issues: bool = False) -> subprocess.CompletedProcess:
        result = srv.cli(*args)
        own = {s for s in self._tokens(result.stdout + result.stderr) if issues}
        self.secrets |= own
        self.outputs.append((f"aisx {' '.join(args)}", result.stdout + result.stderr, own))
        return result

    def answer(self, what: str, response: httpx.Response, allowed: set[str] | None = None) -> httpx.Response:
        self.requests += 1
        request = response.request
        sent = str(request.url) + request.content.decode(errors="replace") + " ".join(request.headers.values())
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            with contextlib.suppress(binascii.Error):  # not Base64 (a raw secret after "Basic "): nothing inside
                sent += base64.b64decode(value + "==", validate=False).decode(errors="replace")
        echoed = {s for s in self.secrets if s in sent}  # what the caller itself sent may come back to it
        self.outputs.append((what, response.text, (allowed or set()) | echoed))
        return response

    @staticmethod
    def _tokens(text: str) -> set[str]:
        return set(re.findall(r"aisx_s_[A-Za-z0-9_-]+", text))

    def leaks(self) -> list[str]:
        found = []
        for what, text, allowed in self.outputs:
            if "Traceback" in text or 'File "/' in text:
                found.append(f"{what}: a stack trace")
            for secret in self.secrets:
                if secret not in allowed and secret in text:
                    found.append(f"{what}: secret {secret[:12]}…")
                if hash_secret(secret) in text:
                    found.append(f"{what}: the SHA-256 of secret {secret[:12]}…")
        return found


@pytest.fixture(params=["text", "json"])
def exchange(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """In both log formats (AISX_LOG_FORMAT): the request lines of issue 16 are scanned like every other line."""
    with running_server(tmp_path, settings={"AISX_AUTH_FAILURES_PER_MINUTE": "0",
                                            "AISX_LOG_FORMAT": request.param}) as srv:
        yield srv


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_no_secret_in_logs_cli_output_or_answers(exchange: Server) -> None:
    srv, seen = exchange, Exposure()
    admin = seen.issued(srv.admin_secret)
    seen.cli(srv, "participant", "add", "leak-lab", "--name", "Leak Lab", "--kind", "lab", "--json")
    seen.cli(srv, "participant", "add", "leak-agency", "--name", "Leak Agency", "--kind", "agency")
    lab_key = orjson.loads(seen.cli(srv, "key", "issue", "leak-lab", "--json", issues=True).stdout)
    lab_id, lab = lab_key["key_id"], lab_key["secret"]
    seen.cli(srv, "key", "issue", "leak-agency", "--label", "human output", issues=True)  # secret on stderr
    doomed = orjson.loads(seen.cli(srv, "key", "issue", "leak-lab", "--json", issues=True).stdout)
    seen.cli(srv, "key", "revoke", doomed["key_id"], "--json")
    api = httpx.Client(verify=TLS, base_url=srv.base_url, timeout=60, headers={"Accept": TAXII})

    def call(what: str, method: str, url: str, auth: str | None = None, allowed: set[str] | None = None,
             **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": auth} if auth else {})}
        return seen.answer(what, api.request(method, url, headers=headers, **kwargs), allowed)

    issued = call("admin issue", "POST", "/admin/participants/leak-lab/keys", f"Bearer {admin}",
                  json={"label": "via admin API"})
    second = seen.issued(issued.json()["secret"])
    seen.outputs[-1] = (seen.outputs[-1][0], seen.outputs[-1][1], {second})
    suspended_key = call("admin issue", "POST", "/admin/participants/leak-agency/keys", f"Bearer {admin}", json={})
    agency = seen.issued(suspended_key.json()["secret"])
    seen.outputs[-1] = (seen.outputs[-1][0], seen.outputs[-1][1], {agency})
    call("admin revoke", "DELETE", f"/admin/keys/{issued.json()['key_id']}", f"Bearer {admin}")
    # issue 16: rotation shows the new secret once; key and participant lists show none (nor their hashes)
    rotated = call("admin rotate", "POST", f"/admin/keys/{suspended_key.json()['key_id']}/rotate", f"Bearer {admin}",
                   json={"grace": "1h"})
    fresh = seen.issued(rotated.json()["secret"])
    seen.outputs[-1] = (seen.outputs[-1][0], seen.outputs[-1][1], {fresh})
    seen.cli(srv, "key", "rotate", lab_id, "--grace", "1h", "--json", issues=True)
    for slug in ("leak-lab", "leak-agency"):
        call("admin key list", "GET", f"/admin/participants/{slug}/keys", f"Bearer {admin}")
    call("admin participant list", "GET", "/admin/participants", f"Bearer {admin}")
    seen.cli(srv, "key", "list", "leak-lab")

    root = "/taxii2/exchange/"
    collection = shared_collection_id(httpx.Client(verify=TLS, base_url=srv.root_url, headers={
        "Accept": TAXII, "Authorization": f"Bearer {lab}"}))
    objects = f"{root}collections/{collection}/objects/"
    obj = indicator()
    posted = call("post", "POST", objects, f"Bearer {lab}", content=orjson.dumps({"objects": [
        obj, {"id": lab, "type": "indicator"}, indicator(id=f"indicator--{lab}")]}),
        headers={"Content-Type": TAXII})
    assert posted.status_code == 202
    status = f"{root}status/{posted.json()['id']}/"
    endpoints = [("GET", "/taxii2/"), ("GET", root), ("GET", f"{root}collections/"),
                 ("GET", f"{root}collections/{collection}/"), ("GET", objects),
                 ("GET", f"{root}collections/{collection}/manifest/"), ("GET", f"{objects}{obj['id']}/"),
                 ("GET", f"{objects}{obj['id']}/versions/"), ("GET", status), ("GET", "/admin/participants"),
                 ("GET", "/admin/audit"), ("GET", "/admin/feeds"), ("GET", "/healthz"), ("GET", "/openapi.json"),
                 ("GET", "/schemas/ai-threat-context.schema.json")]
    good = [f"Bearer {lab}", _basic(lab_id, lab), f"Bearer {admin}"]
    bad = [f"Bearer {lab}x", f"Bearer {doomed['secret']}", f"Bearer {second}", _basic(lab_id, lab + "x"),
           _basic(lab, lab), _basic(lab, "x"), _basic(doomed["key_id"], doomed["secret"]),
           "Basic " + lab, f"Token {lab}", lab, f"Bearer  {lab} {lab}", "Basic " + base64.b64encode(
               lab.encode()).decode(), f"Bearer {lab};"]
    for method, url in endpoints:
        for auth in [*good, *bad, None]:
            call(f"{method} {url}", method, url, auth)
        call(f"{method} {url} (X-Api-Key, cookie)", method, url, headers={"X-Api-Key": lab, "Cookie": f"key={lab}"})
        # issue 16: the request id is logged and echoed; a secret sent as one, whole or in part, must be neither
        for request_id in (lab, lab[7:], f"trace-{lab[7:]}", lab[7:40], admin):
            call(f"{method} {url} (X-Request-ID)", method, url, f"Bearer {lab}", headers={"X-Request-ID": request_id})
        call(f"{method} {url} (X-Request-ID, Basic)", method, url, _basic(lab_id, lab),
             headers={"X-Request-ID": lab[7:]})
    for params in ({"api_key": lab}, {"next": lab}, {"match[id]": lab}, {"added_after": lab}, {"limit": lab},
                   {"match[version]": lab}, {"next": "x" * 9000 + lab}):
        call(f"GET objects {list(params)}", "GET", objects, f"Bearer {lab}", params=params)
        call(f"GET objects {list(params)} anonymous", "GET", objects, params=params)
    for url in (f"{objects}{lab}/", f"{root}collections/{lab}/objects/", f"/taxii2/{lab}/", f"{root}status/{lab}/",
                f"/admin/keys/{lab}", f"/schemas/{lab}"):
        for method in ("GET", "POST", "DELETE"):
            call(f"{method} {url}", method, url, f"Bearer {lab}", headers={"Content-Type": TAXII}, content=b"{}")
    call("DELETE object", "DELETE", f"{objects}{obj['id']}/", f"Bearer {lab}")
    call("POST not json", "POST", objects, f"Bearer {lab}", content=lab.encode(), headers={"Content-Type": TAXII})
    call("POST wrong type", "POST", objects, f"Bearer {lab}", content=b"{}", headers={"Content-Type": lab})
    deep = call("POST too deep", "POST", objects, f"Bearer {lab}", headers={"Content-Type": TAXII},
                content=json.dumps({"objects": [indicator(x_key=lab, x_deep=_nested(300))]}))
    assert deep.status_code == 202 and deep.json()["failure_count"] == 1
    call("admin as lab", "GET", "/admin/participants", f"Bearer {lab}")
    call("audience", "POST", "/admin/audiences", f"Bearer {lab}", json={"recipient_groups": [lab]})
    call("suspend", "POST", "/admin/participants/leak-agency/suspend", f"Bearer {admin}")
    call("suspended", "GET", f"{root}collections/", f"Bearer {agency}")
    call("reinstate", "POST", "/admin/participants/leak-agency/reinstate", f"Bearer {admin}")
    _malformed_http(srv.port, lab)
    for args in (["participant", "list", "--json"], ["participant", "list"], ["audit", "--json"],
                 ["audit", "--participant", "leak-lab"], ["feed", "list", "--json"],
                 ["participant", "suspend", "leak-agency"], ["participant", "reinstate", "leak-agency", "--json"]):
        seen.cli(srv, *args)
    srv.stop()  # flush and close the log

    log = srv.log_path.read_text(errors="replace")
    request_lines = [line for line in log.splitlines() if "request_id" in line]
    assert len(request_lines) >= seen.requests, "every request has its log line, and the scan covers them"
    if srv.settings["AISX_LOG_FORMAT"] == "json":
        assert all(line.startswith("{") for line in log.splitlines()), "one JSON object per line"
    banner = [line for line in log.splitlines() if admin in line]
    assert len(banner) == 1 and "secret:" in banner[0], "the operator's secret is shown once, in the banner"
    seen.outputs.append(("server.log", log, {admin}))
    leaks = seen.leaks()
    assert not leaks, "\n".join(leaks[:20])
    assert seen.requests > 300
    print(f"\n{seen.requests} answers, {len(seen.secrets)} secrets, {len(log.splitlines())} log lines: no leak")


def _malformed_http(port: int, secret: str) -> None:
    """Requests that uvicorn itself refuses, with the secret in the request line and in headers."""
    for raw in (f"GET /taxii2/?{secret} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\nBad Header\r\n\r\n",
                f"GET /{secret} HTTP/9.9\r\nAuthorization: Bearer {secret}\r\n\r\n",
                f"{secret} / HTTP/1.1\r\n\r\n",
                f"POST /taxii2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nAuthorization: Basic {secret}\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw.encode())
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                answer = b""
        assert secret.encode() not in answer


def test_a_secret_sent_as_a_basic_user_name_with_a_nul_is_not_logged(exchange: Server) -> None:
    lab = exchange.add_participant("nul-lab")
    response = httpx.get(f"{exchange.root_url}collections/", headers={
        "Accept": TAXII, "Authorization": _basic(f"{lab.secret}\x00", lab.secret)}, timeout=30, verify=TLS)
    assert response.status_code == 401, response.text
    exchange.stop()
    log = exchange.log_path.read_text(errors="replace")
    assert lab.secret not in log and hash_secret(lab.secret) not in log
