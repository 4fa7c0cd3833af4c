"""Issue 12: markings and identities that one participant could use to decide, or learn, what reaches others.

1. audience markings squatted under the ids the exchange would mint (predictable ids; resolution of any
   producer's object under a referenced id);
3. probing: a reference answered differently depending on markings the poster cannot use;
5. reserved ids: objects posted under ids the exchange (or OpenCTI, or TLP 2.0) gives meaning to;
6. identity squatting: an identity object posted under the id an organisation is later admitted with.

The squatting tests compute ids the way the exchange derived them before the fix (UUIDv5 of the body under a
constant namespace): that is what made them squattable, and what must no longer work."""

import hashlib
import uuid
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine

from tests.sharing_helpers import (
    AUDIENCE_EXTENSION,
    OPENCTI_AMBER_STRICT,
    TLP1_WHITE,
    TLP2_CREATOR,
    accepted,
    admin_client,
    admit,
    collection,
    failures,
    mint,
    post,
    rejected,
    sdo,
    stamp,
    wait_until,
)
from tests.support.server import Participant, Server
from tests.support.stix import TLP_AMBER, TLP_CLEAR, TLP_GREEN

_LEGACY_NAMESPACE = uuid.UUID("6a1f1d2c-9a0e-4f6b-8b7e-5a3c2d1e0f19")
LATER = "2099-01-01T00:00:00.000000Z"
PAST = "2000-01-01T00:00:00.000000Z"


def legacy_id(**body: Any) -> str:
    """The id the exchange gave the marking for ``body`` before issue 12: computable by anyone."""
    canonical = orjson.dumps({"extension_type": "property-extension", **body}, option=orjson.OPT_SORT_KEYS)
    return f"marking-definition--{uuid.uuid5(_LEGACY_NAMESPACE, hashlib.sha256(canonical).hexdigest())}"


def audience_marking(stix_id: str | None = None, **body: Any) -> dict[str, Any]:
    """An exchange-audience marking-definition as a participant may write it."""
    return {"type": "marking-definition", "spec_version": "2.1", "id": stix_id or f"marking-definition--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z", "name": "exchange-audience",
            "extensions": {AUDIENCE_EXTENSION: {"extension_type": "property-extension", **body}}}


def statement() -> dict[str, Any]:
    return {"type": "marking-definition", "spec_version": "2.1", "id": f"marking-definition--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z", "definition_type": "statement",
            "definition": {"statement": "Copyright 2026 Security Lab"}, "object_marking_refs": [TLP_GREEN]}


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, Participant]:
    return {
        "victim": admit(server, "sec-victim", "lab", ("sec-labs",)),
        "squatter": admit(server, "sec-squatter", "lab"),
        "agency": admit(server, "sec-agency", "agency", ("sec-gov",)),
        "bystander": admit(server, "sec-bystander", "vendor"),
    }


@pytest.fixture(scope="module")
def where(server: Server, shared_collection: str) -> dict[str, str]:
    return {"shared": shared_collection, "public": collection(server, "sec-public", public=True),
            "directory": _alias(server, "directory")}


def _alias(server: Server, alias: str) -> str:
    with server.client(server.admin_secret) as client:
        return next(c["id"] for c in client.get("collections/").json()["collections"] if c.get("alias") == alias)


def sees(client: httpx.Client, cid: str, stix_id: str) -> bool:
    status = client.get(f"collections/{cid}/objects/{stix_id}/").status_code
    assert status in (200, 404)
    return status == 200


def served(client: httpx.Client, cid: str, stix_id: str) -> list[dict[str, Any]]:
    return client.get(f"collections/{cid}/objects/{stix_id}/").json().get("objects", [])


# ------------------------------------------------------------------ 1. squatting minted audience markings


