"""Feeds (DESIGN.md decision 7): selector semantics per field, the definition files and their errors, startup
refusing a bad file, routing at ingest, backfill of a new feed, rebuild after a change, and feed reads under the
sharing rules."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.feeds.definitions import FeedDefinition, FeedError, Upstream, load_feeds, parse_feed
from app.feeds.selector import Facts, Selector
from app.stix.ai import AI_THREAT_EXTENSION_ID, index_terms
from app.stix.markings import Tlp
from tests.feed_support import (
    admin,
    admit,
    by_version,
    feed_toml,
    mint,
    new_id,
    post,
    read_all,
    write_feed,
)
from tests.support.server import TAXII, TLS, Participant, Server, ThrowawayDatabase, running_server
from tests.support.stix import TLP_AMBER, TLP_AMBER_STRICT, TLP_CLEAR, TLP_GREEN, TLP_RED, indicator

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------ selector semantics, per field


def threat(category: str = "prompt-injection", *, atlas: tuple[str, ...] = (), llm: tuple[str, ...] = (),
           agentic: tuple[str, ...] = ()) -> dict[str, Any]:
    context: dict[str, Any] = {"extension_type": "property-extension", "threat_category": category,
                               "ai_system_kinds": ["llm"]}
    if atlas:
        context.update(atlas_technique_ids=list(atlas), atlas_version="5.6.0")
    if llm:
        context["owasp_llm_ids"] = list(llm)
    if agentic:
        context["owasp_agentic_ids"] = list(agentic)
    return {AI_THREAT_EXTENSION_ID: context}


LAB_A_IDENTITY = "identity--0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a"


def facts(obj: dict[str, Any] | None = None, *, tlp: Tlp = Tlp.GREEN, kind: str | None = "lab",
          slug: str | None = "lab-a", source: str = "c-shared", creator: str | None = LAB_A_IDENTITY) -> Facts:
    """Facts of ``obj`` posted by lab-a; ``creator`` is its created_by_ref (default lab-a's real identity)."""
    obj = obj if obj is not None else indicator()
    obj = {**obj, "created_by_ref": creator} if creator else {k: v for k, v in obj.items() if k != "created_by_ref"}
    return Facts.of(obj, int(tlp), kind, slug, LAB_A_IDENTITY, source, index_terms(obj))


def takes(spec: dict[str, Any], fact: Facts, sources: frozenset[str] | None = None) -> bool:
    return Selector.build(spec, sources).matches(fact)


def test_empty_selector_takes_everything() -> None:
    assert takes({}, facts())
    assert takes({}, facts(tlp=Tlp.RED, kind=None, slug=None))


def test_source_collections() -> None:
    assert takes({}, facts(source="c-intel"), frozenset({"c-intel", "c-other"}))
    assert not takes({}, facts(source="c-shared"), frozenset({"c-intel"}))
    assert takes({}, facts(source="c-anything"), None)  # absent: every collection


def test_types() -> None:
    assert takes({"types": ["indicator", "malware"]}, facts(indicator()))
    assert takes({"types": ["indicator", "malware"]}, facts({"type": "malware", "id": "malware--x"}))
    assert not takes({"types": ["malware"]}, facts(indicator()))


def test_threat_categories() -> None:
    injection = indicator(extensions=threat("prompt-injection"))
    assert takes({"threat_categories": ["prompt-injection", "jailbreak"]}, facts(injection))
    assert not takes({"threat_categories": ["jailbreak"]}, facts(injection))
    assert not takes({"threat_categories": ["prompt-injection"]}, facts(indicator()))  # no AI context at all
    # a label that happens to spell a category is not a category
    assert not takes({"threat_categories": ["prompt-injection"]}, facts(indicator(labels=["prompt-injection"])))


def test_atlas_techniques_select_their_sub_techniques_only() -> None:
    sub = facts(indicator(extensions=threat(atlas=("AML.T0051.000",))))
    parent = facts(indicator(extensions=threat(atlas=("AML.T0051",))))
    other = facts(indicator(extensions=threat(atlas=("AML.T0054", "AML.T0055"))))
    assert takes({"atlas_techniques": ["AML.T0051"]}, sub)
    assert takes({"atlas_techniques": ["AML.T0051"]}, parent)
    assert not takes({"atlas_techniques": ["AML.T0051.000"]}, parent)  # a sub-technique does not take its parent
    assert not takes({"atlas_techniques": ["AML.T0051.001"]}, sub)
    assert not takes({"atlas_techniques": ["AML.T0051"]}, other)
    assert not takes({"atlas_techniques": ["AML.T005"]}, sub)  # no prefix match within a number
    assert takes({"atlas_techniques": ["AML.T0099", "AML.T0055"]}, other)
    assert not takes({"atlas_techniques": ["AML.T0051"]}, facts(indicator()))


def test_owasp_ids_are_edition_qualified_and_cover_both_lists() -> None:
    llm = facts(indicator(extensions=threat(llm=("LLM01:2025",))))
    agentic = facts(indicator(extensions=threat(agentic=("ASI01:2026",))))
    assert takes({"owasp": ["LLM01:2025"]}, llm)
    assert not takes({"owasp": ["LLM01:2023"]}, llm)
    assert not takes({"owasp": ["LLM02:2025"]}, llm)
    assert takes({"owasp": ["ASI01:2026", "LLM09:2025"]}, agentic)
    assert not takes({"owasp": ["ASI01:2026"]}, llm)


def test_producer_kinds_and_producers() -> None:
    assert takes({"producer_kinds": ["lab", "vendor"]}, facts(kind="lab"))
    assert not takes({"producer_kinds": ["agency"]}, facts(kind="lab"))
    assert not takes({"producer_kinds": ["operator"]}, facts(kind=None, slug=None))  # the exchange's own objects
    assert takes({"producers": ["lab-a", "lab-b"]}, facts(slug="lab-a"))
    assert not takes({"producers": ["lab-b"]}, facts(slug="lab-a"))
    assert not takes({"producers": ["lab-a"]}, facts(kind=None, slug=None))


@pytest.mark.parametrize(("limit", "taken"), [
    ("clear", {Tlp.CLEAR}),
    ("green", {Tlp.CLEAR, Tlp.GREEN}),
    ("amber", {Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER}),
    ("amber+strict", {Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT}),
    ("red", set(Tlp)),
])
def test_max_tlp(limit: str, taken: set[Tlp]) -> None:
    assert {tlp for tlp in Tlp if takes({"max_tlp": limit}, facts(tlp=tlp))} == taken


def test_min_confidence() -> None:
    spec = {"min_confidence": 50}
    assert takes(spec, facts(indicator(confidence=50)))
    assert takes(spec, facts(indicator(confidence=100)))
    assert not takes(spec, facts(indicator(confidence=49)))
    assert not takes(spec, facts(indicator()))  # no confidence: unknown is not enough
    assert not takes(spec, facts(indicator(confidence=True)))  # a boolean is not a confidence
    assert takes({"min_confidence": 0}, facts(indicator(confidence=0)))


def test_labels_any_of() -> None:
    assert takes({"labels": ["ai-threat", "llm"]}, facts(indicator(labels=["llm", "other"])))
    assert not takes({"labels": ["ai-threat"]}, facts(indicator(labels=["other"])))
    assert not takes({"labels": ["ai-threat"]}, facts(indicator()))
    assert not takes({"labels": ["ai-threat"]}, facts(indicator(labels="ai-threat")))  # not a list


def test_revoked() -> None:
    revoked, live = facts(indicator(revoked=True)), facts(indicator())
    assert takes({"revoked": True}, revoked) and not takes({"revoked": True}, live)
    assert takes({"revoked": False}, live) and not takes({"revoked": False}, revoked)
    assert takes({}, revoked) and takes({}, live)
    assert not takes({"revoked": True}, facts(indicator(revoked="yes")))


def test_fields_are_anded_values_are_ored() -> None:
    spec = {"types": ["indicator"], "threat_categories": ["prompt-injection", "jailbreak"], "max_tlp": "green",
            "producer_kinds": ["lab"], "min_confidence": 60}
    good = indicator(extensions=threat("jailbreak"), confidence=70)
    assert takes(spec, facts(good))
    assert not takes(spec, facts(good, tlp=Tlp.AMBER))
    assert not takes(spec, facts(good, kind="vendor"))
    assert not takes(spec, facts(indicator(extensions=threat("jailbreak"), confidence=59)))
    assert not takes(spec, facts(indicator(extensions=threat("data-poisoning"), confidence=70)))
    assert not takes(spec, facts({**good, "type": "malware"}))


# ------------------------------------------------------------------ definition files


GOOD = f"""
id = "{uuid.UUID(int=1, version=4)}"
alias = "good"
title = "Good feed"

[selector]
threat_categories = ["prompt-injection"]
max_tlp = "amber"

[access]
read = ["everyone", "group:agencies", "kind:agency", "lab-a"]
"""


def test_definition_parses_with_defaults() -> None:
    feed = parse_feed(GOOD, "feeds/good.toml")
    assert feed.alias == "good" and feed.api_root == "exchange" and not feed.public and feed.upstream is None
    assert feed.selector == {"threat_categories": ["prompt-injection"], "max_tlp": "amber"}
    assert feed.read == ("everyone", "group:agencies", "kind:agency", "lab-a")
    assert FeedDefinition.from_json(feed.to_json()) == feed


def test_mirror_definition_round_trips_and_may_omit_the_selector() -> None:
    text = feed_toml(new_id(), "mirror", read=("everyone",), upstream={
        "url": "https://other.example/taxii2/exchange/", "collection": new_id(), "attribute_to": "mirror",
        "username_env": "MIRROR_USER", "password_env": "MIRROR_SECRET", "page_size": 50, "retry_attempts": 3,
        "retry_backoff": 0.5})
    feed = parse_feed(text, "feeds/mirror.toml")
    assert feed.selector is None
    assert feed.upstream == Upstream("https://other.example/taxii2/exchange/", feed.upstream.collection, "mirror",
                                     "MIRROR_USER", "MIRROR_SECRET", 300, 50, 3, 0.5)
    assert FeedDefinition.from_json(feed.to_json()) == feed


def _replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.mark.parametrize(("text", "problem"), [
    ("id = [", "not valid TOML"),
    (_replace('alias = "good"\n', ""), "'alias' is a required property"),
    (_replace('alias = "good"', 'alias = "Good Feed"'), "alias: 'Good Feed' does not match"),
    (_replace(f'id = "{uuid.UUID(int=1, version=4)}"', 'id = "feed-1"'), "id: 'feed-1' does not match"),
    (_replace('max_tlp = "amber"', 'max_tlp = "white"'), "selector.max_tlp"),
    (_replace("threat_categories =", "threat_category ="), "'threat_category' was unexpected"),
    (_replace('threat_categories = ["prompt-injection"]', 'atlas_techniques = ["T1588.007"]'),
     "selector.atlas_techniques.0"),
    (_replace('threat_categories = ["prompt-injection"]', 'owasp = ["LLM01"]'), "selector.owasp.0"),
    (_replace('threat_categories = ["prompt-injection"]', "min_confidence = 101"), "selector.min_confidence"),
    (_replace('threat_categories = ["prompt-injection"]', "producer_kinds = ['university']"),
     "selector.producer_kinds.0"),
    (_replace('threat_categories = ["prompt-injection"]', "types = []"), "selector.types"),
    (_replace('"lab-a"', '"Lab A"'), "access.read.3"),
    (_replace("[selector]", "[selectors]"), "'selectors' was unexpected"),
    (GOOD.split("[selector]")[0] + '[access]\nread = ["everyone"]\n', "'selector' is a required property"),
    (GOOD + '\n[upstream]\nurl = "ftp://x/"\ncollection = "c"\nattribute_to = "m"\n', "upstream.url"),
    (GOOD + '\n[upstream]\nurl = "https://x/"\ncollection = "c"\n', "'attribute_to' is a required property"),
    (GOOD + '\n[upstream]\nurl = "https://x/"\ncollection = "c"\nattribute_to = "m"\npoll_interval = 1\n',
     "upstream.poll_interval"),
])
def test_definition_errors_name_the_file_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(text, "/srv/feeds/broken.toml")
    message = str(caught.value)
    assert message.startswith("/srv/feeds/broken.toml: "), message
    assert problem in message, message


def test_ids_and_aliases_are_unique_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD)
    (tmp_path / "b.toml").write_text(GOOD.replace(str(uuid.UUID(int=1, version=4)), new_id()))
    with pytest.raises(FeedError, match=r"b\.toml: alias 'good' is also used by .*a\.toml"):
        load_feeds(tmp_path)
    (tmp_path / "b.toml").write_text(GOOD.replace('alias = "good"', 'alias = "other"'))
    with pytest.raises(FeedError, match=r"b\.toml: id .* is also used by .*a\.toml"):
        load_feeds(tmp_path)


