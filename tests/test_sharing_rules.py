"""The write-time sharing rules and the cases the matrix does not cover (DESIGN.md decision 4; sharing-brief
§6.3-6.6): impersonation, ownership theft, anonymous posting, RED without recipients, unmarked objects,
OpenCTI's "TLP:CLEAR", producer-posted and exchange-minted audience markings, the frozen default group, the
ten example bundles posted by the participants that made them, and the audit trail."""

import json
import time
import uuid
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import DATA
from tests.feed_support import wait_for
from tests.sharing_helpers import (
    AUDIENCE_EXTENSION,
    EVERYTHING,
    OPENCTI_AMBER_STRICT,
    TLP1_RED,
    TLP1_WHITE,
    TLP2_CREATOR,
    accepted,
    admin_client,
    admit,
    canonical,
    collection,
    failures,
    ipv4,
    mint,
    post,
    rejected,
    relationship,
    sdo,
    second_key,
    stamp,
    wait_until,
    when,
)
from tests.support.server import TAXII, TLS, Participant, Server
from tests.support.stix import TLP_AMBER, TLP_AMBER_STRICT, TLP_CLEAR, TLP_GREEN, TLP_RED

EXAMPLES = DATA / "examples"


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, Participant]:
    lab_a = admit(server, "rules-lab-a", "lab", ("labs",))
    return {
        "lab-a": lab_a,
        "lab-a#2": second_key(server, lab_a),
        "lab-b": admit(server, "rules-lab-b", "lab", ("labs",)),
        "agency": admit(server, "rules-agency", "agency", ("gov",)),
        "vendor": admit(server, "rules-vendor", "vendor"),
    }


@pytest.fixture(scope="module")
def where(server: Server, shared_collection: str) -> dict[str, str]:
    """``shared`` (private, everyone reads and writes), ``other`` (the same, for cross-collection re-posts),
    ``public`` and ``default`` (default group gov)."""
    return {
        "shared": shared_collection,
        "other": collection(server, "rules-other"),
        "public": collection(server, "rules-public", public=True),
        "default": collection(server, "rules-default", default_group="gov"),
    }


def ids_seen(client: httpx.Client, cid: str, *, versions: bool = True) -> list[str]:
    params = EVERYTHING if versions else {"limit": "10000"}
    response = client.get(f"collections/{cid}/objects/", params=params)
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json().get("objects", [])]


def sees(client: httpx.Client, cid: str, stix_id: str) -> bool:
    """Whether ``client`` sees the object: the listing, match[id] and the single GET must agree."""
    listed = stix_id in ids_seen(client, cid)
    matched = bool(client.get(f"collections/{cid}/objects/", params={"match[id]": stix_id}).json().get("objects"))
    single = client.get(f"collections/{cid}/objects/{stix_id}/").status_code
    assert single in (200, 404)
    assert listed == matched == (single == 200), (stix_id, listed, matched, single)
    return listed


# ------------------------------------------------------------------ impersonation


def test_created_by_ref_must_be_the_poster(server: Server, people: dict[str, Participant],
                                           where: dict[str, str]) -> None:
    lab_a, lab_b = people["lab-a"], people["lab-b"]
    exchange_identity = next(o["id"] for o in server.client().get(
        f"collections/{where['public']}/objects/", params={"match[type]": "identity"}).json()["objects"])
    for creator in (lab_a.identity_id, lab_a.pseudonym_identity_id, exchange_identity,
                    f"identity--{uuid.uuid4()}"):
        obj = sdo(created_by=creator)
        message = rejected(lab_b.client, where["shared"], obj, "impersonation")
        assert lab_a.pseudonym_identity_id not in message.replace(creator, "")  # no one else's pseudonym leaks
        assert not sees(lab_a.client, where["shared"], obj["id"])
    for creator in (lab_b.identity_id, lab_b.pseudonym_identity_id, None):
        obj = sdo(created_by=creator)
        accepted(lab_b.client, where["shared"], obj)
        assert sees(lab_a.client, where["shared"], obj["id"])


def test_impersonation_fails_alone(people: dict[str, Participant], where: dict[str, str]) -> None:
    good, bad = sdo(), sdo(created_by=people["lab-a"].identity_id)
    status = post(people["lab-b"].client, where["shared"], good, bad)
    assert status["success_count"] == 1 and set(failures(status)) == {bad["id"]}


# ------------------------------------------------------------------ ownership


