"""Embargo release (issue 12, classes 8 and 9): an embargoed object enters its collections at release, through the
same ordered date allocation as every write, so an ``added_after`` poller never skips a row; and many objects
sharing one embargo end cost linear time to store and to release.

The server runs its release job every 50 ms (AISX_EMBARGO_RELEASE_INTERVAL), so no test waits long; the waits
are bounded loops on what a reader sees, never timed assertions."""

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.feed_support import feed_toml, read_all, server_with_feeds, wait_for
from tests.sharing_helpers import (
    FAR_FUTURE,
    accepted,
    admit,
    collection,
    mint,
    sdo,
    stamp,
    wait_until,
    when,
)
from tests.support.server import Participant, Server
from tests.support.stix import TLP_GREEN

FEED = str(uuid.uuid4())
EVERY_VERSION = {"match[version]": "all"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a feed taking every indicator, and a 50 ms embargo release job."""
    feeds = {"indicators": feed_toml(FEED, "embargo-indicators", selector={"types": ["indicator"]},
                                     read=("everyone",))}
    with server_with_feeds(tmp_path_factory.mktemp("embargo"), feeds,
                           {"AISX_EMBARGO_RELEASE_INTERVAL": "0.05"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, Participant]:
    return {"producer": admit(server, "embargo-producer"), "reader": admit(server, "embargo-reader"),
            "writer": admit(server, "embargo-writer")}


def embargoed(producer: Participant, until: str, **extra: Any) -> dict[str, Any]:
    """A GREEN indicator under an embargo ending at ``until`` (an embargo-only minted marking)."""
    return sdo(marking=[TLP_GREEN, mint(producer.client, embargo=until)["id"]], **extra)


class Poller:
    """A client that polls with ``added_after`` set to the X-TAXII-Date-Added-Last of its last non-empty
    answer, as TAXII clients do, and keeps every (id, version) it received."""

    def __init__(self, client: httpx.Client, cid: str, limit: int = 1000) -> None:
        self.client, self.cid, self.limit = client, cid, limit
        self.mark: str | None = None
        self.received: set[tuple[str, str]] = set()

    def poll(self) -> int:
        params = {"limit": str(self.limit), **EVERY_VERSION}
        if self.mark is not None:
            params["added_after"] = self.mark
        response = self.client.get(f"collections/{self.cid}/objects/", params=params)
        assert response.status_code == 200, response.text
        objects = response.json().get("objects", [])
        if objects:
            self.mark = response.headers["X-TAXII-Date-Added-Last"]
            self.received |= {(o["id"], o.get("modified", "")) for o in objects}
        return len(objects)

    def drain(self) -> None:
        while self.poll():
            pass

    def has(self, *objects: dict[str, Any]) -> bool:
        """Poll once more, then whether every one of ``objects`` has been received."""
        self.poll()
        return keys(list(objects)) <= self.received


def keys(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(o["id"], o.get("modified", "")) for o in objects}


def looks_absent(client: httpx.Client, cid: str, stix_id: str) -> None:
    """The object is absent from every read endpoint, exactly like an id the exchange never held."""
    for path in (f"collections/{cid}/objects/{stix_id}/", f"collections/{cid}/objects/{stix_id}/versions/"):
        response = client.get(path)
        assert response.status_code == 404, (path, response.text)
    for path in ("objects/", "manifest/"):
        response = client.get(f"collections/{cid}/{path}", params={"match[id]": stix_id, **EVERY_VERSION})
        assert response.status_code == 200 and not response.json().get("objects"), (path, response.text)
        assert "X-TAXII-Date-Added-First" not in response.headers and "X-TAXII-Date-Added-Last" not in response.headers
    assert all(o["id"] != stix_id for o in read_all(client, cid))


# ------------------------------------------------------------------ class 8: no poller skips a released row


def test_pollers_receive_every_object_while_embargoes_release_and_writes_commit(
        server: Server, people: dict[str, Participant]) -> None:
    """Embargoes end one after another while two writers commit envelopes and a poller polls by its own
    X-TAXII-Date-Added-Last: the poller ends up with exactly what the collection shows. (When an embargoed
    object carried its embargo's end as date_added from write time, a write that took earlier dates and
    committed after that end landed behind the poller's checkpoint, and the poller never got it.)"""
    producer, reader, writer = people["producer"], people["reader"], people["writer"]
    cid = collection(server, "embargo-race")
    ends = [stamp(1.0 + 0.15 * i) for i in range(16)]
    embargoed_objects = [embargoed(producer, until) for until in ends]
    accepted(producer.client, cid, *embargoed_objects)
    stop = threading.Event()
    problems: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                accepted(writer.client, cid, *[sdo() for _ in range(200)])
        except BaseException as exc:  # reported by the test thread
            problems.append(exc)

    writers = [threading.Thread(target=write) for _ in range(2)]
    for thread in writers:
        thread.start()
    poller = Poller(reader.client, cid)
    give_up = time.monotonic() + 60
    try:
        while not (poller.has(*embargoed_objects) and when(stamp()) >= when(ends[-1])):
            assert time.monotonic() < give_up, "the embargoed objects never reached the poller"
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    assert not problems, problems
    poller.drain()
    shown = keys(read_all(reader.client, cid))
    assert keys(embargoed_objects) <= shown
    assert shown - poller.received == set(), f"{len(shown - poller.received)} objects never reached the poller"


def test_an_embargo_ending_now_and_one_in_the_past_enter_after_the_pollers_checkpoint(
        server: Server, people: dict[str, Participant]) -> None:
    """An object whose embargo already ended is dated like any other write; one whose embargo ends while the
    poller watches enters after what the poller already has: never behind its checkpoint."""
    producer, reader = people["producer"], people["reader"]
    cid = collection(server, "embargo-edges")
    poller = Poller(reader.client, cid)
    past = embargoed(producer, "2020-01-01T00:00:00Z")
    accepted(producer.client, cid, past)
    poller.drain()
    assert (past["id"], past["modified"]) in poller.received
    soon_until = stamp(0.5)
    soon = embargoed(producer, soon_until)
    accepted(producer.client, cid, soon)
    checkpoint = poller.mark
    wait_until(soon_until, margin=0)
    wait_for(lambda: poller.has(soon), 30, "the release")
    manifest = reader.client.get(f"collections/{cid}/manifest/", params={"match[id]": soon["id"]}).json()
    added = manifest["objects"][0]["date_added"]
    assert checkpoint is not None and when(added) > when(checkpoint) and when(added) >= when(soon_until)


def test_feeds_and_several_collections_release_through_the_same_path(
        server: Server, people: dict[str, Participant]) -> None:
    """The same embargoed indicator posted to two collections and routed to a feed: absent everywhere, its
    marking included in nothing it would betray, until the embargo ends; then a poller of each collection and
    of the feed, whose checkpoint is past everything committed before the release, receives it.

    "Absent until the embargo ends" is judged only on reads that all ended before it ended: on a loaded machine
    the posts and polls can take longer than the embargo's 1.5 s, and a poll after the end rightly sees the object.
    Then the test runs again with a new object and an end 15 s ahead."""
    producer, reader = people["producer"], people["reader"]
    first, second = collection(server, "embargo-one"), collection(server, "embargo-two")
    for lead in (1.5, 15.0):
        until = stamp(lead)
        obj = embargoed(producer, until)
        accepted(producer.client, first, obj)
        accepted(producer.client, second, obj)
        accepted(producer.client, first, obj)  # an identical re-post changes nothing
        pollers = [Poller(reader.client, cid) for cid in (first, second, FEED)]
        for poller in pollers:
            accepted(producer.client, first, sdo())  # something after the embargoed object, to poll past it
            poller.drain()
        if when(stamp()) < when(until):
            break
    else:
        pytest.fail("the polls before the release ended after it, even with the embargo ending 15 s ahead")
    assert not [p for p in pollers if (obj["id"], obj["modified"]) in p.received]
    wait_until(until, margin=0)
    for poller in pollers:
        wait_for(lambda p=poller: p.has(obj), 30, "the release")


# ------------------------------------------------------------------ absent until released, for everyone


def test_an_object_under_embargo_looks_absent_to_everyone_and_cannot_be_deleted(
        server: Server, people: dict[str, Participant]) -> None:
    """Far-future embargo: absent from objects, object, versions and manifest (no date headers) for the
    producer and for others, in every collection and feed it went to; a delete finds nothing to delete."""
    producer, reader = people["producer"], people["reader"]
    cid, other = collection(server, "embargo-far"), collection(server, "embargo-far-2")
    obj = embargoed(producer, FAR_FUTURE)
    accepted(producer.client, cid, obj)
    accepted(producer.client, other, obj)
    for client in (producer.client, reader.client):
        for where in (cid, other, FEED):
            looks_absent(client, where, obj["id"])
    assert producer.client.delete(f"collections/{cid}/objects/{obj['id']}/").status_code == 404
    looks_absent(producer.client, cid, obj["id"])


def test_an_embargoed_first_version_is_not_first_or_listed_before_release(
        server: Server, people: dict[str, Participant]) -> None:
    """v1 under a far-future embargo, v2 free: v2 is the only version anyone sees, also as match[version]=first
    and in the versions list."""
    producer, reader = people["producer"], people["reader"]
    cid = collection(server, "embargo-versions")
    stix_id = f"indicator--{uuid.uuid4()}"
    v1 = embargoed(producer, FAR_FUTURE, stix_id=stix_id, modified="2026-01-01T00:00:00.000Z")
    v2 = sdo(stix_id=stix_id, modified="2026-02-01T00:00:00.000Z")
    accepted(producer.client, cid, v1, v2)
    for client in (producer.client, reader.client):
        versions = client.get(f"collections/{cid}/objects/{stix_id}/versions/").json()["versions"]
        assert [when(v) for v in versions] == [when(v2["modified"])]
        for which in ("first", "last", "all"):
            got = client.get(f"collections/{cid}/objects/{stix_id}/", params={"match[version]": which}).json()
            assert [o["modified"] for o in got["objects"]] == [v2["modified"]], which


# ------------------------------------------------------------------ class 9: one embargo end, many objects


def test_thousands_of_objects_sharing_one_embargo_end_enter_with_distinct_dates(
        server: Server, people: dict[str, Participant]) -> None:
    """Two envelopes of 1,000 objects under one embargo end are stored and released in linear time (when
    each new row was stepped past the rows already at that date, one query per step under the write lock,
    the second envelope alone took minutes and the client gave up), then reach a poller with distinct
    date_added values, in order, none before the end of the embargo."""
    producer, reader = people["producer"], people["reader"]
    cid = collection(server, "embargo-many")
    until = stamp(4)
    marking = mint(producer.client, embargo=until)["id"]
    batches = [[sdo(marking=[TLP_GREEN, marking]) for _ in range(1000)] for _ in range(2)]
    for batch in batches:
        accepted(producer.client, cid, *batch)
    wait_until(until, margin=0)
    posted = [o for batch in batches for o in batch]
    poller = Poller(reader.client, cid, limit=97)
    wait_for(lambda: poller.has(*posted), 60, "the release of 2,000 objects")
    ids = {o["id"] for o in posted}
    manifest = [r for r in everything_manifest(reader.client, cid) if r["id"] in ids]
    dates = [when(r["date_added"]) for r in manifest]
    assert len(manifest) == 2000 and len(set(dates)) == 2000 and min(dates) >= when(until)


def everything_manifest(client: httpx.Client, cid: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    query: dict[str, str] = {"limit": "1000"}
    while True:
        body = client.get(f"collections/{cid}/manifest/", params=query).json()
        records += body.get("objects", [])
        if not body.get("more"):
            return records
        query = {"limit": "1000", "next": body["next"]}


def test_an_embargoed_update_hides_nothing_before_its_release(
        server: Server, people: dict[str, Participant]) -> None:
    """v1 free, v2 (an update) under a far-future embargo: until v2's release, every reader sees v1 exactly as if
    v2 had never been posted, so no reader learns that an update is coming. (Before the fix the unreleased v2
    counted as the newest version, and hid v1 from everyone.)"""
    producer, reader = people["producer"], people["reader"]
    cid = collection(server, "embargo-update")
    stix_id = f"indicator--{uuid.uuid4()}"
    v1 = sdo(stix_id=stix_id, modified="2026-01-01T00:00:00.000Z")
    v2 = embargoed(producer, FAR_FUTURE, stix_id=stix_id, modified="2026-02-01T00:00:00.000Z")
    accepted(producer.client, cid, v1)
    before = {c: c.get(f"collections/{cid}/objects/{stix_id}/versions/").json() for c in (producer.client,
                                                                                          reader.client)}
    accepted(producer.client, cid, v2)
    for client in (producer.client, reader.client):
        assert client.get(f"collections/{cid}/objects/{stix_id}/versions/").json() == before[client]
        for which in ("first", "last", "all"):
            got = client.get(f"collections/{cid}/objects/{stix_id}/", params={"match[version]": which})
            assert got.status_code == 200, got.text
            assert [o["modified"] for o in got.json()["objects"]] == [v1["modified"]], which