def test_missing_directory_means_no_feeds(tmp_path: Path) -> None:
    assert load_feeds(tmp_path / "absent") == []


def test_shipped_feeds_are_valid_and_documented() -> None:
    feeds = load_feeds(REPO / "feeds")
    assert {f.alias for f in feeds} == {"prompt-injection", "ai-supply-chain", "abuse-infrastructure", "public"}
    readme = (REPO / "feeds" / "README.md").read_text()
    for feed in feeds:
        assert f"`{feed.alias}`" in readme and Path(feed.source).name in readme
        assert feed.upstream is None and feed.selector is not None
    public = next(f for f in feeds if f.alias == "public")
    assert public.public and public.selector == {"max_tlp": "clear"}
    categories = {c for f in feeds for c in (f.selector or {}).get("threat_categories", [])}
    assert "prompt-injection" in categories and "malicious-model-artifact" in categories


# ------------------------------------------------------------------ a bad file stops startup


def squeeze(text: str) -> str:
    return "".join(text.split())


def test_a_bad_feed_file_stops_startup_naming_the_file_and_the_problem(tmp_path: Path) -> None:
    database = ThrowawayDatabase(tmp_path, migrated=True)
    server = Server(tmp_path, 0, database)
    try:
        good = write_feed(server, "good", GOOD)
        bad = write_feed(server, "zz-bad", GOOD.replace('alias = "good"', 'alias = "bad"')
                         .replace(str(uuid.UUID(int=1, version=4)), new_id()).replace('"amber"', '"purple"'))
        with pytest.raises(RuntimeError, match="aisx serve exited") as caught:
            server.start()
        # (rich wraps long lines on stderr: compare without white space)
        assert squeeze(f"cannot start: {bad}: selector.max_tlp: 'purple' is not one of") in squeeze(
            str(caught.value)), caught.value
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{server.base_url}/healthz", timeout=2, verify=TLS)
        # the feed commands, which apply the files, refuse too, with the same message and exit status 2; other
        # commands do not read the feed files (issue 16: only serve, db upgrade and the feed commands do)
        refused = server.cli("feed", "list", check=False)
        assert refused.returncode == 2 and squeeze(f"{bad}: selector.max_tlp") in squeeze(refused.stderr)
        assert server.cli("participant", "list").returncode == 0
        bad.write_text("id = ")
        refused = server.cli("feed", "list", check=False)
        assert refused.returncode == 2 and squeeze(f"{bad}: not valid TOML") in squeeze(refused.stderr)
        bad.unlink()
        assert [f["alias"] for f in server.cli_json("feed", "list")["feeds"]] == ["good"]
        good.write_text(GOOD.replace('title = "Good feed"', 'title = "Good feed"\napi_root = "elsewhere"'))
        refused = server.cli("feed", "list", check=False)
        assert refused.returncode == 2 and squeeze(f"{good}: api_root 'elsewhere' does not exist") in squeeze(
            refused.stderr)
    finally:
        server.stop()
        database.drop()



