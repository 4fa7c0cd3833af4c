"""The operator's collection lifecycle (issue 16, items 3-5): collections listed, changed and removed, grants listed
and revoked, in the admin API and the CLI alike and audited; feeds decided by their files only (a grant on a feed
is refused, a feed whose file is gone is removed); and commands other than ``serve`` and ``db upgrade`` that only
check the schema. The admin API sets things up; a few CLI runs prove the commands' wiring and human output."""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.feed_support import feed_toml, post, read_all, write_feed
from tests.support.server import Participant, Server, ThrowawayDatabase, running_server
from tests.support.stix import TLP_GREEN, indicator

WATCH_FEED, DOOMED_FEED, GONE_AT_START_FEED = (str(uuid.uuid4()) for _ in range(3))


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    def feeds(server: Server) -> None:
        write_feed(server, "watch", feed_toml(WATCH_FEED, "watch", selector={"types": ["indicator"]},
                                              read=("everyone",)))
        write_feed(server, "doomed", feed_toml(DOOMED_FEED, "doomed", selector={"labels": ["doomed"]},
                                               read=("kind:agency",)))
        write_feed(server, "gone-at-start", feed_toml(GONE_AT_START_FEED, "gone-at-start",
                                                      selector={"labels": ["doomed"]}, read=("everyone",)))
    with running_server(tmp_path_factory.mktemp("lifecycle"), before_start=feeds) as server:
        yield server


@pytest.fixture(scope="module")
def lab(exchange: Server) -> Participant:
    return exchange.add_participant("lc-lab", "lab", ("lc-group",))


@pytest.fixture(scope="module")
def admin(exchange: Server) -> Iterator[httpx.Client]:
    with exchange.admin_client() as client:
        yield client


def _listed(admin: httpx.Client) -> dict[str, dict[str, Any]]:
    response = admin.get("/admin/collections")
    assert response.status_code == 200, response.text
    return {c["alias"]: c for c in response.json()}


def _events(admin: httpx.Client, action: str, collection_id: str, *, oldest_first: bool = True) -> list[dict[str, Any]]:
    """The collection's ``action`` events, oldest first unless ``oldest_first`` is false (the API's default is
    newest first)."""
    order = "oldest" if oldest_first else "newest"
    return [{**e, "detail": json.loads(e["detail"]) if e["detail"] else None}
            for e in admin.get("/admin/audit", params={"action": action, "order": order}).json()
            if e["collection_id"] == collection_id]


# ------------------------------------------------------------------ listing


def test_collections_listed_with_validation_feed_objects_and_grants(
        exchange: Server, admin: httpx.Client, lab: Participant) -> None:
    made = exchange.add_collection("lc-list", "Listed collection", lenient=True, description="for listing")
    exchange.grant("everyone", "lc-list", read=True, write=True)
    exchange.grant("group:lc-group", "lc-list", read=True)
    assert post(lab.client, made["id"], indicator(), indicator())["success_count"] == 2

    listed = _listed(admin)
    mine = listed["lc-list"]
    assert mine == {
        "id": made["id"], "alias": "lc-list", "api_root": "exchange", "title": "Listed collection",
        "description": "for listing", "validation": "lenient", "public": False, "default_group": None,
        "feed": False, "objects": 2,  # the exchange's own definitions, which it also holds, are not counted
        "grants": [{"subject_kind": "group", "subject": "lc-group", "name": "group:lc-group", "can_read": True,
                    "can_write": False},
                   {"subject_kind": "kind", "subject": "*", "name": "everyone", "can_read": True,
                    "can_write": True}]}
    assert listed["watch"]["feed"] and listed["watch"]["objects"] >= 2  # the indicators reached the feed too
    assert {"shared", "directory"} <= set(listed) and not listed["shared"]["feed"]
    assert lab.client.get(f"{exchange.base_url}/admin/collections").status_code == 403

    # the CLI's human table: one line per collection with every column (a real `aisx` process)
    shown = exchange.cli("collection", "list")
    row = next(line for line in shown.stderr.splitlines() if line.startswith("lc-list "))
    assert row.split()[:3] == ["lc-list", made["id"], "exchange"]
    assert "Listed collection" in row and "lenient" in row and " 2 " in row
    assert "everyone:rw" in row and "group:lc-group:r" in row
    watch = next(line for line in shown.stderr.splitlines() if line.startswith("watch "))
    assert " feed " in watch
    # --json prints what the API answers (through the in-process command worker: it runs the same app)
    assert {c["alias"]: c for c in exchange.cli_json("collection", "list")["collections"]} == _listed(admin)