def test_only_the_owner_versions_an_object(people: dict[str, Participant], where: dict[str, str]) -> None:
    lab_a, lab_a2, lab_b, agency = people["lab-a"], people["lab-a#2"], people["lab-b"], people["agency"]
    gov = mint(lab_a.client, groups=("gov",))["id"]
    hidden = sdo(marking=[TLP_AMBER, gov])
    shown = sdo(marking=TLP_GREEN)
    accepted(lab_a.client, where["shared"], hidden, shown)
    later = "2026-02-01T00:00:00.000Z"
    thefts = [  # of an object lab B can see
        {**shown, "modified": later, "name": "defaced"},
        {**shown, "name": "defaced"},
        {**shown, "modified": later, "created_by_ref": lab_b.identity_id},
    ]
    for theft in thefts:
        message = rejected(lab_b.client, where["shared"], theft, "belongs to another participant")
        assert lab_a.slug not in message and lab_a.identity_id not in message
    # Under the id of an object lab B cannot see, it is answered as for a new id (else the answer would tell it
    # that the id exists): lab B gets a copy of its own, which nobody who can see lab A's is ever served.
    squat = {**hidden, "modified": later, "object_marking_refs": [TLP_GREEN]}
    accepted(lab_b.client, where["shared"], squat)
    assert lab_b.client.get(f"collections/{where['shared']}/objects/{hidden['id']}/").json()["objects"] == [squat]
    assert people["vendor"].client.get(
        f"collections/{where['shared']}/objects/{hidden['id']}/").json()["objects"] == [squat]
    got = agency.client.get(f"collections/{where['shared']}/objects/{hidden['id']}/",
                            params={"match[version]": "all"}).json()["objects"]
    assert got == [hidden]
    assert lab_b.client.get(f"collections/{where['shared']}/objects/{shown['id']}/").json()["objects"] == [shown]
    # the owner, through either key, may
    accepted(lab_a2.client, where["shared"], {**shown, "modified": later, "name": "second version"})
    versions = lab_b.client.get(f"collections/{where['shared']}/objects/{shown['id']}/versions/").json()["versions"]
    assert [when(v) for v in versions] == [when(shown["modified"]), when(later)]


def test_identical_reposts_do_not_change_ownership(people: dict[str, Participant], where: dict[str, str]) -> None:
    lab_a, lab_b = people["lab-a"], people["lab-b"]
    green, clear = sdo(marking=TLP_GREEN), sdo(marking=TLP_CLEAR)
    accepted(lab_a.client, where["shared"], green, clear)
    before = lab_a.client.get(f"collections/{where['shared']}/manifest/", params={
        "match[id]": f"{green['id']},{clear['id']}"}).json()
    accepted(lab_b.client, where["shared"], green, clear)  # TAXII 2.1 §5.5: an exact duplicate is no error
    after = lab_a.client.get(f"collections/{where['shared']}/manifest/", params={
        "match[id]": f"{green['id']},{clear['id']}"}).json()
    assert after == before
    assert lab_b.client.delete(f"collections/{where['shared']}/objects/{green['id']}/").status_code == 403
    # into another collection: CLEAR may travel, GREEN only with its owner
    rejected(lab_b.client, where["other"], green, "not TLP:CLEAR")
    accepted(lab_b.client, where["other"], clear)
    assert not sees(lab_b.client, where["other"], green["id"])
    assert sees(people["vendor"].client, where["other"], clear["id"])
    accepted(lab_a.client, where["other"], green)
    assert sees(people["vendor"].client, where["other"], green["id"])


def test_delete_rights_and_ownership_after_delete(people: dict[str, Participant], where: dict[str, str]) -> None:
    lab_a, lab_a2, lab_b, agency = people["lab-a"], people["lab-a#2"], people["lab-b"], people["agency"]
    gov = mint(lab_a.client, groups=("gov",))["id"]
    obj = sdo(marking=[TLP_AMBER, gov])
    accepted(lab_a.client, where["shared"], obj)
    path = f"collections/{where['shared']}/objects/{obj['id']}/"
    unknown = f"collections/{where['shared']}/objects/indicator--{uuid.uuid4()}/"
    assert lab_b.client.delete(path).status_code == 404  # cannot see it: exactly like an absent id
    assert lab_b.client.delete(unknown).status_code == 404
    assert agency.client.delete(path).json()["http_status"] == "403"  # sees it, does not own it
    assert sees(agency.client, where["shared"], obj["id"])
    assert lab_a2.client.delete(path).status_code == 200  # the owner, through its second key
    for reader in (lab_a, agency, lab_b):
        assert not sees(reader.client, where["shared"], obj["id"])
    # lab A's copy stays lab A's: nobody else may version it. Lab B, which cannot see it, gets its own copy under
    # that id, answered as for a new id (anything else would tell it the id exists)
    laxer = {**obj, "modified": "2026-03-01T00:00:00.000Z", "object_marking_refs": [TLP_GREEN]}
    accepted(lab_b.client, where["shared"], laxer)
    assert people["vendor"].client.get(f"collections/{where['shared']}/objects/{obj['id']}/").json()[
        "objects"] == [laxer]
    # its owner may bring its own back, with the audience it had; whoever can see it is served lab A's only
    accepted(lab_a.client, where["shared"], obj)
    assert agency.client.get(f"collections/{where['shared']}/objects/{obj['id']}/").json()["objects"] == [obj]
    assert lab_b.client.get(f"collections/{where['shared']}/objects/{obj['id']}/").json()["objects"] == [laxer]


