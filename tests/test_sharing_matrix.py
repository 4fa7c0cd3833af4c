"""The sharing matrix (DESIGN.md decision 4; shared/domain/sharing-brief.md §6.6-6.8): every reader relationship
x every TLP level x with and without recipients (identities, pseudonyms, groups) x before and after an embargo
x every read endpoint and filter, asserting exactly who sees what.

Readers: lab A through two API keys (the producer of almost everything), lab B, two agencies in group ``gov``,
a vendor, the exchange operator (no superuser reads), a suspended participant (named as a recipient, so only
the suspension keeps it out) and an anonymous client. Collections: ``matrix`` (private), ``default`` (private,
default group ``gov`` for AMBER without recipients) and ``public`` (TLP:CLEAR only, readable without a key).

The data is written once per module (the ``world`` fixture); the tests only read. Each object's expected
audience comes from a small model of the rules below (``audience``), written independently of the server, plus
hand-written expectations for the cases the model does not cover (versions, relationships, sightings, copies
of observables). Feeds do not exist yet, so there is no feed column."""

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.feed_support import wait_for
from tests.sharing_helpers import (
    EVERYTHING,
    FAR_FUTURE,
    OPENCTI_AMBER_STRICT,
    TLP1_AMBER,
    TLP1_GREEN,
    TLP1_RED,
    TLP1_WHITE,
    admin_client,
    admit,
    canonical,
    collection,
    failures,
    ipv4,
    mint,
    pages,
    post,
    relationship,
    sdo,
    second_key,
    sighting,
    stamp,
    wait_until,
    when,
)
from tests.support.server import Participant, Server
from tests.support.stix import TLP_AMBER, TLP_AMBER_STRICT, TLP_CLEAR, TLP_GREEN, TLP_RED

TLP = {"clear": TLP_CLEAR, "green": TLP_GREEN, "amber": TLP_AMBER, "amber+strict": TLP_AMBER_STRICT, "red": TLP_RED}
PARTICIPANTS = ("lab-a", "lab-b", "agency-1", "agency-2", "vendor", "operator", "suspended")
READERS = ("lab-a", "lab-a#2", "lab-b", "agency-1", "agency-2", "vendor", "operator", "suspended", "anonymous")
GROUPS = {"gov": {"agency-1", "agency-2", "suspended"}, "labs": {"lab-a", "lab-b"}}
COLLECTIONS = ("matrix", "default", "public")
SHORT_EMBARGO_SECONDS = 5.0

# Recipient lists, as the readers they name. ``id`` names lab B and the suspended participant by identity,
# ``pseudo`` names lab B by its pseudonym, ``mixed`` names agency 1 and group ``labs``.
RECIPIENTS: dict[str, frozenset[str] | None] = {
    "none": None,
    "id": frozenset({"lab-b", "suspended"}),
    "grp": frozenset(GROUPS["gov"]),
    "pseudo": frozenset({"lab-b"}),
    "mixed": frozenset({"agency-1"} | GROUPS["labs"]),
}


def participant_of(reader: str) -> str:
    return reader.split("#")[0]


def audience(tlp: str, recipients: frozenset[str] | None, producer: str, embargo: str) -> frozenset[str]:
    """The model: who may see a version, by the rules of DESIGN.md decision 4 (``anonymous`` included for
    CLEAR: the collection decides whether an anonymous client may read at all)."""
    if embargo == "far":  # not released: nobody, the producer included
        return frozenset()
    if tlp == "clear":
        return frozenset({*PARTICIPANTS, "anonymous"})
    if tlp == "green" and recipients is None:
        return frozenset(PARTICIPANTS)
    return frozenset((recipients or frozenset()) | {producer})


@dataclass
class Case:
    """One object (one or more versions, possibly from several producers) and who sees which versions."""

    key: str
    where: str
    versions: list[tuple[str, dict[str, Any]]]  # (producer, object) in posting order
    visible: dict[str, tuple[int, ...]] = field(default_factory=dict)  # participant → visible version indices
    rejected: str | None = None  # a fragment of the failure message when every version must be refused
    embargo: str = "none"

    @property
    def stix_id(self) -> str:
        return self.versions[0][1]["id"]

    def seen_by(self, reader: str) -> list[dict[str, Any]]:
        return [self.versions[i][1] for i in self.visible.get(participant_of(reader), ())]

    @property
    def is_sco(self) -> bool:
        return "created" not in self.versions[0][1]


def simple(key: str, where: str, producer: str, obj: dict[str, Any], tlp: str, recipients: str = "none",
           embargo: str = "none") -> Case:
    who = audience(tlp, RECIPIENTS[recipients], producer, embargo)
    return Case(key, where, [(producer, obj)], {p: (0,) for p in who}, embargo=embargo)


def everyone(*indices: int) -> dict[str, tuple[int, ...]]:
    return {p: indices for p in PARTICIPANTS}


