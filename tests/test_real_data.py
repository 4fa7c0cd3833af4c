"""All of tests/data through ``aisx ingest`` and back out through TAXII reads, into a strict and a lenient
collection: the full MITRE ATLAS 5.6.0 bundle, the ten example bundles and the genai-incidents subset.

Every outcome is checked object by object against what a CTI analyst would call right (``expected_atlas`` and
``expected_posting`` write those expectations out), and the totals against fixed numbers (``test_counts_add_up``):

* ATLAS's own defects: the two attack-patterns with ``modified`` before ``created`` (AML.T0087, AML.T0096) are
  rejected by the strict collection and accepted with a warning naming ``modified`` by the lenient one; the 34
  relationship ids reused for 114 different relationships with the same ``modified`` keep the first and report
  every later one (80) as a conflict; the ``x-mitre-collection`` has no ``created``/``modified`` (which STIX
  requires of every custom object, and which the exchange needs to version it) and is rejected in both.
* The sharing rules (DESIGN.md decision 4) on real bundles: unmarked verbatim copies of ATLAS objects inside the
  examples are rejected for want of a TLP (the exchange never adds one); objects "created" by someone other than
  the poster are impersonation, and the example extension-definitions (under the ids of the exchange's own AI
  extensions, "created" by the AISX project identity) are refused as reserved ids (issue 12); TLP:RED needs
  named recipients; identity objects of participants are refused (the exchange's directory publishes those);
  identical copies of what the exchange itself publishes (the TLP marking-definitions and the TLP 2.0
  extension-definition) are accepted silently.
* genai-incidents cites ATLAS 2026.09, whose renumbered techniques ATLAS 5.6.0 lacks: those 103 incidents are
  accepted with a warning naming each unknown technique id, in both collections.
* Everything accepted is served back with the same content (parsed JSON compared) through GET objects, and
  accepted + rejected = posted for every dataset and collection. ``Run.summary()`` (in every assertion message, and
  printed with -s) gives the outcomes per dataset.

Set-up decisions, which real data forces:

* Real data carries ``created_by_ref`` of its real producers. Each producer identity in the data is registered as a
  participant with ``--identity-id`` (MITRE ATLAS's, genai-incidents', the six example labs', and the agency and
  the ISAC that wrote opinions and a sighting in the examples) and posts the objects it created. Objects without a
  creator, or "created" by an identity that is not a participant (the AISX project, OASIS), are posted by the
  producer of the bundle they came in: that is who sends such a bundle to an exchange.
* ATLAS carries no marking at all. MITRE publishes it openly (Apache-2.0), so the copy written to tmp_path gets
  TLP:CLEAR on every object. genai-incidents marks everything TLP:CLEAR except its CC BY 4.0 statement
  marking-definition, which every object references: it gets TLP:CLEAR in the copy (an attribution notice is public
  by nature). The examples are posted exactly as they are.
* TLP:AMBER needs recipients: both collections have a default group that every participant here belongs to.
* TLP:RED needs named recipients (an exchange-audience marking). Posted as they are, the 13 RED objects of example
  09 and the note of example 03 (a granular TLP:RED) are rejected; copies naming the group in an audience marking
  minted by the exchange are then accepted.
* ``aisx ingest`` carries ATLAS and genai-incidents into both collections and the six labs' examples into the
  strict one; TAXII POST (the same pipeline) carries the examples into the lenient collection, the agency's and the
  ISAC's four objects, and the RED copies — both doors must agree, and each ``aisx`` start-up costs seconds.
* Order: ATLAS (the examples and genai-incidents cite its techniques), then the examples, then genai-incidents. The
  data itself has two cross-dataset collisions: the identity ``identity--a32f4744…`` and the extension-definition
  ``…58ec9352…`` differ between genai-incidents and the examples under the same ``modified``; whoever posts second
  is refused (the identity as "belongs to another participant"; the extension-definition is reserved anyway).
"""

import copy
import gzip
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.stix.timestamps import parse_timestamp
from tests.conftest import DATA
from tests.support.server import TAXII, TLS, Server
from tests.support.stix import TLP_CLEAR

