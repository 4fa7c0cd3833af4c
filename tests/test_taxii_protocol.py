"""TAXII 2.1 end to end over HTTP: every endpoint, filter and header of the protocol, the 401/403/404 tables,
content negotiation, POST semantics and bad input (shared/domain/taxii21-checklist.md).

Every response any client of this module receives is checked by ``_check_response``: TAXII media type, never a
5xx, and every error a TAXII error resource whose http_status is the response status."""

import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from app.store.queries import ObjectFilter, Position
from app.taxii.cursor import issue, redeem
from app.taxii.errors import TaxiiError
from tests.support.server import TAXII, Participant, Server
from tests.support.stix import TLP_GREEN, envelope, indicator, ts

STIX = "application/stix+json;version=2.1"
MAX_BODY = 10 * 1024 * 1024
_aliases = itertools.count()


# ------------------------------------------------------------------ helpers


def _check_response(response: httpx.Response) -> None:
    response.read()
    where = f"{response.request.method} {response.request.url} -> {response.status_code}"
    assert response.status_code < 500, f"{where}: {response.text}"
    assert response.headers.get("content-type") == TAXII, where
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("title"), str) and body["title"], where
        assert body.get("http_status") == str(response.status_code), where
        assert "Traceback" not in response.text, where


def checked(client: httpx.Client) -> httpx.Client:
    client.event_hooks = {"response": [_check_response]}
    return client


def post(client: httpx.Client, collection: str, *objects: dict[str, Any],
         content_type: str | None = TAXII) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post(f"collections/{collection}/objects/", content=orjson.dumps(envelope(*objects)),
                       headers=headers)


def posted(client: httpx.Client, collection: str, *objects: dict[str, Any]) -> dict[str, Any]:
    """POST ``objects``, expecting every one to be accepted; returns the status resource."""
    response = post(client, collection, *objects)
    assert response.status_code == 202, response.text
    status = response.json()
    assert status["success_count"] == len(objects), status
    return status


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def snapshot(client: httpx.Client, collection: str) -> tuple[Any, Any]:
    """Everything a reader sees of a collection: every object version and every manifest record."""
    everything = {"match[version]": "all", "limit": "10000"}
    objects = client.get(f"collections/{collection}/objects/", params=everything)
    manifest = client.get(f"collections/{collection}/manifest/", params=everything)
    assert objects.status_code == manifest.status_code == 200
    assert objects.json()["more"] is False and manifest.json()["more"] is False
    return objects.json(), manifest.json()


def when(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def new_collection(server: Server, *grants: tuple[str, ...], public: bool = False) -> str:
    """A collection made through the admin API; each grant is (subject, "read" and/or "write")."""
    alias = f"c{next(_aliases)}"
    cid: str = server.add_collection(alias, f"Collection {alias}", public=public)["id"]
    for subject, *flags in grants:
        server.grant(subject, cid, read="read" in flags, write="write" in flags)
    return cid


def malware() -> dict[str, Any]:
    return {"type": "malware", "spec_version": "2.1", "id": f"malware--{uuid.uuid4()}", "created": ts(),
            "modified": ts(), "name": "poisoned model loader", "is_family": False, "object_marking_refs": [TLP_GREEN]}


def ipv4(value: str) -> dict[str, Any]:
    sco_namespace = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
    stix_id = f"ipv4-addr--{uuid.uuid5(sco_namespace, orjson.dumps({'value': value}).decode())}"
    return {"type": "ipv4-addr", "spec_version": "2.1", "id": stix_id, "value": value,
            "object_marking_refs": [TLP_GREEN]}


@pytest.fixture(scope="module", autouse=True)
def _checked_lab(lab: Participant) -> None:
    checked(lab.client)


@pytest.fixture(scope="module")
def other(server: Server) -> Participant:
    """A second lab, with the default access only (the ``shared`` collection)."""
    participant = server.add_participant(f"other-{uuid.uuid4().hex[:8]}")
    checked(participant.client)
    return participant


@pytest.fixture
def anonymous(server: Server) -> Iterator[httpx.Client]:
    with checked(server.client()) as client:
        yield client


# ------------------------------------------------------------------ the corpus: a read-only collection
# Posted one object per request, in this order, so each version's date_added order is known.
# Fixed ids (each module's server has a database of its own): they name parametrized tests, which every
# pytest-xdist worker must collect identically.
A, C = "indicator--0d4c8a3e-5b1f-4e2a-9c6d-7f8e9a0b1c2d", "indicator--3e7f1a2b-8c4d-4f5e-a6b7-c8d9e0f1a2b3"
CORPUS = {
    "A1": indicator(A, created=ts(0), modified=ts(1)),
    "B": malware(),
    "A2": indicator(A, created=ts(0), modified=ts(2)),
    "C1": indicator(C, created=ts(0), modified=ts(3, 123456)),
    "A3": indicator(A, created=ts(0), modified=ts(3)),
    "S": ipv4("198.51.100.7"),
    "C2": indicator(C, created=ts(0), modified=ts(4, 500000)),
}
ORDER = list(CORPUS)
B, S = CORPUS["B"]["id"], CORPUS["S"]["id"]


@pytest.fixture(scope="module")
def corpus(server: Server, lab: Participant) -> str:
    cid = new_collection(server, (lab.slug, "read", "write"))
    for obj in CORPUS.values():
        posted(checked(lab.client), cid, obj)
    return cid


# Every collection also serves the exchange's own definitions (its identity, TLP marking-definitions, the
# audience extension-definition), added when the collection was made, before any corpus object.
DEFINITION_TYPES = {"identity", "marking-definition", "extension-definition"}


@pytest.fixture(scope="module")
def added(corpus: str, lab: Participant) -> dict[str, str]:
    """date_added of each corpus entry, from the manifest, and as ``T0`` that of the last definition."""
    records = lab.client.get(f"collections/{corpus}/manifest/", params={"match[version]": "all"}).json()["objects"]
    start = len(records) - len(ORDER)
    assert [r["id"] for r in records[start:]] == [CORPUS[k]["id"] for k in ORDER]
    assert start > 0 and all(r["id"].split("--")[0] in DEFINITION_TYPES for r in records[:start])
    return {"T0": records[start - 1]["date_added"],
            **{key: record["date_added"] for key, record in zip(ORDER, records[start:], strict=True)}}


def keys_of(body: dict[str, Any]) -> list[str]:
    """The corpus keys of the objects in an envelope, each verbatim what was posted; definitions are skipped."""
    found = []
    for obj in body.get("objects", []):
        if obj["type"] not in DEFINITION_TYPES:
            found.append(next(k for k, v in CORPUS.items() if v == obj))
    return found


# ------------------------------------------------------------------ discovery, API root (§4.1, §4.2)


def test_discovery(server: Server, lab: Participant) -> None:
    response = lab.client.get(f"{server.base_url}/taxii2/")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["title"], str)
    assert body["default"] == "/taxii2/exchange/"
    assert "/taxii2/exchange/" in body["api_roots"]