# ------------------------------------------------------------------ changing


def test_update_changes_title_description_and_validation_audited(
        exchange: Server, admin: httpx.Client, lab: Participant) -> None:
    made = exchange.add_collection("lc-update", "Before", description="old words")
    exchange.grant(lab.slug, made["id"], read=True)
    changed = admin.patch("/admin/collections/lc-update", json={"title": "After", "validation": "lenient"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["title"], changed.json()["validation"], changed.json()["description"]) == (
        "After", "lenient", "old words")
    seen = lab.client.get(f"collections/{made['id']}/").json()
    assert seen["title"] == "After" and seen["description"] == "old words"
    cleared = admin.patch(f"/admin/collections/{made['id']}", json={"description": None})
    assert cleared.status_code == 200 and cleared.json()["description"] is None
    assert "description" not in lab.client.get(f"collections/{made['id']}/").json()

    refusals = {
        "taken title": (admin.patch("/admin/collections/lc-update", json={"title": "shared exchange COLLECTION"}),
                        422),
        "nothing to change": (admin.patch("/admin/collections/lc-update", json={}), 422),
        "bad validation": (admin.patch("/admin/collections/lc-update", json={"validation": "loose"}), 400),
        "unknown": (admin.patch("/admin/collections/nothing", json={"title": "x"}), 404),
        "a feed": (admin.patch("/admin/collections/watch", json={"title": "Renamed feed"}), 409),
        "participant key": (lab.client.patch(f"{exchange.base_url}/admin/collections/lc-update",
                                             json={"title": "Mine"}), 403),
    }
    for what, (answer, status) in refusals.items():
        assert answer.status_code == status, (what, answer.text)
    feed_refusal = refusals["a feed"][0].json()["description"]
    assert str(exchange.workdir / "feeds" / "watch.toml") in feed_refusal, feed_refusal

    events = _events(admin, "collection.update", made["id"])
    assert [(e["participant"], e["detail"]) for e in events] == [
        ("admin", {"alias": "lc-update", "before": {"title": "Before", "validation": "strict"},
                   "after": {"title": "After", "validation": "lenient"}}),
        ("admin", {"alias": "lc-update", "before": {"description": "old words"}, "after": {"description": None}})]

    # the CLI: --strict back, and a description (in-process command worker)
    done = exchange.cli_json("collection", "update", "lc-update", "--strict", "--description", "new words")
    assert (done["validation"], done["description"]) == ("strict", "new words")
    assert _events(admin, "collection.update", made["id"])[-1]["participant"] is None  # the exchange itself


# ------------------------------------------------------------------ removing


def test_remove_is_refused_while_it_holds_objects_and_forced_keeps_every_object(
        exchange: Server, admin: httpx.Client, lab: Participant) -> None:
    made = exchange.add_collection("lc-doomed", "Doomed collection")
    cid = made["id"]
    exchange.grant("everyone", cid, read=True, write=True)
    exchange.grant("group:lc-group", cid, read=True)
    shared = exchange.collection_id("shared")
    kept, only_here = indicator(), indicator(labels=["doomed"])
    embargo = lab.client.post(f"{exchange.base_url}/admin/audiences", json={"embargo_until": "2099-01-01T00:00:00Z"})
    assert embargo.status_code == 201, embargo.text
    pending = indicator(object_marking_refs=[TLP_GREEN, embargo.json()["id"]])
    assert post(lab.client, cid, kept, only_here, pending)["success_count"] == 3
    assert post(lab.client, shared, kept)["success_count"] == 1  # the same object, in shared too

    refused = admin.delete(f"/admin/collections/{cid}")
    assert refused.status_code == 409, refused.text
    assert "holds 3 object versions" in refused.json()["description"]
    assert "force" in refused.json()["description"]
    # the CLI refuses the same way, exit status 2 (a real `aisx` process)
    cli_refused = exchange.cli("collection", "remove", "lc-doomed", check=False)
    assert cli_refused.returncode == 2, cli_refused.stderr
    assert "error: lc-doomed holds 3 object versions: remove it with --force" in cli_refused.stderr
    assert lab.client.get(f"collections/{cid}/").status_code == 200  # still there

    removed = admin.delete(f"/admin/collections/{cid}", params={"force": "true"})
    assert removed.status_code == 200, removed.text
    body = removed.json()
    # pending: the embargoed object and the marking that embargoes it, which waits with it
    assert (body["objects"], body["pending"], body["grants"], body["removed"]) == (3, 2, 2, True)
    assert body["memberships"] > 3  # the exchange's own definitions went too
    assert lab.client.get(f"collections/{cid}/").status_code == 404
    assert "lc-doomed" not in _listed(admin)
    assert admin.get(f"/admin/collections/{cid}/grants").status_code == 404
    # every object stays in the exchange: in shared, in the feeds its selectors put it in, and still its owner's
    assert kept["id"] in {o["id"] for o in read_all(lab.client, shared)}
    assert {kept["id"], only_here["id"]} <= {o["id"] for o in read_all(lab.client, WATCH_FEED)}
    taken = post(exchange.add_participant("lc-other").client, shared, indicator(only_here["id"],
                                                                                 modified="2026-02-01T00:00:00Z"))
    assert taken["failure_count"] == 1  # only_here still belongs to lc-lab: nobody else may version it
    # and the alias is free again
    assert exchange.add_collection("lc-doomed", "Doomed collection")["id"] != cid

    events = _events(admin, "collection.remove", cid)
    assert [(e["participant"], e["object_count"], e["detail"]["force"], e["detail"]["pending"]) for e in events] \
        == [("admin", 3, True, 2)]


def test_standard_collections_feeds_and_unknown_ones_are_not_removed(exchange: Server, admin: httpx.Client) -> None:
    for alias in ("shared", "directory"):
        answer = admin.delete(f"/admin/collections/{alias}", params={"force": "true"})
        assert answer.status_code == 409 and "every exchange has" in answer.json()["description"], answer.text
    feed = admin.delete("/admin/collections/watch", params={"force": "true"})
    assert feed.status_code == 409, feed.text
    assert f"delete {exchange.workdir / 'feeds' / 'watch.toml'}" in feed.json()["description"]
    assert admin.delete("/admin/collections/nothing").status_code == 404
    assert {"shared", "directory", "watch"} <= set(_listed(admin))
    # an empty collection goes without --force (CLI, in-process command worker)
    exchange.add_collection("lc-empty", "Empty collection")
    gone = exchange.cli_json("collection", "remove", "lc-empty")
    assert (gone["removed"], gone["objects"]) == (True, 0) and "lc-empty" not in _listed(admin)


# ------------------------------------------------------------------ grants


def test_grants_listed_and_revoked(exchange: Server, admin: httpx.Client, lab: Participant) -> None:
    made = exchange.add_collection("lc-grants", "Granted collection")
    exchange.grant(lab.slug, "lc-grants", read=True, write=True)
    exchange.grant("kind:agency", "lc-grants", read=True)
    listed = admin.get("/admin/collections/lc-grants/grants")
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"collection_id": made["id"], "alias": "lc-grants", "grants": [
        {"subject_kind": "kind", "subject": "agency", "name": "kind:agency", "can_read": True, "can_write": False},
        {"subject_kind": "participant", "subject": lab.slug, "name": lab.slug, "can_read": True,
         "can_write": True}]}
    # the human list (a real `aisx` process)
    shown = exchange.cli("grant", "list", "lc-grants").stderr.splitlines()
    assert [line.split() for line in shown] == [["kind:agency", "read", "-"], [lab.slug, "read", "write"]]

    assert lab.client.get(f"collections/{made['id']}/").status_code == 200
    revoked = admin.delete(f"/admin/collections/lc-grants/grants/{lab.slug}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"collection_id": made["id"], "subject_kind": "participant", "subject": lab.slug,
                              "revoked": True}
    assert lab.client.get(f"collections/{made['id']}/").status_code == 404  # no access left
    assert admin.delete(f"/admin/collections/lc-grants/grants/{lab.slug}").status_code == 404  # none left
    assert admin.delete("/admin/collections/lc-grants/grants/team:x").status_code == 422
    # the CLI's --revoke (in-process command worker)
    done = exchange.cli_json("grant", "kind:agency", "lc-grants", "--revoke")
    assert (done["subject_kind"], done["subject"], done["revoked"]) == ("kind", "agency", True)
    assert admin.get("/admin/collections/lc-grants/grants").json()["grants"] == []
    assert [(e["participant"], e["detail"]) for e in _events(admin, "collection.revoke", made["id"])] == [
        ("admin", {"subject_kind": "participant", "subject": lab.slug}),
        (None, {"subject_kind": "kind", "subject": "agency"})]