@pytest.mark.parametrize("options,problem", [
    ({"default_group": "g" * 65}, "default_group: '" + "g" * 65 + "' is too long"),
    ({"read": ("group:" + "g" * 65,)}, "access.read.0: 'group:" + "g" * 65 + "' does not match"),
    ({"read": ("p" * 65,)}, "access.read.0: '" + "p" * 65 + "' does not match"),
])
def test_a_feed_file_naming_a_group_or_slug_longer_than_the_store_keeps_is_refused(options: dict[str, Any],
                                                                                 problem: str) -> None:
    """Group names and slugs are kept in columns of 64: a feed file with a longer default group stopped the server
    with a database error on PostgreSQL (value too long for character varying(64)), and one granting a longer
    group or slug with a traceback; now the file is refused like any other bad one, naming the field."""
    text = feed_toml(new_id(), "too-long", selector={"types": ["indicator"]}, **{"read": ("everyone",), **options})
    with pytest.raises(FeedError) as refused:
        parse_feed(text, "too-long.toml")
    assert str(refused.value).startswith(f"too-long.toml: {problem}")


# ------------------------------------------------------------------ a live exchange with feeds

PI_FEED, INTEL_FEED, PUBLIC_FEED, AGENCY_FEED = (str(uuid.uuid4()) for _ in range(4))


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    def feeds(server: Server) -> None:
        write_feed(server, "pi", feed_toml(PI_FEED, "pi", selector={"threat_categories": ["prompt-injection",
                                                                                         "jailbreak"]},
                                           read=("everyone",)))
        # "intel" does not exist yet when the feed is loaded: sources are resolved when objects arrive
        write_feed(server, "intel", feed_toml(INTEL_FEED, "intel-indicators", read=("everyone",), selector={
            "source_collections": ["intel"], "types": ["indicator"], "max_tlp": "amber"}))
        # a public feed whose selector lets non-CLEAR objects in: the collection still serves CLEAR only
        write_feed(server, "public", feed_toml(PUBLIC_FEED, "public-indicators", selector={"types": ["indicator"]},
                                               read=("everyone",), public=True))
        write_feed(server, "agency", feed_toml(AGENCY_FEED, "for-agencies", selector={"labels": ["agency-only"]},
                                               read=("kind:agency",)))
    with running_server(tmp_path_factory.mktemp("feeds"), before_start=feeds) as server:
        yield server