def test_squatted_minted_ids_do_not_decide_others_audience(server: Server, people: dict[str, Participant],
                                                           where: dict[str, str]) -> None:
    """The squatter pre-posts, under the ids the exchange used to mint, markings naming itself and dropping the
    embargo; the victim's AMBER object and embargoed CLEAR object keep the audience the victim minted."""
    victim, squatter, agency = people["victim"], people["squatter"], people["agency"]
    cid = where["shared"]
    accepted(squatter.client, cid, audience_marking(legacy_id(recipient_groups=["sec-gov"]),
                                                   recipient_identities=[squatter.identity_id]),
             audience_marking(legacy_id(embargo_until=LATER), embargo_until=PAST))
    gov = mint(victim.client, groups=("sec-gov",))
    embargo = mint(victim.client, embargo=LATER)
    amber = sdo(marking=[TLP_AMBER, gov["id"]])
    embargoed = sdo(marking=[TLP_CLEAR, embargo["id"]])
    accepted(victim.client, cid, amber)
    accepted(victim.client, where["public"], embargoed)
    assert sees(agency.client, cid, amber["id"]) and not sees(squatter.client, cid, amber["id"])
    for reader in (server.client(), squatter.client, agency.client, victim.client):
        assert not sees(reader, where["public"], embargoed["id"])
    assert served(agency.client, cid, gov["id"]) == [gov]  # the minted marking is served as minted
    assert gov["id"] != legacy_id(recipient_groups=["sec-gov"]) and embargo["id"] != legacy_id(embargo_until=LATER)


def test_minting_never_hands_out_a_squatted_id(people: dict[str, Participant], where: dict[str, str]) -> None:
    """Whatever participants post, the id a mint answers with stands for the minted body and nothing else."""
    victim, squatter, agency = people["victim"], people["squatter"], people["agency"]
    for spec in ({"groups": ("sec-labs",)}, {"identities": (agency.identity_id,)}):
        body = {"recipient_groups": list(spec.get("groups", ())), "recipient_identities": list(
            spec.get("identities", ()))}
        squat = audience_marking(legacy_id(**{k: v for k, v in body.items() if v}),
                                 recipient_identities=[squatter.identity_id])
        accepted(squatter.client, where["shared"], squat)
        minted = mint(victim.client, **spec)  # type: ignore[arg-type]
        assert minted["id"] != squat["id"] and mint(squatter.client, **spec) == minted  # type: ignore[arg-type]


def test_minted_ids_are_keyed() -> None:
    """Pure: the id is a keyed function of the body, the same for the same key, unrelated across keys."""
    from app.sharing.exchange import is_minted, minted_id
    body = {"extension_type": "property-extension", "recipient_groups": ["gov"]}
    one, two = b"\x01" * 32, b"\x02" * 32
    assert minted_id(one, body) == minted_id(one, dict(reversed(body.items())))
    assert minted_id(one, body) != minted_id(two, body)
    uuid.UUID(minted_id(one, body).partition("--")[2], version=4)
    marking = {"type": "marking-definition", "id": minted_id(one, body), "extensions": {AUDIENCE_EXTENSION: body}}
    assert is_minted(one, marking) and not is_minted(two, marking) and not is_minted(None, marking)
    assert not is_minted(one, {**marking, "id": legacy_id(recipient_groups=["gov"])})


def test_others_markings_never_decide_an_audience(people: dict[str, Participant], where: dict[str, str]) -> None:
    """A marking posted by someone else cannot be referenced (it would let them choose who sees the object);
    one the poster posted itself, or one the exchange minted, can."""
    victim, squatter, bystander = people["victim"], people["squatter"], people["bystander"]
    cid = where["shared"]
    others = audience_marking(recipient_identities=[victim.identity_id])  # the victim can read it
    accepted(squatter.client, cid, others)
    assert sees(victim.client, cid, others["id"])
    rejected(victim.client, cid, sdo(marking=[TLP_GREEN, others["id"]]), "neither TLP nor a marking-definition")
    own = audience_marking(recipient_identities=[bystander.identity_id])
    accepted(victim.client, cid, own)
    mine = sdo(marking=[TLP_GREEN, own["id"]])
    accepted(victim.client, cid, mine)
    assert sees(bystander.client, cid, mine["id"]) and not sees(squatter.client, cid, mine["id"])
    handed = mint(victim.client, identities=(bystander.identity_id,))["id"]  # minted ids: usable by whoever
    accepted(squatter.client, cid, sdo(marking=[TLP_GREEN, handed]))  # holds them (unguessable, documented)


