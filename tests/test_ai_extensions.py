"""The AI STIX extensions: the published schemas and definitions, check_ai on real and broken objects, the
ai-prompt id, ATLAS ids, the feed index terms, and the object index in the database."""

import copy
import gzip
import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
import stix2
from jsonschema import Draft202012Validator
from sqlalchemy import create_engine, insert, select
from sqlmodel import SQLModel

from app.sharing.exchange import ai_extension_definitions
from app.stix import ai
from app.stix.ai import AI_OBSERVABLES_EXTENSION_ID as OBSERVABLES
from app.stix.ai import AI_THREAT_EXTENSION_ID as THREAT
from app.stix.ai import (
    ai_prompt_id,
    atlas_external_id,
    atlas_technique_ids,
    check_ai,
    index_columns,
    index_terms,
    unknown_atlas_findings,
)
from app.stix.schemacache import compile_schema, ecma_regex
from app.store.index import insert_terms, known_atlas_ids, reindex, term_rows
from app.store.models import ObjectTerm, StixObject
from tests.conftest import DATA

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
EXAMPLES = sorted((DATA / "examples").glob("[0-9][0-9]-*.json"))
EXCHANGE = "identity--5d0c3c1e-3f0b-4c36-9d7e-2a8f7c9b1e42"


def _objects(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["objects"]


EXAMPLE_OBJECTS = [o for path in EXAMPLES for o in _objects(path)]
ATLAS = _objects(DATA / "atlas" / "stix-atlas.json")


def _example(stix_id_prefix: str) -> dict[str, Any]:
    return copy.deepcopy(next(o for o in EXAMPLE_OBJECTS if o["id"].startswith(stix_id_prefix)))


def _indicator() -> dict[str, Any]:
    return _example("indicator--b08e85d9")  # 01: prompt injection, ATLAS + OWASP ids


def _prompt() -> dict[str, Any]:
    return _example("ai-prompt--4baa29c9")  # 01: full disclosure


# ------------------------------------------------------------------ schemas and definitions


@pytest.mark.parametrize("name", [ai.AI_THREAT_SCHEMA, ai.AI_OBSERVABLES_SCHEMA])
def test_published_schemas_are_draft_2020_12_with_their_address(name: str) -> None:
    schema = json.loads((SCHEMAS / name).read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"https://aisx.invalid/schemas/{name}"


def test_extension_definitions_parse_with_stix2_and_name_their_schemas() -> None:
    definitions = ai_extension_definitions(EXCHANGE)
    assert [d["id"] for d in definitions] == [THREAT, OBSERVABLES]
    for definition, schema, types in zip(definitions, [ai.AI_THREAT_SCHEMA, ai.AI_OBSERVABLES_SCHEMA],
                                         [["property-extension"], ["new-sco", "property-extension"]], strict=True):
        parsed = stix2.parse(definition, allow_custom=True)
        assert parsed.type == "extension-definition"
        assert parsed.created_by_ref == EXCHANGE
        assert parsed.version == "1.0.0"
        assert list(parsed.extension_types) == types
        assert f"/schemas/{schema}" in parsed.schema and (SCHEMAS / schema).is_file()
        assert definition["created"] == definition["modified"] == "2026-11-26T00:00:00.000Z"
        assert definition["object_marking_refs"] == ["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"]
        assert check_ai(definition) == []
    assert ai_extension_definitions(EXCHANGE) == definitions  # fixed: republishing is idempotent


# ------------------------------------------------------------------ valid content


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_object_is_valid(path: Path) -> None:
    for obj in _objects(path):
        assert check_ai(obj) == [], obj["id"]


def test_atlas_and_the_genai_incidents_are_valid() -> None:
    with gzip.open(DATA / "genai-incidents-ai-subset.stix.json.gz") as f:
        incidents = json.load(f)["objects"]
    assert sum(THREAT in o.get("extensions", {}) for o in incidents) > 1000
    assert [o["id"] for o in [*ATLAS, *incidents] if check_ai(o)] == []


def test_objects_without_the_extensions_are_not_checked() -> None:
    identity = {"type": "identity", "id": "not even an id", "extensions": {"x": {}}}
    assert check_ai(identity) == []


# ------------------------------------------------------------------ what producers get wrong (ai-content.md §4c)


def _set(prop: str, value: Any):  # type: ignore[no-untyped-def]
    def change(obj: dict[str, Any]) -> None:
        obj["extensions"][THREAT][prop] = value
    return change


def _drop(prop: str):  # type: ignore[no-untyped-def]
    def change(obj: dict[str, Any]) -> None:
        obj["extensions"][THREAT].pop(prop)
    return change


EXT = f"extensions.{THREAT}"
NEGATIVE = [
    ("owasp-without-edition", _indicator, _set("owasp_llm_ids", ["LLM01"]), f"{EXT}.owasp_llm_ids[0]", "edition"),
    ("atlas-ids-without-version", _indicator, _drop("atlas_version"), f"{EXT}.atlas_version", "is required"),
    ("underscore-category", _indicator, _set("threat_category", "prompt_injection"), f"{EXT}.threat_category",
     "prompt-injection"),
    ("property-typo", _indicator, _set("threat_categroy", "jailbreak"), f"{EXT}.threat_categroy",
     "did you mean 'threat_category'"),
    ("attack-id-as-atlas-id", _indicator, _set("atlas_technique_ids", ["T1588.007"]), f"{EXT}.atlas_technique_ids[0]",
     "AML.T0051"),
    ("missing-system-kinds", _indicator, _drop("ai_system_kinds"), f"{EXT}.ai_system_kinds", "is required"),
    ("extension-on-identity", _indicator,
     lambda o: o.update(type="identity", id=o["id"].replace("indicator", "identity")), EXT, "identity"),
    ("withheld-with-value", _prompt, lambda o: o.update(value_disclosure="withheld"), "value", "withheld"),
    ("full-without-value", _prompt, lambda o: o.pop("value"), "value", "is required"),
    ("ecma-dollar", _indicator, _set("atlas_technique_ids", ["AML.T0051\n"]), f"{EXT}.atlas_technique_ids[0]", "ATLAS"),
    ("empty-list", _indicator, _set("modalities", []), f"{EXT}.modalities", "at least one"),
    ("repeated-value", _indicator, _set("modalities", ["text", "text"]), f"{EXT}.modalities", "repeat"),
    ("observables-on-indicator", _indicator,
     lambda o: o["extensions"].update({OBSERVABLES: {"extension_type": "property-extension"}}),
     f"extensions.{OBSERVABLES}", "ai-prompt, file"),
    ("prompt-without-extension", _prompt, lambda o: o.pop("extensions"), "extensions", OBSERVABLES),
    ("prompt-upper-case-hash", _prompt, lambda o: o["hashes"].update({"SHA-256": o["hashes"]["SHA-256"].upper()}),
     "hashes.SHA-256", "lower-case"),
    ("prompt-unknown-property", _prompt, lambda o: o.update(promt_role="user-input"), "promt_role",
     "did you mean 'prompt_role'"),
    ("model-file-format", lambda: _example("file--5a9b8ba2"),
     lambda o: o["extensions"][OBSERVABLES].update(model_format="pt"), f"extensions.{OBSERVABLES}.model_format",
     "pytorch-pickle"),
]


@pytest.mark.parametrize(("make", "change", "path", "words"), [n[1:] for n in NEGATIVE], ids=[n[0] for n in NEGATIVE])
def test_broken_objects_are_rejected_with_the_property_named(make, change, path: str, words: str) -> None:  # type: ignore[no-untyped-def]
    obj = make()
    change(obj)
    findings = check_ai(obj)
    assert findings, "expected a finding"
    assert [f for f in findings if f.path == path and words in f.message], [str(f) for f in findings]
    assert all(f.path and f.message for f in findings)


def test_custom_properties_on_an_ai_prompt_are_kept() -> None:
    prompt = _prompt()
    prompt["x_lab_ticket"] = "SEC-1234"
    assert check_ai(prompt) == []


# ------------------------------------------------------------------ the ai-prompt id


def test_ai_prompt_id_is_what_stix2_derives_from_the_sha256() -> None:
    # An SCO type of its own (the derivation does not depend on the type name): nothing else is re-registered.
    @stix2.CustomObservable("x-aisx-id-probe", [
        ("hashes", stix2.properties.HashesProperty(["SHA-256"], spec_version="2.1", required=True)),
    ], id_contrib_props=["hashes"])
    class Probe:
        pass

    for obj in (o for o in EXAMPLE_OBJECTS if o["type"] == "ai-prompt"):
        sha256 = obj["hashes"]["SHA-256"]
        assert obj["id"] == ai_prompt_id(sha256)
        derived = Probe(hashes={"SHA-256": sha256}).id.partition("--")[2]
        assert ai_prompt_id(sha256) == f"ai-prompt--{derived}"
        assert stix2.v21.File(hashes={"SHA-256": sha256}).id.partition("--")[2] == derived


def test_an_ai_prompt_with_another_id_is_rejected() -> None:
    prompt = _prompt()
    right = prompt["id"]
    prompt["id"] = "ai-prompt--4baa29c9-e919-537b-9fa8-1cf0d3266835"
    findings = check_ai(prompt)
    assert [(f.path, f.rule) for f in findings] == [("id", "deterministic-id")]
    assert right in findings[0].message and "SHA-256" in findings[0].message


def test_a_hash_only_prompt_has_the_same_id_as_the_disclosed_one() -> None:
    prompt = _prompt()
    prompt.pop("value")
    prompt["value_disclosure"] = "withheld"
    assert check_ai(prompt) == []


# ------------------------------------------------------------------ ATLAS and index terms


def test_atlas_external_ids() -> None:
    techniques = {atlas_external_id(o) for o in ATLAS if o["type"] == "attack-pattern"}
    assert len(techniques) == 170 and "AML.T0051" in techniques and "AML.T0051.000" in techniques
    assert {atlas_external_id(o) for o in ATLAS if o["type"] != "attack-pattern"} == {None}
    lab_variant = {"type": "attack-pattern", "external_references": [{"source_name": "lab", "external_id": "X-1"}]}
    assert atlas_external_id(lab_variant) is None


def test_atlas_technique_ids_and_unknown_ones() -> None:
    indicator = _indicator()
    assert atlas_technique_ids(indicator) == ["AML.T0051.000", "AML.T0055"]
    assert atlas_technique_ids(_prompt()) == []
    known = {atlas_external_id(o) for o in ATLAS} - {None}
    assert all(unknown_atlas_findings(o, known) == [] for o in EXAMPLE_OBJECTS)
    indicator["extensions"][THREAT]["atlas_technique_ids"] = ["AML.T0051", "AML.T9999"]
    [warning] = unknown_atlas_findings(indicator, known)
    assert warning.path == f"{EXT}.atlas_technique_ids[1]" and "AML.T9999" in warning.message


def test_index_terms() -> None:
    assert index_terms(_indicator()) == [
        ("threat_category", "prompt-injection"), ("atlas", "AML.T0051.000"), ("atlas", "AML.T0055"),
        ("owasp", "LLM01:2025"), ("model_family", "any"), ("ai_system_kind", "llm-application"),
        ("ai_system_kind", "agent"),
    ]
    attack_pattern = _example("attack-pattern--27043373")  # 02: lab variant with LLM and agentic ids
    assert {v for k, v in index_terms(attack_pattern) if k == "owasp"} == {"LLM01:2025", "LLM05:2025", "ASI01:2026"}
    labelled = _indicator()
    labelled["labels"] = ["coding-assistant", "coding-assistant", "x" * 201]
    labelled["extensions"][THREAT]["affected_model_families"] = ["any", "llama-3"]
    terms = index_terms(labelled)
    assert terms.count(("label", "coding-assistant")) == 1 and ("model_family", "llama-3") in terms
    assert all(len(v) <= 200 for _, v in terms)
    assert index_terms(_prompt()) == [("model_family", "any")]
    assert index_terms(ATLAS[0]) == []


def test_every_example_with_the_threat_extension_has_a_category_and_a_system_kind() -> None:
    for obj in EXAMPLE_OBJECTS:
        kinds = {k for k, _ in index_terms(obj)}
        assert (THREAT in obj.get("extensions", {})) == ({"threat_category", "ai_system_kind"} <= kinds)


def test_index_columns() -> None:
    revoked = [o for o in EXAMPLE_OBJECTS if o.get("revoked")]
    assert revoked and all(index_columns(o)["revoked"] for o in revoked)
    assert index_columns(_indicator()) == {"confidence": 80, "revoked": False, "atlas_id": None}
    technique = next(o for o in ATLAS if o["type"] == "attack-pattern")
    assert index_columns(technique)["atlas_id"] == atlas_external_id(technique)
    assert index_columns({"confidence": True})["confidence"] is None


# ------------------------------------------------------------------ the compiled fast path


_JUNK: list[Any] = [None, True, 1, 1.5, "", "x", "text", "AML.T0051", "AML.T0051\n", "LLM01", "LLM01:2025", [],
                    ["text"], ["text", "text"], [1], [[]], {}, {"a": 1}, "full", "withheld", "a" * 64, "A" * 64]


def _mutations(obj: Any, rng: random.Random) -> Any:
    """A copy of ``obj`` with one value somewhere replaced, added or removed."""
    obj = copy.deepcopy(obj)
    node, steps = obj, rng.randint(0, 4)
    for _ in range(steps):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(
            node, list) else []
        containers = [(k, v) for k, v in children if isinstance(v, dict | list) and v]
        if not containers:
            break
        _, node = rng.choice(containers)
    action = rng.random()
    if isinstance(node, dict) and node:
        key = rng.choice(list(node))
        if action < 0.3:
            del node[key]
        elif action < 0.8:
            node[key] = copy.deepcopy(rng.choice(_JUNK))
        else:
            node[rng.choice(["value", "threat_categroy", "x_note", "extension_type", "hashes"])] = rng.choice(_JUNK)
    elif isinstance(node, list) and node:
        node[rng.randrange(len(node))] = copy.deepcopy(rng.choice(_JUNK))
    return obj


def test_the_fast_acceptance_test_never_accepts_what_jsonschema_rejects() -> None:
    rng = random.Random(20261126)
    disagreements = 0
    for name, extension in ((ai.AI_THREAT_SCHEMA, THREAT), (ai.AI_OBSERVABLES_SCHEMA, OBSERVABLES)):
        accepts, validator = ai._schema(name)
        subjects = [o for o in EXAMPLE_OBJECTS if extension in o.get("extensions", {})]
        for _ in range(4000):
            obj = _mutations(rng.choice(subjects), rng)
            valid = validator.is_valid(obj)
            assert not accepts(obj) or valid, obj
            disagreements += accepts(obj) != valid
    assert disagreements < 40  # conservative only for repeated non-string list items


def test_the_fast_test_reads_every_keyword_and_defers_on_what_is_not_json() -> None:
    assert compile_schema({"type": "integer"})(1) is True
    assert compile_schema({"anyOf": [{"type": "string"}]})("x") is True
    assert compile_schema({"properties": {"a": {"const": "b"}}, "required": ["a"]})({"a": "b"}) is True
    assert compile_schema({"type": "object"})({1: "a"}) is False  # not JSON: jsonschema judges it
    assert compile_schema({"type": "string", "pattern": "^a$"})("a\n") is False
    assert ecma_regex("^a$").search("a\n") is None and ecma_regex(r"^\d$").search("٣") is None


# ------------------------------------------------------------------ the object index in the database


@pytest.fixture
def conn(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path / 'index.db'}")
    SQLModel.metadata.create_all(engine)
    with engine.begin() as connection:
        yield connection
    engine.dispose()


def _store(conn, obj: dict[str, Any], **columns: Any) -> int:  # type: ignore[no-untyped-def]
    row = {"stix_id": obj["id"], "type": obj["type"], "spec_version": "2.1", "version": 1, "producer_id": None,
           "content_hash": "0" * 64, "raw": orjson.dumps(obj).decode(), "stored_at": 1, "tlp": 0,
           "has_audience": False, "is_latest": True, **columns}
    return conn.execute(insert(StixObject.__table__).returning(StixObject.__table__.c.seq), row).scalar_one()


def test_terms_known_atlas_ids_and_selectors(conn) -> None:  # type: ignore[no-untyped-def]
    objects = StixObject.__table__
    technique = next(o for o in ATLAS if atlas_external_id(o) == "AML.T0051")
    _store(conn, technique, **index_columns(technique))
    indicator = _indicator()
    seq = _store(conn, indicator, **index_columns(indicator))
    insert_terms(conn, term_rows(seq, index_terms(indicator)))
    insert_terms(conn, [])
    assert known_atlas_ids(conn, ["AML.T0051", "AML.T0055", "AML.T0051"]) == {"AML.T0051"}
    assert known_atlas_ids(conn, []) == set()
    terms = ObjectTerm.__table__

    def seqs_with(kind: str, value: str) -> list[int]:
        query = select(terms.c.object_seq).where(terms.c.kind == kind, terms.c.value == value)
        return list(conn.execute(query).scalars())

    assert seqs_with("atlas", "AML.T0055") == [seq]
    assert seqs_with("owasp", "LLM01:2026") == []
    assert conn.execute(select(objects.c.confidence).where(objects.c.seq == seq)).scalar() == 80


def test_reindex_fills_the_index_from_stored_json(conn) -> None:  # type: ignore[no-untyped-def]
    objects, terms = StixObject.__table__, ObjectTerm.__table__
    for obj in EXAMPLE_OBJECTS[:40]:
        _store(conn, obj, version=len(conn.execute(select(objects.c.seq)).all()) + 1)
    technique = next(o for o in ATLAS if o["type"] == "attack-pattern")
    _store(conn, technique)
    assert reindex(conn, batch=7) == reindex(conn, batch=7) > 0  # idempotent
    stored = conn.execute(select(terms.c.kind, terms.c.value)).all()
    expected = [t for o in EXAMPLE_OBJECTS[:40] for t in index_terms(o)]
    assert sorted(stored) == sorted(expected)
    assert known_atlas_ids(conn, [atlas_external_id(technique) or ""]) == {atlas_external_id(technique)}


def test_migration_0002_indexes_objects_stored_before_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alembic import command
    from app.config import get_settings
    from app.store.engine import get_engine
    from app.store.migrate import alembic_config

    monkeypatch.setenv("AISX_DATABASE_URL", f"sqlite:///{tmp_path / 'before.db'}")
    get_settings.cache_clear()
    get_engine.cache_clear()
    config = alembic_config()
    try:
        with get_engine().connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            indicator = _indicator()
            connection.exec_driver_sql(
                "INSERT INTO stix_object (stix_id, type, spec_version, version, content_hash, raw, stored_at, tlp, "
                "has_audience, has_essential_refs, is_latest) VALUES (?, ?, '2.1', 1, ?, ?, 1, 1, 0, 0, 1)",
                (indicator["id"], indicator["type"], "0" * 64, orjson.dumps(indicator).decode()))
            command.upgrade(config, "0002")
            terms = ObjectTerm.__table__
            assert sorted(connection.execute(select(terms.c.kind, terms.c.value)).all()) == sorted(
                index_terms(indicator))
            objects = StixObject.__table__
            assert connection.execute(select(objects.c.confidence, objects.c.revoked)).one() == (80, False)
            command.downgrade(config, "0001")
            connection.commit()
    finally:
        get_engine().dispose()
        get_engine.cache_clear()
        get_settings.cache_clear()