@pytest.fixture(scope="module")
def intel(exchange: Server) -> str:
    cid = exchange.add_collection("intel", "Intel")["id"]
    exchange.grant("everyone", cid, read=True, write=True)
    return cid


@pytest.fixture(scope="module")
def shared(exchange: Server) -> str:
    return exchange.collection_id("shared")


@pytest.fixture(scope="module")
def people(exchange: Server) -> dict[str, Participant]:
    return {"lab": admit(exchange, "lab-f", "lab"), "lab2": admit(exchange, "lab-g", "lab"),
            "agency": admit(exchange, "agency-f", "agency", ("agencies",)),
            "agency2": admit(exchange, "agency-g", "agency")}


def ids(client: httpx.Client, cid: str) -> set[str]:
    return {o["id"] for o in read_all(client, cid)}


def ours(objects: set[str]) -> set[str]:
    """Leave out the exchange's own definitions, which every collection serves."""
    return {i for i in objects if i.split("--")[0] not in ("marking-definition", "extension-definition", "identity")}


def test_every_feed_serves_the_exchange_definitions(exchange: Server, people: dict[str, Participant]) -> None:
    for feed_id in (PI_FEED, INTEL_FEED, AGENCY_FEED):
        served = read_all(people["agency"].client, feed_id)
        kinds = {o["type"] for o in served}
        assert {"identity", "marking-definition", "extension-definition"} <= kinds
        assert AI_THREAT_EXTENSION_ID in {o["id"] for o in served}


