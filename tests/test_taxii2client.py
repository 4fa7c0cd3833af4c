"""The flows an agency or a lab runs with the official taxii2-client (taxii2client.v21), authenticated with
HTTP Basic (key id, secret) and with a Bearer header."""

from typing import Any

import pytest
import requests
from requests.auth import AuthBase
from taxii2client.v21 import ApiRoot, Collection, Status, as_pages
from taxii2client.v21 import Server as TaxiiServer

from tests.support.server import TAXII, Participant, Server
from tests.support.stix import envelope, indicator, ts


class BearerAuth(AuthBase):
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.secret}"
        return request


@pytest.fixture(params=["basic", "bearer"])
def credentials(request: pytest.FixtureRequest, lab: Participant) -> dict[str, Any]:
    if request.param == "basic":
        user, password = lab.basic_auth
        return {"user": user, "password": password}
    return {"auth": BearerAuth(lab.secret)}


@pytest.fixture
def root(server: Server, credentials: dict[str, Any]) -> ApiRoot:
    discovery = TaxiiServer(f"{server.base_url}/taxii2/", **credentials)
    assert discovery.default is not None
    return discovery.default


@pytest.fixture
def shared(root: ApiRoot) -> Collection:
    return next(c for c in root.collections if c.alias == "shared")


def test_discovery_and_api_root(server: Server, credentials: dict[str, Any]) -> None:
    discovery = TaxiiServer(f"{server.base_url}/taxii2/", **credentials)
    assert discovery.title
    assert discovery.default is not None
    assert discovery.default.url == f"{server.base_url}/taxii2/exchange/"
    assert [r.url for r in discovery.api_roots] == [discovery.default.url]
    root = discovery.default
    assert TAXII in root.versions
    assert root.max_content_length > 0
    shared = next(c for c in root.collections if c.alias == "shared")
    assert shared.can_read and shared.can_write
    assert shared.media_types == ["application/stix+json;version=2.1"]
    # the collection resolved on its own, from its URL alone
    alone = Collection(shared.url, **credentials)
    assert (alone.id, alone.title, alone.can_read, alone.can_write) == (shared.id, shared.title, True, True)


@pytest.mark.parametrize("bad", [{"user": "nokey", "password": "nosecret"}, {"auth": BearerAuth("nosecret")}, {}])
def test_bad_or_missing_credentials_are_refused(server: Server, lab: Participant, bad: dict[str, Any]) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        TaxiiServer(f"{server.base_url}/taxii2/", **bad).refresh()
    assert caught.value.response.status_code == 401
    assert caught.value.response.headers.get("WWW-Authenticate")
    wrong_secret = {"user": lab.key_id, "password": lab.secret[:-1] + ("x" if lab.secret[-1] != "x" else "y")}
    with pytest.raises(requests.HTTPError) as caught:
        TaxiiServer(f"{server.base_url}/taxii2/", **wrong_secret).refresh()
    assert caught.value.response.status_code == 401


def test_add_read_page_version_delete(root: ApiRoot, shared: Collection) -> None:
    first = indicator(created=ts(0), modified=ts(0))
    versions = [first, indicator(first["id"], created=ts(0), modified=ts(1)),
                indicator(first["id"], created=ts(0), modified=ts(2))]
    others = [indicator(), indicator()]
    posted = [*versions, *others]
    ids = [first["id"], *(o["id"] for o in others)]

    status = shared.add_objects(envelope(*posted), wait_for_completion=True, poll_interval=0.1, timeout=10)
    assert isinstance(status, Status)
    assert (status.status, status.total_count, status.success_count, status.failure_count,
            status.pending_count) == ("complete", 5, 5, 0, 0)
    assert sorted((s["id"], s["version"]) for s in status.successes) == sorted(
        (o["id"], o["modified"]) for o in posted)
    again = root.get_status(status.id)
    assert (again.id, again.status, again.success_count) == (status.id, "complete", 5)

    # every version, two per page, exactly as posted
    pages = list(as_pages(shared.get_objects, per_request=2, id=ids, version="all"))
    assert [len(p.get("objects", [])) for p in pages] == [2, 2, 1]
    assert [p["more"] for p in pages] == [True, True, False]
    assert sorted((o for p in pages for o in p["objects"]), key=str) == sorted(posted, key=str)
    # by default only the latest version of each object
    latest = list(as_pages(shared.get_objects, per_request=2, id=ids))
    assert sorted((o for p in latest for o in p["objects"]), key=str) == sorted([versions[-1], *others], key=str)

    manifest = list(as_pages(shared.get_manifest, per_request=2, id=ids, version="all"))
    records = [r for p in manifest for r in p["objects"]]
    assert sorted((r["id"], r["version"]) for r in records) == sorted((o["id"], o["modified"]) for o in posted)
    assert all(r["media_type"] == "application/stix+json;version=2.1" and r["date_added"] for r in records)

    assert shared.get_object(first["id"])["objects"] == [versions[-1]]
    assert shared.get_object(first["id"], version=ts(1))["objects"] == [versions[1]]
    assert shared.get_object(first["id"], version="first")["objects"] == [first]
    assert shared.object_versions(first["id"])["versions"] == [ts(0), ts(1), ts(2)]

    # delete one version, then the whole object
    shared.delete_object(first["id"], version=ts(1))
    assert shared.object_versions(first["id"])["versions"] == [ts(0), ts(2)]
    shared.delete_object(first["id"])
    for gone in (lambda: shared.get_object(first["id"]), lambda: shared.object_versions(first["id"])):
        with pytest.raises(requests.HTTPError) as caught:
            gone()
        assert caught.value.response.status_code == 404
    remaining = shared.get_objects(id=ids, version="all")["objects"]
    assert sorted(remaining, key=str) == sorted(others, key=str)


def test_status_reports_each_rejected_object(root: ApiRoot, shared: Collection) -> None:
    good = indicator()
    bad = indicator(spec_version="2.0")
    status = shared.add_objects(envelope(good, bad), poll_interval=0.1, timeout=10)
    assert (status.status, status.total_count, status.success_count, status.failure_count) == (
        "complete", 2, 1, 1)
    assert [s["id"] for s in status.successes] == [good["id"]]
    [failure] = status.failures
    assert failure["id"] == bad["id"] and failure["version"] == bad["modified"]
    assert "spec_version" in failure["message"]
    assert shared.get_object(good["id"])["objects"] == [good]
    with pytest.raises(requests.HTTPError) as caught:
        shared.get_object(bad["id"])
    assert caught.value.response.status_code == 404