def test_observables_one_copy_per_producer(people: dict[str, Participant], where: dict[str, str]) -> None:
    lab_a, lab_b, agency, vendor = people["lab-a"], people["lab-b"], people["agency"], people["vendor"]
    gov = mint(lab_b.client, groups=("gov",))["id"]
    mine, theirs = ipv4("198.51.100.77", TLP_GREEN), ipv4("198.51.100.77", [TLP_AMBER, gov])
    accepted(lab_a.client, where["shared"], mine)
    accepted(lab_b.client, where["shared"], theirs)  # same id, different marking: a second copy, not a theft
    cid = where["shared"]
    assert [o for o in agency.client.get(f"collections/{cid}/objects/{mine['id']}/").json()["objects"]] == [
        mine, theirs]
    assert vendor.client.get(f"collections/{cid}/objects/{mine['id']}/").json()["objects"] == [mine]
    assert lab_b.client.delete(f"collections/{cid}/objects/{mine['id']}/").status_code == 200  # its own copy
    assert agency.client.get(f"collections/{cid}/objects/{mine['id']}/").json()["objects"] == [mine]


# ------------------------------------------------------------------ anonymity


def test_anonymous_posting(server: Server, people: dict[str, Participant], where: dict[str, str]) -> None:
    """A lab posting under its pseudonym or without created_by_ref is linked to its real identity in no
    response to anyone (the exchange keeps the link for the audit trail only)."""
    anon = admit(server, "shy-lab", "lab", ("labs",))
    cid = where["shared"]
    gov = mint(anon.client, groups=("gov",))["id"]
    objects = [
        sdo(created_by=anon.pseudonym_identity_id),
        sdo(),
        sdo(marking=[TLP_AMBER, gov], created_by=anon.pseudonym_identity_id),
        ipv4("192.0.2.200"),
    ]
    objects.append(relationship(objects[0]["id"], objects[1]["id"], created_by=anon.pseudonym_identity_id))
    status = accepted(anon.client, cid, *objects)
    accepted(anon.client, cid, {**objects[0], "modified": "2026-04-01T00:00:00.000Z"})
    secrets = (anon.identity_id, anon.slug, anon.slug.title())
    responses: list[httpx.Response] = []
    readers = [*people.values(), Participant("admin", 0, "", "", "", server.admin_secret,
                                             server.client(server.admin_secret))]
    for reader in readers:
        c = reader.client
        responses += [c.get(f"collections/{cid}/objects/", params=EVERYTHING),
                      c.get(f"collections/{cid}/manifest/", params=EVERYTHING),
                      c.get("collections/"), c.get(f"collections/{cid}/")]
        for obj in objects:
            responses += [c.get(f"collections/{cid}/objects/{obj['id']}/", params={"match[version]": "all"}),
                          c.get(f"collections/{cid}/objects/{obj['id']}/versions/"),
                          c.delete(f"collections/{cid}/objects/{obj['id']}/")]
        for attempt in ({**objects[0], "name": "overwrite"}, {**objects[0], "modified": "2026-05-01T00:00:00.000Z"}):
            overwrite = c.post(f"collections/{cid}/objects/", content=orjson.dumps({"objects": [attempt]}),
                               headers={"Content-Type": TAXII})
            assert overwrite.status_code == 202 and overwrite.json()["failure_count"] == 1
            responses += [overwrite, c.get(f"status/{overwrite.json()['id']}/")]
    responses.append(anon.client.get(f"status/{status['id']}/"))
    for response in responses:
        assert response.status_code < 500
        for secret in secrets:
            assert secret not in response.text, (response.request.url, secret)
    # every reader saw the anonymous objects it may see (the test is not vacuous)
    assert objects[0]["id"] in ids_seen(people["vendor"].client, cid)
    assert objects[2]["id"] in ids_seen(people["agency"].client, cid)
    # the pseudonym is published nowhere, so nothing ties it to the real identity in the directory
    directory = next(c["id"] for c in people["vendor"].client.get("collections/").json()["collections"]
                     if c.get("alias") == "directory")
    listing = people["vendor"].client.get(f"collections/{directory}/objects/", params=EVERYTHING).text
    assert anon.identity_id in listing and anon.pseudonym_identity_id not in listing
    # the operator can still tell who posted, from the audit trail
    with admin_client(server) as admin:
        events = admin.get("/admin/audit", params={"participant": anon.slug, "action": "objects.add"}).json()
    assert sum(e["object_count"] for e in events) == len(objects) + 1


# ------------------------------------------------------------------ markings


def test_red_needs_recipients(people: dict[str, Participant], where: dict[str, str]) -> None:
    lab_a, agency, lab_b = people["lab-a"], people["agency"], people["lab-b"]
    for obj in (sdo(marking=TLP_RED), sdo(marking=TLP1_RED), sdo(marking=[TLP_GREEN, TLP_RED]),
                sdo(marking=TLP_GREEN, granular_markings=[{"marking_ref": TLP_RED, "selectors": ["pattern"]}]),
                sdo(marking=[TLP_RED, mint(lab_a.client, embargo="2030-01-01T00:00:00Z")["id"]])):
        rejected(lab_a.client, where["shared"], obj, "TLP:RED needs named recipients", AUDIENCE_EXTENSION)
    for cid in (where["default"],):  # a default group does not make RED acceptable
        rejected(lab_a.client, cid, sdo(marking=TLP_RED), "TLP:RED needs named recipients")
    red = sdo(marking=[TLP_RED, mint(lab_a.client, identities=(agency.identity_id,))["id"]])
    accepted(lab_a.client, where["shared"], red)
    assert sees(agency.client, where["shared"], red["id"]) and sees(lab_a.client, where["shared"], red["id"])
    assert not sees(lab_b.client, where["shared"], red["id"])
    assert not sees(people["vendor"].client, where["shared"], red["id"])