def test_routing_at_ingest(exchange: Server, intel: str, shared: str, people: dict[str, Participant]) -> None:
    lab = people["lab"].client
    injection = indicator(extensions=threat("prompt-injection"), tlp=TLP_GREEN)
    jailbreak_elsewhere = indicator(extensions=threat("jailbreak"), tlp=TLP_CLEAR)
    poisoning = indicator(extensions=threat("data-poisoning"))
    clear, green = indicator(tlp=TLP_CLEAR), indicator(tlp=TLP_GREEN)
    malware = {"type": "malware", "spec_version": "2.1", "id": f"malware--{uuid.uuid4()}",
               "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "m",
               "is_family": False, "object_marking_refs": [TLP_CLEAR]}
    strict = mint(lab, identities=(people["agency"].identity_id,))
    amber_strict = indicator(object_marking_refs=[TLP_AMBER_STRICT, strict])
    red = indicator(object_marking_refs=[TLP_RED, strict])
    status = post(lab, intel, injection, poisoning, clear, green, malware, amber_strict, red)
    assert status["success_count"] == 7, status
    assert post(lab, shared, jailbreak_elsewhere)["success_count"] == 1
    reader = people["agency"].client  # a recipient of the AMBER+STRICT and RED ones: sees everything here
    assert ours(ids(reader, PI_FEED)) >= {injection["id"], jailbreak_elsewhere["id"]}
    assert not ours(ids(reader, PI_FEED)) & {poisoning["id"], clear["id"], green["id"], malware["id"]}
    in_intel = ours(ids(reader, INTEL_FEED))
    assert {injection["id"], poisoning["id"], clear["id"], green["id"]} <= in_intel
    assert not in_intel & {malware["id"], amber_strict["id"], red["id"], jailbreak_elsewhere["id"]}
    # the feed serves the very bytes that were posted
    served = {o["id"]: o for o in read_all(reader, INTEL_FEED)}
    assert served[injection["id"]] == injection
    # feeds are read-only: nobody posts into one, so feeds never feed feeds
    response = lab.post(f"collections/{INTEL_FEED}/objects/", content=b'{"objects": []}',
                        headers={"Content-Type": TAXII})
    assert response.status_code == 403, response.text