@dataclass
class World:
    server: Server
    people: dict[str, Participant]
    collections: dict[str, str]
    cases: list[Case]
    definitions: set[str]
    statuses: list[dict[str, Any]]
    before_release: dict[str, Any]
    short_embargo: str
    posted_short_at: str

    def client(self, reader: str) -> httpx.Client:
        if reader == "anonymous":
            return self.server.client()
        return self.people[reader].client

    def in_collection(self, name: str) -> list[Case]:
        return [c for c in self.cases if c.where == name and c.rejected is None]

    def representatives(self, name: str) -> list[Case]:
        """One case per distinct visibility pattern (who sees which versions, object type, how many versions):
        the single-object endpoints are checked on these, the listings on everything."""
        chosen: dict[Any, Case] = {}
        for case in self.in_collection(name):
            pattern = (frozenset(case.visible.items()), case.versions[0][1]["type"], len(case.versions),
                       len({p for p, _ in case.versions}))
            chosen.setdefault(pattern, case)
        return list(chosen.values())

    def subject_ids(self) -> set[str]:
        return {c.stix_id for c in self.cases}


def _markings(world_people: dict[str, Participant], lab_a: Participant, short: str) -> dict[
        tuple[str, str], dict[str, Any]]:
    """Minted audience markings for every (recipients, embargo) combination used."""
    lab_b, suspended, agency_1 = world_people["lab-b"], world_people["suspended"], world_people["agency-1"]
    identities = {
        "none": (), "id": (lab_b.identity_id, suspended.identity_id), "grp": (),
        "pseudo": (lab_b.pseudonym_identity_id,), "mixed": (agency_1.identity_id,),
    }
    groups = {"none": (), "id": (), "grp": ("gov",), "pseudo": (), "mixed": ("labs",)}
    embargoes = {"none": None, "far": FAR_FUTURE, "short": short}
    minted = {}
    for recipients in RECIPIENTS:
        for embargo, until in embargoes.items():
            if recipients == "none" and embargo == "none":
                continue
            if recipients in ("pseudo", "mixed") and embargo != "none":
                continue
            minted[recipients, embargo] = mint(lab_a.client, identities=identities[recipients],
                                               groups=groups[recipients], embargo=until)
    return minted


def _marking_cases(cases: list[Case], minted: dict[tuple[str, str], dict[str, Any]]) -> list[Case]:
    """Minted markings join the collections of the accepted objects that use them. One naming recipients is
    seen by those recipients only (not by the lab that minted it); an embargo-only one by every participant, and
    it joins only beside objects every participant may read (GREEN or CLEAR); neither is seen by anyone before
    its embargo ends (issue 12: it would tell that an embargoed object was posted), nor, not being CLEAR, served
    from the public collection."""
    by_id = {marking["id"]: (key, marking) for key, marking in minted.items()}
    result = []
    for where in COLLECTIONS:
        users = [(ref, obj) for case in cases if case.where == where and case.rejected is None
                 for _, obj in case.versions for ref in obj.get("object_marking_refs", []) if ref in by_id]
        for marking_id in sorted({ref for ref, _ in users}):
            (recipients, embargo), marking = by_id[marking_id]
            who = RECIPIENTS[recipients]
            if who is None and not any(ref == marking_id and {TLP_GREEN, TLP_CLEAR} & set(obj["object_marking_refs"])
                                       for ref, obj in users):
                continue
            readers = set() if where == "public" or embargo == "far" else set(PARTICIPANTS) if who is None else set(who)
            result.append(Case(f"marking {recipients}/{embargo} in {where}", where, [("exchange", marking)],
                               {p: (0,) for p in readers}))
    return result


def _refs(tlp_ref: str, markings: dict[tuple[str, str], str], recipients: str, embargo: str) -> list[str]:
    extra = [] if (recipients, embargo) == ("none", "none") else [markings[recipients, embargo]]
    return [tlp_ref, *extra]


def _matrix_cases(people: dict[str, Participant], markings: dict[tuple[str, str], str],
                  embargo_filter: set[str]) -> list[Case]:
    """Every TLP x recipients x embargo in the private collection, each posted by lab A; the invalid
    combinations must be refused at write time."""
    lab_a = people["lab-a"]
    creators = [lab_a.identity_id, lab_a.pseudonym_identity_id, None]
    cases = []
    index = 0
    for tlp, tlp_ref in TLP.items():
        for recipients in ("none", "id", "grp"):
            for embargo in ("none", "far", "short"):
                if embargo not in embargo_filter:
                    continue
                index += 1
                obj = sdo(marking=_refs(tlp_ref, markings, recipients, embargo), created_by=creators[index % 3])
                key = f"{tlp}/{recipients}/{embargo}"
                if tlp == "clear" and recipients != "none":
                    cases.append(Case(key, "matrix", [("lab-a", obj)], rejected="cannot carry recipients"))
                elif tlp == "red" and recipients == "none":
                    cases.append(Case(key, "matrix", [("lab-a", obj)], rejected="TLP:RED needs named recipients"))
                elif tlp.startswith("amber") and recipients == "none":
                    cases.append(Case(key, "matrix", [("lab-a", obj)], rejected="needs named recipients"))
                else:
                    cases.append(simple(key, "matrix", "lab-a", obj, tlp, recipients, embargo))
    return cases