ATLAS = DATA / "atlas" / "stix-atlas.json"
EXAMPLES = sorted((DATA / "examples").glob("[0-9][0-9]-*.json"))
GENAI = DATA / "genai-incidents-ai-subset.stix.json.gz"
GROUP = "rd-sharing"
AI_THREAT = "extension-definition--58ec9352-2bc3-4b8f-902a-30818e066d96"
TLP_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
TLP_IDS = {  # TLP 2.0, and TLP 1.0 GREEN (example 04)
    TLP_CLEAR, "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", TLP_RED,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
}
# what the exchange itself publishes, byte-for-byte as OASIS does: the TLP definitions and the TLP 2.0 extension
EXCHANGE_DEFINITIONS = {*TLP_IDS, "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"}
# the exchange's own AI extension-definitions, which the data sets carry in versions of their own: reserved
EXCHANGE_EXTENSIONS = {"extension-definition--58ec9352-2bc3-4b8f-902a-30818e066d96",
                       "extension-definition--1929ec3c-7cff-484f-a44a-3a5d5e90cc04"}

MITRE_ATLAS = "identity--f1e3e4d7-42b2-5b41-bbee-ffa8f4a03996"
GENAI_INCIDENTS = "identity--36121d99-d1df-436e-bae6-6f90edd616ef"
# The producers of the example bundles and the other organisations that wrote objects in them.
PRODUCERS = {
    "identity--214feef6-0de6-4ef0-a1fe-d1b22469b68a": ("rd-northwind", "lab"),
    "identity--dd5c1842-8377-463f-9490-45702734d24a": ("rd-helios", "lab"),
    "identity--c79de1b1-cc3d-4e2b-880c-1ea16214dc35": ("rd-lab-c79d", "lab"),
    "identity--0a51f27c-fa6d-44d8-b1c4-a162898c35eb": ("rd-lab-0a51", "lab"),
    "identity--76de4c6b-d328-4b0d-8105-14d493c23146": ("rd-lab-76de", "lab"),
    "identity--9f7b5b7c-6bb9-4024-83a9-3ae059e719e2": ("rd-larkspur", "lab"),
    "identity--3535b2f8-ed5e-4d37-9d78-e1ab20cd826e": ("rd-allied-institute", "agency"),
    "identity--b40d18a3-207a-46e1-b51b-dce557bad4ff": ("rd-isac", "vendor"),
    "identity--e68f085a-4687-4f27-b807-794f59481cee": ("rd-agency-e68f", "agency"),
    MITRE_ATLAS: ("rd-mitre-atlas", "vendor"),
    GENAI_INCIDENTS: ("rd-genai-incidents", "vendor"),
}
SLUG = {identity: slug for identity, (slug, _) in PRODUCERS.items()}
AGENCIES = {"rd-allied-institute", "rd-isac", "rd-agency-e68f"}  # wrote one opinion or sighting each
RED_OBJECTS = 14  # the 13 TLP:RED objects of example 09 and the note of example 03 with a granular TLP:RED
# The 194 example objects: 127 accepted, and the reasons for the 67 others
EXAMPLES_REJECTED = {
    "no TLP": 21,  # verbatim ATLAS attack-patterns and courses-of-action, unmarked
    "reserved": 17,  # the AI extension-definitions, under the exchange's own ids
    "participant identity": 15,  # the labs', the agency's and the ISAC's identity objects
    "RED needs recipients": RED_OBJECTS,
}
EXAMPLES_ACCEPTED = 194 - sum(EXAMPLES_REJECTED.values())


def _load(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    document = json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)
    return document["objects"]


def _version(obj: dict[str, Any]) -> str | None:
    return obj.get("modified") or obj.get("created")


def _tlp_of(obj: dict[str, Any]) -> set[str]:
    refs = set(obj.get("object_marking_refs") or [])
    return refs | {g["marking_ref"] for g in obj.get("granular_markings") or [] if "marking_ref" in g}


# ------------------------------------------------------------------ outcome categories


CATEGORIES = {  # category → words of the failure message that identify it
    "created missing": "'created' is required",
    "modified before created": "modified: 'modified' must not be earlier than 'created'",
    "conflict": "is already stored with different content",
    "impersonation": "which is not you",
    "no TLP": "no TLP marking",
    "RED needs recipients": "TLP:RED needs named recipients",
    "owned by another": "belongs to another participant",
    "participant identity": "is the identity of a participant of this exchange",
    "reserved": "is reserved: it is one of the exchange's own objects",
}


def category(message: str) -> str:
    found = [name for name, words in CATEGORIES.items() if words in message]
    assert len(found) == 1, f"unexpected failure message: {message}"
    return found[0]