def test_amber_with_recipients_is_seen_in_a_feed_only_by_its_recipients(
        exchange: Server, intel: str, people: dict[str, Participant]) -> None:
    lab = people["lab"]
    marking = mint(lab.client, identities=(people["agency"].identity_id,))
    amber = indicator(object_marking_refs=[TLP_AMBER, marking])
    green_named = indicator(object_marking_refs=[TLP_GREEN, marking])
    assert post(lab.client, intel, amber, green_named)["success_count"] == 2
    for reader, sees in ((people["agency"], True), (lab, True), (people["agency2"], False), (people["lab2"], False)):
        visible = ids(reader.client, INTEL_FEED)
        assert (amber["id"] in visible) is sees and (green_named["id"] in visible) is sees, reader.slug
        single = reader.client.get(f"collections/{INTEL_FEED}/objects/{amber['id']}/")
        assert single.status_code == (200 if sees else 404), reader.slug
        manifest = reader.client.get(f"collections/{INTEL_FEED}/manifest/", params={"limit": "10000"}).json()
        assert (amber["id"] in {r["id"] for r in manifest.get("objects", [])}) is sees
        matched = reader.client.get(f"collections/{INTEL_FEED}/objects/", params={"match[id]": amber["id"]})
        assert matched.status_code == 200 and bool(matched.json().get("objects")) is sees
    with httpx.Client(verify=TLS, base_url=exchange.root_url, headers={"Accept": TAXII}) as anonymous:
        assert anonymous.get(f"collections/{INTEL_FEED}/objects/").status_code == 401


def test_public_feed_serves_clear_only_and_without_credentials(
        exchange: Server, intel: str, people: dict[str, Participant]) -> None:
    clear, green = indicator(tlp=TLP_CLEAR), indicator(tlp=TLP_GREEN)
    assert post(people["lab"].client, intel, clear, green)["success_count"] == 2
    with httpx.Client(verify=TLS, base_url=exchange.root_url, headers={"Accept": TAXII}, timeout=30) as anonymous:
        info = anonymous.get(f"collections/{PUBLIC_FEED}/")
        assert info.status_code == 200 and info.json()["can_read"] and not info.json()["can_write"]
        served = read_all(anonymous, PUBLIC_FEED)
        assert clear["id"] in {o["id"] for o in served} and green["id"] not in {o["id"] for o in served}
        posted = [o for o in served if o["id"] in ours({o["id"] for o in served})]
        assert posted and all(o["object_marking_refs"] == [TLP_CLEAR] for o in posted)
        assert anonymous.get(f"collections/{PUBLIC_FEED}/objects/{green['id']}/").status_code == 404
    # a participant reads the public feed under the same rule: it serves TLP:CLEAR only
    assert green["id"] not in ids(people["agency"].client, PUBLIC_FEED)
    assert green["id"] in ids(people["agency"].client, INTEL_FEED)


def test_feed_read_grants(exchange: Server, intel: str, people: dict[str, Participant]) -> None:
    labelled = indicator(tlp=TLP_CLEAR, labels=["agency-only"])
    assert post(people["lab"].client, intel, labelled)["success_count"] == 1
    assert labelled["id"] in ids(people["agency2"].client, AGENCY_FEED)  # kind:agency
    assert people["lab"].client.get(f"collections/{AGENCY_FEED}/objects/").status_code == 404
    listed = {c["id"] for c in people["lab"].client.get("collections/").json()["collections"]}
    assert AGENCY_FEED not in listed and PI_FEED in listed