def test_reposted_minted_marking_with_changed_content(people: dict[str, Participant], where: dict[str, str]) -> None:
    """A minted marking re-posted with other recipients is refused, and objects sent with it get the minted
    audience, not the altered one."""
    victim, squatter, agency = people["victim"], people["squatter"], people["agency"]
    cid = where["shared"]
    minted = mint(victim.client, groups=("sec-gov",))
    altered = {**minted, "extensions": {AUDIENCE_EXTENSION: {"extension_type": "property-extension",
                                                             "recipient_identities": [squatter.identity_id]}}}
    obj = sdo(marking=[TLP_AMBER, minted["id"]])
    status = post(victim.client, cid, altered, obj)
    assert set(failures(status)) == {minted["id"]}, status
    assert sees(agency.client, cid, obj["id"]) and not sees(squatter.client, cid, obj["id"])
    assert served(agency.client, cid, minted["id"]) == [minted]


def test_a_minted_marking_is_served_only_with_what_uses_it(server: Server, people: dict[str, Participant],
                                                            where: dict[str, str]) -> None:
    """A minted marking joins the collections of the objects that use it, but is served to nobody before its
    embargo ends (it would tell its readers that an embargoed object was posted, and until when), then only to
    its recipients, and an embargo-only marking only beside objects every participant may read. A marking minted
    but never used is in no collection."""
    victim, squatter, agency, bystander = (people[r] for r in ("victim", "squatter", "agency", "bystander"))
    cid, grouped = where["shared"], collection(server, "sec-grouped", default_group="sec-labs")
    soon = stamp(8.0)  # ample for the checks before it on a loaded machine (PostgreSQL: about 3 s)
    later, later_gov = mint(victim.client, embargo=LATER)["id"], mint(victim.client, groups=("sec-gov",),
                                                                     embargo=LATER)["id"]
    soon_only, soon_gov = mint(victim.client, embargo=soon)["id"], mint(victim.client, groups=("sec-gov",),
                                                                       embargo=soon)["id"]
    unused = mint(victim.client, groups=("sec-gov",), embargo="2098-01-01T00:00:00Z")["id"]
    accepted(victim.client, cid, sdo(marking=[TLP_GREEN, later]), sdo(marking=[TLP_AMBER, later_gov]),
             sdo(marking=[TLP_AMBER, soon_gov]))
    narrow = sdo(marking=[TLP_AMBER, soon_only])  # to the default group sec-labs only
    accepted(victim.client, grouped, narrow)
    readers = [victim.client, squatter.client, agency.client, bystander.client]
    for marking in (later, later_gov, soon_only, soon_gov, unused):
        assert not any(sees(reader, c, marking) for reader in readers for c in (cid, grouped)), marking
    wait_until(soon, margin=1.5)
    assert sees(agency.client, cid, soon_gov) and not sees(bystander.client, cid, soon_gov)
    assert sees(victim.client, grouped, narrow["id"]) and not sees(bystander.client, grouped, narrow["id"])
    assert not any(sees(reader, grouped, soon_only) for reader in readers)


# ------------------------------------------------------------------ 3. probing