def test_unmarked_objects_are_rejected_and_never_marked(people: dict[str, Participant],
                                                        where: dict[str, str]) -> None:
    lab_a = people["lab-a"]
    gov = mint(lab_a.client, groups=("gov",))["id"]
    statement = "marking-definition--" + str(uuid.uuid4())
    for obj in (sdo(marking=[]), sdo(marking=[gov]), sdo(marking=[statement]), ipv4("192.0.2.1", [])):
        rejected(lab_a.client, where["shared"], obj, "no TLP marking", "never adds")
        assert not sees(lab_a.client, where["shared"], obj["id"])
    obj = sdo(marking=[])
    rejected(lab_a.client, where["public"], obj, "no TLP marking")
    marked = {**obj, "object_marking_refs": [TLP_GREEN]}
    accepted(lab_a.client, where["shared"], marked)
    assert lab_a.client.get(f"collections/{where['shared']}/objects/{obj['id']}/").json()["objects"] == [marked]


def test_unmarked_marking_definition_travels_as_green(server: Server, people: dict[str, Participant],
                                                     where: dict[str, str]) -> None:
    """A definition (a statement, a licence) may come without a TLP of its own: participants see it, anonymous
    readers do not, and a public collection refuses it."""
    lab_a = people["lab-a"]
    statement = {"type": "marking-definition", "spec_version": "2.1", "id": f"marking-definition--{uuid.uuid4()}",
                 "created": "2026-01-01T00:00:00.000Z", "definition_type": "statement",
                 "definition": {"statement": "Copyright 2026 Rules Lab A"}}
    accepted(lab_a.client, where["shared"], statement)
    assert sees(people["vendor"].client, where["shared"], statement["id"])
    rejected(lab_a.client, where["public"], {**statement, "id": f"marking-definition--{uuid.uuid4()}"},
             "accepts TLP:CLEAR only")
    marked = sdo(marking=[TLP_CLEAR, statement["id"]])
    accepted(lab_a.client, where["public"], marked)
    assert sees(server.client(), where["public"], marked["id"])


def test_tlp1_and_opencti_ids(server: Server, people: dict[str, Participant], where: dict[str, str]) -> None:
    """OpenCTI exports TLP:CLEAR under the TLP 1.0 WHITE id; it is read as CLEAR, like WHITE. The exchange
    keeps serving the standard WHITE definition under that id, never a "CLEAR" one."""
    lab_a = people["lab-a"]
    opencti_clear = {"type": "marking-definition", "spec_version": "2.1", "id": TLP1_WHITE,
                     "created": "2022-09-01T00:00:00.000Z", "definition_type": "TLP", "name": "TLP:CLEAR",
                     "definition": {"TLP": "TLP:CLEAR"}}
    indicator = sdo(marking=TLP1_WHITE)
    status = post(lab_a.client, where["public"], opencti_clear, indicator)
    assert set(failures(status)) == {TLP1_WHITE}, status
    anonymous = server.client()
    assert anonymous.get(f"collections/{where['public']}/objects/{indicator['id']}/").json()["objects"] == [indicator]
    for cid in (where["public"], where["shared"]):
        served = lab_a.client.get(f"collections/{cid}/objects/{TLP1_WHITE}/").json()["objects"]
        assert served == [{"type": "marking-definition", "spec_version": "2.1", "id": TLP1_WHITE,
                           "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp",
                           "name": "TLP:WHITE", "definition": {"tlp": "white"}}]


def test_public_collection_serves_clear_only(server: Server, people: dict[str, Participant],
                                            where: dict[str, str]) -> None:
    """Even the exchange's own non-CLEAR objects (a directory identity is GREEN, a minted marking is seen by
    its recipients only), re-posted verbatim into a public collection, are never served from it."""
    lab_a, agency = people["lab-a"], people["agency"]
    directory = next(c["id"] for c in lab_a.client.get("collections/").json()["collections"]
                     if c.get("alias") == "directory")
    identity = lab_a.client.get(f"collections/{directory}/objects/{agency.identity_id}/").json()["objects"][0]
    marking = mint(lab_a.client, groups=("gov",), identities=(lab_a.identity_id,))
    refused = failures(post(lab_a.client, where["public"], identity, marking))
    assert "accepts TLP:CLEAR only" in refused[identity["id"]]
    # (the minted marking carries no TLP of its own, so the write-time check lets its re-post through: only
    # the read-time rule keeps it out of the public collection)
    for client in (server.client(), lab_a.client, agency.client):
        assert not {identity["id"], marking["id"]} & set(ids_seen(client, where["public"]))
        assert client.get(f"collections/{where['public']}/objects/{identity['id']}/").status_code == 404