def _short_cases(people: dict[str, Participant], markings: dict[tuple[str, str], str]) -> list[Case]:
    cases = _matrix_cases(people, markings, {"short"})
    cases.append(simple("public clear/short", "public", "lab-a",
                        sdo(marking=_refs(TLP_CLEAR, markings, "none", "short")), "clear", "none", "short"))
    return cases


def _other_cases(people: dict[str, Participant], markings: dict[tuple[str, str], str],
                 matrix: list[Case]) -> list[Case]:
    by_key = {c.key: c for c in matrix}
    cases: list[Case] = []

    def add(case: Case) -> Case:
        cases.append(case)
        return case

    # TLP 1.0 ids, OpenCTI's AMBER+STRICT id, recipients by pseudonym, mixed recipients, several markings.
    add(simple("tlp1 white", "matrix", "lab-a", sdo(marking=TLP1_WHITE), "clear"))
    add(simple("tlp1 green", "matrix", "lab-a", sdo(marking=TLP1_GREEN), "green"))
    add(simple("tlp1 amber/grp", "matrix", "lab-a", sdo(marking=[TLP1_AMBER, markings["grp", "none"]]), "amber",
               "grp"))
    add(simple("tlp1 red/id", "matrix", "lab-a", sdo(marking=[TLP1_RED, markings["id", "none"]]), "red", "id"))
    add(simple("opencti amber+strict/grp", "matrix", "lab-a",
               sdo(marking=[OPENCTI_AMBER_STRICT, markings["grp", "none"]]), "amber+strict", "grp"))
    add(simple("green/pseudo", "matrix", "lab-a", sdo(marking=[TLP_GREEN, markings["pseudo", "none"]]), "green",
               "pseudo"))
    add(simple("amber/mixed", "matrix", "lab-a", sdo(marking=[TLP_AMBER, markings["mixed", "none"]]), "amber",
               "mixed"))
    add(simple("clear+red/id", "matrix", "lab-a", sdo(marking=[TLP_CLEAR, TLP_RED, markings["id", "none"]]), "red",
               "id"))
    granular = sdo(marking=[TLP_GREEN, markings["grp", "none"]],
                   granular_markings=[{"marking_ref": TLP_AMBER, "selectors": ["name"]}])
    add(simple("green+granular amber/grp", "matrix", "lab-a", granular, "amber", "grp"))
    add(Case("green+unknown marking", "matrix",
             [("lab-a", sdo(marking=[TLP_GREEN, "marking-definition--2f4b3e6c-6a8e-4a55-9d1b-8a8f6f0e0c11"]))],
             rejected="neither TLP nor a marking-definition this exchange holds"))

    # Versions: only the newest version's audience decides whether any version is visible.
    base = sdo(marking=TLP_GREEN)
    v2 = {**base, "modified": "2026-01-02T00:00:00.000Z", "object_marking_refs": [TLP_AMBER, markings["id", "none"]]}
    add(Case("versions tightened", "matrix", [("lab-a", base), ("lab-a", v2)],
             {"lab-a": (0, 1), "lab-b": (0, 1), "suspended": (0, 1)}))
    base = sdo(marking=[TLP_AMBER, markings["id", "none"]])
    v2 = {**base, "modified": "2026-01-02T00:00:00.000Z", "object_marking_refs": [TLP_GREEN]}
    add(Case("versions loosened", "matrix", [("lab-a", base), ("lab-a", v2)],
             {**everyone(1), "lab-a": (0, 1), "lab-b": (0, 1), "suspended": (0, 1)}))
    base = sdo(marking=TLP_GREEN)
    v2 = {**base, "modified": "2026-01-02T00:00:00.000Z", "object_marking_refs": [TLP_AMBER, markings["grp", "none"]]}
    v3 = {**base, "modified": "2026-01-03T00:00:00.000Z", "object_marking_refs": [TLP_GREEN]}
    add(Case("versions green-amber-green", "matrix", [("lab-a", base), ("lab-a", v2), ("lab-a", v3)],
             {**everyone(0, 2), "lab-a": (0, 1, 2), "agency-1": (0, 1, 2), "agency-2": (0, 1, 2),
              "suspended": (0, 1, 2)}))
    # A newer version under a far embargo does not exist for anyone until it ends: the versions before it are
    # served as if it had never been posted (hiding them would tell every reader that an update is coming).
    base = sdo(marking=TLP_GREEN)
    v2 = {**base, "modified": "2026-01-02T00:00:00.000Z", "object_marking_refs": [TLP_GREEN, markings["none", "far"]]}
    add(Case("versions embargoed update", "matrix", [("lab-a", base), ("lab-a", v2)], everyone(0)))

    # Relationships and sightings are shown by their own marking alone (noninterference): a hidden, embargoed or
    # absent endpoint changes nothing, or who sees them would reveal whether the endpoint exists. A producer
    # that wants one hidden marks it as strictly as its endpoints.
    clear, amber_gov = by_key["clear/none/none"].stix_id, by_key["amber/grp/none"].stix_id
    amber_b, embargoed = by_key["amber/id/none"].stix_id, by_key["green/none/far"].stix_id
    add(Case("relationship to gov-only target", "matrix", [("lab-a", relationship(clear, amber_gov))], everyone(0)))
    add(Case("relationship from lab-b-only source", "matrix", [("lab-a", relationship(amber_b, clear))],
             everyone(0)))
    add(Case("relationship to an object not held", "matrix",
             [("lab-a", relationship(clear, "attack-pattern--0f2c3d2b-7f6e-4c1e-9d55-3c8f2d1a0b9e"))], everyone(0)))
    add(Case("relationship to an embargoed object", "matrix", [("lab-a", relationship(clear, embargoed))],
             everyone(0)))
    gov_only = [TLP_AMBER, markings["grp", "none"]]
    add(Case("relationship marked like its gov-only target", "matrix",
             [("lab-a", relationship(clear, amber_gov, marking=gov_only))],
             {p: (0,) for p in {"lab-a", *GROUPS["gov"]}}))
    agency_1 = people["agency-1"]
    add(Case("sighting by agency-1 of a gov-only indicator", "matrix",
             [("agency-1", sighting(amber_gov, created_by=agency_1.identity_id))], everyone(0)))

    # Observables: one copy per producer, each with its own audience; identical copies served once.
    same = ipv4("203.0.113.10")
    add(Case("observable identical from two labs", "matrix", [("lab-a", same), ("lab-b", same)], everyone(0)))
    green_copy, amber_copy = ipv4("203.0.113.11"), ipv4("203.0.113.11", [TLP_AMBER, markings["grp", "none"]])
    add(Case("observable green from lab-a, amber/gov from lab-b", "matrix",
             [("lab-a", green_copy), ("lab-b", amber_copy)],
             {**everyone(0), **{p: (0, 1) for p in ("lab-b", *GROUPS["gov"])}}))

    # A collection with default group gov: AMBER without recipients goes to gov, frozen at write time.
    add(simple("default amber/none", "default", "lab-a", sdo(marking=TLP_AMBER), "amber", "grp"))
    add(simple("default amber+strict/none", "default", "lab-a", sdo(marking=TLP_AMBER_STRICT), "amber+strict",
               "grp"))
    add(simple("default amber/id", "default", "lab-a", sdo(marking=[TLP_AMBER, markings["id", "none"]]), "amber",
               "id"))
    add(simple("default green/none", "default", "lab-a", sdo(marking=TLP_GREEN), "green"))
    add(simple("default clear/none", "default", "lab-a", sdo(marking=TLP_CLEAR), "clear"))
    add(simple("default amber/none/far", "default", "lab-a", sdo(marking=[TLP_AMBER, markings["none", "far"]]),
               "amber", "grp", "far"))
    add(Case("default red/none", "default", [("lab-a", sdo(marking=TLP_RED))], rejected="needs named recipients"))

    # The public collection: CLEAR only, readable without a key.
    add(simple("public clear", "public", "lab-a", sdo(marking=TLP_CLEAR), "clear"))
    add(simple("public tlp1 white", "public", "lab-a", sdo(marking=TLP1_WHITE), "clear"))
    add(simple("public clear/far", "public", "lab-a", sdo(marking=[TLP_CLEAR, markings["none", "far"]]), "clear",
               "none", "far"))
    add(Case("public relationship to a green object", "public",  # its own CLEAR decides, anonymous included
             [("lab-a", relationship(clear, by_key["green/none/none"].stix_id, marking=TLP_CLEAR))],
             {p: (0,) for p in (*PARTICIPANTS, "anonymous")}))
    add(Case("public green", "public", [("lab-a", sdo(marking=TLP_GREEN))], rejected="accepts TLP:CLEAR only"))
    add(Case("public amber/grp", "public", [("lab-a", sdo(marking=[TLP_AMBER, markings["grp", "none"]]))],
             rejected="accepts TLP:CLEAR only"))
    return cases