@dataclass
class Outcome:
    """One ingest run: what was posted and what the exchange said about each object."""

    dataset: str
    collection: str
    slug: str
    posted: list[dict[str, Any]]
    accepted: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    warnings: dict[tuple[str, int], str] = field(default_factory=dict)  # (id, version µs) → "accepted with warn…"
    seconds: float = 0.0  # how long it took
    via: str = "aisx ingest"

    def categories(self) -> Counter[str]:
        return Counter(category(f["message"]) for f in self.failures)


@dataclass
class Run:
    server: Server
    collections: dict[str, str]  # "strict"/"lenient" → collection id
    secrets: dict[str, str]  # slug → API secret
    identities: set[str]  # the identity ids of all participants
    outcomes: list[Outcome] = field(default_factory=list)
    audience_marking: str = ""
    served: dict[tuple[str, str], dict[tuple[str, str | None], list[dict[str, Any]]]] = field(default_factory=dict)

    def of(self, dataset: str, collection: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.dataset == dataset and o.collection == collection]

    def summary(self) -> str:
        rows: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for o in self.outcomes:
            row = rows[(o.dataset, o.collection)]
            row["posted"] += len(o.posted)
            row["accepted"] += o.accepted
            row["warned"] += len(o.warnings)
            row["seconds"] += round(o.seconds)
            row.update({f"rejected: {k}": v for k, v in o.categories().items()})
        return "\n".join(f"{dataset:<30} {collection:<8} " + ", ".join(f"{k} {v}" for k, v in sorted(row.items()))
                         for (dataset, collection), row in sorted(rows.items()))


# ------------------------------------------------------------------ set-up


def _bundle(path: Path, objects: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--6f6e1d57-5a1b-4f33-9c1e-0d9a1b2c3d4e",
                                "objects": objects}))
    return path


def _split_by_poster(objects: list[dict[str, Any]], sender: str) -> dict[str, list[dict[str, Any]]]:
    """Who posts what: an object's registered creator, else the bundle's producer (``sender``)."""
    by_slug: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for obj in objects:
        creator = obj.get("created_by_ref")
        by_slug[SLUG.get(creator, SLUG[sender]) if creator else SLUG[sender]].append(obj)
    return by_slug


def _sender(objects: list[dict[str, Any]]) -> str:
    """The producer of an example bundle: the participant identity that created most of its objects."""
    creators = Counter(o["created_by_ref"] for o in objects if o.get("created_by_ref") in PRODUCERS)
    return creators.most_common(1)[0][0]