# ------------------------------------------------------------------ audience markings


def test_minted_markings(server: Server, people: dict[str, Participant], where: dict[str, str]) -> None:
    lab_a, agency = people["lab-a"], people["agency"]
    by_api = mint(lab_a.client, identities=(agency.identity_id,), groups=("labs",), embargo="2031-01-01T00:00:00Z")
    by_cli = server.cli_json("audience", "--identity", agency.identity_id, "--group", "labs", "--embargo-until",
                             "2031-01-01T00:00:00Z")
    assert by_cli == by_api  # the same recipient set is always the same marking
    exchange_identity = next(o["id"] for o in server.client().get(
        f"collections/{where['public']}/objects/", params={"match[type]": "identity"}).json()["objects"])
    assert by_api["created_by_ref"] == exchange_identity  # names no producer
    body = by_api["extensions"][AUDIENCE_EXTENSION]
    assert body["recipient_identities"] == [agency.identity_id] and body["recipient_groups"] == ["labs"]
    assert mint(people["vendor"].client, groups=("labs",), identities=(agency.identity_id,),
                embargo="2031-01-01T00:00:00Z") == by_api
    with httpx.Client(verify=TLS,
                      base_url=server.base_url, headers={"Authorization": f"Bearer {lab_a.secret}"}) as client:
        for bad in ({"recipient_identities": [f"identity--{uuid.uuid4()}"]}, {"recipient_groups": ["nobody"]},
                    {}, {"recipient_groups": ["gov"], "embargo_until": "tomorrow"}):
            assert client.post("/admin/audiences", json=bad).status_code == 422, bad
    assert httpx.post(f"{server.base_url}/admin/audiences", json={"recipient_groups": ["gov"]},
                      verify=TLS).status_code == 401
    assert server.cli("audience", "--group", "nobody", "--json", check=False).returncode == 2


def test_producer_posted_audience_marking(people: dict[str, Participant], where: dict[str, str]) -> None:
    """A producer may post its own audience marking in the envelope, without created_by_ref (which would
    identify it); the marking is visible to the people it names and to its poster only."""
    lab_a, lab_b, agency, vendor = people["lab-a"], people["lab-b"], people["agency"], people["vendor"]
    cid = where["shared"]

    def marking(**body: Any) -> dict[str, Any]:
        return {"type": "marking-definition", "spec_version": "2.1", "id": f"marking-definition--{uuid.uuid4()}",
                "created": "2026-01-01T00:00:00.000Z", "name": "exchange-audience",
                "extensions": {AUDIENCE_EXTENSION: {"extension_type": "property-extension", **body}}}

    own = marking(recipient_identities=[lab_b.pseudonym_identity_id])
    obj = sdo(marking=[TLP_AMBER, own["id"]])
    accepted(lab_a.client, cid, own, obj)
    for reader, expected in ((lab_a, True), (lab_b, True), (agency, False), (vendor, False)):
        assert sees(reader.client, cid, obj["id"]) is expected
        assert sees(reader.client, cid, own["id"]) is expected
    signed = {**marking(recipient_groups=["gov"]), "created_by_ref": lab_a.identity_id}
    rejected(lab_a.client, cid, signed, "must not have 'created_by_ref'")
    for body, fragment in (({"recipient_identities": [f"identity--{uuid.uuid4()}"]}, "names no participant"),
                           ({"recipient_groups": ["nobody"]}, "unknown groups"),
                           ({"color": "red"}, "unknown exchange-audience properties"),
                           ({}, "needs recipient_identities")):
        bad = marking(**body)
        status = post(lab_a.client, cid, bad, sdo(marking=[TLP_AMBER, bad["id"]]))
        assert status["success_count"] == 0, (body, status)
        assert any(fragment in m for m in failures(status).values()), (body, status)
    two = sdo(marking=[TLP_GREEN, mint(lab_a.client, groups=("gov",))["id"],
                       mint(lab_a.client, groups=("labs",))["id"]])
    rejected(lab_a.client, cid, two, "more than one exchange-audience marking")
    clear = sdo(marking=[TLP_CLEAR, mint(lab_a.client, groups=("gov",))["id"]])
    rejected(lab_a.client, cid, clear, "TLP:CLEAR cannot carry recipients")


