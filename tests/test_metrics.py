"""/metrics (issue 16, item 9): Prometheus text format, summed over the worker processes of one ``aisx serve``,
for operator keys on the main port and for anyone on AISX_METRICS_ADDRESS; every family counts what it says.

One server with two workers for the module. Scrapes go to the metrics address, served by the supervisor
process, which answers no request itself: every request it reports was counted by a worker."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from tests.feed_support import feed_toml
from tests.hardening_support import running_server, shared_collection_id, taxii_error_problem
from tests.support.server import TAXII, TLS, Server, children_tempdir, free_port
from tests.support.stix import indicator

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
MIRROR = "broken-mirror"
SCRAPE: dict[str, str] = {}  # the metrics address's URL, once the server runs


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("metrics")
    scrape_port = free_port()
    # an upstream that answers 404 (the metrics listener has nothing but /metrics): every pull fails
    mirror = feed_toml(str(uuid.uuid4()), MIRROR, read=("everyone",), upstream={
        "url": f"http://127.0.0.1:{scrape_port}/taxii2/exchange/", "collection": str(uuid.uuid4()),
        "attribute_to": "admin", "poll_interval": 3600, "retry_attempts": 1, "retry_backoff": 0.05})
    settings = {"AISX_METRICS_ADDRESS": str(scrape_port), "AISX_RATE_LIMIT_PER_MINUTE": "40",
                "AISX_RATE_LIMIT_WINDOW": "3600"}
    with running_server(workdir, workers=2, settings=settings, feeds={f"{MIRROR}.toml": mirror}) as srv:
        SCRAPE["url"] = f"http://127.0.0.1:{scrape_port}/metrics"
        yield srv


def scrape(srv: Server) -> Samples:
    answer = httpx.get(SCRAPE["url"], timeout=30, verify=TLS)  # a new connection each time
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(answer.text)


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def counted(srv: Server, name: str, at_least: float, patience: float = 10, **labels: str) -> Samples:
    """A scrape in which ``name`` with ``labels`` has reached ``at_least`` (or the last one, after ``patience``
    seconds). A request is counted once its answer has gone out (``app.main._Observe`` observes in its
    ``finally``), so a scrape sent right after the answer can reach the server first: seen once in CI, on the 404
    below."""
    deadline = time.monotonic() + patience
    while True:
        samples = scrape(srv)
        if value(samples, name, **labels) >= at_least or time.monotonic() > deadline:
            return samples
        time.sleep(0.02)


def test_database_pool_use(exchange: Server) -> None:
    """First in the module, before any request but the start's health checks: every worker reports its pool
    from its own start, whether or not a request has reached it yet (it used to make its pool at the first request
    that needed the database, so the sum depended on which worker the kernel had handed connections to)."""
    # the second worker may still be starting when the first one answers
    samples = counted(exchange, "aisx_db_pool_size", 3 * 5, patience=30)
    size = value(samples, "aisx_db_pool_size")
    assert size >= 3 * 5  # the supervisor (jobs) and both workers, each with its pool
    assert 0 <= value(samples, "aisx_db_pool_checked_out") <= 3 * size


def test_metrics_on_the_main_port_answer_operator_keys_only(exchange: Server) -> None:
    url = f"{exchange.base_url}/metrics"
    ok = httpx.get(url, headers={"Authorization": f"Bearer {exchange.admin_secret}"}, verify=TLS)
    assert ok.status_code == 200 and ok.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE aisx_http_request_duration_seconds histogram" in ok.text
    lab = exchange.add_participant("metrics-reader")
    for response, status in ((httpx.get(url, verify=TLS), 401),
                             (httpx.get(url, headers={"Authorization": "Bearer nope"}, verify=TLS), 401),
                             (httpx.get(url, auth=("aisx_k_0123456789abcdef", "wrong"), verify=TLS), 401),
                             (lab.client.get(url), 403)):
        assert response.status_code == status, response.text
        assert taxii_error_problem(response) is None, taxii_error_problem(response)
        assert "aisx_" not in response.text
    assert "WWW-Authenticate" in httpx.get(url, verify=TLS).headers


def test_the_metrics_address_serves_metrics_only(exchange: Server) -> None:
    base = SCRAPE["url"].removesuffix("/metrics")
    assert httpx.get(f"{base}/healthz", verify=TLS).status_code == 404
    assert httpx.get(f"{base}/metrics?x=1", verify=TLS).status_code == 200
    assert Settings(metrics_address="9100").metrics_listen == ("127.0.0.1", 9100)  # loopback unless told
    assert Settings(metrics_address="0.0.0.0:9100").metrics_listen == ("0.0.0.0", 9100)


def test_requests_are_counted_by_route_template_over_all_workers(exchange: Server) -> None:
    lab = exchange.add_participant("metrics-counted")
    collection = shared_collection_id(lab.client)
    route = "/taxii2/{api_root}/collections/{collection_id}/"
    before = scrape(exchange)
    for _ in range(30):  # a new connection each: the kernel spreads them over both workers
        answer = httpx.get(f"{exchange.root_url}collections/{collection}/", auth=lab.basic_auth,
                           headers={"Accept": TAXII}, verify=TLS)
        assert answer.status_code == 200
    name = "aisx_http_request_duration_seconds_count"
    counted(exchange, name, value(before, name, route=route, method="GET", status="200") + 30, route=route,
            method="GET", status="200")
    for _ in range(5):  # every scrape sums the same files, whichever way it comes
        after = scrape(exchange)
        assert value(after, name, route=route, method="GET", status="200") - \
            value(before, name, route=route, method="GET", status="200") == 30
    text = httpx.get(SCRAPE["url"], verify=TLS).text
    assert collection not in text and lab.key_id not in text  # templates, never paths or keys
    missing = httpx.get(f"{exchange.base_url}/no/such/{collection}", verify=TLS)
    assert missing.status_code == 404
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(counted(exchange, name, 1, **unmatched), name, **unmatched) >= 1


def test_objects_accepted_rejected_and_sharing_refusals(exchange: Server) -> None:
    lab = exchange.add_participant("metrics-poster")
    collection = shared_collection_id(lab.client)
    before = scrape(exchange)
    unmarked = indicator()
    unmarked.pop("object_marking_refs")
    invalid = indicator()
    invalid["pattern"] = "not a pattern"
    impostor = indicator(created_by_ref=f"identity--{uuid.uuid4()}")
    posted = lab.client.post(f"collections/{collection}/objects/", headers={"Content-Type": TAXII},
                             content=orjson.dumps({"objects": [indicator(), indicator(), unmarked, invalid, impostor]}))
    assert posted.status_code == 202 and posted.json()["failure_count"] == 3, posted.text
    after = scrape(exchange)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("aisx_objects_accepted_total") == 2
    assert delta("aisx_objects_rejected_total", reason="validation") == 1
    assert delta("aisx_objects_rejected_total", reason="sharing") == 2
    assert delta("aisx_sharing_refusals_total", rule="no_tlp") == 1
    assert delta("aisx_sharing_refusals_total", rule="impersonation") == 1


def test_authentication_failures_and_rate_limit_answers(exchange: Server) -> None:
    before = scrape(exchange)
    assert httpx.get(f"{exchange.root_url}collections/", headers={"Authorization": "Bearer aisx_s_nothing"},
                     verify=TLS) \
        .status_code == 401
    assert httpx.get(f"{exchange.root_url}collections/", headers={"Authorization": "Basic %%%"},
                     verify=TLS).status_code == 401
    busy = exchange.add_participant("metrics-busy")
    statuses = [busy.client.get("collections/").status_code for _ in range(80)]
    refused = statuses.count(429)
    assert refused > 0
    time.sleep(1.5)
    after = scrape(exchange)
    assert value(after, "aisx_auth_failures_total", reason="invalid") - \
        value(before, "aisx_auth_failures_total", reason="invalid") == 1
    assert value(after, "aisx_auth_failures_total", reason="malformed") - \
        value(before, "aisx_auth_failures_total", reason="malformed") == 1
    assert value(after, "aisx_rate_limited_total", limit="key") - \
        value(before, "aisx_rate_limited_total", limit="key") == refused


def test_upstream_pulls_failures_and_lag(exchange: Server) -> None:
    deadline = time.monotonic() + 30
    samples = scrape(exchange)
    while value(samples, "aisx_upstream_failures_total", feed=MIRROR) < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
        samples = scrape(exchange)
    assert value(samples, "aisx_upstream_pulls_total", feed=MIRROR) >= 1
    assert value(samples, "aisx_upstream_failures_total", feed=MIRROR) >= 1
    assert value(samples, "aisx_upstream_lag_seconds", feed=MIRROR) == float("inf")  # never succeeded


def test_counts_start_from_zero_with_each_serve(tmp_path: Path) -> None:
    """An operator's PROMETHEUS_MULTIPROC_DIR is emptied at start: a restarted server does not add up the files
    of the processes of its previous run (whose pids a new worker may even reuse)."""
    directory = tmp_path / "multiproc"
    port = free_port()
    settings = {"PROMETHEUS_MULTIPROC_DIR": str(directory), "AISX_METRICS_ADDRESS": str(port)}
    url = f"http://127.0.0.1:{port}/metrics"
    name, labels = "aisx_http_request_duration_seconds_count", {"route": "/taxii2/", "method": "GET",
                                                                 "status": "401"}
    with running_server(tmp_path / "srv", settings=settings) as srv:
        for _ in range(3):
            assert httpx.get(f"{srv.base_url}/taxii2/", verify=TLS).status_code == 401
        assert value(parse(httpx.get(url, verify=TLS).text), name, **labels) == 3
        assert list(directory.glob("*.db"))
        srv.stop()
        srv.start()
        assert httpx.get(f"{srv.base_url}/taxii2/", verify=TLS).status_code == 401
        assert value(parse(httpx.get(url, verify=TLS).text), name, **labels) == 1


def test_a_server_stopped_by_sigterm_removes_its_own_metrics_directory(tmp_path: Path) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR a server counts in a temporary directory of its own, which it removes when
    it stops. uvicorn ends a SIGTERMed server by raising the signal again after its shutdown; that used to end the
    process inside ``uvicorn.run``, before the removal (and before the jobs stopped and the leadership was
    resigned): every stopped server left an ``aisx-metrics-*`` directory in the temporary directory."""
    with running_server(tmp_path / "srv") as srv:
        assert httpx.get(f"{srv.base_url}/taxii2/", verify=TLS).status_code == 401
        assert srv.process is not None
        pid = srv.process.pid
        own = [d for d in children_tempdir().glob("aisx-metrics-*") if list(d.glob(f"*_{pid}.db"))]
        assert len(own) == 1, own
        srv.stop()
        assert srv.process.poll() is not None
        assert not own[0].exists(), sorted(p.name for p in own[0].iterdir())
