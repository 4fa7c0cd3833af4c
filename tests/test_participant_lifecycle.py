"""The operator's lifecycle of participants and keys (issue 16, items 1 and 2), on a real server: groups changed
after admission change what a participant sees at once; keys are listed (never their secrets), expire, rotate
with a grace period, and say why they stopped working; every change is audited; the CLI drives the same
operations (human and --json output). The expiry parser is a pure function, tested directly."""

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import event

from app.admin import operations
from app.participants.keys import DurationError, key_state, parse_duration, parse_expiry
from app.store import participants as participant_store
from app.store.engine import make_engine
from tests.sharing_helpers import accepted, collection, mint, sdo, stamp, wait_until, when
from tests.support.server import TAXII, TLS, Participant, Server, running_server
from tests.support.stix import TLP_AMBER

NOW = 1_800_000_000_000_000  # 2027-01-15T08:00:00Z, in µs
S = 1_000_000
GENERIC = "Invalid or revoked API key."


# ------------------------------------------------------------------ the expiry parser (pure)


@pytest.mark.parametrize(("text", "after"), [
    ("90d", 90 * 86400 * S), ("12h", 12 * 3600 * S), ("30m", 30 * 60 * S), ("45s", 45 * S), ("2w", 14 * 86400 * S),
    (" 1d ", 86400 * S),
])
def test_durations_count_from_now(text: str, after: int) -> None:
    assert parse_expiry(text, NOW) == NOW + after


@pytest.mark.parametrize(("text", "at"), [
    ("2027-01-15T09:00:00Z", NOW + 3600 * S),
    ("2027-01-15T09:00:00.25Z", NOW + 3600 * S + 250_000),
    ("2027-01-15T11:00:00+02:00", NOW + 3600 * S),
    ("2027-01-15T04:30:00-04:30", NOW + 3600 * S),
    ("2027-01-15t09:00:00z", NOW + 3600 * S),
])
def test_rfc3339_timestamps_with_a_zone(text: str, at: int) -> None:
    assert parse_expiry(text, NOW) == at


@pytest.mark.parametrize(("text", "says"), [
    ("-3h", "negative"), ("0d", "zero"), ("0s", "zero"), ("soon", "neither"), ("", "neither"), ("12", "neither"),
    ("12 h", "neither"), ("1.5d", "neither"), ("3y", "neither"), ("99999999d", "longer than 100 years"),
    ("2027-01-15T09:00:00", "no time zone"), ("2027-01-15T07:59:59Z", "in the past"),
    ("2027-01-15T08:00:00Z", "in the past"), ("2027-02-30T00:00:00Z", "not a valid RFC 3339"),
])
def test_bad_expiries_are_refused_precisely(text: str, says: str) -> None:
    with pytest.raises(DurationError) as refused:
        parse_expiry(text, NOW)
    assert says in refused.value.description and repr(text) in refused.value.description


def test_a_grace_may_be_zero_an_expiry_may_not() -> None:
    assert parse_duration("0s", allow_zero=True) == 0
    assert parse_duration("24h", allow_zero=True) == 24 * 3600 * S
    with pytest.raises(DurationError, match="zero"):
        parse_duration("0m")
    with pytest.raises(DurationError, match="negative"):
        parse_duration("-1h", allow_zero=True)


def test_key_states() -> None:
    assert key_state(NOW, None, None, None) == "active"
    assert key_state(NOW, None, NOW + 1, None) == "active"
    assert key_state(NOW, None, NOW, None) == "expired"
    assert key_state(NOW, NOW + S, None, "aisx_k_0123456789abcdef") == "rotating"
    assert key_state(NOW, NOW, None, "aisx_k_0123456789abcdef") == "revoked"
    assert key_state(NOW, NOW - 1, NOW - 2, None) == "revoked"  # revoked wins: it is what the operator did


# ------------------------------------------------------------------ on a real server


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[httpx.Client]:
    with server.admin_client() as client:
        yield client