def _post_cases(world_people: dict[str, Participant], collections: dict[str, str], cases: list[Case]) -> list[
        dict[str, Any]]:
    """Post every case: each round holds the n-th version of every case, grouped per (producer, collection)."""
    statuses = []
    rounds = max(len(c.versions) for c in cases)
    for n in range(rounds):
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for case in cases:
            if n < len(case.versions):
                producer, obj = case.versions[n]
                groups.setdefault((producer, case.where), []).append(obj)
        for (producer, where), objects in groups.items():
            statuses.append(post(world_people[producer].client, collections[where], *objects))
    return statuses


def _wait_for_release(producer: Participant, collections: dict[str, str], cases: list[Case]) -> None:
    """Released objects enter their collections when the release job next runs (AISX_EMBARGO_RELEASE_INTERVAL
    after the end of the embargo at most, plus a wait for the write lock): wait for it, boundedly."""
    for where in sorted({c.where for c in cases}):
        wanted = {c.stix_id for c in cases if c.where == where and c.seen_by("lab-a")}
        wait_for(lambda cid=collections[where], ids=wanted: ids <= set(
            _snapshot(producer.client, cid, ids)["objects"]), 30, f"the release of the short embargo in {where}")


def _snapshot(client: httpx.Client, cid: str, ids: set[str]) -> dict[str, Any]:
    listing = client.get(f"collections/{cid}/objects/", params=EVERYTHING)
    manifest = client.get(f"collections/{cid}/manifest/", params=EVERYTHING)
    singles = {i: client.get(f"collections/{cid}/objects/{i}/").status_code for i in sorted(ids)[:4]}
    return {
        "objects": sorted(o["id"] for o in listing.json().get("objects", []) if o["id"] in ids),
        "manifest": sorted(r["id"] for r in manifest.json().get("objects", []) if r["id"] in ids),
        "singles": singles,
        "last": manifest.headers.get("X-TAXII-Date-Added-Last"),
    }