def test_api_root(lab: Participant) -> None:
    response = lab.client.get("")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["title"], str)
    assert body["versions"] == [TAXII]
    assert body["max_content_length"] == MAX_BODY


@pytest.mark.parametrize("method,path", [
    ("GET", ""), ("GET", "collections/"), ("GET", "collections/{c}/"), ("GET", "collections/{c}/objects/"),
    ("GET", "collections/{c}/manifest/"), ("POST", "collections/{c}/objects/"),
    ("GET", "status/00000000-0000-4000-8000-000000000000/"),
])
def test_unknown_api_root_is_404(server: Server, lab: Participant, shared_collection: str, method: str,
                                 path: str) -> None:
    url = f"{server.base_url}/taxii2/no-such-root/" + path.format(c=shared_collection)
    body = orjson.dumps(envelope(indicator())) if method == "POST" else None
    response = lab.client.request(method, url, content=body, headers={"Content-Type": TAXII})
    error(response, 404)


def test_unknown_route_and_method_are_taxii_errors(server: Server, lab: Participant,
                                                   shared_collection: str) -> None:
    error(lab.client.get(f"{server.base_url}/taxii2/exchange/nothing/here/"), 404)
    error(lab.client.put(f"collections/{shared_collection}/objects/", content=b"{}"), 405)


# ------------------------------------------------------------------ collections (§5.1, §5.2)


@pytest.fixture(scope="module")
def grants(server: Server, lab: Participant) -> dict[str, str]:
    """Collections on which ``lab`` has each combination of (can_read, can_write), plus ones granted to a
    group and to a kind that ``lab`` is not in."""
    return {
        "rw": new_collection(server, (lab.slug, "read", "write")),
        "ro": new_collection(server, (lab.slug, "read")),
        "wo": new_collection(server, (lab.slug, "write")),
        "none": new_collection(server),
        "group": new_collection(server, ("group:red-team", "read")),
        "agency": new_collection(server, ("kind:agency", "read", "write")),
        "public": new_collection(server, public=True),
    }