def events(admin: httpx.Client, action: str, *, oldest_first: bool = True) -> list[dict[str, Any]]:
    """``action`` events, oldest first unless ``oldest_first`` is false (the API's default is newest first)."""
    answer = admin.get("/admin/audit", params={"action": action, "limit": 10000,
                                               "order": "oldest" if oldest_first else "newest"})
    assert answer.status_code == 200, answer.text
    return [{**e, "detail": orjson.loads(e["detail"]) if e["detail"] else None} for e in answer.json()]


def issue(admin: httpx.Client, slug: str, **body: Any) -> dict[str, Any]:
    answer = admin.post(f"/admin/participants/{slug}/keys", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def keys(admin: httpx.Client, slug: str) -> dict[str, dict[str, Any]]:
    answer = admin.get(f"/admin/participants/{slug}/keys")
    assert answer.status_code == 200, answer.text
    return {k["key_id"]: k for k in answer.json()}


def refusal(server: Server, secret: str) -> str:
    """The description of the 401 a request with ``secret`` gets (it must get one)."""
    with server.client(secret) as client:
        answer = client.get("collections/")
    assert answer.status_code == 401, answer.text
    assert "WWW-Authenticate" in answer.headers
    return str(answer.json()["description"])


def works(server: Server, secret: str) -> bool:
    with server.client(secret) as client:
        status = client.get("collections/").status_code
    assert status in (200, 401), status
    return status == 200


def test_changing_groups_changes_visibility_at_once(server: Server, admin: httpx.Client) -> None:
    producer = server.add_participant("lc-producer", "lab", ("lc-team",))
    reader = server.add_participant("lc-reader", "agency")
    shared = collection(server, "lc-shared")
    private = collection(server, "lc-private", grant=False)
    server.grant("group:lc-team", private, read=True)
    marking = mint(producer.client, groups=("lc-team",))
    secret = sdo(marking=[TLP_AMBER, marking["id"]])
    accepted(producer.client, shared, secret)

    def sees() -> tuple[bool, int]:
        objects = reader.client.get(f"collections/{shared}/objects/", params={"match[id]": secret["id"]})
        assert objects.status_code in (200, 404), objects.text
        found = objects.status_code == 200 and any(o["id"] == secret["id"]
                                                   for o in objects.json().get("objects", []))
        return found, reader.client.get(f"collections/{private}/").status_code

    assert sees() == (False, 404)
    joined = admin.patch(f"/admin/participants/{reader.slug}", json={"add_groups": ["lc-team", "lc-other"]})
    assert joined.status_code == 200, joined.text
    assert joined.json()["groups"] == ["lc-other", "lc-team"]
    assert sees() == (True, 200)  # the same key, the very next request
    left = admin.patch(f"/admin/participants/{reader.slug}", json={"remove_groups": ["lc-team"]})
    assert left.status_code == 200 and left.json()["groups"] == ["lc-other"], left.text
    assert sees() == (False, 404)

    updates = [e for e in events(admin, "participant.update") if e["detail"]["slug"] == reader.slug]
    assert [(e["participant"], e["detail"]["before"]["groups"], e["detail"]["after"]["groups"]) for e in updates] == [
        ("admin", [], ["lc-other", "lc-team"]), ("admin", ["lc-other", "lc-team"], ["lc-other"])]

    groups = {g["name"]: g["members"] for g in admin.get("/admin/groups").json()}
    assert groups["lc-team"] == [producer.slug] and groups["lc-other"] == [reader.slug]


def test_renaming_republishes_the_directory_identity(server: Server, admin: httpx.Client) -> None:
    lab = server.add_participant("lc-renamed", "lab")
    renamed = admin.patch(f"/admin/participants/{lab.slug}", json={"name": "Renamed Lab Ltd"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed Lab Ltd", renamed.text
    directory = server.collection_id("directory")
    versions = lab.client.get(f"collections/{directory}/objects/{lab.identity_id}/",
                              params={"match[version]": "all"}).json()["objects"]
    assert [v["name"] for v in versions] == ["Lc-Renamed", "Renamed Lab Ltd"]
    assert versions[0]["created"] == versions[1]["created"] < versions[1]["modified"]
    [event] = [e for e in events(admin, "participant.update") if e["detail"]["slug"] == lab.slug]
    assert event["detail"]["before"]["name"] == "Lc-Renamed" and event["detail"]["after"]["name"] == "Renamed Lab Ltd"


@pytest.fixture(scope="module")
def refused_lab(server: Server) -> Participant:
    return server.add_participant("lc-refused", "lab", ("g-refused",))


@pytest.mark.parametrize(("slug", "body", "status", "says"), [
    ("lc-refused", {}, 422, "nothing to change"),
    ("lc-refused", {"add_groups": ["g-refused"]}, 422, "already in group"),
    ("lc-refused", {"remove_groups": ["nowhere"]}, 422, "not in group"),
    ("lc-refused", {"add_groups": ["Bad Group"]}, 422, "lower-case"),
    ("lc-refused", {"add_groups": ["x"], "remove_groups": ["x"]}, 422, "both added and removed"),
    ("lc-refused", {"name": "  "}, 422, "empty"),
    ("lc-refused", {"name": "x" * 201}, 422, "at most 200"),
    ("nobody-here", {"name": "X"}, 404, "no participant"),
    ("lc-refused", {"add_groups": "g"}, 400, ""),
])
def test_refused_updates_change_nothing(server: Server, admin: httpx.Client, refused_lab: Participant, slug: str,
                                        body: dict[str, Any], status: int, says: str) -> None:
    answer = admin.patch(f"/admin/participants/{slug}", json=body)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["description"]
    [row] = [p for p in admin.get("/admin/participants").json() if p["slug"] == "lc-refused"]
    assert (row["name"], row["groups"]) == ("Lc-Refused", ["g-refused"])


def test_participant_list_shows_state_identities_and_last_key_use(server: Server, admin: httpx.Client) -> None:
    lab = server.add_participant("lc-listed", "vendor", ("lc-listers",))

    def row() -> dict[str, Any]:
        return next(p for p in admin.get("/admin/participants").json() if p["slug"] == lab.slug)

    listed = row()
    assert (listed["kind"], listed["state"], listed["groups"], listed["identity_id"]) == (
        "vendor", "active", ["lc-listers"], lab.identity_id)
    assert listed["last_key_use"] is None and [k["last_used"] for k in listed["keys"]] == [None]
    assert lab.client.get("collections/").status_code == 200
    deadline = time.monotonic() + 10  # key use is counted per minute and flushed each second
    while row()["last_key_use"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
    listed = row()
    assert listed["last_key_use"] is not None, "the key's use never reached the participant list"
    used = datetime.fromisoformat(listed["last_key_use"].replace("Z", "+00:00"))
    assert timedelta(0) <= datetime.now(UTC) - used < timedelta(minutes=2)  # the start of its minute
    assert keys(admin, lab.slug)[lab.key_id]["last_used"] == listed["last_key_use"]
    assert admin.post(f"/admin/participants/{lab.slug}/suspend").status_code == 200
    assert row()["state"] == "suspended"


def test_the_participant_list_reads_each_table_once(server: Server, admin: httpx.Client) -> None:
    """GET /admin/participants and ``aisx participant list`` read the participants, their groups, sectors, claimed
    identities and keys with one statement each, however many participants there are (it took 1 + 4 statements per
    participant), and list each participant as the one-participant reads (``get_participant``, ``list_keys``)
    show it."""
    for n in range(3):
        server.add_participant(f"lc-counted-{n}", "vendor", ("lc-counters", f"lc-count-{n}"))
    assert admin.patch("/admin/participants/lc-counted-1", json={"add_groups": ["lc-extra"]}).status_code == 200
    engine = make_engine(server.database.url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql))
    try:
        with engine.connect() as conn:
            listed = operations.list_participants(conn)
            reads = [sql for sql in statements if sql.lstrip().startswith("SELECT")]  # not SQLite's BEGIN
            expected = [operations.participant_view(one, participant_store.list_keys(conn, one.id))
                        for one in (participant_store.get_participant(conn, row["id"]) for row in listed)]
    finally:
        engine.dispose()
    assert len(listed) >= 4 and len(reads) == 5, reads
    assert listed == expected


def test_key_list_never_shows_a_secret(server: Server, admin: httpx.Client) -> None:
    lab = server.add_participant("lc-keys", "lab", key_label="first")
    second = issue(admin, lab.slug, label="ci", expires="90d")
    answer = admin.get(f"/admin/participants/{lab.slug}/keys")
    listing = answer.text
    for secret in (lab.secret, second["secret"]):
        assert secret not in listing and hashlib.sha256(secret.encode()).hexdigest() not in listing
        assert secret.removeprefix("aisx_s_")[:12] not in listing
    listed = keys(admin, lab.slug)
    assert list(listed) == [lab.key_id, second["key_id"]]  # oldest first
    assert set(listed[lab.key_id]) == {"key_id", "label", "created", "last_used", "expires_at", "revoked_at",
                                       "replaced_by", "state", "revoked"}
    assert (listed[lab.key_id]["label"], listed[lab.key_id]["expires_at"], listed[lab.key_id]["state"]) == (
        "first", None, "active")
    assert listed[second["key_id"]]["expires_at"] == second["expires_at"]
    expires = datetime.fromisoformat(second["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - datetime.now(UTC) - timedelta(days=90)) < timedelta(minutes=1)
    assert admin.get("/admin/participants/nobody-here/keys").status_code == 404
    assert admin.post(f"/admin/participants/{lab.slug}/keys", json={"expires": "yesterday"}).status_code == 422
    issued = [e for e in events(admin, "key.issue") if e["key_id"] == second["key_id"]]
    assert [(e["participant"], e["detail"]) for e in issued] == [
        ("admin", {"slug": lab.slug, "expires_at": second["expires_at"]})]


def test_an_expired_key_answers_401_saying_so(server: Server, admin: httpx.Client) -> None:
    """Both keys are first checked while they work: if those checks end after the keys expired (a loaded
    machine), the test issues two new keys expiring 15 s ahead instead of 2 s."""
    lab = server.add_participant("lc-expiring", "lab")
    for lead in (2.0, 15.0):
        soon = issue(admin, lab.slug, label="short", expires=stamp(lead))
        offset = (datetime.now(UTC) + timedelta(seconds=lead)).astimezone(timezone(timedelta(hours=2))).isoformat()
        also = issue(admin, lab.slug, expires=offset)
        before = (works(server, soon["secret"]), works(server, also["secret"]),
                  keys(admin, lab.slug)[soon["key_id"]]["state"])
        if datetime.now(UTC) < min(when(soon["expires_at"]), when(also["expires_at"])):
            break
    else:
        pytest.fail("the checks before the expiry ended after it, even with keys expiring 15 s ahead")
    assert before == (True, True, "active")
    wait_until(max(soon["expires_at"], also["expires_at"]))
    for key in (soon, also):
        said = refusal(server, key["secret"])
        assert said.startswith(f"This API key expired at {key['expires_at']}"), said
    with server.client(auth=(soon["key_id"], soon["secret"])) as basic:  # Basic: key id and secret
        assert basic.get("collections/").json()["description"].startswith("This API key expired at")
    assert keys(admin, lab.slug)[soon["key_id"]]["state"] == "expired"
    assert works(server, lab.secret)  # the participant's other key is untouched
    # nothing is revealed for a key the exchange does not know, or a known key id with a wrong secret
    assert refusal(server, "aisx_s_" + "x" * 43) == GENERIC
    with server.client(auth=(soon["key_id"], "aisx_s_wrong")) as wrong:
        assert wrong.get("collections/").json()["description"] == GENERIC
    rotated = admin.post(f"/admin/keys/{soon['key_id']}/rotate", json={"grace": "1h"})
    assert rotated.status_code == 422 and "expired" in rotated.json()["description"], rotated.text


def test_rotation_keeps_the_old_key_for_the_grace_only(server: Server, admin: httpx.Client) -> None:
    """What holds during the grace is checked on requests that all ended before it did: if they end after it (a
    loaded machine), the test rotates a new key with a grace of 15 s instead of 2 s."""
    lab = server.add_participant("lc-rotating", "lab")
    for grace in (2, 15):
        old = issue(admin, lab.slug, label="pipeline", expires="30d")
        answer = admin.post(f"/admin/keys/{old['key_id']}/rotate", json={"grace": f"{grace}s"})
        assert answer.status_code == 201, answer.text
        new = answer.json()
        both_work = works(server, old["secret"]) and works(server, new["secret"])
        listed = keys(admin, lab.slug)
        again = admin.post(f"/admin/keys/{old['key_id']}/rotate", json={"grace": "1h"})
        if datetime.now(UTC) < when(new["old_key_revoked_at"]):
            break
    else:
        pytest.fail("the checks during the grace ended after it, even with a grace of 15 s")
    assert (new["participant"], new["label"], new["replaces"]) == (lab.slug, "pipeline", old["key_id"])
    assert new["key_id"] != old["key_id"] and new["secret"].startswith("aisx_s_")
    lifetime = datetime.fromisoformat(new["expires_at"][:-1]) - datetime.fromisoformat(new["old_key_revoked_at"][:-1])
    assert abs(lifetime + timedelta(seconds=grace) - timedelta(days=30)) < timedelta(seconds=5)  # the old key's again
    assert both_work  # the old and the new key, during the grace
    assert (listed[old["key_id"]]["state"], listed[old["key_id"]]["replaced_by"]) == ("rotating", new["key_id"])
    assert listed[old["key_id"]]["revoked_at"] == new["old_key_revoked_at"]
    assert (listed[new["key_id"]]["state"], listed[new["key_id"]]["label"]) == ("active", "pipeline")
    assert again.status_code == 422 and "rotating" in again.json()["description"], again.text
    wait_until(new["old_key_revoked_at"])
    said = refusal(server, old["secret"])
    assert said.startswith(f"This API key was revoked at {new['old_key_revoked_at']}") and "rotation" in said, said
    assert works(server, new["secret"])
    assert keys(admin, lab.slug)[old["key_id"]]["state"] == "revoked"
    [event] = [e for e in events(admin, "key.rotate") if e["key_id"] == old["key_id"]]
    assert event["participant"] == "admin" and event["detail"] == {
        "slug": lab.slug, "new_key_id": new["key_id"], "old_key_revoked_at": new["old_key_revoked_at"],
        "expires_at": new["expires_at"]}
    refused = {"unknown key": (admin.post("/admin/keys/aisx_k_0000000000000000/rotate", json={}), 404),
               "bad grace": (admin.post(f"/admin/keys/{new['key_id']}/rotate", json={"grace": "soon"}), 422),
               "negative grace": (admin.post(f"/admin/keys/{new['key_id']}/rotate", json={"grace": "-1h"}), 422),
               "participant key": (server.client(new["secret"]).post(
                   f"{server.base_url}/admin/keys/{new['key_id']}/rotate", json={}), 403)}
    for what, (response, status) in refused.items():
        assert response.status_code == status, (what, response.text)
    assert keys(admin, lab.slug)[new["key_id"]]["state"] == "active"


def test_a_rotating_key_can_still_be_revoked_at_once(server: Server, admin: httpx.Client) -> None:
    lab = server.add_participant("lc-cut-short", "lab")
    new = admin.post(f"/admin/keys/{lab.key_id}/rotate", json={"grace": "24h"}).json()
    assert works(server, lab.secret)
    assert admin.delete(f"/admin/keys/{lab.key_id}").status_code == 200
    said = refusal(server, lab.secret)
    assert said.startswith("This API key was revoked at"), said
    assert works(server, new["secret"])
    assert [e["key_id"] for e in events(admin, "key.revoke")].count(lab.key_id) == 1


def test_a_zero_grace_revokes_the_old_key_at_once(server: Server, admin: httpx.Client) -> None:
    lab = server.add_participant("lc-no-grace", "lab")
    new = admin.post(f"/admin/keys/{lab.key_id}/rotate", json={"grace": "0s", "expires": "12h"}).json()
    assert refusal(server, lab.secret).startswith("This API key was revoked at")
    assert works(server, new["secret"])
    expires = datetime.fromisoformat(new["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - datetime.now(UTC) - timedelta(hours=12)) < timedelta(minutes=1)


def test_a_revoked_key_says_so(server: Server, admin: httpx.Client) -> None:
    lab = server.add_participant("lc-revoked", "lab")
    revoked = admin.delete(f"/admin/keys/{lab.key_id}")
    assert revoked.status_code == 200, revoked.text
    said = refusal(server, lab.secret)
    assert said.startswith("This API key was revoked at") and "rotation" not in said, said


def test_expired_and_revoked_keys_count_as_failed_authentications(tmp_path_factory: pytest.TempPathFactory) -> None:
    limits = {"AISX_AUTH_FAILURES_PER_MINUTE": "3", "AISX_RATE_LIMIT_WINDOW": "3600"}
    if 3600 - time.time() % 3600 < 20:  # keep the whole test inside one counting window
        time.sleep(3600 - time.time() % 3600 + 0.5)
    with running_server(tmp_path_factory.mktemp("lc-throttle"), settings=limits) as srv:
        lab = srv.add_participant("lc-throttled", "lab")
        with srv.admin_client() as admin:
            assert admin.delete(f"/admin/keys/{lab.key_id}").status_code == 200
        with srv.client(lab.secret) as client:
            answers = [client.get("collections/") for _ in range(5)]
        assert [a.status_code for a in answers[:3]] == [401, 401, 401]
        assert all(a.json()["description"].startswith("This API key was revoked") for a in answers[:3])
        assert answers[-1].status_code == 429


# ------------------------------------------------------------------ the CLI runs the same operations


def test_the_cli_drives_the_lifecycle(server: Server, admin: httpx.Client) -> None:
    lab: Participant = server.add_participant("lc-cli", "lab", ("lc-cli-a",), key_label="cli-first")
    updated = server.cli_json("participant", "update", lab.slug, "--add-group", "lc-cli-b", "--remove-group",
                              "lc-cli-a", "--name", "CLI Lab")
    assert (updated["name"], updated["groups"], updated["state"]) == ("CLI Lab", ["lc-cli-b"], "active")
    assert admin.patch(f"/admin/participants/{lab.slug}", json={"add_groups": ["lc-cli-c"]}).status_code == 200
    refused = server.cli("participant", "update", lab.slug, "--remove-group", "lc-cli-a", check=False)
    assert refused.returncode == 2 and "not in group 'lc-cli-a'" in refused.stderr

    issued = server.cli_json("key", "issue", lab.slug, "--label", "cli-second", "--expires", "12h")
    assert issued["expires_at"] and works(server, issued["secret"])
    rotated = server.cli_json("key", "rotate", lab.key_id, "--grace", "1h")
    assert rotated["replaces"] == lab.key_id and rotated["label"] == "cli-first"
    assert works(server, lab.secret) and works(server, rotated["secret"])

    listed = server.cli_json("key", "list", lab.slug)
    assert [(k["key_id"], k["state"]) for k in listed["keys"]] == [
        (lab.key_id, "rotating"), (issued["key_id"], "active"), (rotated["key_id"], "active")]
    table = server.cli("key", "list", lab.slug)
    for key_id, state in [(lab.key_id, "rotating"), (issued["key_id"], "active")]:
        assert any(key_id in line and state in line for line in table.stderr.splitlines()), table.stderr
    for secret in (lab.secret, issued["secret"], rotated["secret"]):
        assert secret not in table.stderr + table.stdout + orjson.dumps(listed).decode()

    people = server.cli("participant", "list")
    [line] = [line for line in people.stderr.splitlines() if line.startswith(lab.slug)]
    for column in ("CLI Lab", "lab", "active", "lc-cli-b, lc-cli-c", lab.identity_id, "3 of 3"):
        assert column in line, line
    assert any(line.startswith("participant") and "last key use" in line for line in people.stderr.splitlines())
    groups = server.cli_json("group", "list")["groups"]
    assert {"name": "lc-cli-c", "members": [lab.slug]} in groups

    # the CLI's changes are audited as the exchange's own (no acting participant)
    done = {(e["action"], e["key_id"]) for action in ("participant.update", "key.issue", "key.rotate")
            for e in events(admin, action) if e["participant"] is None
            and (e["detail"] or {}).get("slug") == lab.slug}
    assert done == {("participant.update", None), ("key.issue", issued["key_id"]), ("key.rotate", lab.key_id)}


def test_the_admin_api_is_for_operators_only(server: Server) -> None:
    lab = server.add_participant("lc-not-operator", "lab")
    base = server.base_url
    for method, path in [("PATCH", f"/admin/participants/{lab.slug}"), ("GET", "/admin/groups"),
                         ("GET", f"/admin/participants/{lab.slug}/keys"),
                         ("POST", f"/admin/keys/{lab.key_id}/rotate")]:
        assert lab.client.request(method, f"{base}{path}", json={"name": "x"}).status_code == 403, path
        assert httpx.request(method, f"{base}{path}", json={}, headers={"Accept": TAXII},
                             verify=TLS).status_code == 401, path


# ------------------------------------------------------------------ operator text longer than its column

_LONG = "x" * 201


@pytest.mark.parametrize("method,path,body,message", [
    ("POST", "/admin/participants", {"slug": "long-name", "name": _LONG, "kind": "lab"},
     "the name must be at most 200 characters, not 201"),
    ("POST", "/admin/participants", {"slug": "long-sector", "name": "n", "kind": "lab", "sectors": ["s" * 65]},
     "a sector must be at most 64 characters, not 65"),
    ("PATCH", "/admin/participants/{slug}", {"name": _LONG}, "the name must be at most 200 characters, not 201"),
    ("POST", "/admin/participants/{slug}/keys", {"label": _LONG},
     "the key's label must be at most 200 characters, not 201"),
    ("POST", "/admin/collections", {"alias": "long-title", "title": _LONG},
     "the title must be at most 200 characters, not 201"),
    ("POST", "/admin/collections", {"alias": "long-group", "title": "t", "default_group": "g" * 65},
     "the default group must be at most 64 characters, not 65"),
    ("PATCH", "/admin/collections/shared", {"title": _LONG}, "the title must be at most 200 characters, not 201"),
    ("POST", "/admin/collections/shared/grants", {"subject": "group:" + "g" * 65, "read": True},
     "a group name must be at most 64 characters, not 65"),
])
def test_text_longer_than_its_column_is_a_422_that_changes_nothing(  # type: ignore[no-untyped-def]
        server: Server, make_participant, method: str, path: str, body: dict[str, Any], message: str) -> None:
    """Names, labels, titles, sectors and groups longer than the store keeps were a 500 on PostgreSQL (value too
    long for character varying) and stored whole on SQLite; now the operator is told the limit, and nothing is
    written on either."""
    holder = make_participant()
    with server.admin_client() as admin:
        before = _written(admin)
        answer = admin.request(method, path.format(slug=holder.slug), json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["description"] == message
        assert _written(admin) == before


def _written(admin: httpx.Client) -> list[Any]:
    """What an operator's writes change: the participants without their keys' last use (the operator key's own
    use is counted as these requests go, flushed when it is), and the collections with their grants."""
    participants = admin.get("/admin/participants").json()
    for view in participants:
        view.pop("last_key_use")
        for key in view["keys"]:
            key.pop("last_used")
    return [participants, admin.get("/admin/collections").json()]