def test_references_answer_alike_whoever_holds_the_marking(people: dict[str, Participant],
                                                           where: dict[str, str]) -> None:
    """Never stored, posted by another participant (audience or statement), minted for someone else under an
    id the prober could compute before the fix, or never minted: one and the same answer."""
    victim, squatter, agency = people["victim"], people["squatter"], people["agency"]
    cid = where["shared"]
    others_audience, others_statement = audience_marking(recipient_identities=[squatter.identity_id]), statement()
    accepted(victim.client, cid, others_audience, others_statement)
    mint(victim.client, identities=(agency.identity_id,), embargo="2098-06-01T00:00:00Z")  # a planned embargo
    probes = [f"marking-definition--{uuid.uuid4()}", others_audience["id"], others_statement["id"],
              legacy_id(recipient_identities=[agency.identity_id], embargo_until="2098-06-01T00:00:00.000000Z"),
              legacy_id(recipient_identities=[agency.identity_id], embargo_until="2098-06-02T00:00:00.000000Z")]
    answers = set()
    for probe in probes:
        message = rejected(squatter.client, cid, sdo(marking=[TLP_GREEN, probe]), "neither TLP nor")
        answers.add(message.replace(probe, "<id>"))
    assert len(answers) == 1, answers


def _legacy_minted(server: Server, exchange_identity: str, **body: Any) -> dict[str, Any]:
    """A marking as the exchange minted it before issue 12 (id computable from the body)."""
    return {"type": "marking-definition", "spec_version": "2.1", "id": legacy_id(**body),
            "created": "2026-11-26T00:00:00.000Z", "created_by_ref": exchange_identity, "name": "exchange-audience",
            "extensions": {AUDIENCE_EXTENSION: {"extension_type": "property-extension", **body}}}


def test_markings_minted_before_the_fix_cannot_be_probed(server: Server, people: dict[str, Participant],
                                                         where: dict[str, str]) -> None:
    """An upgraded exchange still holds markings minted under computable ids. Referencing one, or re-posting
    its (computable) body, answers exactly as for one that was never minted."""
    from app.sharing.exchange import publish
    from app.stix.markings import Tlp
    from app.store.audience import Audience

    squatter, agency = people["squatter"], people["agency"]
    exchange = next(o["id"] for o in server.client().get(f"collections/{where['public']}/objects/", params={
        "match[type]": "identity"}).json()["objects"] if o.get("identity_class") == "system")
    held = _legacy_minted(server, exchange, recipient_identities=[agency.identity_id], embargo_until=LATER)
    never = _legacy_minted(server, exchange, recipient_identities=[agency.identity_id], embargo_until=PAST)
    engine = create_engine(server.database.url)
    try:
        with engine.begin() as conn:  # as the exchange minted it before the upgrade
            publish(conn, None, [held], Audience(Tlp.AMBER, None, frozenset({agency.id})))
    finally:
        engine.dispose()
    answers = []
    for marking in (held, never):
        by_reference = rejected(squatter.client, where["shared"], sdo(marking=[TLP_GREEN, marking["id"]]))
        by_copy = rejected(squatter.client, where["shared"], marking)
        answers.append((by_reference.replace(marking["id"], "<id>"), by_copy.replace(marking["id"], "<id>")))
    assert answers[0] == answers[1], answers


# ------------------------------------------------------------------ 5. reserved ids