@pytest.fixture(scope="module")
def world(server: Server) -> Iterator[World]:
    people = {
        "lab-a": admit(server, "lab-a", "lab", ("labs",)),
        "lab-b": admit(server, "lab-b", "lab", ("labs",)),
        "agency-1": admit(server, "agency-1", "agency", ("gov",)),
        "agency-2": admit(server, "agency-2", "agency", ("gov",)),
        "vendor": admit(server, "vendor", "vendor"),
        "suspended": admit(server, "suspended", "lab", ("gov",)),
    }
    people["lab-a#2"] = second_key(server, people["lab-a"])
    people["operator"] = Participant("admin", 0, "", "", server.admin_key_id, server.admin_secret,
                                     server.client(server.admin_secret))
    # The short embargo: minted and posted first, checked at once, released while the rest is written. A machine
    # too slow to look before it ended (a loaded CI runner) starts over in new collections with an embargo twice
    # as long: the check is never skipped, and the abandoned collections are read by no test.
    seconds = SHORT_EMBARGO_SECONDS
    for attempt in range(4):
        suffix = f"-{attempt}" if attempt else ""
        with ThreadPoolExecutor(3) as pool:
            made = {name: pool.submit(collection, server, name + suffix, **options) for name, options in (
                ("matrix", {}), ("default", {"default_group": "gov"}), ("public", {"public": True}))}
            collections = {name: future.result() for name, future in made.items()}
        definitions = {o["id"] for o in server.client().get(f"collections/{collections['public']}/objects/",
                                                            params=EVERYTHING).json()["objects"]}
        short = stamp(seconds)
        minted = _markings(people, people["lab-a"], short)
        markings = {key: marking["id"] for key, marking in minted.items()}
        short_cases = _short_cases(people, markings)
        posted_short_at = stamp()
        statuses = _post_cases(people, collections, short_cases)
        short_ids = {c.stix_id for c in short_cases}
        before = {reader: {where: _snapshot(people[reader].client if reader != "anonymous" else server.client(),
                                            collections[where], short_ids)
                           for where in ("matrix", "public") if reader != "anonymous" or where == "public"}
                  for reader in ("lab-a", "lab-b", "agency-1", "anonymous")}
        before["done at"] = stamp()
        if when(before["done at"]) < when(short):
            break
        seconds *= 2
    else:
        raise AssertionError(f"four tries could not look before a short embargo ended (the last was {seconds / 2} s)")
    matrix = _matrix_cases(people, markings, {"none", "far"})
    statuses += _post_cases(people, collections, matrix)
    others = _other_cases(people, markings, matrix)
    statuses += _post_cases(people, collections, others)
    with admin_client(server) as admin:
        assert admin.post("/admin/participants/suspended/suspend").json()["suspended"] is True
    wait_until(short)
    _wait_for_release(people["lab-a"], collections, short_cases)
    cases = short_cases + matrix + others
    yield World(server, people, collections, cases + _marking_cases(cases, minted), definitions, statuses, before,
                short, posted_short_at)


# ------------------------------------------------------------------ writes


def test_write_outcomes(world: World) -> None:
    """Every valid combination is accepted and every invalid one refused, with a message saying why."""
    refused: dict[str, str] = {}
    accepted_ids: set[str] = set()
    for status in world.statuses:
        refused.update(failures(status))
        accepted_ids.update(s["id"] for s in status.get("successes", []))
    for case in world.cases:
        if case.versions[0][0] == "exchange":  # minted markings: not posted
            continue
        if case.rejected:
            assert case.stix_id in refused, case.key
            assert case.rejected.lower() in refused[case.stix_id].lower(), (case.key, refused[case.stix_id])
            assert case.stix_id not in accepted_ids, case.key
        else:
            assert case.stix_id not in refused, (case.key, refused.get(case.stix_id))
            assert case.stix_id in accepted_ids, case.key


def test_matrix_covers_every_combination(world: World) -> None:
    keys = {c.key for c in world.cases}
    for tlp in TLP:
        for recipients in ("none", "id", "grp"):
            for embargo in ("none", "far", "short"):
                assert f"{tlp}/{recipients}/{embargo}" in keys
    assert len(world.cases) >= 75


def test_nothing_is_visible_before_the_embargo_ends(world: World) -> None:
    """Right after posting, the short-embargo objects were invisible to everyone, the producer included."""
    assert when(world.before_release["done at"]) < when(world.short_embargo)  # the world fixture retries until so
    for reader, per_collection in world.before_release.items():
        if reader == "done at":
            continue
        for where, seen in per_collection.items():
            assert seen["objects"] == [] and seen["manifest"] == [], (reader, where)
            assert set(seen["singles"].values()) == {404}, (reader, where)