# ------------------------------------------------------------------ feeds: their files decide


def test_a_grant_on_a_feed_is_refused_pointing_to_its_access_table(
        exchange: Server, admin: httpx.Client, lab: Participant) -> None:
    """Regression (fails on the code before issue 16): a grant on a feed used to succeed, then vanish at the next
    command or restart, when the feed's grants were rewritten from its file."""
    path = exchange.workdir / "feeds" / "doomed.toml"
    granted = admin.post(f"/admin/collections/{DOOMED_FEED}/grants", json={"subject": lab.slug, "read": True})
    assert granted.status_code == 409, granted.text
    assert f"edit the [access] table of {path}" in granted.json()["description"]
    revoke = admin.delete("/admin/collections/doomed/grants/kind:agency")
    assert revoke.status_code == 409 and "[access]" in revoke.json()["description"], revoke.text
    cli = exchange.cli("grant", lab.slug, "doomed", "--read", check=False)
    assert cli.returncode == 2 and f"edit the [access] table of {path}" in cli.stderr, cli.stderr
    assert lab.client.get(f"collections/{DOOMED_FEED}/").status_code == 404  # the file's grants hold
    assert [g["name"] for g in admin.get("/admin/collections/doomed/grants").json()["grants"]] == ["kind:agency"]


def test_feed_list_shows_selector_and_access(exchange: Server) -> None:
    shown = exchange.cli("feed", "list").stderr
    lines = shown.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("doomed "))
    assert lines[at + 1].split() == ["selector:", '{"labels":["doomed"]}']
    assert lines[at + 2].split() == ["read:", "kind:agency"]


