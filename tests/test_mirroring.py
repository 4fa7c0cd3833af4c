"""Mirroring (DESIGN.md decision 7): a feed fed by an upstream TAXII 2.1 collection — another AISX on loopback
(through a fault-injecting forwarder: 5xx, 429, dropped connections, a corrupt page, the upstream stopped
mid-sync and both servers restarted) and medallion, the OASIS reference server; and the other direction, a
standard TAXII client (taxii2-client) polling an AISX feed with nothing but as_pages and added_after."""

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy
from taxii2client.v21 import Collection as TaxiiCollection
from taxii2client.v21 import as_pages

from app.feeds.definitions import Upstream as UpstreamSettings
from app.mirroring.upstream import UpstreamError, _remote
from app.stix.timestamps import format_timestamp, parse_timestamp
from tests.feed_support import (
    CORRUPT,
    DROP,
    FaultProxy,
    FeedServer,
    Hit,
    Medallion,
    Reply,
    admit,
    by_version,
    feed_state,
    feed_toml,
    manifest_dates,
    mint,
    new_id,
    post,
    read_all,
    version_of,
    wait_for,
    write_feed,
)
from tests.support.server import ThrowawayDatabase
from tests.support.stix import TLP_AMBER, TLP_CLEAR, TLP_GREEN, TLP_RED, indicator

USER_ENV, SECRET_ENV = "FEEDTEST_UPSTREAM_KEY_ID", "FEEDTEST_UPSTREAM_SECRET"
Key = tuple[str, str]  # (id, version)


# ------------------------------------------------------------------ an upstream AISX with a feed


