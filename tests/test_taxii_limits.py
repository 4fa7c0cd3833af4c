"""Server-side limits on a server tuned small (page_default 3, page_max 5, max_content_length 4 KiB), so that
clamping, server-limited pages (PAG-05) and the 413 boundary (MCL-01/02) are exercised exactly and cheaply."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.support.server import TAXII, Participant, Server, running_server
from tests.support.stix import envelope, indicator, ts

PAGE_DEFAULT, PAGE_MAX, MAX_BODY = 3, 5, 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tuned = {"AISX_PAGE_DEFAULT": str(PAGE_DEFAULT), "AISX_PAGE_MAX": str(PAGE_MAX),
             "AISX_MAX_CONTENT_LENGTH": str(MAX_BODY)}
    with running_server(tmp_path_factory.mktemp("aisx-tuned"), settings=tuned) as srv:
        yield srv


def _post(client: httpx.Client, collection: str, body: Any) -> httpx.Response:
    return client.post(f"collections/{collection}/objects/", content=body, headers={"Content-Type": TAXII})


@pytest.fixture(scope="module")
def collection(server: Server, lab: Participant) -> str:
    cid = server.add_collection("limits", "Limits")["id"]
    server.grant(lab.slug, cid, read=True, write=True)
    return cid


@pytest.fixture(scope="module")
def posted(lab: Participant, collection: str) -> list[dict[str, Any]]:
    """Eight indicators, posted one per request so their date_added order is known."""
    objects = [indicator() for _ in range(8)]
    for obj in objects:
        assert _post(lab.client, collection, orjson.dumps(envelope(obj))).status_code == 202
    return objects


@pytest.fixture(scope="module")
def versioned(lab: Participant, collection: str) -> str:
    sid = f"indicator--{uuid.uuid4()}"
    for second in range(1, 8):
        body = orjson.dumps(envelope(indicator(sid, created=ts(0), modified=ts(second))))
        assert _post(lab.client, collection, body).status_code == 202
    return sid


def _pages(client: httpx.Client, path: str, params: dict[str, str], field: str = "objects") -> list[list[Any]]:
    pages, body = [], client.get(path, params=params).json()
    pages.append(body.get(field, []))
    while body["more"]:
        body = client.get(path, params={**params, "next": body["next"]}).json()
        pages.append(body.get(field, []))
    return pages


def test_server_limited_pages_follow_next_without_a_limit(lab: Participant, collection: str,
                                                           posted: list[dict[str, Any]]) -> None:
    pages = _pages(lab.client, f"collections/{collection}/objects/", {})
    assert all(len(page) == PAGE_DEFAULT for page in pages[:-1]) and 0 < len(pages[-1]) <= PAGE_DEFAULT
    served = [obj for page in pages for obj in page]
    assert len({obj["id"] for obj in served}) == len(served)  # each object exactly once
    assert [obj for obj in served if obj["type"] == "indicator"] == posted


@pytest.mark.parametrize("endpoint", ["objects", "manifest"])
@pytest.mark.parametrize("limit,expected", [(None, PAGE_DEFAULT), ("1", 1), ("4", 4), ("5", PAGE_MAX),
                                            ("6", PAGE_MAX), ("1000000", PAGE_MAX)])
def test_limit_is_clamped(lab: Participant, collection: str, posted: list[dict[str, Any]], endpoint: str,
                          limit: str | None, expected: int) -> None:
    params = {"limit": limit} if limit else {}
    body = lab.client.get(f"collections/{collection}/{endpoint}/", params=params).json()
    assert len(body["objects"]) == expected
    assert body["more"] is True and isinstance(body["next"], str)


def test_versions_and_object_are_clamped(lab: Participant, collection: str, versioned: str) -> None:
    path = f"collections/{collection}/objects/{versioned}/"
    assert [len(page) for page in _pages(lab.client, path + "versions/", {}, "versions")] == [3, 3, 1]
    assert [len(page) for page in _pages(lab.client, path + "versions/", {"limit": "99"}, "versions")] == [5, 2]
    pages = _pages(lab.client, path, {"match[version]": "all", "limit": "99"})
    assert [[obj["modified"] for obj in page] for page in pages] == [
        [ts(s) for s in range(1, 6)], [ts(6), ts(7)]]


def test_added_after_paging_with_the_last_header(lab: Participant, collection: str,
                                                 posted: list[dict[str, Any]]) -> None:
    """PAG-02 without next: added_after = X-TAXII-Date-Added-Last of the previous page."""
    served: list[dict[str, Any]] = []
    params = {"match[type]": "indicator", "limit": "2"}
    response = lab.client.get(f"collections/{collection}/objects/", params=params)
    while "objects" in response.json():
        served += response.json()["objects"]
        after = response.headers["X-TAXII-Date-Added-Last"]
        response = lab.client.get(f"collections/{collection}/objects/", params={**params, "added_after": after})
    assert [obj for obj in served if obj["id"] in {o["id"] for o in posted}] == posted


def _padded(size: int) -> tuple[str, bytes]:
    """A new indicator's id and a valid envelope of exactly ``size`` bytes holding it (JSON whitespace pads)."""
    obj = indicator()
    body = orjson.dumps(envelope(obj))
    return obj["id"], body[:-1] + b" " * (size - len(body)) + body[-1:]


def test_api_root_reports_max_content_length(lab: Participant) -> None:
    assert lab.client.get("").json()["max_content_length"] == MAX_BODY


@pytest.mark.parametrize("chunked", [False, True])
def test_max_content_length_boundary(lab: Participant, collection: str, chunked: bool) -> None:
    def send(size: int) -> tuple[str, httpx.Response]:
        sid, body = _padded(size)
        assert len(body) == size
        return sid, _post(lab.client, collection, iter([body[:100], body[100:]]) if chunked else body)

    fits, response = send(MAX_BODY)
    assert response.status_code == 202
    assert lab.client.get(f"collections/{collection}/objects/{fits}/").status_code == 200
    refused, response = send(MAX_BODY + 1)
    assert response.status_code == 413
    assert ("content-length" in response.request.headers) is not chunked
    assert response.headers["content-type"] == TAXII
    assert response.json()["http_status"] == "413"
    assert lab.client.get(f"collections/{collection}/objects/{refused}/").status_code == 404