def test_a_feed_is_rebuilt_through_the_admin_api_too_and_audited(exchange: Server, admin: httpx.Client,
                                                                  lab: Participant) -> None:
    """``aisx feed rebuild`` has its admin-API twin (every lifecycle operation is in both), audited as
    ``feed.rebuild``; a collection that is no feed, an unknown name and a participant's key are refused."""
    assert post(lab.client, exchange.collection_id("shared"), indicator())["success_count"] == 1
    rebuilt = admin.post("/admin/feeds/watch/rebuild")
    assert rebuilt.status_code == 200, rebuilt.text
    body = rebuilt.json()
    assert body["id"] == WATCH_FEED and body["removed"] is False and body["objects"] >= 1
    by_cli = exchange.cli_json("feed", "rebuild", WATCH_FEED)
    assert by_cli["objects"] == body["objects"]
    events = _events(admin, "feed.rebuild", WATCH_FEED)
    detail = {"alias": "watch", "objects": body["objects"]}
    assert [(e["participant"], e["detail"]) for e in events][-2:] == [("admin", detail), (None, detail)]
    for name in ("shared", "no-such-feed"):
        refused = admin.post(f"/admin/feeds/{name}/rebuild")
        assert refused.status_code == 404 and "no feed" in refused.json()["description"], refused.text
    assert lab.client.post(f"{exchange.base_url}/admin/feeds/watch/rebuild").status_code == 403