def _with_recipients(obj: dict[str, Any], marking: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["object_marking_refs"] = [*obj.get("object_marking_refs", []), marking]
    return obj


def _ingest(run: Run, dataset: str, collection: str, slug: str, path: Path,
            posted: list[dict[str, Any]]) -> Outcome:
    started = time.monotonic()
    done = run.server.cli("ingest", str(path), "--as", slug, "--collection", run.collections[collection], "--json",
                          check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: some objects were rejected (counted below)
    result = orjson.loads(done.stdout)
    outcome = Outcome(dataset, collection, slug, posted, result["accepted"], result["failures"],
                      seconds=time.monotonic() - started)
    assert result["accepted"] + result["rejected"] == len(posted), (dataset, collection, slug, result)
    assert len(result["failures"]) == result["rejected"]
    return outcome


def _post(run: Run, dataset: str, collection: str, slug: str, posted: list[dict[str, Any]]) -> Outcome:
    """POST one envelope through TAXII; the status resource has the failures and the warnings."""
    started = time.monotonic()
    with run.server.client(run.secrets[slug]) as client:
        response = client.post(f"collections/{run.collections[collection]}/objects/", json={"objects": posted},
                               headers={"Content-Type": TAXII})
    assert response.status_code == 202, response.text
    status = response.json()
    assert status["total_count"] == len(posted) == status["success_count"] + status["failure_count"]
    warnings = {(s["id"], parse_timestamp(s["version"])): s["message"] for s in status.get("successes", [])
                if "message" in s}
    return Outcome(dataset, collection, slug, posted, status["success_count"], status.get("failures", []),
                   warnings, seconds=time.monotonic() - started, via="TAXII POST")


def _statuses(run: Run) -> None:
    """Attach the warnings of accepted objects, read from the status resources that the audit trail names."""
    admin = httpx.Client(verify=TLS, base_url=run.server.base_url, timeout=60,
                         headers={"Authorization": f"Bearer {run.server.admin_secret}"})
    by_run: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for o in run.outcomes:
        if o.via == "aisx ingest":
            by_run[(o.slug, run.collections[o.collection])].append(o)
    for slug in {slug for slug, _ in by_run}:
        events = admin.get("/admin/audit", params={"participant": slug, "action": "objects.add",
                                                   "limit": 10000}).json()
        with run.server.client(run.secrets[slug]) as reader:
            for event in events:
                if (slug, event["collection_id"]) not in by_run:
                    continue
                detail = event["detail"] if isinstance(event["detail"], dict) else json.loads(event["detail"])
                status = reader.get(f"status/{detail['status_id']}/").json()
                warned = {(s["id"], parse_timestamp(s["version"])): s["message"]
                          for s in status.get("successes", []) if "message" in s}
                for o in by_run[(slug, event["collection_id"])]:  # this poster's runs into this collection
                    ids = {x["id"] for x in o.posted}
                    o.warnings.update({k: v for k, v in warned.items() if k[0] in ids})
    admin.close()


@pytest.fixture(scope="module")
def run(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("real-data")
    with httpx.Client(verify=TLS, base_url=server.base_url, timeout=60,
                      headers={"Authorization": f"Bearer {server.admin_secret}"}) as admin:
        secrets = {}
        for identity, (slug, kind) in PRODUCERS.items():
            created = admin.post("/admin/participants", json={"slug": slug, "name": slug, "kind": kind,
                                                             "groups": [GROUP], "identity_id": identity})
            assert created.status_code == 201, created.text
            secrets[slug] = admin.post(f"/admin/participants/{slug}/keys", json={}).json()["secret"]
    with ThreadPoolExecutor(2) as pool:
        made = dict(zip(("strict", "lenient"), pool.map(lambda args: server.add_collection(*args[:2], **args[2]), [
            ("rd-strict", "Real data (strict)", {"default_group": GROUP}),
            ("rd-lenient", "Real data (lenient)", {"default_group": GROUP, "lenient": True})]), strict=True))
        assert made["strict"]["validation"] == "strict" and made["lenient"]["validation"] == "lenient"
        list(pool.map(lambda alias: server.grant(f"group:{GROUP}", alias, read=True, write=True),
                      ["rd-strict", "rd-lenient"]))
    result = Run(server, {k: v["id"] for k, v in made.items()}, secrets, set(PRODUCERS))

    # ATLAS: TLP:CLEAR added to a copy (the source has no marking at all), posted by MITRE ATLAS's identity
    atlas = _load(ATLAS)
    assert not any(o.get("object_marking_refs") for o in atlas)
    atlas_clear = [{**o, "object_marking_refs": [TLP_CLEAR]} for o in atlas]
    atlas_file = _bundle(tmp / "atlas-clear.json", atlas_clear)

    # the examples, as they are, each object posted by its creator or by the bundle's producer: `aisx ingest` into
    # the strict collection for the six labs; TAXII POST (the same pipeline, one envelope per producer) for the
    # agency's and the ISAC's four objects and for the lenient collection, which shows that both doors agree and
    # saves a dozen `aisx` start-ups
    postings: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in EXAMPLES:
        objects = _load(path)
        for slug, objs in _split_by_poster(objects, _sender(objects)).items():
            postings[slug] += objs
    files = {slug: _bundle(tmp / f"examples-{slug}.json", objs) for slug, objs in postings.items()}
    with ThreadPoolExecutor(3) as pool:  # ATLAS first: the examples' AI context cites ATLAS techniques
        result.outcomes += pool.map(lambda c: _ingest(result, "atlas", c, SLUG[MITRE_ATLAS], atlas_file,
                                                      atlas_clear), ["strict", "lenient"])
        result.outcomes += pool.map(lambda slug: _ingest(result, "examples", "strict", slug, files[slug],
                                                         postings[slug]),
                                    [slug for slug in sorted(postings) if slug not in AGENCIES])
    result.outcomes += [_post(result, "examples", c, slug, postings[slug]) for slug in sorted(postings)
                        for c in ("strict", "lenient") if c == "lenient" or slug in AGENCIES]

    # the TLP:RED objects again, now naming their recipients with an audience marking the exchange mints
    with server.client(secrets[SLUG[_sender(_load(EXAMPLES[8]))]]) as lab:
        minted = lab.post(f"{server.base_url}/admin/audiences", json={"recipient_groups": [GROUP]},
                          headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert minted.status_code == 201, minted.text
    result.audience_marking = minted.json()["id"]
    red = {slug: [_with_recipients(o, result.audience_marking) for o in objs if TLP_RED in _tlp_of(o)]
           for slug, objs in postings.items()}
    result.outcomes += [_post(result, "examples, RED with recipients", "strict", slug, objs)
                        for slug, objs in sorted(red.items()) if objs]

    # genai-incidents, posted by its producer's identity. Every object carries TLP:CLEAR except three definitions:
    # the TLP:CLEAR marking-definition and the TLP 2.0 extension-definition (the exchange publishes identical
    # copies: left as they are) and the dataset's CC BY 4.0 statement marking, which every other object
    # references and which gets TLP:CLEAR in the copy (an attribution notice is public by nature).
    genai = _load(GENAI)
    statement = "marking-definition--d379fac5-c4c3-49ab-974c-2f23713a8703"
    unmarked = [o["id"] for o in genai if not _tlp_of(o) & TLP_IDS]
    assert sorted(unmarked) == sorted([*EXCHANGE_DEFINITIONS & {o["id"] for o in genai}, statement])
    genai = [{**o, "object_marking_refs": [TLP_CLEAR]} if o["id"] == statement else o for o in genai]
    genai_file = _bundle(tmp / "genai-incidents.json", genai)
    with ThreadPoolExecutor(2) as pool:
        result.outcomes += pool.map(
            lambda c: _ingest(result, "genai-incidents", c, SLUG[GENAI_INCIDENTS], genai_file, genai),
            ["strict", "lenient"])
    _statuses(result)
    print("\n" + result.summary())
    yield result


def _served(run: Run, slug: str, collection: str) -> dict[tuple[str, str | None], list[dict[str, Any]]]:
    """Every object version the collection serves to ``slug``, by (id, version) (read once: nothing changes after
    the set-up)."""
    if (slug, collection) not in run.served:
        run.served[(slug, collection)] = _read_all(run, slug, collection)
    return run.served[(slug, collection)]


def _read_all(run: Run, slug: str, collection: str) -> dict[tuple[str, str | None], list[dict[str, Any]]]:
    served: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
    with run.server.client(run.secrets[slug]) as reader:
        params: dict[str, Any] = {"match[version]": "all", "limit": 10000}
        while True:
            page = reader.get(f"collections/{run.collections[collection]}/objects/", params=params)
            assert page.status_code == 200, page.text
            assert page.headers["content-type"].startswith(TAXII.split(";")[0])
            body = page.json()
            for obj in body.get("objects", []):
                served[(obj["id"], _version(obj))].append(obj)
            if not body.get("more"):
                return served
            params["next"] = body["next"]


# ------------------------------------------------------------------ what an analyst expects, object by object


def _reused_ids(objects: list[dict[str, Any]]) -> set[str]:
    counts = Counter(o["id"] for o in objects)
    return {i for i, n in counts.items() if n > 1}


def expected_atlas(objects: list[dict[str, Any]], collection: str) -> Counter[tuple[str, str]]:
    """ATLAS, object by object: (id, outcome)."""
    expected: Counter[tuple[str, str]] = Counter()
    first: set[str] = set()
    for obj in objects:
        if obj["type"] == "x-mitre-collection":
            outcome = "created missing"
        elif obj.get("modified", "") < obj.get("created", ""):
            outcome = "modified before created" if collection == "strict" else "warned"
        elif obj["id"] in first:
            outcome = "conflict"
        elif obj["type"].startswith("x-mitre-"):
            outcome = "warned"  # a custom object type (STIX 2.1 §11.2), named in the status
        else:
            outcome = "accepted"
        first.add(obj["id"])
        expected[(obj["id"], outcome)] += 1
    return expected



def expected_posting(obj: dict[str, Any], poster: str, run: Run, audience: str | None = None,
                     earlier: dict[tuple[str, str | None], str] | None = None) -> str:
    """The outcome an analyst expects for one object of the examples or genai-incidents posted by ``poster``."""
    if obj["id"] in EXCHANGE_DEFINITIONS:
        return "accepted"  # an identical copy of what the exchange publishes
    if obj["id"] in EXCHANGE_EXTENSIONS:
        return "reserved"  # another version of what the exchange publishes
    if obj.get("created_by_ref") not in (None, poster):
        return "impersonation"
    if obj["type"] == "identity" and obj["id"] in run.identities:
        return "participant identity"  # the exchange's directory publishes participants' identities
    key = (obj["id"], _version(obj))
    if earlier is not None and key in earlier and earlier[key] != json.dumps(obj, sort_keys=True):
        return "owned by another"  # the same version with other content, already posted by someone else
    markings = _tlp_of(obj)
    if not markings & TLP_IDS:
        return "no TLP"
    if TLP_RED in markings and audience not in markings:
        return "RED needs recipients"
    return "accepted"


def _diff(got: Counter[tuple[str, str]], expected: Counter[tuple[str, str]]) -> str:
    return f"got, not expected: {dict(got - expected)}\nexpected, not got: {dict(expected - got)}"


def actual(outcome: Outcome) -> Counter[tuple[str, str]]:
    """What the exchange said, object by object: (id, outcome), with "warned" for accepted-with-warnings."""
    result: Counter[tuple[str, str]] = Counter((f["id"], category(f["message"])) for f in outcome.failures)
    for obj in _accepted(outcome):
        version = _version(obj)
        warned = version is not None and (obj["id"], parse_timestamp(version)) in outcome.warnings
        result[(obj["id"], "warned" if warned else "accepted")] += 1
    return result


def _accepted(outcome: Outcome) -> list[dict[str, Any]]:
    """The posted objects that were accepted. Failures name an id; when an id was posted several times, the
    later copies are the ones refused (a conflict with the first), so they are matched from the end."""
    failed = Counter(f["id"] for f in outcome.failures)
    kept = []
    for obj in reversed(outcome.posted):
        if failed[obj["id"]]:
            failed[obj["id"]] -= 1
        else:
            kept.append(obj)
    return kept[::-1]


# ------------------------------------------------------------------ ATLAS


@pytest.mark.parametrize("collection", ["strict", "lenient"])
def test_atlas_outcomes_object_by_object(run: Run, collection: str) -> None:
    [outcome] = run.of("atlas", collection)
    expected = expected_atlas(outcome.posted, collection)
    got = actual(outcome)
    assert got == expected, f"{_diff(got, expected)}\n{run.summary()}"
    counts = Counter(o for (_, o), n in expected.items() for _ in range(n))
    if collection == "strict":
        assert counts == {"accepted": 438, "warned": 17, "conflict": 80, "modified before created": 2,
                          "created missing": 1}
    else:
        assert counts == {"accepted": 438, "warned": 19, "conflict": 80, "created missing": 1}


def test_atlas_modified_before_created(run: Run) -> None:
    """AML.T0087 and AML.T0096: strict rejects naming 'modified'; lenient accepts and says why in the status."""
    posted = run.of("atlas", "strict")[0].posted
    defective = {o["id"]: o for o in posted if o.get("modified", "") < o.get("created", "")}
    assert sorted(o["external_references"][0]["external_id"] for o in defective.values()) == ["AML.T0087",
                                                                                            "AML.T0096"]
    strict = {f["id"]: f["message"] for f in run.of("atlas", "strict")[0].failures if f["id"] in defective}
    assert set(strict) == set(defective), run.summary()
    assert all(m.startswith("modified: ") and "earlier than 'created'" in m for m in strict.values()), strict
    lenient = run.of("atlas", "lenient")[0]
    assert not any(f["id"] in defective for f in lenient.failures), run.summary()
    custom = "accepted with warnings: type: "  # x-mitre-tactic and x-mitre-matrix: custom object types
    warned = {i: m for (i, _), m in lenient.warnings.items() if not m.startswith(custom)}
    assert set(warned) == set(defective), (warned, run.summary())
    assert all(m.startswith("accepted with warnings: modified: ") for m in warned.values()), warned
    assert all(m.startswith(custom) for m in run.of("atlas", "strict")[0].warnings.values())
    served_strict, served_lenient = (_served(run, SLUG[MITRE_ATLAS], c) for c in ("strict", "lenient"))
    for stix_id, obj in defective.items():
        assert (stix_id, obj["modified"]) not in served_strict
        assert served_lenient[(stix_id, obj["modified"])] == [obj]


def test_atlas_reused_relationship_ids_keep_the_first(run: Run) -> None:
    """34 ids, 114 relationships, one ``modified`` each: the first is stored, the 80 others are conflicts."""
    for collection in ("strict", "lenient"):
        outcome = run.of("atlas", collection)[0]
        reused = _reused_ids(outcome.posted)
        assert len(reused) == 34
        assert sum(o["id"] in reused for o in outcome.posted) == 114
        conflicts = [f for f in outcome.failures if f["id"] in reused]
        assert len(conflicts) == 80 and all(category(f["message"]) == "conflict" for f in conflicts)
        assert all(f["message"].startswith(f["id"]) for f in conflicts), "the message names the relationship"
        served = _served(run, SLUG[MITRE_ATLAS], collection)
        for stix_id in reused:
            first = next(o for o in outcome.posted if o["id"] == stix_id)
            assert served[(stix_id, first["modified"])] == [first], stix_id


def test_atlas_collection_object_without_created_is_rejected(run: Run) -> None:
    for collection in ("strict", "lenient"):
        [failure] = [f for f in run.of("atlas", collection)[0].failures if f["id"].startswith("x-mitre-collection--")]
        assert "'created' is required" in failure["message"]


# ------------------------------------------------------------------ the examples and genai-incidents


def _earlier_versions(run: Run, before: str) -> dict[tuple[str, str | None], str]:
    """The content of every (id, version) accepted from the datasets ingested before ``before``."""
    order = ["atlas", "examples", "examples, RED with recipients", "genai-incidents"]
    seen: dict[tuple[str, str | None], str] = {}
    for o in run.outcomes:
        if order.index(o.dataset) < order.index(before) and o.collection == "strict":
            failed = {f["id"] for f in o.failures}
            for obj in o.posted:
                if obj["id"] not in failed:
                    seen.setdefault((obj["id"], _version(obj)), json.dumps(obj, sort_keys=True))
    return seen


@pytest.mark.parametrize("collection", ["strict", "lenient"])
def test_examples_outcomes_object_by_object(run: Run, collection: str) -> None:
    slug_identity = {slug: identity for identity, (slug, _) in PRODUCERS.items()}
    for outcome in run.of("examples", collection):
        poster = slug_identity[outcome.slug]
        expected = Counter((o["id"], expected_posting(o, poster, run)) for o in outcome.posted)
        got = actual(outcome)
        assert got == expected, f"{outcome.slug}: {_diff(got, expected)}\n{run.summary()}"
        assert not outcome.warnings, "the examples break no STIX rule"


def test_examples_red_objects_are_accepted_with_named_recipients(run: Run) -> None:
    plain = {f["id"] for o in run.of("examples", "strict") for f in o.failures
             if category(f["message"]) == "RED needs recipients"}
    red = run.of("examples, RED with recipients", "strict")
    assert plain and {o["id"] for r in red for o in r.posted} == plain
    for outcome in red:
        assert (outcome.accepted, outcome.failures) == (len(outcome.posted), []), run.summary()
        served = _served(run, outcome.slug, "strict")
        for obj in outcome.posted:
            assert run.audience_marking in obj["object_marking_refs"]
            assert obj in served[(obj["id"], _version(obj))]


def test_examples_keep_every_version_of_the_versioned_indicator(run: Run) -> None:
    """Example 10: three versions of one indicator, the last revoked; all three are served."""
    versions = [o for o in _load(EXAMPLES[9]) if o["type"] == "indicator"]
    assert len(versions) == 3 and versions[-1]["revoked"] is True
    slug = SLUG[versions[0]["created_by_ref"]]
    with run.server.client(run.secrets[slug]) as reader:
        got = reader.get(f"collections/{run.collections['strict']}/objects/{versions[0]['id']}/",
                         params={"match[version]": "all"}).json()["objects"]
        latest = reader.get(f"collections/{run.collections['strict']}/objects/{versions[0]['id']}/").json()
    assert sorted(got, key=lambda o: o["modified"]) == sorted(versions, key=lambda o: o["modified"])
    assert latest["objects"] == [max(versions, key=lambda o: o["modified"])]


@pytest.mark.parametrize("collection", ["strict", "lenient"])
def test_genai_incidents_outcomes_object_by_object(run: Run, collection: str) -> None:
    [outcome] = run.of("genai-incidents", collection)
    earlier = _earlier_versions(run, "genai-incidents")
    expected = Counter((o["id"], expected_posting(o, GENAI_INCIDENTS, run, earlier=earlier)) for o in outcome.posted)
    got = actual(outcome)
    # warnings here are about ATLAS technique ids the exchange does not hold (genai-incidents cites ATLAS 2026.09,
    # the exchange holds 5.6.0): accepted, with a warning — in both collections
    got = Counter({((i, "accepted") if o == "warned" else (i, o)): n for (i, o), n in got.items()})
    assert got == expected, f"{_diff(got, expected)}\n{run.summary()}"
    expected_warnings = _expected_atlas_warnings(outcome.posted)
    assert set(outcome.warnings) == set(expected_warnings), run.summary()
    for key, message in outcome.warnings.items():
        assert message.startswith(expected_warnings[key]), (message, expected_warnings[key])
    counts = Counter(o for (_, o), n in expected.items() for _ in range(n))
    assert counts == {"accepted": 5084, "reserved": 1, "owned by another": 1, "participant identity": 1}, counts


def _expected_atlas_warnings(objects: list[dict[str, Any]]) -> dict[tuple[str, int], str]:
    """An incident citing ATLAS technique ids that ATLAS 5.6.0 (what the exchange holds) lacks — genai-incidents
    cites ATLAS 2026.09, which renumbered techniques — is accepted with a warning naming each such id."""
    known = {r["external_id"] for o in _load(ATLAS) for r in o.get("external_references", [])
             if r.get("source_name") == "mitre-atlas"}
    warned: dict[tuple[str, int], str] = {}
    for obj in objects:
        context = obj.get("extensions", {}).get(AI_THREAT, {})
        unknown = [(i, t) for i, t in enumerate(context.get("atlas_technique_ids", [])) if t not in known]
        if unknown:
            i, technique = unknown[0]
            warned[(obj["id"], parse_timestamp(obj["modified"]))] = (
                f"accepted with warnings: extensions.{AI_THREAT}.atlas_technique_ids[{i}]: {technique} is not an "
                f"ATLAS technique this exchange holds (ATLAS {context['atlas_version']})")
    return warned


def test_genai_incidents_relationships_point_at_atlas_techniques_the_exchange_holds(run: Run) -> None:
    atlas = {o["id"] for o in _load(ATLAS)}
    relationships = [o for o in run.of("genai-incidents", "strict")[0].posted if o["type"] == "relationship"]
    assert len(relationships) == 3877
    assert {o["target_ref"] in atlas for o in relationships} == {True}


# ------------------------------------------------------------------ served back, counts


@pytest.mark.parametrize("dataset", ["atlas", "examples", "examples, RED with recipients", "genai-incidents"])
def test_everything_accepted_is_served_back_unchanged(run: Run, dataset: str) -> None:
    for collection in ("strict", "lenient"):
        for outcome in run.of(dataset, collection):
            served = _served(run, outcome.slug, collection)
            accepted = _accepted(outcome)
            assert len(accepted) == outcome.accepted, run.summary()
            for obj in accepted:
                assert obj in served[(obj["id"], _version(obj))], (
                    f"{dataset}/{collection}/{outcome.slug}: {obj['id']} is not served as posted\n{run.summary()}")


def test_counts_add_up(run: Run) -> None:
    """Posted = accepted + rejected, with the numbers an analyst expects (the reasons are checked above)."""
    table = {
        ("atlas", "strict"): (538, 455, 83), ("atlas", "lenient"): (538, 457, 81),
        ("examples", "strict"): (194, EXAMPLES_ACCEPTED, 194 - EXAMPLES_ACCEPTED),
        ("examples", "lenient"): (194, EXAMPLES_ACCEPTED, 194 - EXAMPLES_ACCEPTED),
        ("examples, RED with recipients", "strict"): (RED_OBJECTS, RED_OBJECTS, 0),
        ("genai-incidents", "strict"): (5087, 5084, 3), ("genai-incidents", "lenient"): (5087, 5084, 3),
    }
    for (dataset, collection), (posted, accepted, rejected) in table.items():
        outcomes = run.of(dataset, collection)
        got = (sum(len(o.posted) for o in outcomes), sum(o.accepted for o in outcomes),
               sum(len(o.failures) for o in outcomes))
        assert got == (posted, accepted, rejected), f"{dataset}/{collection}: {got}\n{run.summary()}"
    examples = {c: run.of("examples", c) for c in ("strict", "lenient")}
    assert sum(len(o.posted) for o in examples["strict"]) == sum(len(_load(p)) for p in EXAMPLES) == 194
    assert EXAMPLES_ACCEPTED == 127
    for c in ("strict", "lenient"):
        rejected = sum((o.categories() for o in examples[c]), Counter())
        assert rejected == EXAMPLES_REJECTED, f"examples/{c}: {rejected}\n{run.summary()}"
    assert ({o.slug: (o.accepted, o.categories()) for o in examples["strict"]}
            == {o.slug: (o.accepted, o.categories()) for o in examples["lenient"]}), run.summary()
