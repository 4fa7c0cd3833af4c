"""Transport (issue: hardening, 7): HTTPS straight from ``aisx serve`` (server certificate, and mutual TLS),
CORS off unless AISX_CORS_ORIGINS lists origins, and X-Forwarded-For ignored unless AISX_FORWARDED_ALLOW_IPS
names the proxy — which matters because failed-authentication throttling counts per client address."""

import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hardening_support import kill_tree, running_server
from tests.support.server import (
    TAXII,
    Server,
    ThrowawayDatabase,
    for_aisx_process,
    listening_port,
    run_aisx,
    start_aisx,
)

CONSOLE = "https://console.example"


# ------------------------------------------------------------------ defaults: no CORS, no forwarded headers


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {"AISX_AUTH_FAILURES_PER_MINUTE": "3", "AISX_RATE_LIMIT_WINDOW": "3600"}  # no window ends in a test
    with running_server(tmp_path_factory.mktemp("plain"), settings=settings) as srv:
        yield srv


def test_cors_is_off_by_default(plain: Server) -> None:
    headers = {"Origin": CONSOLE, "Accept": TAXII, "Authorization": f"Bearer {plain.admin_secret}"}
    for response in (
        httpx.get(f"{plain.base_url}/taxii2/", headers=headers),
        httpx.get(f"{plain.base_url}/taxii2/", headers={"Origin": CONSOLE, "Accept": TAXII}),  # 401
        httpx.options(f"{plain.base_url}/taxii2/", headers={
            "Origin": CONSOLE, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"}),
    ):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], response.headers
    assert httpx.get(f"{plain.base_url}/taxii2/", headers=headers).status_code == 200


def test_forwarded_for_is_ignored_by_default(plain: Server) -> None:
    """Without AISX_FORWARDED_ALLOW_IPS a client cannot dodge the failed-authentication limit by claiming
    another address in X-Forwarded-For: every attempt counts against its real one."""
    statuses = [httpx.get(f"{plain.root_url}collections/", headers={
        "Accept": TAXII, "Authorization": "Bearer aisx_s_wrong", "X-Forwarded-For": f"203.0.113.{i}"}).status_code
        for i in range(6)]
    assert statuses[:3] == [401] * 3 and statuses[-1] == 429, statuses


# ------------------------------------------------------------------ TLS, mutual TLS, CORS on, a trusted proxy


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=AISX test CA",
             cwd=d)
    for name, extensions in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
                             ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(extensions + "\n")
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=aisx-{name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d


class TlsServer:
    """``aisx serve --ssl-…`` started directly (tests.support.server.Server speaks plain HTTP)."""

    def __init__(self, workdir: Path, options: list[str], settings: dict[str, str]) -> None:
        self.database = ThrowawayDatabase(workdir, migrated=True)
        self.server = Server(workdir, 0, self.database, settings=settings)
        (workdir / "feeds").mkdir(exist_ok=True)
        self.options = options

    def start(self) -> "TlsServer":
        srv = self.server
        self.offset = srv.log_end()
        srv.process = start_aisx(["serve", *self.options], cwd=srv.workdir, env=srv.env, log=srv.log_path)
        return self

    def wait(self, context: ssl.SSLContext) -> "TlsServer":
        srv = self.server
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert srv.process is not None
            if srv.process.poll() is not None:
                raise RuntimeError(srv.log_path.read_text())
            if not srv.port:  # started on port 0: uvicorn logs the port the kernel picked
                srv.port = listening_port(srv.log_since(self.offset)) or 0
                if not srv.port:
                    time.sleep(0.05)
                    continue
            try:
                if httpx.get(f"{self.url}/healthz", verify=context, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError(srv.log_path.read_text())
        key = re.search(r"secret: (\S+)", srv.log_path.read_text())
        assert key is not None
        srv.admin_secret = key.group(1)
        return self

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        kill_tree(self.server)
        self.database.drop()


def _context(pki: Path, client: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if client:
        context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    return context


@pytest.fixture(scope="module")
def tls_servers(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TlsServer, TlsServer]]:
    cert = ["--ssl-certfile", str(pki / "server.pem"), "--ssl-keyfile", str(pki / "server.key")]
    https = TlsServer(tmp_path_factory.mktemp("https"), cert, {
        "AISX_CORS_ORIGINS": f"{CONSOLE}, https://other-console.example",
        "AISX_FORWARDED_ALLOW_IPS": "127.0.0.1", "AISX_AUTH_FAILURES_PER_MINUTE": "3",
        "AISX_RATE_LIMIT_WINDOW": "3600"})
    mutual = TlsServer(tmp_path_factory.mktemp("mtls"), [
        *cert, "--ssl-ca-certs", str(pki / "ca.pem"), "--ssl-require-client-cert"], {})
    try:  # both start at once
        https.start(), mutual.start()
        yield https.wait(_context(pki)), mutual.wait(_context(pki, client=True))
    finally:
        https.stop()
        mutual.stop()


def test_https_with_the_servers_certificate(tls_servers: tuple[TlsServer, TlsServer], pki: Path) -> None:
    https, _ = tls_servers
    with httpx.Client(verify=_context(pki), headers={"Accept": TAXII,
                                                     "Authorization": f"Bearer {https.server.admin_secret}"}) as c:
        discovery = c.get(f"{https.url}/taxii2/")
        assert discovery.status_code == 200 and discovery.json()["api_roots"]
        assert c.get(f"{https.url}/taxii2/exchange/collections/").status_code == 200
    assert "serving TAXII 2.1 on https://" in https.server.log_path.read_text()
    with pytest.raises(httpx.HTTPError):  # not plain HTTP on the TLS port
        httpx.get(f"http://127.0.0.1:{https.server.port}/healthz", timeout=5)
    with pytest.raises(httpx.ConnectError):  # and a client that does not trust the CA refuses it
        httpx.get(f"{https.url}/healthz", timeout=5)


def test_mutual_tls_refuses_clients_without_a_certificate(tls_servers: tuple[TlsServer, TlsServer],
                                                          pki: Path) -> None:
    _, mutual = tls_servers
    headers = {"Accept": TAXII, "Authorization": f"Bearer {mutual.server.admin_secret}"}
    assert httpx.get(f"{mutual.url}/taxii2/", headers=headers, verify=_context(pki, client=True)).status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{mutual.url}/taxii2/", headers=headers, verify=_context(pki), timeout=5)


def test_cors_for_the_listed_origins_only(tls_servers: tuple[TlsServer, TlsServer], pki: Path) -> None:
    https, _ = tls_servers
    with httpx.Client(verify=_context(pki)) as c:
        preflight = c.options(f"{https.url}/taxii2/", headers={
            "Origin": CONSOLE, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, accept"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == CONSOLE
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in preflight.headers
        auth = {"Accept": TAXII, "Authorization": f"Bearer {https.server.admin_secret}"}
        answer = c.get(f"{https.url}/taxii2/", headers={**auth, "Origin": CONSOLE})
        assert answer.headers["access-control-allow-origin"] == CONSOLE
        assert "x-taxii-date-added-last" in answer.headers["access-control-expose-headers"].lower()
        refused = c.get(f"{https.url}/taxii2/", headers={"Accept": TAXII, "Origin": CONSOLE})  # 401 carries it too
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == CONSOLE
        stranger = c.get(f"{https.url}/taxii2/", headers={**auth, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers
        bad_preflight = c.options(f"{https.url}/taxii2/", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in bad_preflight.headers


def test_a_trusted_proxy_passes_on_the_client_address(tls_servers: tuple[TlsServer, TlsServer], pki: Path) -> None:
    """Behind a proxy every client shares the proxy's address; trusting its X-Forwarded-For throttles the one
    client that fails authentication, not all of them."""
    https, _ = tls_servers
    with httpx.Client(verify=_context(pki), headers={"Accept": TAXII}) as c:
        def get(address: str, secret: str) -> int:
            return c.get(f"{https.url}/taxii2/", headers={
                "Authorization": f"Bearer {secret}", "X-Forwarded-For": address}).status_code

        statuses = [get("203.0.113.5", "aisx_s_wrong") for _ in range(5)]
        assert statuses[:3] == [401] * 3 and statuses[-1] == 429, statuses
        assert get("203.0.113.5", https.server.admin_secret) == 429  # that client is throttled, whatever the key
        assert get("198.51.100.7", https.server.admin_secret) == 200  # another client behind the same proxy is not


def test_tls_options_are_checked(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    env = for_aisx_process({**os.environ, "AISX_DATABASE_URL": f"sqlite:///{tmp_path / 'aisx.db'}"})
    for options, words in ((["--ssl-certfile", "cert.pem"], "go together"),
                           (["--ssl-require-client-cert"], "need --ssl-certfile"),
                           (["--ssl-certfile", "cert.pem", "--ssl-keyfile", "cert.pem", "--ssl-ca-certs", "cert.pem"],
                            "go together"),
                           (["--ssl-certfile", "missing.pem", "--ssl-keyfile", "cert.pem"], "does not exist")):
        result = run_aisx(["serve", *options], cwd=tmp_path, env=env, check=False, timeout=60)
        assert result.returncode == 2 and words in " ".join(result.stderr.split()), result.stderr