def test_embargoed_objects_enter_when_the_embargo_ends(world: World) -> None:
    """Released objects get a date_added at or after the end of the embargo, from the exchange clock at release,
    so a poller that had seen everything before the release finds them with added_after."""
    short_cases = [c for c in world.cases if c.embargo == "short" and c.rejected is None]
    assert short_cases
    producer = world.people["lab-a"].client
    for where in ("matrix", "public"):
        cid = world.collections[where]
        records = {r["id"]: r for r in producer.get(f"collections/{cid}/manifest/", params=EVERYTHING).json()[
            "objects"]}
        for case in (c for c in short_cases if c.where == where):
            assert when(records[case.stix_id]["date_added"]) >= when(world.short_embargo), case.key
            assert when(records[case.stix_id]["date_added"]) > when(world.posted_short_at), case.key
    for reader in ("lab-b", "agency-1"):
        mark = world.before_release[reader]["matrix"]["last"]
        polled = world.people[reader].client.get(f"collections/{world.collections['matrix']}/objects/",
                                                 params={**EVERYTHING, "added_after": mark}).json()
        got = {o["id"] for o in polled.get("objects", [])}
        for case in short_cases:
            if case.where == "matrix" and case.seen_by(reader):
                assert case.stix_id in got, (reader, case.key)


# ------------------------------------------------------------------ reads: the expectation


def expected_objects(world: World, reader: str, where: str) -> list[bytes]:
    """Every version ``reader`` may see in a collection, canonical JSON, sorted."""
    return sorted(canonical(obj) for case in world.in_collection(where) for obj in case.seen_by(reader))


def expected_latest(world: World, reader: str, where: str) -> list[bytes]:
    """The newest visible version of each producer's copy."""
    result = []
    for case in world.in_collection(where):
        newest: dict[str, dict[str, Any]] = {}
        for index in case.visible.get(participant_of(reader), ()):
            producer, obj = case.versions[index]
            newest[producer] = obj
        result += [canonical(o) for o in newest.values()]
    return sorted(result)


def expected_manifest(world: World, reader: str, where: str) -> Counter[tuple[str, str]]:
    """(id, version) of every visible version; observables (no 'modified') only by id."""
    return Counter((o["id"], _version_key(o.get("modified") or o.get("created"))) for case in world.in_collection(where)
                   for o in case.seen_by(reader))


def _version_key(value: str | None) -> str:
    return when(value).isoformat() if value else "arrival"


def _visible_objects(world: World, body: dict[str, Any]) -> list[bytes]:
    """The subject objects in an envelope (canonical, sorted); anything else must be an exchange definition."""
    subjects = world.subject_ids()
    seen = []
    for obj in body.get("objects", []):
        if obj["id"] in subjects:
            seen.append(canonical(obj))
        else:
            assert obj["id"] in world.definitions, f"unexpected object {obj['id']}"
    return sorted(seen)


def _manifest_records(world: World, body: dict[str, Any], *, observables: set[str]) -> Counter[tuple[str, str]]:
    subjects = world.subject_ids()
    records: Counter[tuple[str, str]] = Counter()
    for record in body.get("objects", []):
        if record["id"] in subjects:
            version = "arrival" if record["id"] in observables else when(record["version"]).isoformat()
            records[record["id"], version] += 1
        else:
            assert record["id"] in world.definitions, f"unexpected manifest record {record['id']}"
    return records


def _check_headers(response: httpx.Response, dates: list[str]) -> None:
    """X-TAXII-Date-Added-First/Last are those of the rows returned, and absent when none are."""
    if not dates:
        assert "X-TAXII-Date-Added-First" not in response.headers
        assert "X-TAXII-Date-Added-Last" not in response.headers
        return
    assert response.headers["X-TAXII-Date-Added-First"] == dates[0]
    assert response.headers["X-TAXII-Date-Added-Last"] == dates[-1]


def _observables(world: World, where: str) -> set[str]:
    return {c.stix_id for c in world.in_collection(where) if c.is_sco}


def _refused(reader: str, where: str) -> int | None:
    """The status every read gets when the reader cannot read the collection at all."""
    if reader == "suspended":
        return 401
    if reader == "anonymous" and where != "public":
        return 401
    return None


READS = [pytest.param(r, w, id=f"{r}-{w}") for r in READERS for w in COLLECTIONS]


# ------------------------------------------------------------------ reads: collection endpoints


@pytest.mark.parametrize("reader,where", READS)
def test_get_objects_all_versions(world: World, reader: str, where: str) -> None:
    client, cid = world.client(reader), world.collections[where]
    response = client.get(f"collections/{cid}/objects/", params=EVERYTHING)
    if _refused(reader, where):
        assert response.status_code == _refused(reader, where)
        assert "WWW-Authenticate" in response.headers
        return
    assert response.status_code == 200
    assert response.json()["more"] is False
    assert _visible_objects(world, response.json()) == expected_objects(world, reader, where)