def test_a_feed_whose_file_is_removed_is_removed_at_rebuild_objects_kept(
        exchange: Server, admin: httpx.Client, lab: Participant) -> None:
    labelled = indicator(labels=["doomed"])
    assert post(lab.client, exchange.collection_id("shared"), labelled)["success_count"] == 1
    assert _listed(admin)["doomed"]["objects"] >= 1
    (exchange.workdir / "feeds" / "doomed.toml").unlink()
    # other commands leave the feeds alone: only serve, db upgrade and the feed commands apply the files
    exchange.cli("participant", "list")
    assert "doomed" in _listed(admin)
    rebuilt = exchange.cli("feed", "rebuild", "watch", "--json")
    assert f"feed doomed ({DOOMED_FEED}) removed" in rebuilt.stderr, rebuilt.stderr
    assert "doomed" not in _listed(admin) and "watch" in _listed(admin)
    assert lab.client.get(f"collections/{DOOMED_FEED}/").status_code == 404
    assert labelled["id"] in {o["id"] for o in read_all(lab.client, exchange.collection_id("shared"))}
    events = _events(admin, "feed.remove", DOOMED_FEED)
    assert [(e["participant"], e["detail"]["alias"]) for e in events] == [(None, "doomed")]


def test_a_feed_whose_file_is_removed_is_removed_at_the_next_start(exchange: Server, admin: httpx.Client) -> None:
    """(Last in this module: it restarts the server.)"""
    assert "gone-at-start" in _listed(admin)
    (exchange.workdir / "feeds" / "gone-at-start.toml").unlink()
    offset = exchange.log_end()
    exchange.stop()
    exchange.start()
    assert "gone-at-start" not in _listed(admin)
    log = exchange.log_since(offset)
    assert f"feed gone-at-start ({GONE_AT_START_FEED}): its definition file is gone; removed" in log, log


# ------------------------------------------------------------------ commands that only check the schema


def test_commands_other_than_serve_and_db_upgrade_only_check_the_schema(tmp_path: Path) -> None:
    database = ThrowawayDatabase(tmp_path)
    never_served = Server(tmp_path, 0, database)
    try:
        refused = never_served.cli("participant", "list", check=False)
        assert refused.returncode == 2 and "run `aisx db upgrade` (or `aisx serve`)" in refused.stderr, refused.stderr
        if database.url.startswith("sqlite"):
            assert not (tmp_path / "aisx.db").exists()  # checking created nothing
        upgraded = never_served.cli("db", "upgrade")
        assert "database at head" in upgraded.stderr
        assert never_served.cli_json("participant", "list") == {"participants": []}
        assert "shared" in never_served.cli("collection", "list").stderr  # db upgrade set the exchange up

        # a schema behind this code: every command says to upgrade, and changes nothing
        engine = create_engine(database.url)
        with engine.begin() as conn:
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            conn.execute(text("UPDATE alembic_version SET version_num = '0006'"))
        behind = never_served.cli("collection", "list", check=False)
        assert behind.returncode == 2, behind.stderr
        assert f"at revision 0006, this aisx needs {head}: run `aisx db upgrade`" in behind.stderr
        with engine.begin() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0006"
            conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
        engine.dispose()
    finally:
        database.drop()