def test_reserved_ids_are_refused(server: Server, people: dict[str, Participant], where: dict[str, str]) -> None:
    squatter = people["squatter"]
    cid = where["public"]
    opencti = {"type": "marking-definition", "spec_version": "2.1", "id": OPENCTI_AMBER_STRICT,
               "created": "2022-09-01T00:00:00.000Z", "name": "TLP:CLEAR", "definition_type": "statement",
               "definition": {"statement": "TLP:CLEAR"}, "object_marking_refs": [TLP_CLEAR]}
    creator = {"type": "identity", "spec_version": "2.1", "id": TLP2_CREATOR, "created": "2026-01-01T00:00:00.000Z",
               "modified": "2026-01-01T00:00:00.000Z", "name": "Not OASIS", "identity_class": "organization",
               "object_marking_refs": [TLP_CLEAR]}
    for obj in (opencti, creator):
        rejected(squatter.client, cid, obj, "is reserved")
        assert not sees(server.client(), cid, obj["id"]) and not sees(squatter.client, cid, obj["id"])
    copies = server.client().get(f"collections/{cid}/objects/", params={"limit": "1000"}).json()["objects"]
    kinds = {o["id"].partition("--")[0] for o in copies}
    assert {"identity", "marking-definition", "extension-definition"} <= kinds and len(copies) >= 14
    for canonical in copies:  # what TAXII clients re-post when they mirror a collection: identical duplicates
        variant = {**canonical, "name": "squatted", "object_marking_refs": [TLP_CLEAR]}
        if canonical["id"] == TLP_CLEAR:  # a marking must not mark itself: this one travels unmarked
            del variant["object_marking_refs"]
        rejected(squatter.client, cid, variant, "is reserved", "reference it")
        assert served(server.client(), cid, canonical["id"]) == [canonical]
    status = post(squatter.client, cid, *copies)
    assert status["success_count"] == len(copies), status
    white = sdo(marking=TLP1_WHITE)  # OpenCTI's "TLP:CLEAR" id keeps working as a reference
    accepted(squatter.client, cid, white)
    assert sees(server.client(), cid, white["id"])


# ------------------------------------------------------------------ 6. identity squatting


def _identity(stix_id: str, name: str, modified: str = "2026-01-01T00:00:00.000Z") -> dict[str, Any]:
    return {"type": "identity", "spec_version": "2.1", "id": stix_id, "created": "2026-01-01T00:00:00.000Z",
            "modified": modified, "name": name, "identity_class": "organization", "object_marking_refs": [TLP_GREEN]}


def test_admission_takes_an_identity_id_over_from_a_squatter(server: Server, people: dict[str, Participant],
                                                              where: dict[str, str]) -> None:
    victim, squatter = people["victim"], people["squatter"]
    cid = where["shared"]
    future = f"identity--{uuid.uuid4()}"
    squat = _identity(future, "Future Org (not really)")
    accepted(squatter.client, cid, squat)
    assert sees(victim.client, cid, future)
    newcomer = admit(server, "sec-newcomer", "lab", identity_id=future)
    assert newcomer.identity_id == future
    published = served(victim.client, where["directory"], future)
    assert [o["name"] for o in published] == ["Sec-Newcomer"]
    for reader in (victim, squatter, newcomer):  # the squatter's object is withdrawn, for everyone
        assert not sees(reader.client, cid, future)
    rejected(squatter.client, cid, squat, "belongs to another participant")
    rejected(squatter.client, cid, _identity(future, "Future Org v2", "2026-02-01T00:00:00.000Z"),
             "identity of a participant")
    assert not sees(victim.client, cid, future)
    rejected(squatter.client, cid, _identity(victim.identity_id, "Victim"), "identity of a participant")
    rejected(squatter.client, cid, _identity(victim.pseudonym_identity_id, "Victim"), "identity of a participant")


def test_identities_in_use_cannot_be_adopted(server: Server, people: dict[str, Participant],
                                            where: dict[str, str]) -> None:
    exchange = next(o["id"] for o in server.client().get(f"collections/{where['public']}/objects/", params={
        "match[type]": "identity"}).json()["objects"] if o.get("identity_class") == "system")
    taken = (people["victim"].identity_id, people["victim"].pseudonym_identity_id, exchange, TLP2_CREATOR)
    with admin_client(server) as admin:
        for n, identity in enumerate(taken):
            response = admin.post("/admin/participants", json={"slug": f"sec-late-{n}", "name": "Late", "kind": "lab",
                                                               "identity_id": identity})
            assert response.status_code == 422 and "already in use" in response.text, (identity, response.text)