@pytest.mark.parametrize("reader,where", READS)
def test_get_objects_latest(world: World, reader: str, where: str) -> None:
    client, cid = world.client(reader), world.collections[where]
    response = client.get(f"collections/{cid}/objects/")
    if _refused(reader, where):
        assert response.status_code == _refused(reader, where)
        return
    assert _visible_objects(world, response.json()) == expected_latest(world, reader, where)


@pytest.mark.parametrize("reader,where", READS)
def test_manifest(world: World, reader: str, where: str) -> None:
    client, cid = world.client(reader), world.collections[where]
    response = client.get(f"collections/{cid}/manifest/", params=EVERYTHING)
    if _refused(reader, where):
        assert response.status_code == _refused(reader, where)
        return
    body = response.json()
    assert body["more"] is False
    records = _manifest_records(world, body, observables=_observables(world, where))
    assert records == expected_manifest(world, reader, where)
    dates = [r["date_added"] for r in body.get("objects", [])]
    assert dates == sorted(dates, key=when)
    _check_headers(response, dates)


@pytest.mark.parametrize("reader,where", READS)
def test_match_type_and_spec_version(world: World, reader: str, where: str) -> None:
    client, cid = world.client(reader), world.collections[where]
    for params, kinds in (({"match[type]": "relationship,sighting"}, {"relationship", "sighting"}),
                          ({"match[type]": "ipv4-addr", "match[spec_version]": "2.1"}, {"ipv4-addr"})):
        response = client.get(f"collections/{cid}/objects/", params={**EVERYTHING, **params})
        if _refused(reader, where):
            assert response.status_code == _refused(reader, where)
            return
        expected = sorted(canonical(o) for case in world.in_collection(where) for o in case.seen_by(reader)
                          if o["type"] in kinds)
        assert _visible_objects(world, response.json()) == expected


@pytest.mark.parametrize("reader,where", READS)
def test_match_id_one_at_a_time(world: World, reader: str, where: str) -> None:
    """match[id] on an invisible id is an empty envelope, without date headers: exactly like an absent id."""
    client, cid = world.client(reader), world.collections[where]
    absent = "indicator--7a1e0f8e-0000-4000-8000-000000000000"
    for case in [*world.representatives(where), Case("absent", where, [("lab-a", {"id": absent})])]:
        for path in ("objects/", "manifest/"):
            response = client.get(f"collections/{cid}/{path}", params={"match[id]": case.stix_id,
                                                                       "match[version]": "all"})
            if _refused(reader, where):
                assert response.status_code == _refused(reader, where)
                return
            assert response.status_code == 200
            body = response.json()
            if not case.seen_by(reader):
                assert body == {"more": False}, (case.key, path)
                _check_headers(response, [])
            elif path == "objects/":
                assert sorted(canonical(o) for o in body["objects"]) == sorted(
                    canonical(o) for o in case.seen_by(reader)), case.key
                assert body["more"] is False


@pytest.mark.parametrize("reader,where", READS)
def test_match_id_many(world: World, reader: str, where: str) -> None:
    client, cid = world.client(reader), world.collections[where]
    cases = world.in_collection(where)
    for start in range(0, len(cases), 40):
        chunk = cases[start:start + 40]
        response = client.get(f"collections/{cid}/objects/", params={
            "match[id]": ",".join(c.stix_id for c in chunk), "match[version]": "all"})
        if _refused(reader, where):
            assert response.status_code == _refused(reader, where)
            return
        assert _visible_objects(world, response.json()) == sorted(
            canonical(o) for c in chunk for o in c.seen_by(reader))


@pytest.mark.parametrize("reader,where", READS)
def test_match_version_first_and_exact(world: World, reader: str, where: str) -> None:
    """first is the oldest version the reader may see; an exact version is there only if visible."""
    client, cid = world.client(reader), world.collections[where]
    versioned = [c for c in world.in_collection(where) if len(c.versions) > 1 and not c.is_sco]
    for case in versioned:
        response = client.get(f"collections/{cid}/objects/", params={"match[id]": case.stix_id,
                                                                     "match[version]": "first"})
        if _refused(reader, where):
            assert response.status_code == _refused(reader, where)
            return
        seen = case.seen_by(reader)
        assert response.json().get("objects", []) == seen[:1], case.key
        for _, obj in case.versions:
            exact = client.get(f"collections/{cid}/objects/{case.stix_id}/",
                               params={"match[version]": obj["modified"]})
            if obj in seen:
                assert exact.status_code == 200 and exact.json()["objects"] == [obj], case.key
            else:
                assert exact.status_code == 404, case.key


# ------------------------------------------------------------------ reads: single object, versions


@pytest.mark.parametrize("reader,where", READS)
def test_get_an_object(world: World, reader: str, where: str) -> None:
    """Visible: every visible version with match[version]=all. Invisible: 404, exactly as for an absent id."""
    client, cid = world.client(reader), world.collections[where]
    absent = client.get(f"collections/{cid}/objects/indicator--7a1e0f8e-0000-4000-8000-000000000000/")
    for case in world.representatives(where):
        response = client.get(f"collections/{cid}/objects/{case.stix_id}/", params={"match[version]": "all"})
        if _refused(reader, where):
            assert response.status_code == _refused(reader, where)
            return
        seen = case.seen_by(reader)
        if seen:
            assert response.status_code == 200, case.key
            assert sorted(canonical(o) for o in response.json()["objects"]) == sorted(canonical(o) for o in seen)
        else:
            assert response.status_code == 404, case.key
            assert response.json()["title"] == absent.json()["title"]
            assert response.json().get("description") == absent.json().get("description").replace(
                "indicator--7a1e0f8e-0000-4000-8000-000000000000", case.stix_id)
            assert set(response.headers) - {"date", "content-length"} == set(absent.headers) - {
                "date", "content-length"}


