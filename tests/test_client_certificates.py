"""Mutual TLS through a verifying proxy: a registered client certificate fingerprint authenticates its
participant; unknown, revoked or suspended ones get 401; without the setting the header means nothing."""

import hashlib
import secrets

import pytest

from tests.support.server import Server, running_server

HEADER = "X-Client-Cert-SHA256"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("mtls"), settings={"AISX_CLIENT_CERT_HEADER": HEADER}) as srv:
        yield srv


def _fingerprint() -> str:
    return hashlib.sha256(secrets.token_bytes(32)).hexdigest()


def test_a_registered_certificate_authenticates_its_participant(proxied: Server):
    agency = proxied.add_participant("pki-agency", "agency")
    fingerprint = _fingerprint()
    colons = ":".join(fingerprint[i:i + 2] for i in range(0, 64, 2)).upper()  # as nginx or openssl print it
    added = proxied.cli_json("cert", "add", "pki-agency", "--fingerprint", colons)
    assert added["fingerprint"] == fingerprint
    with proxied.client(headers={HEADER: fingerprint}) as client:
        listed = client.get("collections/")
        assert listed.status_code == 200
        assert {c["alias"] for c in listed.json()["collections"]} >= {"shared", "directory"}
    with proxied.admin_client() as admin:
        assert admin.post("/admin/participants/pki-agency/suspend").status_code == 200
    with proxied.client(headers={HEADER: fingerprint}) as client:
        assert client.get("collections/").status_code == 401
    with proxied.admin_client() as admin:
        assert admin.post("/admin/participants/pki-agency/reinstate").status_code == 200
    proxied.cli_json("cert", "revoke", fingerprint)
    with proxied.client(headers={HEADER: fingerprint}) as client:
        refused = client.get("collections/")
    assert refused.status_code == 401
    assert "WWW-Authenticate" in refused.headers
    assert agency.client.get("collections/").status_code == 200  # its API key still works


def test_an_unknown_certificate_is_refused(proxied: Server):
    with proxied.client(headers={HEADER: _fingerprint()}) as client:
        assert client.get("collections/").status_code == 401


def test_malformed_fingerprints_are_refused_by_the_cli(proxied: Server):
    proxied.add_participant("pki-lab", "lab")
    result = proxied.cli("cert", "add", "pki-lab", "--fingerprint", "not-hex", check=False)
    assert result.returncode != 0 and "64 hex digits" in result.stderr
    assert result.stdout == ""


def test_without_the_setting_the_header_means_nothing(server: Server):
    fingerprint = _fingerprint()
    server.add_participant("pki-other", "agency")
    server.cli_json("cert", "add", "pki-other", "--fingerprint", fingerprint)
    with server.client(headers={HEADER: fingerprint}) as client:
        assert client.get("collections/").status_code == 401