def listed(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("collections/")
    assert response.status_code == 200
    return {c["id"]: c for c in response.json().get("collections", [])}


def test_collections_report_access_per_caller(lab: Participant, grants: dict[str, str],
                                              shared_collection: str) -> None:
    collections = listed(lab.client)
    flags = {name: (collections[cid]["can_read"], collections[cid]["can_write"])
             for name, cid in grants.items() if cid in collections}
    assert flags == {"rw": (True, True), "ro": (True, False), "wo": (False, True), "public": (True, False)}
    assert (collections[shared_collection]["can_read"], collections[shared_collection]["can_write"]) == (True, True)
    for entry in collections.values():
        assert entry["media_types"] == [STIX]
        assert isinstance(entry["title"], str)
        one = lab.client.get(f"collections/{entry['id']}/")
        assert one.status_code == 200
        assert one.json() == entry
    assert list(listed(lab.client)) == list(collections)  # a consistent order


def test_group_and_kind_grants(make_participant, grants: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    member = make_participant("vendor", groups=("red-team",))
    agency = make_participant("agency")
    member_view, agency_view = listed(checked(member.client)), listed(checked(agency.client))
    assert (member_view[grants["group"]]["can_read"], member_view[grants["group"]]["can_write"]) == (True, False)
    assert grants["agency"] not in member_view
    assert (agency_view[grants["agency"]]["can_read"], agency_view[grants["agency"]]["can_write"]) == (True, True)
    assert grants["group"] not in agency_view


def test_collection_without_access_is_unknown(lab: Participant, grants: dict[str, str]) -> None:
    for name in ("none", "group", "agency"):
        error(lab.client.get(f"collections/{grants[name]}/"), 404)
    error(lab.client.get(f"collections/{uuid.uuid4()}/"), 404)


# ------------------------------------------------------------------ 401 / 403 / 404 (§5.3-5.8 tables)


def test_read_only_collection(lab: Participant, grants: dict[str, str]) -> None:
    ro = grants["ro"]
    assert lab.client.get(f"collections/{ro}/objects/").status_code == 200
    assert lab.client.get(f"collections/{ro}/manifest/").status_code == 200
    error(post(lab.client, ro, indicator()), 403)
    error(lab.client.delete(f"collections/{ro}/objects/{A}/"), 403)


def test_write_only_collection(lab: Participant, grants: dict[str, str]) -> None:
    wo = grants["wo"]
    obj = indicator()
    assert post(lab.client, wo, obj).status_code == 202
    for path in ("objects/", "manifest/", f"objects/{obj['id']}/", f"objects/{obj['id']}/versions/"):
        error(lab.client.get(f"collections/{wo}/{path}"), 403)
    error(lab.client.delete(f"collections/{wo}/objects/{obj['id']}/"), 403)


def test_collection_with_neither_is_404_everywhere(lab: Participant, grants: dict[str, str]) -> None:
    none = grants["none"]
    for path in ("", "objects/", "manifest/", f"objects/{A}/", f"objects/{A}/versions/"):
        error(lab.client.get(f"collections/{none}/{path}"), 404)
    error(post(lab.client, none, indicator()), 404)
    error(lab.client.delete(f"collections/{none}/objects/{A}/"), 404)


def _assert_unauthorized(response: httpx.Response) -> None:
    error(response, 401)
    assert response.headers.get("www-authenticate"), "a 401 must carry a challenge"


def test_no_credentials_is_401_with_challenge(server: Server, anonymous: httpx.Client, corpus: str) -> None:
    for path in ("/taxii2/", "/taxii2/exchange/", "/taxii2/exchange/collections/",
                 f"/taxii2/exchange/status/{uuid.uuid4()}/"):
        _assert_unauthorized(anonymous.get(server.base_url + path))
    for path in ("", "objects/", "manifest/", f"objects/{A}/", f"objects/{A}/versions/"):
        _assert_unauthorized(anonymous.get(f"collections/{corpus}/{path}"))
    _assert_unauthorized(post(anonymous, corpus, indicator()))
    _assert_unauthorized(anonymous.delete(f"collections/{corpus}/objects/{A}/"))


@pytest.mark.parametrize("authorization", [
    "Bearer aisx_s_not-a-real-secret", "Bearer", "Basic " + "bm9wZTpub3Bl", "Basic !!!not-base64",
    "Digest username=x", "aisx_s_no-scheme",
])
def test_bad_credentials_are_401(server: Server, authorization: str, corpus: str) -> None:
    with checked(server.client()) as client:
        client.headers["Authorization"] = authorization
        _assert_unauthorized(client.get(""))
        _assert_unauthorized(client.get(f"collections/{corpus}/objects/"))


def test_basic_auth(server: Server, lab: Participant, other: Participant, corpus: str) -> None:
    with checked(server.client(auth=lab.basic_auth)) as client:
        assert client.get("").status_code == 200
        assert keys_of(client.get(f"collections/{corpus}/objects/").json()) == ["B", "A3", "S", "C2"]
    for auth in ((lab.key_id, "wrong"), (lab.key_id, other.secret), ("aisx_k_0000000000000000", lab.secret)):
        with checked(server.client(auth=auth)) as client:
            _assert_unauthorized(client.get(""))


def test_public_collection_anonymous(anonymous: httpx.Client, grants: dict[str, str]) -> None:
    response = anonymous.get(f"collections/{grants['public']}/")
    assert response.status_code == 200
    assert (response.json()["can_read"], response.json()["can_write"]) == (True, False)
    assert anonymous.get(f"collections/{grants['public']}/objects/").status_code == 200
    _assert_unauthorized(post(anonymous, grants["public"], indicator()))
    _assert_unauthorized(anonymous.get("collections/"))


# ------------------------------------------------------------------ content negotiation (§1.6.8, §3.1)


ACCEPTED = [
    TAXII, "application/taxii+json; version=2.1", 'application/taxii+json;version="2.1"',
    "application/taxii+json", "Application/TAXII+JSON;Version=2.1",
    "text/html, application/taxii+json;version=2.1;q=0.9", "application/taxii+json;version=2.1, */*;q=0.1",
    f"{TAXII},{STIX}", "*/*", "application/*", "text/html;q=0.9, application/*;q=0.5",
]
REFUSED = [
    "text/html", "application/taxii+json;version=2.0", "application/xml", "application/json",
    STIX, "application/taxii+json;version=2.1;q=0", "text/*",
]


@pytest.mark.parametrize("accept", ACCEPTED)
def test_acceptable_accept_headers(lab: Participant, corpus: str, accept: str) -> None:
    for path in ("", "collections/", f"collections/{corpus}/objects/", f"collections/{corpus}/manifest/"):
        assert lab.client.get(path, headers={"Accept": accept}).status_code == 200, path


def test_missing_accept_is_served(server: Server, lab: Participant) -> None:
    with checked(server.client(lab.secret)) as client:
        del client.headers["Accept"]
        response = client.get("")
    assert "accept" not in response.request.headers
    assert response.status_code == 200


@pytest.mark.parametrize("accept", REFUSED)
def test_unacceptable_accept_is_406(lab: Participant, corpus: str, accept: str) -> None:
    for path in ("", "collections/", f"collections/{corpus}/objects/", f"collections/{corpus}/manifest/"):
        error(lab.client.get(path, headers={"Accept": accept}), 406)


@pytest.mark.parametrize("content_type", [
    TAXII, "application/taxii+json", "application/taxii+json; version=2.1",
    "application/taxii+json;version=2.1;charset=utf-8",
])
def test_post_content_types_accepted(lab: Participant, shared_collection: str, content_type: str) -> None:
    response = post(lab.client, shared_collection, indicator(), content_type=content_type)
    assert response.status_code == 202


# ------------------------------------------------------------------ status resources (§4.3)


def test_status_after_post(lab: Participant, other: Participant, shared_collection: str) -> None:
    good, bad = indicator(), indicator(spec_version="2.0")
    response = post(lab.client, shared_collection, good, bad)
    assert response.status_code == 202
    status = response.json()
    assert status["status"] == "complete"
    assert (status["total_count"], status["success_count"], status["failure_count"], status["pending_count"]) == (
        2, 1, 1, 0)
    assert [(s["id"], when(s["version"])) for s in status["successes"]] == [(good["id"], when(good["modified"]))]
    assert [f["id"] for f in status["failures"]] == [bad["id"]]
    assert "pendings" not in status  # TAXII lists are never empty
    when(status["request_timestamp"])
    again = lab.client.get(f"status/{status['id']}/")
    assert again.status_code == 200
    assert again.json() == status
    error(other.client.get(f"status/{status['id']}/"), 404)
    error(lab.client.get(f"status/{uuid.uuid4()}/"), 404)


# ------------------------------------------------------------------ Get Objects, Get an Object, match[version]


def test_objects_default_to_latest_versions_in_date_added_order(lab: Participant, corpus: str) -> None:
    response = lab.client.get(f"collections/{corpus}/objects/")
    assert response.status_code == 200
    body = response.json()
    assert body["more"] is False and "next" not in body
    definitions = len(body["objects"]) - 4
    assert all(obj["type"] in DEFINITION_TYPES for obj in body["objects"][:definitions])
    assert keys_of(body) == ["B", "A3", "S", "C2"]  # returned verbatim, oldest date_added first


@pytest.mark.parametrize("version,expected", [
    ("last", ["B", "A3", "S", "C2"]),
    ("first", ["A1", "B", "C1", "S"]),
    ("all", ORDER),
    ("first,last", ["A1", "B", "C1", "A3", "S", "C2"]),
    ("last,first", ["A1", "B", "C1", "A3", "S", "C2"]),
    (ts(2), ["A2"]),
    (f"{ts(2)},last", ["B", "A2", "A3", "S", "C2"]),
    (f"{ts(1)},{ts(4, 500000)}", ["A1", "C2"]),
    (ts(3), ["A3"]),  # 03.000000 matches A3, not C1 (03.123456)
    (ts(3, 123456), ["C1"]),
    ("2026-01-01T00:00:03.123Z", []),
    ("2026-01-01T00:00:04.5Z", ["C2"]),
    ("2026-01-01T01:00:02+01:00", ["A2"]),
    ("2026-01-01T00:00:02.000000000Z", ["A2"]),
    (ts(59), []),
])
def test_match_version_on_objects(lab: Participant, corpus: str, version: str, expected: list[str]) -> None:
    response = lab.client.get(f"collections/{corpus}/objects/", params={"match[version]": version})
    assert response.status_code == 200
    assert keys_of(response.json()) == expected
    if not {"first", "last", "all"} & set(version.split(",")):  # exact versions only: no definition matches
        assert ("objects" in response.json()) == bool(expected)


@pytest.mark.parametrize("version,expected", [
    (None, ["A3"]), ("last", ["A3"]), ("first", ["A1"]), ("all", ["A1", "A2", "A3"]),
    ("first,last", ["A1", "A3"]), (ts(2), ["A2"]), (f"{ts(1)},{ts(3)}", ["A1", "A3"]),
    (f"first,{ts(2)}", ["A1", "A2"]),
])
def test_get_an_object(lab: Participant, corpus: str, version: str | None, expected: list[str]) -> None:
    params = {"match[version]": version} if version else {}
    response = lab.client.get(f"collections/{corpus}/objects/{A}/", params=params)
    assert response.status_code == 200
    assert keys_of(response.json()) == expected


def test_get_an_object_with_other_filters(lab: Participant, corpus: str, added: dict[str, str]) -> None:
    path = f"collections/{corpus}/objects/{A}/"
    everything = {"match[version]": "all"}
    assert keys_of(lab.client.get(path, params={**everything, "added_after": added["A1"]}).json()) == ["A2", "A3"]
    assert keys_of(lab.client.get(path, params={**everything, "match[spec_version]": "2.1"}).json()) == [
        "A1", "A2", "A3"]
    page = lab.client.get(path, params={**everything, "limit": "2"}).json()
    assert keys_of(page) == ["A1", "A2"] and page["more"] is True
    rest = lab.client.get(path, params={**everything, "next": page["next"]}).json()
    assert keys_of(rest) == ["A3"] and rest["more"] is False


def test_unknown_object_is_404(lab: Participant, corpus: str) -> None:
    unknown = f"indicator--{uuid.uuid4()}"
    for path in (f"objects/{unknown}/", f"objects/{unknown}/versions/"):
        error(lab.client.get(f"collections/{corpus}/{path}"), 404)


def test_object_in_another_collection_is_404(lab: Participant, corpus: str, shared_collection: str) -> None:
    error(lab.client.get(f"collections/{shared_collection}/objects/{A}/"), 404)


def test_unversioned_objects_use_created_or_arrival(lab: Participant, shared_collection: str) -> None:
    statement = {"type": "marking-definition", "spec_version": "2.1", "id": f"marking-definition--{uuid.uuid4()}",
                 "created": ts(7, 250000), "definition_type": "statement",
                 "definition": {"statement": "Copyright AISX test lab"}, "object_marking_refs": [TLP_GREEN]}
    status = posted(lab.client, shared_collection, statement)
    assert when(status["successes"][0]["version"]) == when(ts(7, 250000))
    versions = lab.client.get(f"collections/{shared_collection}/objects/{statement['id']}/versions/").json()["versions"]
    assert [when(v) for v in versions] == [when(ts(7, 250000))]
    for version in ("first", "last", ts(7, 250000)):
        got = lab.client.get(f"collections/{shared_collection}/objects/", params={"match[version]": version,
                                                                      "match[id]": statement["id"]}).json()
        assert got["objects"] == [statement], version


# ------------------------------------------------------------------ match[id], match[type], match[spec_version]


@pytest.mark.parametrize("params,expected", [
    ({"match[id]": A}, ["A3"]),
    ({"match[id]": f"{A},{B}"}, ["B", "A3"]),
    ({"match[id]": f"{B},indicator--{uuid.uuid4()}"}, ["B"]),
    ({"match[id]": A, "match[version]": "all"}, ["A1", "A2", "A3"]),
    ({"match[type]": "indicator"}, ["A3", "C2"]),
    ({"match[type]": "malware,ipv4-addr"}, ["B", "S"]),
    ({"match[type]": "attack-pattern"}, []),
    ({"match[type]": "attack-pattern,campaign,course-of-action,grouping,identity,x-custom"}, []),
    ({"match[type]": "indicator", "match[id]": B}, []),
    ({"match[type]": "indicator", "match[id]": f"{A},{B}", "match[version]": "first"}, ["A1"]),
    ({"match[spec_version]": "2.1"}, ["B", "A3", "S", "C2"]),
    ({"match[spec_version]": "2.0"}, []),
    ({"match[spec_version]": "2.0,2.1"}, ["B", "A3", "S", "C2"]),
    ({"match[spec_version]": "2.1", "match[type]": "malware"}, ["B"]),
])
def test_match_filters(lab: Participant, corpus: str, params: dict[str, str], expected: list[str]) -> None:
    response = lab.client.get(f"collections/{corpus}/objects/", params=params)
    assert response.status_code == 200
    assert keys_of(response.json()) == expected
    for obj in response.json().get("objects", []):
        for name, prop in (("match[id]", "id"), ("match[type]", "type"), ("match[spec_version]", "spec_version")):
            assert name not in params or obj[prop] in params[name].split(","), (name, obj)
    manifest = lab.client.get(f"collections/{corpus}/manifest/", params=params).json()
    ids = [r["id"] for r in manifest.get("objects", []) if r["id"].split("--")[0] not in DEFINITION_TYPES]
    assert ids == [CORPUS[k]["id"] for k in expected]


@pytest.mark.parametrize("endpoint", ["objects/", "manifest/", f"objects/{A}/", f"objects/{A}/versions/"])
@pytest.mark.parametrize("params", [{"match[unknown]": "whatever"}, {"match[types]": "indicator"},
                                    {"match[type]": "indicator", "match[created]": "2026-01-01T00:00:00Z"}])
def test_unknown_match_filters_are_400_naming_the_supported_ones(lab: Participant, corpus: str, endpoint: str,
                                                                  params: dict[str, str]) -> None:
    """A misspelt filter used to be ignored, answering with the whole collection as if it had matched."""
    body = error(lab.client.get(f"collections/{corpus}/{endpoint}", params=params), 400)
    unknown = next(name for name in params if name != "match[type]")
    assert unknown in body["description"]
    assert body["details"]["supported"] == ["match[id]", "match[type]", "match[version]", "match[spec_version]"]


# ------------------------------------------------------------------ added_after


def test_added_after_is_strict(lab: Participant, corpus: str, added: dict[str, str]) -> None:
    everything = {"match[version]": "all"}
    for index, key in enumerate(ORDER):
        got = lab.client.get(f"collections/{corpus}/objects/", params={**everything, "added_after": added[key]})
        assert keys_of(got.json()) == ORDER[index + 1:], key
    latest = lab.client.get(f"collections/{corpus}/objects/", params={"added_after": added["A2"]}).json()
    assert keys_of(latest) == ["A3", "S", "C2"]


def _added_after_oracle(client: httpx.Client, corpus: str, cut: datetime) -> list[str]:
    """The ids, definitions included, of every version added strictly after ``cut``, from the manifest."""
    records = client.get(f"collections/{corpus}/manifest/", params={"match[version]": "all"}).json()["objects"]
    return [r["id"] for r in records if when(r["date_added"]) > cut]


@pytest.mark.parametrize("form", ["seconds", "milliseconds", "offset", "T0"])
def test_added_after_forms(lab: Participant, corpus: str, added: dict[str, str], form: str) -> None:
    moment = when(added["C1" if form != "T0" else "T0"])
    text, cut = {
        "seconds": (moment.strftime("%Y-%m-%dT%H:%M:%SZ"), moment.replace(microsecond=0)),
        "milliseconds": (moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
                         moment.replace(microsecond=moment.microsecond // 1000 * 1000)),
        "offset": ((moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%f+02:00"), moment),
        "T0": (added["T0"], moment),
    }[form]
    got = lab.client.get(f"collections/{corpus}/objects/", params={"match[version]": "all", "added_after": text})
    assert [o["id"] for o in got.json().get("objects", [])] == _added_after_oracle(lab.client, corpus, cut)


@pytest.mark.parametrize("added_after", ["2000-01-01T00:00:00Z", "2000-01-01T00:00:00.000000Z",
                                         "2999-12-31T23:59:59Z"])
def test_added_after_bounds(lab: Participant, corpus: str, added_after: str) -> None:
    got = lab.client.get(f"collections/{corpus}/objects/", params={"match[version]": "all",
                                                                    "added_after": added_after})
    expected = _added_after_oracle(lab.client, corpus, when(added_after))
    assert [o["id"] for o in got.json().get("objects", [])] == expected
    assert bool(expected) == added_after.startswith("2000")


# ------------------------------------------------------------------ limit, more, next


def _traverse(client: httpx.Client, path: str, params: dict[str, str], field: str = "objects") -> list[list[Any]]:
    pages = []
    response = client.get(path, params=params).json()
    pages.append(response.get(field, []))
    while response["more"]:
        response = client.get(path, params={**params, "next": response["next"]}).json()
        pages.append(response.get(field, []))
    return pages


def test_limit_and_next(lab: Participant, corpus: str, added: dict[str, str]) -> None:
    path, since = f"collections/{corpus}/objects/", {"added_after": added["T0"]}
    pages = _traverse(lab.client, path, {**since, "match[version]": "all", "limit": "3"})
    assert [keys_of({"objects": page}) for page in pages] == [ORDER[0:3], ORDER[3:6], ORDER[6:]]
    first = lab.client.get(path, params={**since, "limit": "2"}).json()
    assert first["more"] is True and isinstance(first["next"], str) and keys_of(first) == ["B", "A3"]
    last = lab.client.get(path, params={**since, "limit": "2", "next": first["next"]}).json()
    assert last["more"] is False and "next" not in last and keys_of(last) == ["S", "C2"]
    # limit is not part of the query a token is bound to: a client may change its page size
    assert keys_of(lab.client.get(path, params={**since, "limit": "1", "next": first["next"]}).json()) == ["S"]
    whole = lab.client.get(path, params={**since, "limit": "4"}).json()
    assert whole["more"] is False and keys_of(whole) == ["B", "A3", "S", "C2"]
    huge = lab.client.get(path, params={**since, "limit": "99999999999999999999"}).json()
    assert keys_of(huge) == ["B", "A3", "S", "C2"]
    everything = _traverse(lab.client, path, {"limit": "2"})
    assert [o for page in everything for o in page] == lab.client.get(path).json()["objects"]


def test_manifest_and_versions_paginate(lab: Participant, corpus: str, added: dict[str, str]) -> None:
    pages = _traverse(lab.client, f"collections/{corpus}/manifest/",
                      {"added_after": added["T0"], "match[version]": "all", "limit": "2"})
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert [r["id"] for page in pages for r in page] == [CORPUS[k]["id"] for k in ORDER]
    versions = _traverse(lab.client, f"collections/{corpus}/objects/{A}/versions/", {"limit": "2"}, "versions")
    assert [[when(v) for v in page] for page in versions] == [[when(ts(1)), when(ts(2))], [when(ts(3))]]


def test_next_is_bound_to_its_query(lab: Participant, corpus: str) -> None:
    path = f"collections/{corpus}/objects/"
    token = lab.client.get(path, params={"limit": "1", "match[version]": "all"}).json()["next"]
    repeated = lab.client.get(path, params={"match[version]": "all", "next": token})
    assert repeated.status_code == 200
    assert lab.client.get(path, params={"next": token}).content == repeated.content  # next carries its query
    for params in ({"match[version]": "first"}, {"match[version]": "all", "match[type]": "indicator"},
                   {"match[version]": "all", "added_after": "2000-01-01T00:00:00Z"}):
        error(lab.client.get(path, params={**params, "next": token}), 400)
    error(lab.client.get(f"collections/{corpus}/manifest/", params={"match[version]": "all", "next": token}), 400)
    error(lab.client.get(f"collections/{corpus}/objects/{A}/", params={"match[version]": "all", "next": token}), 400)
    for garbage in ("garbage", token[:-2], token + "AA", "MS4xLjEuMA"):
        error(lab.client.get(path, params={"match[version]": "all", "next": garbage}), 400)
    # an empty next is a first page: MISP's browser asks for its first page as objects/?limit=50&next=
    first = lab.client.get(path, params={"match[version]": "all", "limit": "1", "next": ""})
    assert first.content == lab.client.get(path, params={"match[version]": "all", "limit": "1"}).content


def test_next_is_bound_to_its_caller(lab: Participant, other: Participant, shared_collection: str) -> None:
    objects = [indicator() for _ in range(3)]
    for obj in objects:
        posted(lab.client, shared_collection, obj)
    params = {"match[id]": ",".join(o["id"] for o in objects), "limit": "1"}
    path = f"collections/{shared_collection}/objects/"
    page = lab.client.get(path, params=params).json()
    assert page["objects"] == objects[:1]
    assert other.client.get(path, params=params).json()["objects"] == objects[:1]  # GREEN in shared: visible
    error(other.client.get(path, params={**params, "next": page["next"]}), 400)
    assert lab.client.get(path, params={**params, "next": page["next"]}).json()["objects"] == objects[1:2]


def test_cursor_positions_cannot_be_forged() -> None:
    """A token's numbers reach the database only if the server sealed them: any changed byte is refused."""
    secret = b"k" * 32
    token = issue(ObjectFilter(), Position(5, 7), b"scope", secret)
    assert redeem(token, b"scope", secret).position == Position(5, 7)
    for i in range(len(token)):
        forged = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        with pytest.raises(TaxiiError) as refused:
            redeem(forged, b"scope", secret)
        assert refused.value.status == 400


# ------------------------------------------------------------------ manifest, versions, date headers


def test_manifest_records(lab: Participant, corpus: str, added: dict[str, str]) -> None:
    body = lab.client.get(f"collections/{corpus}/manifest/", params={"added_after": added["T0"]}).json()
    assert body["more"] is False
    records = body["objects"]
    assert [r["id"] for r in records] == [B, A, S, C]
    for record in records:
        assert record["media_type"] == STIX
        when(record["date_added"])
    by_id = {r["id"]: r for r in records}
    assert when(by_id[A]["version"]) == when(ts(3))
    assert when(by_id[C]["version"]) == when(ts(4, 500000))
    assert when(by_id[B]["version"]) == when(CORPUS["B"]["modified"])
    assert by_id[A]["date_added"] == added["A3"]
    empty = lab.client.get(f"collections/{corpus}/manifest/", params={"match[type]": "report"}).json()
    assert empty == {"more": False}


def test_versions(lab: Participant, corpus: str) -> None:
    body = lab.client.get(f"collections/{corpus}/objects/{A}/versions/").json()
    assert body["more"] is False
    assert [when(v) for v in body["versions"]] == [when(ts(1)), when(ts(2)), when(ts(3))]
    micro = lab.client.get(f"collections/{corpus}/objects/{C}/versions/").json()["versions"]
    assert [when(v) for v in micro] == [when(ts(3, 123456)), when(ts(4, 500000))]
    error(lab.client.get(f"collections/{corpus}/objects/{A}/versions/", params={"match[spec_version]": "2.0"}), 404)


@pytest.mark.parametrize("path,params,first,last", [
    ("objects/", {}, "B", "C2"),
    ("objects/", {"match[version]": "all"}, "A1", "C2"),
    ("objects/", {"limit": "2"}, "B", "A3"),
    ("objects/", {"match[type]": "indicator", "match[version]": "first"}, "A1", "C1"),
    ("manifest/", {}, "B", "C2"),
    ("manifest/", {"match[version]": "all", "limit": "3"}, "A1", "A2"),
    (f"objects/{A}/", {"match[version]": "all"}, "A1", "A3"),
    (f"objects/{A}/", {}, "A3", "A3"),
    (f"objects/{C}/versions/", {}, "C1", "C2"),
    (f"objects/{A}/versions/", {"added_after": "2000-01-01T00:00:00Z"}, "A1", "A3"),
])
def test_date_added_headers(lab: Participant, corpus: str, added: dict[str, str], path: str,
                            params: dict[str, str], first: str, last: str) -> None:
    if not path.startswith("objects/indicator"):
        params = {**params, "added_after": added["T0"]}
    response = lab.client.get(f"collections/{corpus}/{path}", params=params)
    assert response.status_code == 200
    assert response.headers["X-TAXII-Date-Added-First"] == added[first]
    assert response.headers["X-TAXII-Date-Added-Last"] == added[last]


def test_date_added_is_microsecond_timestamp(added: dict[str, str]) -> None:
    for value in added.values():
        assert value.endswith("Z") and len(value.split(".")[1]) == 7  # six digits and Z
    assert sorted(added.values(), key=when) == [added[k] for k in ["T0", *ORDER]]
    assert len(set(added.values())) == len(added)


# ------------------------------------------------------------------ Add Objects semantics (§5.5)


def test_duplicates_are_successes(lab: Participant, shared_collection: str) -> None:
    obj = indicator()
    posted(lab.client, shared_collection, obj)
    before = snapshot(lab.client, shared_collection)
    status = posted(lab.client, shared_collection, obj, obj)
    assert status["failure_count"] == 0
    assert snapshot(lab.client, shared_collection) == before  # not stored twice, date_added unchanged


def test_conflicting_version_is_a_failure(lab: Participant, shared_collection: str) -> None:
    obj = indicator(modified=ts(9))
    posted(lab.client, shared_collection, obj)
    before = snapshot(lab.client, shared_collection)
    changed = {**obj, "name": "a different payload under the same version"}
    status = post(lab.client, shared_collection, changed).json()
    assert (status["success_count"], status["failure_count"]) == (0, 1)
    failure = status["failures"][0]
    assert failure["id"] == obj["id"] and when(failure["version"]) == when(ts(9))
    assert isinstance(failure["message"], str) and failure["message"]
    assert snapshot(lab.client, shared_collection) == before
    assert lab.client.get(f"collections/{shared_collection}/objects/{obj['id']}/").json()["objects"] == [obj]


def _without(obj: dict[str, Any], prop: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != prop}


@pytest.mark.parametrize("bad,prop", [
    (_without(indicator(), "spec_version"), "spec_version"),
    (indicator(spec_version="2.0"), "spec_version"),
    (indicator("indicator--not-a-uuid"), "id"),
    (indicator(f"malware--{uuid.uuid4()}"), "id"),
    (indicator(f"indicator--{str(uuid.uuid4()).upper()}"), "id"),
    (_without(indicator(), "modified"), "modified"),
    (indicator(modified="yesterday"), "modified"),
    (_without(malware(), "created"), "created"),
    ({**indicator(), "type": "Not A Type"}, "type"),
])
def test_bad_objects_fail_alone(lab: Participant, shared_collection: str, bad: dict[str, Any], prop: str) -> None:
    good1, good2 = indicator(), malware()
    response = post(lab.client, shared_collection, good1, bad, good2)
    assert response.status_code == 202
    status = response.json()
    assert (status["success_count"], status["failure_count"], status["total_count"]) == (2, 1, 3)
    assert [s["id"] for s in status["successes"]] == [good1["id"], good2["id"]]
    [failure] = status["failures"]
    assert failure["id"] == bad["id"]
    assert prop in failure["message"]
    assert isinstance(failure["version"], str)
    stored = lab.client.get(f"collections/{shared_collection}/objects/", params={
        "match[version]": "all", "match[id]": ",".join(o["id"] for o in (good1, bad, good2))}).json()
    assert sorted(stored["objects"], key=lambda o: o["id"]) == sorted([good1, good2], key=lambda o: o["id"])


def test_new_version_becomes_latest(lab: Participant, shared_collection: str) -> None:
    v1 = indicator(modified=ts(1))
    posted(lab.client, shared_collection, v1)
    v2 = {**v1, "modified": ts(2), "name": "renamed"}
    posted(lab.client, shared_collection, v2)
    assert lab.client.get(f"collections/{shared_collection}/objects/{v1['id']}/").json()["objects"] == [v2]
    older = {**v1, "modified": ts(0, 500000), "name": "older, arriving late"}
    posted(lab.client, shared_collection, older)  # latest is by version, not arrival
    assert lab.client.get(f"collections/{shared_collection}/objects/{v1['id']}/").json()["objects"] == [v2]
    assert lab.client.get(f"collections/{shared_collection}/objects/{v1['id']}/",
                          params={"match[version]": "first"}).json()["objects"] == [older]


# ------------------------------------------------------------------ Delete an Object (§5.7)


def test_delete_versions_then_object(lab: Participant, shared_collection: str) -> None:
    sid = f"indicator--{uuid.uuid4()}"
    v1, v2, v3 = (indicator(sid, created=ts(0), modified=ts(s)) for s in (1, 2, 3))
    keep = malware()
    for obj in (v1, v2, v3, keep):
        posted(lab.client, shared_collection, obj)
    path = f"collections/{shared_collection}/objects/{sid}/"

    assert lab.client.delete(path, params={"match[version]": ts(2)}).status_code == 200
    assert [when(v) for v in lab.client.get(path + "versions/").json()["versions"]] == [when(ts(1)), when(ts(3))]
    error(lab.client.delete(path, params={"match[version]": ts(2)}), 404)
    assert lab.client.get(path, params={"match[version]": "all"}).json()["objects"] == [v1, v3]

    assert lab.client.delete(path, params={"match[version]": "last"}).status_code == 200
    assert lab.client.get(path).json()["objects"] == [v1]  # the remaining version is now the latest

    assert lab.client.delete(path).status_code == 200
    for gone in (path, path + "versions/"):
        error(lab.client.get(gone), 404)
    error(lab.client.delete(path), 404)
    ours = {"match[id]": f"{sid},{keep['id']}", "match[version]": "all"}
    assert lab.client.get(f"collections/{shared_collection}/objects/", params=ours).json()["objects"] == [keep]
    manifest = lab.client.get(f"collections/{shared_collection}/manifest/", params=ours).json()
    assert [r["id"] for r in manifest["objects"]] == [keep["id"]]


def test_delete_without_version_removes_every_version(lab: Participant, shared_collection: str) -> None:
    sid = f"indicator--{uuid.uuid4()}"
    for second in (1, 2):
        posted(lab.client, shared_collection, indicator(sid, created=ts(0), modified=ts(second)))
    assert lab.client.delete(f"collections/{shared_collection}/objects/{sid}/").status_code == 200
    for params in ({}, {"match[version]": "all"}, {"match[version]": "first"}):
        error(lab.client.get(f"collections/{shared_collection}/objects/{sid}/", params=params), 404)
    everything = {"match[version]": "all", "match[id]": sid}
    assert "objects" not in lab.client.get(f"collections/{shared_collection}/objects/", params=everything).json()


def test_deleted_version_is_404(lab: Participant, shared_collection: str) -> None:
    """DEL-05 (SHOULD): after deleting one version, fetching exactly that version answers 404."""
    sid = f"indicator--{uuid.uuid4()}"
    for second in (1, 2):
        posted(lab.client, shared_collection, indicator(sid, created=ts(0), modified=ts(second)))
    path = f"collections/{shared_collection}/objects/{sid}/"
    assert lab.client.delete(path, params={"match[version]": ts(1)}).status_code == 200
    error(lab.client.get(path, params={"match[version]": ts(1)}), 404)


def test_delete_unknown_or_malformed(lab: Participant, shared_collection: str) -> None:
    error(lab.client.delete(f"collections/{shared_collection}/objects/indicator--{uuid.uuid4()}/"), 404)
    obj = indicator()
    posted(lab.client, shared_collection, obj)
    before = snapshot(lab.client, shared_collection)
    path = f"collections/{shared_collection}/objects/{obj['id']}/"
    for version in ("latest", "2026-01-01", "first,,last"):
        error(lab.client.delete(path, params={"match[version]": version}), 400)
    error(lab.client.delete(path, params={"match[version]": ts(5)}), 404)
    assert snapshot(lab.client, shared_collection) == before


# ------------------------------------------------------------------ bad input: right status, nothing changed


@pytest.fixture(scope="module")
def seeded(server: Server, lab: Participant) -> str:
    cid = new_collection(server, (lab.slug, "read", "write"))
    sid = f"indicator--{uuid.uuid4()}"
    for obj in (indicator(sid, modified=ts(1)), indicator(sid, modified=ts(2)), malware()):
        posted(checked(lab.client), cid, obj)
    return cid


def _post_raw(client: httpx.Client, collection: str, body: Any, content_type: str | None = TAXII) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post(f"collections/{collection}/objects/", content=body, headers=headers)


GOOD = orjson.dumps(envelope(indicator()))


@pytest.mark.parametrize("body,content_type,status", [
    (b'{"objects": [', TAXII, 400),
    (b"\xff\xfe not utf-8", TAXII, 400),
    (b"", TAXII, 400),
    (b"[]", TAXII, 400),
    (b'"objects"', TAXII, 400),
    (b'{"objects": []}', TAXII, 400),
    (b"{}", TAXII, 400),
    (b'{"objects": {"id": "indicator--x"}}', TAXII, 400),
    (orjson.dumps({"type": "bundle", "id": "bundle--1", "objects": [indicator()]}), TAXII, 422),
    (orjson.dumps({"type": "bundle", "objects": [indicator()]}), TAXII, 422),
    (orjson.dumps({"type": "bundel", "id": f"bundle--{uuid.uuid4()}", "objects": [indicator()]}), TAXII, 422),
    (orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "spec_version": "2.0",
                   "objects": [indicator()]}), STIX, 422),
    (orjson.dumps({"type": "bundle", "id": "bundle--5b0c2f7e-1d3a-4c8b-9e6f-0a1b2c3d4e5f", "objects": []}), STIX,
     400),  # a fixed id: this body names its test
    (orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [{"type": "indicator"}]}), STIX,
     422),
    (orjson.dumps(indicator()), TAXII, 422),
    (orjson.dumps(envelope(indicator(), _without(indicator(), "id"))), TAXII, 422),
    (orjson.dumps(envelope(indicator(), "indicator--not-an-object")), TAXII, 422),
    (orjson.dumps(envelope({**indicator(), "id": 42})), TAXII, 422),
    (GOOD, "application/json", 415),
    (GOOD, "text/plain", 415),
    (GOOD, None, 415),
    (GOOD, "application/stix+json;version=2.0", 415),
    (GOOD, "application/taxii+json;version=2.0", 415),
    (GOOD, f"{TAXII}, application/json", 415),
])
def test_bad_posts_change_nothing(lab: Participant, seeded: str, body: bytes, content_type: str | None,
                                  status: int) -> None:
    before = snapshot(lab.client, seeded)
    error(_post_raw(lab.client, seeded, body, content_type), status)
    assert snapshot(lab.client, seeded) == before


def test_oversized_bodies_are_413(lab: Participant, seeded: str) -> None:
    before = snapshot(lab.client, seeded)
    padding = b" " * (MAX_BODY + 1 - len(GOOD))
    body = GOOD[:-1] + padding + GOOD[-1:]
    assert len(body) == MAX_BODY + 1
    response = error(_post_raw(lab.client, seeded, body), 413)
    assert response["details"]["max_content_length"] == MAX_BODY

    def chunks() -> Iterator[bytes]:
        yield GOOD[:-1]
        for _ in range(11):
            yield b" " * (1024 * 1024)
        yield GOOD[-1:]

    chunked = _post_raw(lab.client, seeded, chunks())
    assert "content-length" not in chunked.request.headers
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    error(chunked, 413)
    assert snapshot(lab.client, seeded) == before


def test_body_below_the_limit_is_accepted(lab: Participant, shared_collection: str) -> None:
    body = GOOD[:-1] + b" " * (MAX_BODY - len(GOOD)) + GOOD[-1:]
    assert len(body) == MAX_BODY
    assert _post_raw(lab.client, shared_collection, body).status_code == 202


@pytest.mark.parametrize("name,value", [
    ("limit", "0"), ("limit", "-1"), ("limit", "abc"), ("limit", "1.5"), ("limit", ""), ("limit", "²"),
    ("limit", "1e3"), ("added_after", "yesterday"), ("added_after", "2026-13-45T00:00:00Z"),
    ("added_after", "2026-01-01"), ("added_after", "1767225600"), ("added_after", ""),
    ("match[version]", "latest"), ("match[version]", "2026-01-01"), ("match[version]", "first,,last"),
    ("match[version]", ""), ("match[id]", ","), ("match[type]", "indicator,"),
    ("match[id]", ",".join(f"indicator--{uuid.uuid4()}" for _ in range(101))),
])
def test_malformed_parameters_are_400(lab: Participant, seeded: str, name: str, value: str) -> None:
    paths = ["objects/", "manifest/"]
    if name not in ("match[id]", "match[type]"):
        paths.append(f"objects/{A}/")
    for path in paths:
        body = error(lab.client.get(f"collections/{seeded}/{path}", params={name: value}), 400)
        assert name in body["description"], body


@pytest.mark.parametrize("name", ["added_after", "limit", "match[version]", "match[id]", "next"])
def test_repeated_parameters_are_400(lab: Participant, seeded: str, name: str) -> None:
    value = {"added_after": "2000-01-01T00:00:00Z", "limit": "1", "match[version]": "all",
             "match[id]": A, "next": "x"}[name]
    error(lab.client.get(f"collections/{seeded}/objects/", params=[(name, value), (name, value)]), 400)


SQL = ["' OR 1=1 --", '"; DROP TABLE membership; --', "x') UNION SELECT raw FROM stix_object --", "%", "_",
       "\\", "*", "$1", "\x00", "indicator--' OR ''='"]


@pytest.mark.parametrize("value", SQL)
def test_sql_metacharacters_in_parameters(server: Server, lab: Participant, seeded: str, value: str) -> None:
    before = snapshot(lab.client, seeded)
    coll = f"collections/{seeded}/"
    with checked(server.client(lab.secret)) as client:  # its own connection, should the server fail it
        for name in ("match[id]", "match[type]", "match[spec_version]"):
            for path in ("objects/", "manifest/"):
                response = client.get(coll + path, params={name: value})
                assert response.status_code in (200, 400) and "objects" not in response.json(), name
        for name in ("match[version]", "added_after", "limit", "next"):
            error(client.get(coll + "objects/", params={name: value}), 400)
        error(client.delete(coll + f"objects/{A}/", params={"match[version]": value}), 400)
        part = quote(value, safe="")
        for path in (f"{server.base_url}/taxii2/{part}/", f"{server.base_url}/taxii2/{part}/collections/",
                     f"collections/{part}/", f"collections/{part}/objects/", f"collections/{part}/manifest/",
                     coll + f"objects/{part}/", coll + f"objects/{part}/versions/", f"status/{part}/"):
            error(client.get(path), 404)
        error(client.delete(coll + f"objects/{part}/"), 404)
        error(post(client, part, indicator()), 404)
    assert snapshot(lab.client, seeded) == before
    posted(lab.client, seeded, indicator())  # every table still works
