"""Logs (issue 16, item 10): one line per request (method, route template, status, ms, key id, request id and
nothing else a client sent), X-Request-ID accepted when it is a plain token or generated, echoed; text by
default, one JSON object per line with AISX_LOG_FORMAT=json, for the server and for CLI commands."""

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.feed_support import feed_toml
from tests.hardening_support import running_server
from tests.support.server import TAXII, TLS, Server, free_port

BROKEN = "log-broken-mirror"


def _broken_feed() -> dict[str, str]:
    """A feed mirroring an upstream nobody listens on: its sync fails and logs an error."""
    return {f"{BROKEN}.toml": feed_toml(str(uuid.uuid4()), BROKEN, read=("everyone",), upstream={
        "url": f"http://127.0.0.1:{free_port()}/taxii2/exchange/", "collection": str(uuid.uuid4()),
        "attribute_to": "admin", "poll_interval": 3600, "retry_attempts": 1, "retry_backoff": 0.05})}


@pytest.fixture(scope="module")
def text_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("text-logs"), workers=2) as srv:
        yield srv


@pytest.fixture(scope="module")
def json_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("json-logs"), settings={"AISX_LOG_FORMAT": "json"},
                        feeds=_broken_feed()) as srv:
        yield srv


def _lines_for(srv: Server, offset: int, request_id: str) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in srv.log_since(offset).splitlines() if request_id in line]
        if lines:
            return lines
        time.sleep(0.05)
    return []


def test_one_text_line_per_request_with_its_fields(text_server: Server) -> None:
    srv = text_server
    lab = srv.add_participant("log-lab")
    offset = srv.log_end()
    answer = lab.client.get("collections/", headers={"X-Request-ID": "trace-4711.a:b"})
    assert answer.status_code == 200
    assert answer.headers["X-Request-ID"] == "trace-4711.a:b"
    [line] = _lines_for(srv, offset, "trace-4711.a:b")
    assert re.search(r"GET /taxii2/\{api_root\}/collections/ 200 \d+\.\d ms key=" + lab.key_id +
                     r" request_id=trace-4711\.a:b$", line), line


def test_a_request_id_is_generated_when_absent_or_unfit(text_server: Server) -> None:
    srv = text_server
    lab = srv.add_participant("log-ids")
    offset = srv.log_end()
    unfit = ["x" * 65, "has space", "semi;colon", lab.secret, f"trace-{lab.secret[7:]}", lab.key_id, "é"]
    seen = set()
    for sent in [None, *unfit]:
        headers = {"X-Request-ID": sent.encode()} if sent is not None else {}
        answer = lab.client.get("collections/", headers=headers)
        given = answer.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{16}", given), (sent, given)
        seen.add(given)
        assert _lines_for(srv, offset, given)
    assert len(seen) == len(unfit) + 1
    log = srv.log_since(offset)
    assert lab.secret not in log and lab.secret[7:] not in log and "has space" not in log and "x" * 65 not in log


def test_no_path_or_query_value_is_logged(text_server: Server) -> None:
    srv = text_server
    lab = srv.add_participant("log-query")
    marker = f"m{uuid.uuid4().hex}"
    offset = srv.log_end()
    lab.client.get("collections/", params={"next": marker, "added_after": marker})
    lab.client.get(f"collections/{marker}/objects/")
    httpx.get(f"{srv.base_url}/{marker}", verify=TLS)  # no route at all
    time.sleep(0.5)
    log = srv.log_since(offset)
    assert marker not in log
    assert "GET /taxii2/{api_root}/collections/{collection_id}/objects/ 404" in log
    assert "GET unmatched 404" in log


def test_json_lines(json_server: Server) -> None:
    srv = json_server
    lab = srv.add_participant("json-lab")
    offset = srv.log_end()
    assert lab.client.get("collections/", headers={"X-Request-ID": "json-1"}).status_code == 200
    assert httpx.get(f"{srv.root_url}collections/", headers={"Accept": TAXII, "X-Request-ID": "json-2"}, verify=TLS) \
        .status_code == 401
    [ok] = _lines_for(srv, offset, "json-1")
    [refused] = _lines_for(srv, offset, "json-2")
    line = orjson.loads(ok)
    assert {k: line[k] for k in ("level", "logger", "method", "route", "status", "key_id", "request_id")} == {
        "level": "INFO", "logger": "aisx.request", "method": "GET", "route": "/taxii2/{api_root}/collections/",
        "status": 200, "key_id": lab.key_id, "request_id": "json-1"}
    assert isinstance(line["ms"], float) and line["time"].endswith("Z")
    assert orjson.loads(refused)["status"] == 401 and orjson.loads(refused)["key_id"] == "-"
    srv.stop()
    every = srv.log_path.read_text().splitlines()
    assert every and all(isinstance(orjson.loads(text), dict) for text in every), \
        [text for text in every if not text.startswith("{")][:5]
    assert any("Uvicorn running on" in orjson.loads(text)["message"] for text in every)
    srv.start()


def test_cli_errors_go_through_the_configured_handler(json_server: Server, tmp_path: Path) -> None:
    """`aisx feed sync` of a failing upstream logs an error: a JSON line, not Python's bare last-resort text."""
    result = json_server.cli("feed", "sync", BROKEN, "--json", check=False)
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors, result.stderr
    parsed = [orjson.loads(line) for line in errors]
    assert any(p["level"] == "ERROR" and p["logger"] == "aisx.upstream" and BROKEN in p["message"] for p in parsed)