class Upstream:
    """An AISX whose feed ``intel-feed`` takes what is posted to its collection ``intel``, with a lab posting,
    the participant a downstream exchange mirrors as (``mirror``), and another agency."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.database = ThrowawayDatabase(workdir, migrated=True)
        self.server = FeedServer(workdir, 0, self.database)
        self.feed_id = new_id()
        write_feed(self.server, "intel-feed", feed_toml(self.feed_id, "intel-feed", read=("everyone",),
                                                        selector={"source_collections": ["intel"]}))
        self.server.start()
        # AMBER posted here without recipients goes to the group "partners", which the mirroring participant is in
        self.intel = self.server.add_collection("intel", "Intel", default_group="partners")["id"]
        self.server.grant("everyone", self.intel, read=True, write=True)
        self.lab = admit(self.server, "lab-u", "lab")
        self.mirror = admit(self.server, "mirror", "agency", ("partners",))
        self.other = admit(self.server, "other-agency", "agency")
        self.visible: list[str] = []  # ids of what ``mirror`` may see
        self.hidden: list[str] = []
        self.amber_to_mirror = ""

    def populate(self) -> None:
        """Objects of every kind: what the mirroring participant may see and what it may not."""
        lab = self.lab.client
        to_other = mint(lab, identities=(self.other.identity_id,))
        green = indicator(tlp=TLP_GREEN)
        newer = {**green, "modified": "2026-02-01T00:00:00.000Z", "name": "second version"}
        clear = indicator(tlp=TLP_CLEAR)
        malware = {"type": "malware", "spec_version": "2.1", "id": f"malware--{uuid.uuid4()}", "is_family": True,
                   "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                   "name": "ModelLoaderRAT", "object_marking_refs": [TLP_CLEAR]}
        amber_to_mirror = indicator(tlp=TLP_AMBER)  # to the collection's default group
        amber_to_other = indicator(object_marking_refs=[TLP_AMBER, to_other])
        red_to_other = indicator(object_marking_refs=[TLP_RED, to_other])
        green_to_other = indicator(object_marking_refs=[TLP_GREEN, to_other])
        seen_link = _relationship(malware["id"], clear["id"])
        # marked like its endpoint: a relationship is shown by its own marking alone (docs/sharing.md)
        hidden_link = _relationship(malware["id"], amber_to_other["id"], [TLP_AMBER, to_other])
        for batch in ([green, clear], [malware, amber_to_mirror, amber_to_other], [newer, red_to_other],
                      [green_to_other, seen_link, hidden_link], [indicator(tlp=TLP_GREEN), indicator(tlp=TLP_CLEAR)]):
            status = post(lab, self.intel, *batch)
            assert status["success_count"] == len(batch), status
        self.visible += [green["id"], clear["id"], malware["id"], amber_to_mirror["id"], seen_link["id"]]
        self.hidden += [amber_to_other["id"], red_to_other["id"], green_to_other["id"], hidden_link["id"]]
        self.amber_to_mirror = amber_to_mirror["id"]

    def seen_by_mirror(self) -> dict[Key, dict[str, Any]]:
        """Every object version of the feed the mirroring participant may see."""
        view = by_version(read_all(self.mirror.client, self.feed_id))
        ids = {i for i, _ in view}
        assert set(self.visible) <= ids and not set(self.hidden) & ids
        return view

    def stop(self) -> None:
        self.server.stop()
        self.database.drop()


def _relationship(source: str, target: str, markings: list[str] | None = None) -> dict[str, Any]:
    return {"type": "relationship", "spec_version": "2.1", "id": f"relationship--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "relationship_type": "related-to", "source_ref": source, "target_ref": target,
            "object_marking_refs": markings or [TLP_GREEN]}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    up = Upstream(tmp_path_factory.mktemp("upstream"))
    try:
        up.populate()
        yield up
    finally:
        up.stop()


# ------------------------------------------------------------------ a downstream AISX mirroring it


class Downstream:
    """An AISX with a mirror feed (no selector: only what it mirrors). ``aisx serve`` syncs upstreams as soon as
    it starts, so the participants are made on a first run without the feed, which is then added, stopped."""

    def __init__(self, workdir: Path, upstream_url: str, collection: str, user: str, secret: str,
                 **settings: Any) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.database = ThrowawayDatabase(workdir, migrated=True)
        self.server = FeedServer(workdir, 0, self.database, extra_env={USER_ENV: user, SECRET_ENV: secret})
        self.feed_id = new_id()
        self.server.start()
        try:
            self.mirror = admit(self.server, "mirror-in", "vendor")
            self.inside = admit(self.server, "reader-in", "agency", ("mirror-readers",))
            self.outside = admit(self.server, "reader-out", "agency")
        finally:
            self.server.stop()
        upstream_settings = {"url": upstream_url, "collection": collection, "attribute_to": "mirror-in",
                             "username_env": USER_ENV, "password_env": SECRET_ENV, "page_size": 2,
                             "poll_interval": 3600, "retry_attempts": 3, "retry_backoff": 0.05, **settings}
        write_feed(self.server, "mirror", feed_toml(self.feed_id, "mirror", read=("everyone",),
                                                    default_group="mirror-readers", upstream=upstream_settings))

    def sync(self) -> tuple[int, dict[str, Any]]:
        """``aisx feed sync mirror --json``: (exit status, the feed's result)."""
        result = self.server.cli("feed", "sync", "mirror", "--json", check=False)
        [feed] = orjson.loads(result.stdout)["feeds"]
        return result.returncode, feed

    def listed(self) -> dict[str, Any]:
        """The feed's upstream state from ``aisx feed list --json``."""
        feeds = self.server.cli_json("feed", "list")["feeds"]
        return next(f for f in feeds if f["id"] == self.feed_id)["upstream"]

    def stored(self) -> set[Key]:
        """The feed's members, read from the database (for when the server is not running)."""
        engine = sqlalchemy.create_engine(self.database.url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(sqlalchemy.text("SELECT stix_id, version FROM membership "
                                                    "WHERE collection_id = :feed"), {"feed": self.feed_id}).all()
        finally:
            engine.dispose()
        return {(stix_id, format_timestamp(version)) for stix_id, version in rows}

    def view(self) -> dict[Key, dict[str, Any]]:
        """What the mirroring participant (the producer of every mirrored object) reads from the feed."""
        return by_version(read_all(self.mirror.client, self.feed_id))

    def stop(self) -> None:
        self.server.stop()
        self.database.drop()


def assert_mirrored(upstream_view: dict[Key, dict[str, Any]], downstream_keys: set[Key],
                    downstream_view: dict[Key, dict[str, Any]] | None = None) -> None:
    """The downstream feed holds exactly what the upstream let the mirroring participant see, plus the
    downstream exchange's own identity (every collection serves the exchange's definitions); byte-equal
    objects, except for the extension-definitions that both exchanges publish under the same ids."""
    missing = set(upstream_view) - downstream_keys
    assert not missing, f"lost: {sorted(missing)}"
    extra = downstream_keys - set(upstream_view)
    assert len(extra) == 1 and next(iter(extra))[0].startswith("identity--"), f"extra: {sorted(extra)}"
    if downstream_view is not None:
        assert set(downstream_view) == downstream_keys
        for key, obj in upstream_view.items():
            if obj["type"] != "extension-definition":
                assert downstream_view[key] == obj, key


def _definition(key: Key) -> bool:
    """One of what every AISX collection serves (the exchange's identity, markings and extensions)."""
    return key[0].split("--")[0] in ("identity", "marking-definition", "extension-definition")


def checkpoint_before(hit: Hit) -> str:
    """The checkpoint a stored page with more to come leaves: just before its X-TAXII-Date-Added-Last."""
    return format_timestamp(parse_timestamp(hit.last) - 1)


# ------------------------------------------------------------------ retries, a corrupt page, the checkpoint


def test_retries_and_a_corrupt_page_then_resume(upstream: Upstream, tmp_path: Path) -> None:
    plan = {1: Reply(503, b'{"title": "busy"}'), 2: Reply(429, b"", {"Retry-After": "1"}), 4: DROP,
            5: Reply(500, b"oops"), 7: CORRUPT}
    proxy = FaultProxy(upstream.server.base_url, lambda hit: plan.get(hit.number)).start()
    down = Downstream(tmp_path, f"{proxy.url}/taxii2/exchange/", upstream.feed_id, *upstream.mirror.basic_auth)
    try:
        started = time.monotonic()
        status, result = down.sync()
        assert time.monotonic() - started >= 1.0  # Retry-After honoured
        # 503, 429, page 1, dropped, 500, page 2, corrupt page 3: the sync stops on the page it cannot read
        assert status == 1 and "not JSON" in result["error"] and result["pages"] == 2, result
        hits = proxy.object_hits()
        assert [h.status for h in hits] == [503, 429, 200, None, 500, 200, 200]
        assert all(h.params.get("match[version]") == "all" and "added_after" not in h.params for h in hits)
        assert hits[5].params.get("next") and not hits[2].params.get("next")
        state = down.listed()
        assert state["state"] == "failing" and "not JSON" in state["last_error"] and state["last_error_at"]
        assert state["checkpoint"] == checkpoint_before(hits[5]) and state["objects_pulled"] == 4
        assert state["last_success_at"] is None
        # what was stored is exactly what the two stored pages brought (the 3rd page was never ingested)
        page_keys = {(o["id"], version_of(o)) for h in (hits[2], hits[5]) for o in h.body_objects}
        own = down.stored() - page_keys
        pulled = down.stored() & page_keys
        assert len(pulled) + len(own) == len(down.stored())
        assert all(not i.startswith(("indicator--", "malware--", "relationship--")) for i, _ in own)

        # the next run resumes from the checkpoint and ends with exactly what the upstream shows ``mirror``
        status, result = down.sync()
        assert status == 0 and "error" not in result, result
        resumed = proxy.object_hits()[len(hits):]
        assert {h.params.get("added_after") for h in resumed} == {state["checkpoint"]}
        assert all(h.status == 200 for h in resumed)
        state = down.listed()
        assert state["state"] == "ok" and state["last_success_at"] >= state["last_error_at"]
        assert "not JSON" in state["last_error"]  # the last error stays visible, with its time
        assert state["checkpoint"] == resumed[-1].last
        expected = upstream.seen_by_mirror()
        assert_mirrored(expected, down.stored())

        # rebuilding a mirror keeps what it mirrored; the feed reads as the upstream's
        assert down.server.cli_json("feed", "rebuild", "mirror")["objects"] == len(down.stored())
        down.server.start()
        view = down.view()
        assert_mirrored(expected, set(view), view)
        assert feed_state(down.server, down.feed_id)["upstream"]["state"] == "ok"
    finally:
        proxy.stop()
        down.stop()


def test_missing_credentials_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = UpstreamSettings("https://x.example/taxii2/r/", new_id(), "m", USER_ENV, SECRET_ENV)
    monkeypatch.setenv(USER_ENV, "key-id")
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(UpstreamError, match=f"environment variable {SECRET_ENV} .* is not set"):
        _remote(settings)
    monkeypatch.setenv(SECRET_ENV, "secret")
    remote = _remote(settings)
    assert remote.objects_url == f"https://x.example/taxii2/r/collections/{settings.collection}/objects/"


def test_bad_credentials_are_reported(upstream: Upstream, tmp_path: Path) -> None:
    down = Downstream(tmp_path, upstream.server.root_url, upstream.feed_id, upstream.mirror.key_id, "wrong-secret")
    try:
        assert down.listed()["state"] == "never-synced"
        status, result = down.sync()
        assert status == 1 and "401" in result["error"], result  # not retried: a 4xx will not heal by itself
        state = down.listed()
        assert state["state"] == "failing" and "401" in state["last_error"] and state["checkpoint"] is None
        assert not {i for i, _ in down.stored()} & set(upstream.visible)
        # pointed at another upstream collection, the feed starts afresh: a checkpoint belongs to one timeline
        path = down.server.workdir / "feeds" / "mirror.toml"
        path.write_text(path.read_text().replace(upstream.feed_id, upstream.intel))
        state = down.listed()
        assert (state["collection"], state["state"], state["last_error"]) == (upstream.intel, "never-synced", None)
    finally:
        down.stop()


# ------------------------------------------------------------------ two live exchanges, interrupted


def test_two_exchanges_interrupted_mid_sync_then_resumed(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    reached, release = threading.Event(), threading.Event()

    def plan(hit: Hit) -> None:
        if hit.number == 5:  # hold the 5th page until the upstream is down
            reached.set()
            release.wait(60)

    proxy = FaultProxy(up.server.base_url, plan).start()
    down: Downstream | None = None
    try:
        up.populate()
        expected = up.seen_by_mirror()
        dates = manifest_dates(up.mirror.client, up.feed_id)
        assert len(expected) > 10  # several pages of two
        down = Downstream(tmp_path / "down", f"{proxy.url}/taxii2/exchange/", up.feed_id, *up.mirror.basic_auth)
        down.server.start()  # it starts mirroring at once, in the background
        assert reached.wait(60), "the downstream did not reach its 5th page"
        up.server.stop()
        release.set()
        state = wait_for(lambda: (s := feed_state(down.server, down.feed_id)["upstream"])["state"] == "failing"
                         and s, 60, "the downstream to give up")
        hits = proxy.object_hits()
        assert [h.status for h in hits] == [200, 200, 200, 200, None, None, None]  # 3 attempts at page 5
        assert "network error" in state["last_error"] and "3 attempts" in state["last_error"]
        assert state["checkpoint"] == checkpoint_before(hits[3]) and state["objects_pulled"] == 8
        # nothing lost up to the checkpoint: everything the upstream added until then is here
        held = set(down.view())
        checkpoint = parse_timestamp(state["checkpoint"])
        assert {k for k in expected if dates[k] <= checkpoint} <= held
        pulled = {(o["id"], version_of(o)) for h in hits[:4] for o in h.body_objects}
        assert {k for k in held if not _definition(k)} <= pulled  # and nothing that was not pulled yet
        down.server.stop()
        listed = down.listed()  # the same through the CLI, with both servers down
        assert (listed["state"], listed["checkpoint"], listed["last_error"]) == (
            "failing", state["checkpoint"], state["last_error"])

        up.server.start()
        down.server.start()  # resumes where it stopped
        state = wait_for(lambda: (s := feed_state(down.server, down.feed_id)["upstream"])["state"] == "ok"
                         and s, 60, "the downstream to finish")
        resumed = proxy.object_hits()[len(hits):]
        assert resumed and {h.params.get("added_after") for h in resumed} == {listed["checkpoint"]}
        view = down.view()
        assert_mirrored(expected, set(view), view)
        assert state["checkpoint"] == resumed[-1].last

        # downstream, the mirrored objects are shared by the downstream's rules: the AMBER one (whose audience
        # upstream, a group there, means nothing here) only with the feed's default group, the rest with everyone
        inside = {i for i, _ in by_version(read_all(down.inside.client, down.feed_id))}
        outside = {i for i, _ in by_version(read_all(down.outside.client, down.feed_id))}
        assert inside - outside == {up.amber_to_mirror}
        assert inside == {i for i, _ in view}
    finally:
        release.set()
        proxy.stop()
        if down is not None:
            down.stop()
        up.stop()


# ------------------------------------------------------------------ medallion into AISX


@pytest.fixture
def medallion(tmp_path: Path) -> Iterator[Medallion]:
    server = Medallion(tmp_path / "medallion").start()
    try:
        yield server
    finally:
        server.stop()


def test_mirroring_medallion_into_aisx(medallion: Medallion, tmp_path: Path) -> None:
    first = [indicator(tlp=TLP_CLEAR), indicator(tlp=TLP_GREEN), indicator(tlp=TLP_GREEN)]
    unmarked = indicator()
    del unmarked["object_marking_refs"]
    also = indicator(tlp=TLP_GREEN)
    # medallion gives every object of one request the same date_added: pages of two split those ties
    assert medallion.post(*first, unmarked, also)["success_count"] == 5
    time.sleep(0.01)
    second = [indicator(tlp=TLP_CLEAR), indicator(tlp=TLP_GREEN)]
    assert medallion.post(*second)["success_count"] == 2
    failing = {2: CORRUPT}
    proxy = FaultProxy(f"http://127.0.0.1:{medallion.port}", lambda hit: failing.pop(hit.number, None)).start()
    down = Downstream(tmp_path / "down", f"{proxy.url}/intel/", medallion.collection_id, medallion.user,
                      medallion.password)
    try:
        # interrupted inside the first request's objects: the checkpoint stays before them
        status, result = down.sync()
        assert status == 1 and result["pages"] == 1 and result["accepted"] == 2, result
        [page] = proxy.object_hits()[:1]
        assert down.listed()["checkpoint"] == checkpoint_before(page)
        status, result = down.sync()
        assert status == 0 and "error" not in result, result
        # the two objects of the stored page come again (identical, accepted once), then the rest
        assert (result["accepted"], result["rejected"], result["pages"]) == (6, 1, 4), result
        state = down.listed()
        assert state["state"] == "ok" and state["objects_pulled"] == 2 + 7
        with medallion.client() as client:
            response = client.get(f"collections/{medallion.collection_id}/objects/",
                                  params={"match[id]": second[-1]["id"]})
            assert state["checkpoint"] == response.headers["X-TAXII-Date-Added-Last"]

        third = [indicator(tlp=TLP_GREEN), indicator(tlp=TLP_CLEAR)]
        assert medallion.post(*third)["success_count"] == 2
        status, result = down.sync()  # only what is new
        assert (status, result["accepted"], result["rejected"]) == (0, 2, 0), result
        assert down.listed()["objects_pulled"] == 2 + 7 + 2

        down.server.start()
        served = read_all(down.mirror.client, down.feed_id)
        mirrored = by_version(served)  # each version once
        posted = [*first, also, *second, *third]
        assert {k for k in mirrored if not _definition(k)} == {(o["id"], version_of(o)) for o in posted}
        for obj in posted:
            assert mirrored[obj["id"], version_of(obj)] == obj
        assert unmarked["id"] not in {o["id"] for o in served}  # mirrored objects pass the same checks
        outside = {o["id"] for o in read_all(down.outside.client, down.feed_id)}
        assert {o["id"] for o in posted} <= outside
    finally:
        proxy.stop()
        down.stop()


# ------------------------------------------------------------------ the other direction: standard TAXII


def test_a_standard_taxii_client_mirrors_an_aisx_feed(upstream: Upstream) -> None:
    """What medallion cannot do by itself, any TAXII client can: page through an AISX feed with ``next``
    and poll it with ``added_after``, seeing exactly what its participant may see."""
    user, password = upstream.mirror.basic_auth
    feed = TaxiiCollection(f"{upstream.server.root_url}collections/{upstream.feed_id}/", user=user, password=password)
    assert feed.can_read and not feed.can_write and feed.title == "Feed intel-feed"
    full: list[dict[str, Any]] = []
    for page in as_pages(feed.get_objects, per_request=3):
        full += page.get("objects", [])
    ids = {o["id"] for o in full}
    assert set(upstream.visible) <= ids and not set(upstream.hidden) & ids
    manifest: list[dict[str, Any]] = []
    for page in as_pages(feed.get_manifest, per_request=5):
        manifest += page.get("objects", [])
    high_water = max(r["date_added"] for r in manifest)

    new = [indicator(tlp=TLP_GREEN), indicator(tlp=TLP_CLEAR), indicator(tlp=TLP_GREEN),
           indicator(object_marking_refs=[TLP_AMBER, mint(upstream.lab.client, identities=(
               upstream.other.identity_id,))])]
    assert post(upstream.lab.client, upstream.intel, *new)["success_count"] == 4
    polled: list[dict[str, Any]] = []
    for page in as_pages(feed.get_objects, per_request=2, added_after=high_water):
        polled += page.get("objects", [])
    assert [o["id"] for o in polled] == [o["id"] for o in new[:3]]  # in order, once, and not the AMBER one
    assert polled == new[:3]
