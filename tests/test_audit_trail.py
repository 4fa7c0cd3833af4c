"""The audit trail (issue 16, items 6, 7, 8 and the audit half of 11), against a live server, over HTTP and the CLI:

- listing newest first, filtered by actor, action prefix, subject participant, collection and time, with details;
- the hash chain: verify on a good database, on one with an edited record and one with a deleted record, export
  and offline verify (also of an export that starts mid-chain), a chain that stays whole under concurrent writers;
- who read a producer's AMBER/RED objects (GET /me/reads, GET /admin/audit/reads, ``aisx audit reads``), tried
  as hostile participants;
- key use: one row per key and minute, "last used" from it, retention that keeps each key's newest row, and a
  flush that fails is logged and loses nothing."""

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.sharing_helpers import accepted, admit, ipv4, mint, sdo, second_key
from tests.support.server import TLS, Participant, Server, libpq_url, running_server
from tests.support.stix import TLP_AMBER, TLP_GREEN, TLP_RED

DAY_US = 86_400_000_000


def sql(server: Server, statement: str, **params: Any) -> list[Any]:
    """Run one statement on the server's database (to look at, or tamper with, what it stored)."""
    engine = create_engine(server.database.url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def events(server: Server, **params: Any) -> list[dict[str, Any]]:
    with server.admin_client() as admin:
        answer = admin.get("/admin/audit", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_for(predicate: Any, what: str, seconds: float = 15, server: Server | None = None) -> Any:
    """``predicate()`` once it is truthy; failing after ``seconds`` says its last value and the tail of
    ``server``'s log (where a background job says why it did not run)."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        log = f"\nserver log (tail):\n{server.log_since(0)[-4000:]}" if server else ""
        assert time.monotonic() < deadline, f"{what} never happened (last: {value!r}){log}"
        time.sleep(0.2)


# ------------------------------------------------------------------ item 6: listing


def test_listing_is_newest_first_with_subject_and_details(server: Server) -> None:
    """``aisx audit --limit 3`` shows the latest events (not the bootstrap), who acted and on whom."""
    victim = admit(server, f"at-victim-{uuid.uuid4().hex[:6]}")
    server.cli("participant", "suspend", victim.slug)
    server.cli("participant", "reinstate", victim.slug)
    table = server.cli("audit", "--limit", "3").stderr.splitlines()
    assert table[0].split()[:5] == ["#", "TIME", "(UTC)", "ACTOR", "ACTION"], table
    assert "participant.reinstate" in table[1] and victim.slug in table[1] and "exchange" in table[1], table
    assert "participant.suspend" in table[2] and f"slug={victim.slug}" in table[2], table
    assert not any("bootstrap" in line or "collection.add" in line for line in table), table
    listed = server.cli_json("audit", "--limit", "3")["events"]
    assert [e["action"] for e in listed[:2]] == ["participant.reinstate", "participant.suspend"]
    assert listed[0]["position"] > listed[1]["position"] > listed[2]["position"]
    assert all(e["subject"] == victim.slug for e in listed[:2])
    oldest = server.cli_json("audit", "--limit", "2", "--oldest-first")["events"]
    assert [e["position"] for e in oldest] == [1, 2]
    api = events(server, limit=3)
    assert [e["id"] for e in api] == [e["id"] for e in listed]


def test_listing_filters(server: Server) -> None:
    lab = admit(server, f"at-filter-{uuid.uuid4().hex[:6]}")
    other = admit(server, f"at-other-{uuid.uuid4().hex[:6]}")
    cid = server.add_collection(f"at-{uuid.uuid4().hex[:6]}", "Audit filters")["id"]
    server.grant(lab.slug, cid, read=True, write=True)
    accepted(lab.client, cid, sdo(marking=TLP_GREEN))
    server.cli("participant", "suspend", other.slug)
    # participant: the subject (the one given a key, granted, posting), whoever acted
    about = events(server, participant=lab.slug, order="oldest")
    assert [e["action"] for e in about] == ["participant.add", "key.issue", "collection.grant", "objects.add"]
    assert about[-1]["participant"] == lab.slug and about[0]["participant"] == "admin"
    # actor: who acted (``exchange``: the CLI)
    by_lab = events(server, actor=lab.slug)
    assert [e["action"] for e in by_lab] == ["objects.add"]
    by_exchange = events(server, actor="exchange", limit=1)
    assert [(e["action"], e["subject"], e["participant"]) for e in by_exchange] == [
        ("participant.suspend", other.slug, None)]
    # action: a prefix
    prefixed = events(server, action="participant.", participant=other.slug)
    assert [e["action"] for e in prefixed] == ["participant.suspend", "participant.add"]
    assert events(server, action="participant.s", participant=other.slug)[0]["action"] == "participant.suspend"
    assert events(server, action="participant%", participant=other.slug) == []  # no LIKE wildcards
    # collection
    assert [e["action"] for e in events(server, collection=cid)] == ["objects.add", "collection.grant",
                                                                      "collection.add"]
    # time: a duration back from now, or RFC 3339
    assert events(server, participant=lab.slug, since="1h")
    assert events(server, participant=lab.slug, until="1h") == []
    newest = events(server, participant=lab.slug, limit=1)[0]
    assert [e["id"] for e in events(server, participant=lab.slug, since=newest["at"])] == [newest["id"]]
    assert newest["id"] not in [e["id"] for e in events(server, participant=lab.slug, until=newest["at"])]
    # the CLI has the same filters
    cli = server.cli_json("audit", "--participant", lab.slug, "--action", "objects.", "--since", "24h")["events"]
    assert [e["id"] for e in cli] == [e["id"] for e in events(server, participant=lab.slug, action="objects.")]
    refused = server.cli("audit", "--since", "yesterday", check=False)
    assert refused.returncode == 2 and "since" in refused.stderr
    with server.admin_client() as admin:
        assert admin.get("/admin/audit", params={"until": "soon"}).status_code == 400
        assert admin.get("/admin/audit", params={"actor": "no-such-one"}).status_code == 404
        assert lab.client.get(f"{server.base_url}/admin/audit").status_code == 403


# ------------------------------------------------------------------ item 7: the chain


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server of its own, for the tests that tamper with its database."""
    with running_server(tmp_path) as srv:
        yield srv


def verify(server: Server, *extra: str) -> tuple[int, dict[str, Any]]:
    result = server.cli("audit", "verify", *extra, "--json", check=False)
    return result.returncode, orjson.loads(result.stdout)


def test_verify_finds_an_edited_and_a_deleted_record(own_server: Server, tmp_path: Path) -> None:
    server = own_server
    for n in range(4):
        admit(server, f"chain-{n}")
    server.cli("participant", "suspend", "chain-1")
    code, good = verify(server)
    assert code == 0 and good["ok"] and good["broken"] is None and good["records"] >= 8
    human = server.cli("audit", "verify")
    assert "audit chain OK" in human.stderr and good["head_hash"] in human.stderr

    # an edited record: verify fails at exactly that record, and says its fields no longer match its hash
    [(target_id, position, detail)] = sql(server, "SELECT id, position, detail FROM audit_event "
                                                  "WHERE action = 'participant.suspend'")
    sql(server, "UPDATE audit_event SET detail = :d WHERE id = :i", d='{"slug":"chain-2"}', i=target_id)
    code, bad = verify(server)
    assert code == 1 and not bad["ok"]
    assert bad["broken"]["position"] == position and bad["broken"]["id"] == target_id
    assert "do not match its hash" in bad["broken"]["problem"] and bad["records"] == position - 1
    with server.admin_client() as admin:
        assert admin.get("/admin/audit/verify").json()["broken"] == bad["broken"]
    human = server.cli("audit", "verify", check=False)
    assert human.returncode == 1 and f"BROKEN in the database at position {position} (record id {target_id})" \
        in human.stderr
    # ... and one rehashed to match: the next record's link names it
    [(middle_id, middle)] = sql(server, "SELECT id, position FROM audit_event WHERE position = 3")
    sql(server, "UPDATE audit_event SET detail = :d WHERE id = :i", d=detail, i=target_id)
    assert verify(server)[0] == 0
    sql(server, "UPDATE audit_event SET object_count = 7 WHERE id = :i", i=middle_id)
    assert verify(server)[1]["broken"]["position"] == middle
    sql(server, "UPDATE audit_event SET object_count = 0 WHERE id = :i", i=middle_id)
    assert verify(server)[0] == 0

    # a deleted record: verify names the missing position
    sql(server, "DELETE FROM audit_event WHERE id = :i", i=middle_id)
    code, gone = verify(server)
    assert code == 1 and gone["broken"]["position"] == middle and gone["broken"]["id"] is None
    assert "missing" in gone["broken"]["problem"] and gone["records"] == middle - 1


def test_export_and_offline_verify(server: Server, tmp_path: Path) -> None:
    admit(server, f"export-{uuid.uuid4().hex[:6]}")
    whole = tmp_path / "whole.jsonl"
    done = server.cli("audit", "export", "--output", str(whole))
    lines = whole.read_bytes().splitlines()
    assert f"{len(lines)} audit record(s) written" in done.stderr and len(lines) >= 5
    records = [orjson.loads(line) for line in lines]
    assert [r["position"] for r in records] == list(range(1, len(records) + 1))
    code, ok = verify(server, "--file", str(whole))
    assert code == 0 and ok["records"] == len(records) and ok["head_hash"] == records[-1]["hash"]
    assert server.cli("audit", "export", "--output", str(whole), check=False).returncode != 0  # never overwrites

    # an export from --since starts mid-chain and verifies from its first record's prev_hash
    later = records[len(records) // 2]
    part = tmp_path / "part.jsonl"
    server.cli("audit", "export", "--since", later["time"], "--output", str(part))
    tail = [orjson.loads(line) for line in part.read_bytes().splitlines()]
    assert tail[0]["position"] == later["position"] and tail[0]["prev_hash"] == later["prev_hash"]
    assert verify(server, "--file", str(part))[0] == 0
    stdout = server.cli("audit", "export", "--since", later["time"]).stdout.encode()
    assert stdout.splitlines()[: len(tail)] == part.read_bytes().splitlines()

    # an edit anywhere in the file is found there
    edited = list(tail)
    edited[1] = {**edited[1], "subject": "someone-else"}
    (tmp_path / "edited.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in edited))
    code, bad = verify(server, "--file", str(tmp_path / "edited.jsonl"))
    assert code == 1 and bad["broken"]["position"] == tail[1]["position"] and bad["broken"]["id"] == tail[1]["id"]
    dropped = [r for i, r in enumerate(tail) if i != 2]
    (tmp_path / "dropped.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in dropped))
    code, bad = verify(server, "--file", str(tmp_path / "dropped.jsonl"))
    assert code == 1 and bad["broken"]["position"] == tail[2]["position"] and "missing" in bad["broken"]["problem"]

    # the admin API pages the same records
    with server.admin_client() as admin:
        first = admin.get("/admin/audit/export", params={"limit": 3}).json()
        second = admin.get("/admin/audit/export", params={"limit": 3, "after": first["next"]}).json()
    assert first["records"] + second["records"] == records[:6]


def test_the_chain_stays_whole_under_concurrent_writers(server: Server) -> None:
    """Admin writes from many threads and posts at once: every record chains to the one committed before it."""
    producer = admit(server, f"chain-writer-{uuid.uuid4().hex[:6]}")
    errors: list[str] = []

    def admin_writes(n: int) -> None:
        with server.admin_client() as admin:
            for i in range(8):
                answer = admin.post(f"/admin/participants/{producer.slug}/keys", json={"label": f"t{n}-{i}"})
                if answer.status_code != 201:
                    errors.append(answer.text)

    def posts() -> None:
        for _ in range(8):
            accepted(producer.client, server.collection_id("shared"), sdo(marking=TLP_GREEN))

    threads = [threading.Thread(target=admin_writes, args=(n,)) for n in range(3)] + [threading.Thread(target=posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    code, result = verify(server)
    assert code == 0, result
    assert len(events(server, participant=producer.slug, limit=10000)) == 1 + 1 + 24 + 8


# ------------------------------------------------------------------ item 8: who read my AMBER/RED objects


def my_reads(who: Participant, server: Server, **params: Any) -> dict[str, Any]:
    answer = httpx.get(f"{server.base_url}/me/reads", params=params,
                       headers={"Authorization": f"Bearer {who.secret}"}, verify=TLS)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_producer_sees_who_read_its_amber_and_red_objects_and_no_more(server: Server) -> None:
    tag = uuid.uuid4().hex[:6]
    producer, reader = admit(server, f"rd-producer-{tag}"), admit(server, f"rd-reader-{tag}", "agency")
    rival, outsider = admit(server, f"rd-rival-{tag}"), admit(server, f"rd-outsider-{tag}")
    cid = server.collection_id("shared")
    to_reader = mint(producer.client, identities=(reader.identity_id,))["id"]
    amber = sdo(marking=[TLP_AMBER, to_reader])
    red = sdo(marking=[TLP_RED, to_reader], created_by=producer.pseudonym_identity_id)  # under its pseudonym
    anonymous = sdo(marking=[TLP_AMBER, to_reader])  # no created_by_ref
    green = sdo(marking=TLP_GREEN)
    accepted(producer.client, cid, amber, red, anonymous, green)
    rivals = sdo(marking=[TLP_AMBER, mint(rival.client, identities=(reader.identity_id,))["id"]])
    accepted(rival.client, cid, rivals)

    def read(who: Participant, obj: dict[str, Any]) -> int:
        return who.client.get(f"collections/{cid}/objects/{obj['id']}/").status_code

    for obj in (amber, amber, red, anonymous, green, rivals):
        assert read(reader, obj) == 200
    assert read(producer, amber) == 200 and read(producer, red) == 200  # its own reads: not counted
    assert read(outsider, amber) == 404 and read(outsider, red) == 404  # cannot see them: nothing recorded
    assert read(rival, amber) == 404
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    wanted = sorted([(today, reader.slug, amber["id"], 2), (today, reader.slug, red["id"], 1),
                     (today, reader.slug, anonymous["id"], 1)])

    def mine() -> list[tuple[str, str, str, int]]:
        return sorted((r["day"], r["reader"], r["object_id"], r["count"]) for r in my_reads(producer, server)["reads"])

    deadline = time.monotonic() + 10
    while (got := mine()) != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
    assert got == wanted, (got, wanted, sql(server, "SELECT * FROM object_read"))
    answer = my_reads(producer, server)
    assert answer["producer"] == producer.slug
    assert answer["by_reader"] == [{"day": today, "reader": reader.slug, "objects": 3, "count": 4}]
    cut = my_reads(producer, server, limit=1)  # the list stops at its limit, the totals do not
    assert len(cut["reads"]) == 1 and cut["by_reader"] == answer["by_reader"]
    # the rival sees the read of its own object only, never the producer's, whatever it asks for
    assert wait_for(lambda: my_reads(rival, server)["reads"], "the rival's read")
    assert [(r["reader"], r["object_id"]) for r in my_reads(rival, server)["reads"]] == [(reader.slug, rivals["id"])]
    assert my_reads(rival, server, producer=producer.slug)["producer"] == rival.slug
    assert my_reads(reader, server)["reads"] == [] and my_reads(outsider, server)["reads"] == []
    with httpx.Client(verify=TLS,
                      base_url=server.base_url, headers={"Authorization": f"Bearer {rival.secret}"}) as client:
        assert client.get("/admin/audit/reads", params={"producer": producer.slug}).status_code == 403
        assert client.get("/admin/audit", params={"participant": producer.slug}).status_code == 403
    assert httpx.get(f"{server.base_url}/me/reads", verify=TLS).status_code == 401
    # the operator: the same through the admin API and the CLI
    with server.admin_client() as admin:
        operator = admin.get("/admin/audit/reads", params={"producer": producer.slug}).json()
    assert sorted((r["day"], r["reader"], r["object_id"], r["count"]) for r in operator["reads"]) == wanted
    cli = server.cli_json("audit", "reads", "--producer", producer.slug)
    assert cli == operator
    table = server.cli("audit", "reads", "--producer", producer.slug).stderr
    assert f"{today}  {reader.slug}" in table and red["id"] in table and rivals["id"] not in table
    assert server.cli("audit", "reads", "--producer", "nobody-here", check=False).returncode == 2
    # one row per (reader, producer, object, day), whatever the number of reads
    for _ in range(3):
        assert read(reader, amber) == 200
    assert wait_for(lambda: (today, reader.slug, amber["id"], 5) in mine() or None, "the count going up")
    rows = sql(server, "SELECT count(*) FROM object_read WHERE stix_id = :s", s=amber["id"])
    assert rows[0][0] == 1
    # the rival posts under the producer's object id (a newer version, addressed to the reader): whatever the
    # exchange makes of it, the rival's reads list only versions the rival posted, the producer's only its own
    hijack = {**amber, "modified": "2026-06-01T00:00:00.000Z", "name": "hijack",
              "object_marking_refs": [TLP_AMBER, mint(rival.client, identities=(reader.identity_id,))["id"]]}
    hijack_status = rival.client.post(f"collections/{cid}/objects/", json={"objects": [hijack]},
                                      headers={"Content-Type": "application/taxii+json;version=2.1"}).json()
    assert read(reader, amber) == 200
    time.sleep(2.5)  # two flushes
    rival_objects = {r["object_id"] for r in my_reads(rival, server)["reads"]}
    assert rival_objects <= {rivals["id"]} | ({amber["id"]} if hijack_status["success_count"] else set())
    if amber["id"] in rival_objects:  # only if the rival's own version was stored and served
        assert sql(server, "SELECT count(*) FROM stix_object WHERE stix_id = :s AND producer_id = :p",
                   s=amber["id"], p=rival.id)[0][0] == 1
    assert {r["object_id"] for r in my_reads(producer, server)["reads"]} == {amber["id"], red["id"], anonymous["id"]}


def test_reads_of_an_id_held_by_several_producers_do_not_reveal_the_other_copies(server: Server) -> None:
    """Rules 5 and 6 serve a reader one copy of an id that several producers hold (an identical observable; an
    object posted by two producers who cannot see each other's copy). Counting only the served copy told the
    later producer, through GET /me/reads, that a reader who had read the id was served someone else's copy: that
    another producer holds the id, in a copy it cannot see. Its statistics must be what they would be without
    the other copy. (Failed before the fix: the later producer saw no read at all.)"""
    tag = uuid.uuid4().hex[:6]
    early, late = admit(server, f"cp-early-{tag}"), admit(server, f"cp-late-{tag}")
    reader = admit(server, f"cp-reader-{tag}", "agency")
    cid = server.collection_id("shared")
    to_reader = mint(early.client, identities=(reader.identity_id,))["id"]
    assert mint(late.client, identities=(reader.identity_id,))["id"] == to_reader  # same set, same marking
    observable = ipv4(f"198.51.100.{uuid.uuid4().int % 250}", marking=[TLP_AMBER, to_reader])
    early_sdo = sdo(marking=[TLP_AMBER, to_reader])
    late_sdo = {**early_sdo, "name": "the later producer's copy"}
    accepted(early.client, cid, observable, early_sdo)
    accepted(late.client, cid, observable, late_sdo)  # it cannot see the early copies: copies of its own
    assert sql(server, "SELECT count(DISTINCT producer_id) FROM stix_object WHERE stix_id IN (:a, :b)",
               a=observable["id"], b=early_sdo["id"])[0][0] == 2
    served = reader.client.get(f"collections/{cid}/objects/",
                               params={"match[id]": f"{observable['id']},{early_sdo['id']}"}).json()["objects"]
    assert sorted(o["id"] for o in served) == sorted([observable["id"], early_sdo["id"]])  # one copy of each
    assert "the later producer's copy" not in orjson.dumps(served).decode()  # the early copies were served

    def counts_of(producer: Participant) -> dict[tuple[str, str], int]:
        return {(r["reader"], r["object_id"]): r["count"] for r in my_reads(producer, server)["reads"]}

    def reads_of(producer: Participant) -> set[tuple[str, str]]:
        return set(counts_of(producer))
    wanted = {(reader.slug, observable["id"]): 1, (reader.slug, early_sdo["id"]): 1}  # one read each
    assert wait_for(lambda: counts_of(late) == wanted or None, "the later producer's reads")
    assert counts_of(early) == wanted  # the served copy counted once, not again with the others

    # What counts is what the request would have served of the copy: the later producer's copy whose newest
    # version is GREEN (its first was AMBER) is not counted for match[version]=last, and is for =all — as when
    # its copy alone is there to be served.
    early_again = sdo(marking=[TLP_AMBER, to_reader])
    loosened = {**early_again, "name": "later copy, first version"}
    accepted(early.client, cid, early_again)
    green = {**loosened, "name": "later copy, now GREEN", "object_marking_refs": [TLP_GREEN],
             "modified": "2026-02-01T00:00:00.000Z"}
    accepted(late.client, cid, loosened, green)
    target = f"collections/{cid}/objects/{early_again['id']}/"
    assert reader.client.get(target).json()["objects"][0]["name"] == early_again["name"]
    assert wait_for(lambda: (reader.slug, early_again["id"]) in reads_of(early) or None, "the read of the last version")
    assert (reader.slug, early_again["id"]) not in reads_of(late)
    assert reader.client.get(target, params={"match[version]": "all"}).status_code == 200
    assert wait_for(lambda: (reader.slug, early_again["id"]) in reads_of(late) or None, "the read of every version")


# ------------------------------------------------------------------ item 11 (audit half): key use


def test_key_use_is_one_row_per_key_and_minute(server: Server) -> None:
    """Requests across several flushes add up in one row per key and minute (the old flush inserted a new
    audit row for the same minute on every flush), and the key list's last use reads it."""
    lab = admit(server, f"ku-{uuid.uuid4().hex[:6]}")
    started = time.time()
    for _ in range(4):
        for _ in range(3):
            assert lab.client.get("collections/").status_code == 200
        time.sleep(1.3)  # past the next flush
    rows = wait_for(lambda: (lambda r: r if sum(c for _, c in r) == 12 else None)(
        sql(server, "SELECT minute, count FROM key_use WHERE key_id = :k ORDER BY minute", k=lab.key_id)),
        "12 requests counted")
    minutes = {int(started // 60 * 60 * 1_000_000), int(time.time() // 60 * 60 * 1_000_000)}
    assert len(rows) == len({m for m, _ in rows}) and {m for m, _ in rows} <= minutes
    assert events(server, action="key.use") == []  # key use no longer fills the audit log
    keys = server.cli_json("key", "list", lab.slug)["keys"]
    used = datetime.fromisoformat(keys[0]["last_used"].replace("Z", "+00:00")).timestamp() * 1_000_000
    assert used == max(m for m, _ in rows)


@pytest.fixture
def retention_server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path, settings={"AISX_AUDIT_RETENTION_INTERVAL": "0.5",
                                            "AISX_AUDIT_READ_RETENTION_DAYS": "10"}) as srv:
        yield srv


def test_retention_keeps_each_keys_newest_row_and_recent_reads(retention_server: Server) -> None:
    server = retention_server
    lab, other = admit(server, "ret-lab"), admit(server, "ret-other")
    spare = second_key(server, lab)
    now = int(time.time() * 1_000_000)
    minute = now // 60_000_000 * 60_000_000
    day = now // DAY_US * DAY_US
    old = [(lab.key_id, minute - 40 * DAY_US), (lab.key_id, minute - 35 * DAY_US), (lab.key_id, minute - 1 * DAY_US),
           (spare.key_id, minute - 50 * DAY_US), (spare.key_id, minute - 45 * DAY_US)]
    for key_id, at in old:
        sql(server, "INSERT INTO key_use (key_id, minute, participant_id, count) VALUES (:k, :m, :p, 1)",
            k=key_id, m=at, p=lab.id)
    for age in (0, 9, 11, 40):
        sql(server, "INSERT INTO object_read (reader_id, producer_id, stix_id, day, count) VALUES (:r, :p, :s, :d, 1)",
            r=other.id, p=lab.id, s=f"indicator--{uuid.uuid4()}", d=day - age * DAY_US)

    def pruned() -> bool:
        # the lab's rows only: the operator key's own use (the admin requests above) is flushed within a second,
        # before or after the first pruning (counting it made the test pass only when pruning came first)
        counts = (len(sql(server, "SELECT 1 FROM object_read")),
                  len(sql(server, "SELECT 1 FROM key_use WHERE participant_id = :p", p=lab.id)))
        print("rows in (object_read, key_use):", counts)  # shown if the wait fails
        return counts == (2, 2)
    wait_for(pruned, "the retention job pruning", seconds=30, server=server)
    assert sorted(sql(server, "SELECT key_id, minute FROM key_use WHERE participant_id = :p", p=lab.id)) == sorted(
        [(lab.key_id, minute - DAY_US), (spare.key_id, minute - 45 * DAY_US)])  # each key's newest stays
    assert sorted(d for (d,) in sql(server, "SELECT day FROM object_read")) == [day - 9 * DAY_US, day]
    keys = {k["key_id"]: k["last_used"] for k in server.cli_json("key", "list", lab.slug)["keys"]}
    assert keys[spare.key_id] is not None  # "last used" survives retention


def test_a_failed_flush_is_logged_and_loses_no_count(own_server: Server) -> None:
    server = own_server
    lab = admit(server, "flush-lab")
    assert lab.client.get("collections/").status_code == 200
    wait_for(lambda: sql(server, "SELECT count FROM key_use WHERE key_id = :k", k=lab.key_id), "the first flush")
    offset = server.log_end()
    sql(server, "ALTER TABLE key_use RENAME TO key_use_away")
    try:
        for _ in range(5):
            assert lab.client.get("collections/").status_code == 200
        wait_for(lambda: "audit flush failed" in server.log_since(offset), "the failure in the log")
        assert "counts kept for the next flush" in server.log_since(offset)
    finally:
        sql(server, "ALTER TABLE key_use_away RENAME TO key_use")
    wait_for(lambda: sum(c for (c,) in sql(server, "SELECT count FROM key_use WHERE key_id = :k", k=lab.key_id)) == 6,
             "the kept counts written")


@pytest.mark.skipif(not os.environ.get("AISX_TEST_DATABASE_URL"),
                    reason="PostgreSQL only: on SQLite every writer takes the one database write lock")
def test_the_flush_does_not_wait_for_the_exchange_write_lock(server: Server) -> None:
    """While something holds the exchange-wide write lock (the advisory lock of ``write_transaction``, as a long
    ingest does), key use and reads are still flushed: the flush is a plain short transaction."""
    import psycopg

    lab = admit(server, f"nolock-{uuid.uuid4().hex[:6]}")
    url = libpq_url(server.database.url)
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (0x41495358,))
        try:
            for _ in range(3):
                assert lab.client.get("collections/").status_code == 200
            wait_for(lambda: sum(c for (c,) in sql(server, "SELECT count FROM key_use WHERE key_id = :k",
                                                   k=lab.key_id)) == 3, "key use flushed under the write lock", 10)
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (0x41495358,))