def test_admin_api_and_cli_list_the_feeds(exchange: Server, people: dict[str, Participant]) -> None:
    with admin(exchange) as client:
        response = client.get("/admin/feeds")
        assert response.status_code == 200, response.text
        feeds = {f["alias"]: f for f in response.json()}
        denied = client.get("/admin/feeds", headers={"Authorization": f"Bearer {people['lab'].secret}"})
        assert denied.status_code == 403
    assert feeds["intel-indicators"]["selector"] == {"source_collections": ["intel"], "types": ["indicator"],
                                                     "max_tlp": "amber"}
    assert all("upstream" not in f for f in feeds.values())
    listed = exchange.cli_json("feed", "list")["feeds"]
    assert {f["alias"] for f in listed} >= set(feeds)


def test_a_new_feed_is_backfilled_and_rebuilt_after_its_definition_changes(
        exchange: Server, intel: str, shared: str, people: dict[str, Participant]) -> None:
    lab = people["lab"].client
    first = [indicator(tlp=TLP_GREEN, labels=["campaign-x"]), indicator(tlp=TLP_CLEAR, labels=["campaign-x"])]
    second = indicator(tlp=TLP_GREEN, labels=["campaign-y"])
    amber = indicator(object_marking_refs=[TLP_AMBER, mint(lab, groups=("agencies",))], labels=["campaign-x"])
    unrelated = indicator(tlp=TLP_GREEN)
    assert post(lab, intel, *first, second, amber, unrelated)["success_count"] == 5
    assert post(lab, shared, indicator(tlp=TLP_GREEN, labels=["campaign-y"]))["success_count"] == 1
    feed_id = new_id()
    path = write_feed(exchange, "campaign", feed_toml(feed_id, "campaign", selector={
        "source_collections": ["intel"], "labels": ["campaign-x"]}, read=("everyone",)))
    # the feed commands apply the feed files; a new feed is created and backfilled from what is already stored
    listed = {f["alias"]: f for f in exchange.cli_json("feed", "list")["feeds"]}
    assert listed["campaign"]["id"] == feed_id
    agency, lab2 = people["agency"].client, people["lab2"].client
    assert ours(ids(agency, feed_id)) == {first[0]["id"], first[1]["id"], amber["id"]}
    assert ours(ids(lab2, feed_id)) == {first[0]["id"], first[1]["id"]}  # not in the AMBER group
    assert AI_THREAT_EXTENSION_ID in ids(agency, feed_id)
    # ... and takes what arrives from now on
    later = indicator(tlp=TLP_GREEN, labels=["campaign-x"])
    assert post(lab, intel, later)["success_count"] == 1
    assert later["id"] in ids(agency, feed_id)
    before = {o["id"]: o for o in read_all(agency, feed_id)}

    path.write_text(feed_toml(feed_id, "campaign", selector={"source_collections": ["intel"],
                                                             "labels": ["campaign-y"]}, read=("everyone",)))
    changed = exchange.cli("feed", "list", "--json")
    assert "rebuild" in changed.stderr  # the operator is told to rebuild
    assert ours(ids(agency, feed_id)) == ours(set(before))  # nothing moves until then
    response = agency.get(f"collections/{feed_id}/objects/", params={"limit": "10000"})
    assert response.status_code == 200 and not response.json().get("more")
    last_before = response.headers["X-TAXII-Date-Added-Last"]

    rebuilt = exchange.cli_json("feed", "rebuild", "campaign")
    assert rebuilt["id"] == feed_id
    served = read_all(agency, feed_id)
    assert ours({o["id"] for o in served}) == {second["id"]}  # the shared one is not from a source collection
    assert rebuilt["objects"] == len(by_version(served))
    assert {"identity", "marking-definition", "extension-definition"} <= {o["type"] for o in served}
    # what (re-)entered is new to pollers
    polled = agency.get(f"collections/{feed_id}/objects/", params={"added_after": last_before}).json()
    assert second["id"] in {o["id"] for o in polled.get("objects", [])}
    # by id as well as by alias; an unknown feed is an error
    assert exchange.cli_json("feed", "rebuild", feed_id)["objects"] == rebuilt["objects"]
    unknown = exchange.cli("feed", "rebuild", "no-such-feed", check=False)
    assert unknown.returncode == 2 and "no feed" in unknown.stderr
    not_a_feed = exchange.cli("feed", "rebuild", "intel", check=False)
    assert not_a_feed.returncode == 2 and "no feed" in not_a_feed.stderr