@pytest.mark.parametrize("reader,where", READS)
def test_versions(world: World, reader: str, where: str) -> None:
    client, cid = world.client(reader), world.collections[where]
    for case in world.representatives(where):
        response = client.get(f"collections/{cid}/objects/{case.stix_id}/versions/")
        if _refused(reader, where):
            assert response.status_code == _refused(reader, where)
            return
        seen = case.seen_by(reader)
        if not seen:
            assert response.status_code == 404, case.key
            continue
        assert response.status_code == 200, case.key
        got = [when(v) for v in response.json()["versions"]]
        if case.is_sco:
            assert len(got) == len(seen), case.key
        else:
            assert got == sorted(when(o.get("modified") or o["created"]) for o in seen), case.key
        response_added_after = client.get(f"collections/{cid}/objects/{case.stix_id}/versions/",
                                          params={"added_after": "2999-01-01T00:00:00Z"})
        assert response_added_after.status_code == 200 and response_added_after.json() == {"more": False}


# ------------------------------------------------------------------ reads: added_after, next, headers


@pytest.mark.parametrize("reader,where", READS)
def test_added_after(world: World, reader: str, where: str) -> None:
    """Every cut through the reader's own manifest returns exactly the visible rows added after it."""
    client, cid = world.client(reader), world.collections[where]
    manifest = client.get(f"collections/{cid}/manifest/", params=EVERYTHING)
    if _refused(reader, where):
        assert manifest.status_code == _refused(reader, where)
        return
    records = manifest.json().get("objects", [])
    cuts = [records[i]["date_added"] for i in range(0, len(records), max(1, len(records) // 6))]
    for cut in cuts:
        for path in ("objects/", "manifest/"):
            response = client.get(f"collections/{cid}/{path}", params={**EVERYTHING, "added_after": cut})
            body = response.json()
            later = [r for r in records if when(r["date_added"]) > when(cut)]
            got_ids = [o["id"] for o in body.get("objects", [])]
            assert got_ids == [r["id"] for r in later], (cut, path)
            if path == "manifest/":
                _check_headers(response, [r["date_added"] for r in body.get("objects", [])])
            else:
                _check_headers(response, [r["date_added"] for r in later])


@pytest.mark.parametrize("path", ["objects/", "manifest/"])
@pytest.mark.parametrize("reader,where", READS)
def test_pagination(world: World, reader: str, where: str, path: str) -> None:
    """Paging with next yields exactly the full listing; no page says more:true without content, and the last
    page says more:false even when invisible rows follow it."""
    client, cid = world.client(reader), world.collections[where]
    whole = client.get(f"collections/{cid}/{path}", params=EVERYTHING)
    if _refused(reader, where):
        assert whole.status_code == _refused(reader, where)
        return
    expected = whole.json().get("objects", [])
    responses = pages(client, f"collections/{cid}/{path}", {"match[version]": "all"}, 4)
    collected = []
    for response in responses:
        body = response.json()
        collected += body.get("objects", [])
        if body["more"]:
            assert len(body["objects"]) == 4
        dates = [o["date_added"] for o in body.get("objects", [])] if path == "manifest/" else None
        if dates is not None:
            _check_headers(response, dates)
    assert collected == expected
    if expected:
        tail = client.get(f"collections/{cid}/{path}", params={
            "match[version]": "all", "added_after": _last_date(client, cid)})
        assert tail.json() == {"more": False}


def _last_date(client: httpx.Client, cid: str) -> str:
    return client.get(f"collections/{cid}/manifest/", params=EVERYTHING).headers["X-TAXII-Date-Added-Last"]


# ------------------------------------------------------------------ delete is a read path too


@pytest.mark.parametrize("reader", [r for r in READERS if participant_of(r) != "lab-a"])
def test_delete_by_non_owner(world: World, reader: str) -> None:
    """Only the owner deletes: a reader who sees the object gets 403, one who does not gets 404 (as for an
    absent id); nothing is removed either way."""
    client, cid = world.client(reader), world.collections["matrix"]
    for case in world.representatives("matrix"):
        producers = {p for p, _ in case.versions}
        if participant_of(reader) in producers:
            continue
        response = client.delete(f"collections/{cid}/objects/{case.stix_id}/")
        if reader in ("suspended", "anonymous"):
            assert response.status_code == 401
            return
        expected = 403 if case.seen_by(reader) else 404
        assert response.status_code == expected, case.key
    producer = world.people["lab-a"].client
    assert _visible_objects(world, producer.get(f"collections/{cid}/objects/", params=EVERYTHING).json()) == (
        expected_objects(world, "lab-a", "matrix"))
