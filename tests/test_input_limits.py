"""Limits on everything an attacker controls, each answered with a precise TAXII error (issue: hardening)."""

import socket
import time

import pytest

from tests.support.server import TAXII, running_server
from tests.support.stix import envelope, indicator

LIMITS = {"AISX_MAX_ENVELOPE_OBJECTS": "5", "AISX_MAX_OBJECT_BYTES": "4000", "AISX_MAX_NESTING_DEPTH": "6",
          "AISX_MAX_QUERY_LENGTH": "300", "AISX_BODY_READ_TIMEOUT": "1.5"}


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("tight"), settings=LIMITS) as srv:
        yield srv


@pytest.fixture(scope="module")
def poster(tight):
    lab = tight.add_participant("limits-lab", "lab")
    shared = next(c["id"] for c in lab.client.get("collections/").json()["collections"] if c["alias"] == "shared")
    return lab, f"collections/{shared}/objects/"


def _post(lab, url, body):
    return lab.client.post(url, json=body, headers={"Content-Type": TAXII})


def test_too_many_objects_in_one_envelope_is_413_and_stores_nothing(poster):
    lab, url = poster
    objs = [indicator() for _ in range(6)]
    response = _post(lab, url, envelope(*objs))
    assert response.status_code == 413
    assert response.json()["details"]["max_envelope_objects"] == 5
    assert lab.client.get(url, params={"match[id]": objs[0]["id"]}).json() == {"more": False}


def test_an_oversized_object_fails_alone(poster):
    lab, url = poster
    big, small = indicator(description="x" * 5000), indicator()
    status = _post(lab, url, envelope(big, small)).json()
    assert status["success_count"] == 1
    assert "bytes; at most 4000" in status["failures"][0]["message"]


def test_deep_nesting_fails_alone(poster):
    lab, url = poster
    nested: dict = {"leaf": 1}
    for _ in range(8):
        nested = {"x_deeper": nested}
    deep = indicator(x_nested=nested)
    status = _post(lab, url, envelope(deep)).json()
    assert status["failure_count"] == 1
    assert "levels deep" in status["failures"][0]["message"]


def test_a_long_query_string_is_414(poster):
    lab, url = poster
    response = lab.client.get(url, params={"match[id]": ",".join(f"indicator--{i:032d}" for i in range(20))})
    assert response.status_code == 414
    assert response.headers["content-type"] == TAXII
    assert response.json()["http_status"] == "414"


def test_a_stalled_body_is_cut_off_with_408(tight, poster):
    lab, url = poster
    with socket.create_connection(("127.0.0.1", tight.port), timeout=10) as sock:
        head = (f"POST /taxii2/exchange/{url} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {lab.secret}\r\n"
                f"Content-Type: {TAXII}\r\nAccept: {TAXII}\r\nContent-Length: 1000\r\n\r\n")
        sock.sendall(head.encode() + b'{"objects": [')
        started = time.monotonic()
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 8