def _set_default_group(server: Server, cid: str, group: str) -> None:
    engine = create_engine(server.database.url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE collection SET default_group = :g WHERE id = :id"), {"g": group, "id": cid})
    finally:
        engine.dispose()


def test_default_group_is_frozen_at_write_time(server: Server, people: dict[str, Participant],
                                               where: dict[str, str]) -> None:
    lab_a, lab_b, agency = people["lab-a"], people["lab-b"], people["agency"]
    cid = where["default"]
    before, strict = sdo(marking=TLP_AMBER), sdo(marking=TLP_AMBER_STRICT)
    accepted(lab_a.client, cid, before, strict)
    rejected(lab_a.client, where["shared"], sdo(marking=TLP_AMBER), "needs named recipients")
    _set_default_group(server, cid, "labs")  # an operator re-scopes the collection (no CLI command for it yet)
    try:
        after = sdo(marking=TLP_AMBER)
        accepted(lab_a.client, cid, after)
    finally:
        _set_default_group(server, cid, "gov")
    assert sees(agency.client, cid, before["id"]) and sees(agency.client, cid, strict["id"])
    assert not sees(lab_b.client, cid, before["id"]) and not sees(lab_b.client, cid, strict["id"])
    assert sees(lab_b.client, cid, after["id"]) and not sees(agency.client, cid, after["id"])


def test_embargoes_released_together_keep_distinct_dates(people: dict[str, Participant],
                                                         where: dict[str, str]) -> None:
    """Objects of several requests under one embargo enter at its end with distinct date_added values, so a
    client paging by added_after alone (limit=1) gets every one of them."""
    lab_a, agency = people["lab-a"], people["agency"]
    until = stamp(3)
    embargo = mint(lab_a.client, groups=("gov",), embargo=until)["id"]
    objects = [sdo(marking=[TLP_GREEN, embargo]) for _ in range(3)]
    start = stamp()
    for obj in objects:
        accepted(lab_a.client, where["other"], obj)
    early = sees(agency.client, where["other"], objects[0]["id"])
    if when(stamp()) < when(until):
        assert not early
    wait_until(until)
    cid = where["other"]

    def released() -> list[dict]:
        records = agency.client.get(f"collections/{cid}/manifest/", params={
            "match[id]": ",".join(o["id"] for o in objects)}).json().get("objects", [])
        return records if len(records) == len(objects) else []

    manifest = wait_for(released, 30, "the release job (AISX_EMBARGO_RELEASE_INTERVAL)")
    dates = [r["date_added"] for r in manifest]
    assert len(set(dates)) == 3 and all(when(d) >= when(until) for d in dates)
    seen, mark = [], start
    for _ in range(10):
        page = agency.client.get(f"collections/{cid}/objects/", params={"added_after": mark, "limit": "1"})
        if not page.json().get("objects"):
            break
        seen += [o["id"] for o in page.json()["objects"]]
        mark = page.headers["X-TAXII-Date-Added-Last"]
    assert set(o["id"] for o in objects) <= set(seen)


# ------------------------------------------------------------------ the example bundles


BUNDLE_PRODUCERS = {  # example identity → (slug, kind, groups)
    "identity--214feef6-0de6-4ef0-a1fe-d1b22469b68a": ("northwind", "lab", ()),
    "identity--dd5c1842-8377-463f-9490-45702734d24a": ("helios", "lab", ()),
    "identity--c79de1b1-cc3d-4e2b-880c-1ea16214dc35": ("cobalt", "lab", ()),
    "identity--0a51f27c-fa6d-44d8-b1c4-a162898c35eb": ("meridian", "lab", ()),
    "identity--76de4c6b-d328-4b0d-8105-14d493c23146": ("kestrel", "lab", ()),
    "identity--9f7b5b7c-6bb9-4024-83a9-3ae059e719e2": ("larkspur", "lab", ()),
    "identity--3535b2f8-ed5e-4d37-9d78-e1ab20cd826e": ("allied-aisi", "agency", ("gov",)),
    "identity--e68f085a-4687-4f27-b807-794f59481cee": ("national-cyber", "agency", ("gov",)),
}
TLP_LEVEL = {TLP_CLEAR: 0, TLP1_WHITE: 0, TLP_GREEN: 1, "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": 1,
             TLP_AMBER: 2, TLP_AMBER_STRICT: 3, TLP_RED: 4}


def _bundles() -> dict[str, list[dict[str, Any]]]:
    return {path.stem: json.loads(path.read_text())["objects"] for path in sorted(EXAMPLES.glob("[01]*.json"))}


def _producer(objects: list[dict[str, Any]]) -> str:
    """The bundle's producer: the registered identity that created most of its objects."""
    creators = [o.get("created_by_ref") for o in objects if o.get("created_by_ref") in BUNDLE_PRODUCERS]
    return max(set(creators), key=creators.count)


def _level(obj: dict[str, Any]) -> int | None:
    refs = list(obj.get("object_marking_refs", [])) + [g["marking_ref"] for g in obj.get("granular_markings", [])]
    levels = [TLP_LEVEL[r] for r in refs if r in TLP_LEVEL]
    return max(levels) if levels else None


@pytest.fixture(scope="module")
def examples(server: Server, where: dict[str, str]) -> dict[str, Any]:
    """Every example bundle posted whole by the lab that produced it into ``default`` (default group gov), then
    the objects created by the registered agencies posted by those agencies."""
    parts: dict[str, Participant] = {}
    for identity, (slug, kind, groups) in BUNDLE_PRODUCERS.items():
        if slug == "northwind":  # the documented CLI path, once
            args = ["participant", "add", slug, "--name", slug.title(), "--kind", kind, "--identity-id", identity]
            info = server.cli_json(*args)
            assert info["identity_id"] == identity
            key = server.cli_json("key", "issue", slug)
            parts[identity] = Participant(slug, info["id"], identity, info["pseudonym_identity_id"],
                                          key["key_id"], key["secret"], server.client(key["secret"]))
        else:
            parts[identity] = admit(server, slug, kind, groups, identity_id=identity)
    cid = where["default"]
    outcomes: dict[str, dict[str, str | None]] = {}
    for name, objects in _bundles().items():
        producer = _producer(objects)
        status = post(parts[producer].client, cid, *objects)
        outcome: dict[str, str | None] = {s["id"]: None for s in status.get("successes", [])}
        outcome.update(failures(status))
        outcomes[name] = outcome
    second: dict[str, dict[str, str | None]] = {}
    for name, objects in _bundles().items():
        producer = _producer(objects)
        theirs = [o for o in objects if o.get("created_by_ref") in parts and o["created_by_ref"] != producer]
        if theirs:
            creator = theirs[0]["created_by_ref"]
            status = post(parts[creator].client, cid, *[o for o in theirs if o["created_by_ref"] == creator])
            second[name] = {s["id"]: None for s in status.get("successes", [])} | failures(status)
    return {"parts": parts, "outcomes": outcomes, "second": second, "cid": cid}


def _expected_outcome(obj: dict[str, Any], producer: str, exchange_copies: dict[str, bytes]) -> str | None:
    """None when the producer's post must be accepted, else a fragment of the failure message."""
    if exchange_copies.get(obj["id"]) == canonical(obj):
        return None  # identical to the exchange's own copy: a duplicate, accepted silently
    if obj["id"] in exchange_copies or obj["id"] in (OPENCTI_AMBER_STRICT, TLP2_CREATOR):
        return "is reserved"  # the exchange's own definitions, and ids it interprets
    if obj["type"] == "identity" and obj["id"] in BUNDLE_PRODUCERS:
        return "is the identity of a participant"  # the directory publishes it; nobody may squat it
    creator = obj.get("created_by_ref")
    if creator is not None and creator != producer:
        return "impersonation"
    level = _level(obj)
    if level is None:
        return "no TLP marking"
    if level == 4:
        return "TLP:RED needs named recipients"
    return None


def test_example_bundles_write_outcomes(server: Server, examples: dict[str, Any], where: dict[str, str]) -> None:
    exchange_copies = {o["id"]: canonical(o) for o in server.client().get(
        f"collections/{where['public']}/objects/", params=EVERYTHING).json()["objects"]}
    for name, objects in _bundles().items():
        producer = _producer(objects)
        outcome = examples["outcomes"][name]
        for obj in objects:
            expected = _expected_outcome(obj, producer, exchange_copies)
            got = outcome[obj["id"]]
            if expected is None:
                assert got is None, (name, obj["id"], got)
            else:
                assert got is not None and expected.lower() in got.lower(), (name, obj["id"], expected, got)
    assert all(m is None for second in examples["second"].values() for m in second.values()), examples["second"]
    assert set(examples["second"]) == {"02-indirect-prompt-injection-web-tlp-clear",
                                       "06-abused-api-accounts-tlp-amber", "07-malicious-mcp-server-tlp-green",
                                       "10-cve-versioned-indicator-tlp-clear"}


def test_example_bundles_visibility(server: Server, examples: dict[str, Any], people: dict[str, Participant]) -> None:
    """Who sees what of the stored example objects: CLEAR everyone (anonymous only on a public collection, so
    not here), GREEN every participant, AMBER and AMBER+STRICT (default group gov) the producer and gov; a
    relationship or sighting whose held endpoint a reader cannot see is hidden from it."""
    cid, parts = examples["cid"], examples["parts"]
    stored: dict[str, tuple[dict[str, Any], str]] = {}  # id → (newest version, producer identity)
    for name, objects in _bundles().items():
        producer = _producer(objects)
        for obj in objects:
            if examples["outcomes"][name][obj["id"]] is None or examples["second"].get(name, {}).get(
                    obj["id"], "x") is None:
                creator = obj.get("created_by_ref") if obj.get("created_by_ref") in parts else producer
                stored.setdefault(obj["id"], (obj, creator))
                if obj.get("modified", "") > stored[obj["id"]][0].get("modified", ""):
                    stored[obj["id"]] = (obj, creator)
    readers = {"larkspur (lab)": parts["identity--9f7b5b7c-6bb9-4024-83a9-3ae059e719e2"],
               "allied (agency, gov)": parts["identity--3535b2f8-ed5e-4d37-9d78-e1ab20cd826e"],
               "rules vendor": people["vendor"], "northwind (lab)": parts[
                   "identity--214feef6-0de6-4ef0-a1fe-d1b22469b68a"]}
    held = set(stored)
    sizes: dict[str, int] = {}

    def admits(stix_id: str, reader: Participant) -> bool:
        obj, creator = stored[stix_id]
        level = _level(obj)
        if creator == reader.identity_id or level in (0, 1) or level is None:  # None: the exchange's copies
            return True
        return reader.slug in ("allied-aisi", "national-cyber")  # AMBER: the default group gov

    for label, reader in readers.items():
        expected = set()
        for stix_id, (obj, _) in stored.items():
            endpoints = [obj.get(p) for p in ("source_ref", "target_ref", "sighting_of_ref") if obj.get(p)]
            if admits(stix_id, reader) and all(e not in held or admits(e, reader) for e in endpoints):
                expected.add(stix_id)
        got = set(ids_seen(reader.client, cid)) & held
        assert got == expected, (label, sorted(got - expected), sorted(expected - got))
        sizes[label] = len(got)
    # not vacuous: the agency sees the AMBER material, the labs and the vendor do not, Northwind its own
    assert sizes["allied (agency, gov)"] > sizes["northwind (lab)"] > sizes["larkspur (lab)"] == sizes[
        "rules vendor"] > 40, sizes
    # the versioned CLEAR indicator of bundle 10: every version, newest last
    indicator = "indicator--df363ba3-65f1-4c45-85e5-1960e475b470"
    versions = people["vendor"].client.get(f"collections/{cid}/objects/{indicator}/versions/").json()["versions"]
    assert len(versions) == 3
    # bundle 09 (RED, no recipients) was refused whole; re-posted naming an agency, it reaches that agency only
    meridian = parts["identity--0a51f27c-fa6d-44d8-b1c4-a162898c35eb"]
    allied = readers["allied (agency, gov)"]
    red_objects = [o for o in _bundles()["09-weight-exfiltration-infrastructure-tlp-red"] if _level(o) == 4]
    audience = mint(meridian.client, identities=(allied.identity_id,))["id"]
    status = post(meridian.client, cid, *[{**o, "object_marking_refs": [*o["object_marking_refs"], audience]}
                                          for o in red_objects])
    assert status["success_count"] == len(red_objects), status
    red_ids = {o["id"] for o in red_objects}
    assert red_ids <= set(ids_seen(allied.client, cid)) and red_ids <= set(ids_seen(meridian.client, cid))
    for other in (readers["larkspur (lab)"], readers["rules vendor"], parts[
            "identity--e68f085a-4687-4f27-b807-794f59481cee"]):
        assert not red_ids & set(ids_seen(other.client, cid))


# ------------------------------------------------------------------ audit


def test_audit_trail(server: Server, people: dict[str, Participant], where: dict[str, str]) -> None:
    lab_a, agency = people["lab-a"], people["agency"]
    gov = mint(lab_a.client, groups=("gov",))["id"]
    obj = sdo(marking=[TLP_AMBER, gov])
    accepted(lab_a.client, where["shared"], obj)
    assert agency.client.get(f"collections/{where['shared']}/objects/{obj['id']}/").status_code == 200
    assert lab_a.client.delete(f"collections/{where['shared']}/objects/{obj['id']}/").status_code == 200
    with admin_client(server) as admin:
        assert admin.post("/admin/participants/rules-vendor/suspend").status_code == 200
        assert admin.post("/admin/participants/rules-vendor/reinstate").status_code == 200
    # who acted (actor), and whom it was about (participant): the suspension is by the operator, about the vendor
    wanted = {lab_a.slug: {"objects.add", "objects.delete", "audience.mint"},
              "admin": {"participant.suspend", "participant.reinstate"}}
    with admin_client(server) as admin:  # ``aisx audit`` reads the same events (tests/test_revocation.py runs it)
        found = {slug: {e["action"] for e in admin.get("/admin/audit", params={
            "actor": slug, "limit": 10000}).json()} for slug in wanted}
        about = [e["action"] for e in admin.get("/admin/audit", params={"participant": "rules-vendor",
                                                                          "action": "participant."}).json()]
    assert all(wanted[s] <= found[s] for s in wanted), (wanted, found)
    assert about[:2] == ["participant.reinstate", "participant.suspend"]  # newest first
    # the agency's read of the AMBER object reaches its producer's reads, and its key use the key list
    deadline = time.monotonic() + 10  # key use and AMBER/RED reads are flushed once a second
    with admin_client(server) as admin:
        while True:
            reads = admin.get("/admin/audit/reads", params={"producer": lab_a.slug}).json()["reads"]
            keys = admin.get(f"/admin/participants/{agency.slug}/keys").json()
            if ((agency.slug, obj["id"]) in {(r["reader"], r["object_id"]) for r in reads}
                    and any(k["last_used"] for k in keys)) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert (agency.slug, obj["id"]) in {(r["reader"], r["object_id"]) for r in reads}, reads
    assert any(k["last_used"] for k in keys), keys
    with admin_client(server) as admin:
        api = admin.get("/admin/audit", params={"participant": lab_a.slug, "action": "objects.delete"})
        assert api.status_code == 200 and api.json() and all(e["action"] == "objects.delete" for e in api.json())
    with httpx.Client(verify=TLS,
                      base_url=server.base_url, headers={"Authorization": f"Bearer {lab_a.secret}"}) as client:
        assert client.get("/admin/audit").status_code == 403
    assert httpx.get(f"{server.base_url}/admin/audit", verify=TLS).status_code == 401
