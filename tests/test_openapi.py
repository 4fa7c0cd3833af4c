"""The OpenAPI contract: it validates, the copy in docs/openapi.json is the one served, every operation is
complete (operation id, success schema, TAXII error resources, security), and what a live server answers
conforms to it, status code, media type and body."""

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from app.admin.schemas import ParticipantKind
from app.openapi import OPERATIONS, render
from app.participants import registry
from app.participants.registry import KINDS
from tests.feed_support import feed_toml, write_feed
from tests.support.server import TAXII, TLS, Participant, Server, aisx_environment, run_aisx
from tests.support.stix import envelope, indicator, ts

ROOT = Path(__file__).resolve().parents[1]
COPY = ROOT / "docs" / "openapi.json"
REFRESH = "refresh it with `aisx openapi > docs/openapi.json` and commit it"
METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(COPY.read_text(encoding="utf-8"))


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items()
            for method, op in item.items() if method in METHODS]


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_the_document_validates(document: dict[str, Any]) -> None:
    validate(document)


def test_the_copy_is_what_aisx_openapi_prints() -> None:
    printed = run_aisx(["openapi"], cwd=ROOT, env=aisx_environment(), timeout=120).stdout
    assert printed == COPY.read_text(encoding="utf-8"), f"docs/openapi.json is stale: {REFRESH}"
    assert printed == render(json.loads(printed))


def test_the_served_document_is_the_copy(server: Server, document: dict[str, Any]) -> None:
    served = httpx.get(f"{server.base_url}/openapi.json", timeout=30, verify=TLS)
    assert served.status_code == 200
    assert served.json() == document, f"the served /openapi.json differs from docs/openapi.json: {REFRESH}"


def test_every_operation_is_complete(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["basicAuth"] == {**schemes["basicAuth"], "type": "http", "scheme": "basic"}
    seen = []
    for path, method, op in _operations(document):
        where = f"{method.upper()} {path}"
        op_id = op.get("operationId", "")
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", op_id), f"{where}: operationId {op_id!r}"
        seen.append(op_id)
        assert op.get("summary") and op.get("description"), where
        successes = [code for code in op["responses"] if code.startswith("2")]
        assert len(successes) == 1, f"{where}: {successes}"
        content = _resolve(document, op["responses"][successes[0]])["content"]
        assert len(content) == 1, where
        media, body = next(iter(content.items()))
        assert body["schema"], where
        if path.startswith("/taxii2/"):
            assert media == TAXII, where
        errors = [code for code in op["responses"] if code[0] in "45"]
        assert errors, f"{where}: no error responses"
        assert "414" in errors and "500" in errors, where  # every request can be refused or fail
        for code in errors:
            response = _resolve(document, op["responses"][code])
            assert list(response["content"]) == [TAXII], f"{where} {code}"
            assert response["content"][TAXII]["schema"] == {"$ref": "#/components/schemas/ErrorResource"}
            assert response["content"][TAXII]["example"]["http_status"] == code
        if path.startswith("/taxii2/"):
            assert "406" in errors, where
        security = op["security"]
        if OPERATIONS[op_id].access == "public":
            assert security == [], where
        else:
            assert {"bearerAuth": []} in security and {"basicAuth": []} in security, where
            assert "401" in errors and "429" in errors, where
        for parameter in op.get("parameters", []):
            assert parameter.get("description") and "example" in parameter, f"{where}: {parameter['name']}"
    assert len(seen) == len(set(seen)), "operation ids must be unique"
    assert set(seen) == set(OPERATIONS), "app/openapi.py OPERATIONS must describe exactly the served routes"


def test_request_bodies(document: dict[str, Any]) -> None:
    for path, method, op in _operations(document):
        if method != "post" or op["operationId"] in ("suspend_participant", "reinstate_participant",
                                                     "rebuild_feed"):  # nothing to send: the path says it all
            continue
        body = op["requestBody"]
        assert body["required"] is True
        (media, content), = body["content"].items()
        assert media == (TAXII if path.startswith("/taxii2/") else "application/json"), path
        assert "$ref" in content["schema"] and content["example"], path


def test_schemas_have_examples_and_no_fastapi_leftovers(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    for name, model in OPERATIONS.items():
        if model.response is not None and model.response.__name__ not in ("KeySummary",):
            assert schemas[model.response.__name__].get("examples"), f"{name}: {model.response.__name__}"
    assert tuple(ParticipantKind) == KINDS
    assert schemas["ParticipantKind"]["enum"] == list(KINDS)
    slug = schemas["NewParticipant"]["properties"]["slug"]["pattern"]
    assert slug == registry._SLUG.pattern.replace("\\Z", "$")  # what admission enforces


# ------------------------------------------------------------------ a live server conforms to the contract


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.by_id = {op["operationId"]: (path, op) for path, _, op in _operations(document)}
        self.checked: set[tuple[str, int]] = set()

    def check(self, op_id: str, response: httpx.Response, expected: int | None = None) -> Any:
        """``response`` has the expected (by default the documented success) status, documented for ``op_id``,
        the documented media type, and a body that fits the documented schema."""
        _, op = self.by_id[op_id]
        status = str(response.status_code)
        success = next(code for code in op["responses"] if code.startswith("2"))
        assert status == str(expected or success), f"{op_id} answered {status}: {response.text[:300]}"
        assert status in op["responses"], f"{op_id} answered {status}, undocumented"
        (media, content), = _resolve(self.document, op["responses"][status])["content"].items()
        assert response.headers["content-type"] == media, f"{op_id} {status}"
        body = response.text if media.startswith("text/plain") else response.json()
        validator = Draft202012Validator({**content["schema"], "components": self.document["components"]})
        problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
        assert not problems, f"{op_id} {status} does not fit the contract: {problems[:5]}"
        self.checked.add((op_id, response.status_code))
        return body


@pytest.fixture(scope="module")
def contract(document: dict[str, Any]) -> Contract:
    return Contract(document)


def test_taxii_answers_conform(server: Server, lab: Participant, shared_collection: str,
                               contract: Contract) -> None:
    client = lab.client
    root = f"{server.base_url}/taxii2/"
    contract.check("get_discovery", client.get(root))
    contract.check("get_discovery", httpx.get(root, headers={"Accept": TAXII}, verify=TLS), 401)
    contract.check("get_discovery", client.get(root, headers={"Accept": "application/json"}), 406)
    contract.check("get_api_root", client.get(""))
    contract.check("get_api_root", client.get(f"{root}nowhere/"), 404)
    contract.check("get_collections", client.get("collections/"))
    contract.check("get_collection", client.get(f"collections/{shared_collection}/"))
    objects = f"collections/{shared_collection}/objects/"

    def post(body: Any, content_type: str = TAXII) -> httpx.Response:
        return client.post(objects, content=json.dumps(body), headers={"Content-Type": content_type})

    stix_id = indicator()["id"]
    first, second = indicator(stix_id, modified=ts(1)), indicator(stix_id, modified=ts(2))
    unmarked = {k: v for k, v in indicator().items() if k != "object_marking_refs"}  # no TLP marking: refused
    posted = contract.check("add_objects", post(envelope(first, second, unmarked)))
    assert (posted["success_count"], posted["failure_count"]) == (2, 1)
    contract.check("add_objects", post(envelope(first), "application/json"), 415)
    contract.check("add_objects", post([]), 400)
    contract.check("add_objects", post({"type": "bundle", "objects": [first]}), 422)
    contract.check("get_status", client.get(f"status/{posted['id']}/"))

    every_version = {"match[id]": stix_id, "match[version]": "all", "limit": 1}
    page = contract.check("get_objects", client.get(objects, params=every_version))
    assert page["more"] and page["next"]
    contract.check("get_objects", client.get(objects, params={**every_version, "next": page["next"]}))
    contract.check("get_objects", client.get(objects, params={"limit": "0"}), 400)
    contract.check("get_manifest", client.get(f"collections/{shared_collection}/manifest/",
                                              params={"match[id]": stix_id}))
    contract.check("get_object", client.get(f"{objects}{stix_id}/"))
    contract.check("get_object_versions", client.get(f"{objects}{stix_id}/versions/"))
    contract.check("get_object", client.get(f"{objects}indicator--00000000-0000-4000-8000-000000000000/"), 404)
    contract.check("delete_object", client.delete(f"{objects}{stix_id}/", params={"match[version]": ts(1)}))
    contract.check("delete_object", client.delete(f"{objects}{stix_id}/", params={"match[version]": "never"}), 400)


def test_admin_and_operations_answers_conform(server: Server, lab: Participant, contract: Contract) -> None:
    admin = httpx.Client(verify=TLS, base_url=f"{server.base_url}/admin/", timeout=60,
                         headers={"Authorization": f"Bearer {server.admin_secret}"})
    with admin:
        contract.check("list_participants", admin.get("participants"))
        contract.check("list_participants", lab.client.get(f"{server.base_url}/admin/participants"), 403)
        slug = "openapi-lab"
        contract.check("add_participant", admin.post("participants", json={
            "slug": slug, "name": "OpenAPI Lab", "kind": "vendor", "groups": ["g1"], "sectors": []}))
        contract.check("add_participant", admin.post("participants", json={"slug": "x", "name": "X", "kind": "cat"}),
                       422)
        contract.check("add_participant", admin.post("participants", json={"name": "no slug"}), 400)
        key = contract.check("issue_key", admin.post(f"participants/{slug}/keys", json={"label": "ci"}))
        claimed = f"identity--{uuid.uuid4()}"
        contract.check("claim_identity", admin.post(f"participants/{slug}/identities", json={"identity_id": claimed}))
        contract.check("claim_identity", admin.post(f"participants/{slug}/identities", json={"identity_id": "x"}), 422)
        contract.check("release_identity", admin.delete(f"participants/{slug}/identities/{claimed}"))
        contract.check("release_identity", admin.delete(f"participants/{slug}/identities/{claimed}"), 404)
        contract.check("issue_key", admin.post("participants/nobody/keys", json={}), 404)
        contract.check("update_participant", admin.patch(f"participants/{slug}", json={"add_groups": ["g2"]}))
        contract.check("update_participant", admin.patch(f"participants/{slug}", json={}), 422)
        contract.check("update_participant", admin.patch("participants/nobody", json={"name": "N"}), 404)
        contract.check("list_groups", admin.get("groups"))
        contract.check("list_keys", admin.get(f"participants/{slug}/keys"))
        contract.check("list_keys", admin.get("participants/nobody/keys"), 404)
        rotated = contract.check("rotate_key", admin.post(f"keys/{key['key_id']}/rotate", json={"grace": "1h"}))
        contract.check("rotate_key", admin.post(f"keys/{key['key_id']}/rotate", json={}), 422)  # rotating already
        contract.check("rotate_key", admin.post("keys/aisx_k_0000000000000000/rotate", json={}), 404)
        contract.check("issue_key", admin.post(f"participants/{slug}/keys", json={"expires": "0d"}), 422)
        contract.check("suspend_participant", admin.post(f"participants/{slug}/suspend"))
        contract.check("reinstate_participant", admin.post(f"participants/{slug}/reinstate"))
        contract.check("revoke_key", admin.delete(f"keys/{key['key_id']}"))
        contract.check("revoke_key", admin.delete(f"keys/{key['key_id']}"), 404)  # no longer active
        contract.check("revoke_key", admin.delete(f"keys/{rotated['key_id']}"))
        made = contract.check("add_collection", admin.post("collections", json={
            "alias": "openapi-intel", "title": "OpenAPI intel", "description": "d", "default_group": "g1"}))
        contract.check("add_collection", admin.post("collections", json={"alias": "openapi-2",
                                                                         "title": "OpenAPI intel"}), 422)
        contract.check("add_collection", admin.post("collections", json={"alias": "x", "title": "X",
                                                                         "api_root": "nowhere"}), 404)
        contract.check("add_collection", admin.post("collections", json={"title": "no alias"}), 400)
        contract.check("grant_access", admin.post(f"collections/{made['id']}/grants",
                                                  json={"subject": slug, "read": True}))
        contract.check("grant_access", admin.post("collections/nothing/grants", json={"subject": "everyone"}), 404)
        contract.check("grant_access", admin.post("collections/openapi-intel/grants", json={"subject": "kind:cat"}),
                       422)
        contract.check("grant_access", admin.post("collections/openapi-intel/grants", json={"read": True}), 400)
        contract.check("list_collections", admin.get("collections"))
        contract.check("update_collection", admin.patch("collections/openapi-intel", json={"validation": "lenient"}))
        contract.check("update_collection", admin.patch("collections/openapi-intel", json={}), 422)
        contract.check("update_collection", admin.patch("collections/nothing", json={"title": "x"}), 404)
        contract.check("list_grants", admin.get("collections/openapi-intel/grants"))
        contract.check("list_grants", admin.get("collections/nothing/grants"), 404)
        contract.check("revoke_grant", admin.delete(f"collections/openapi-intel/grants/{slug}"))
        contract.check("revoke_grant", admin.delete(f"collections/openapi-intel/grants/{slug}"), 404)
        contract.check("remove_collection", admin.delete("collections/shared"), 409)
        contract.check("remove_collection", admin.delete("collections/openapi-intel"))
        contract.check("remove_collection", admin.delete("collections/openapi-intel"), 404)
        contract.check("mint_audience_marking", admin.post("audiences", json={"recipient_groups": ["g1"]}))
        contract.check("mint_audience_marking", lab.client.post(
            f"{server.base_url}/admin/audiences", json={"embargo_until": "2030-01-01T00:00:00Z"}))
        contract.check("mint_audience_marking", admin.post("audiences", json={}), 422)
        contract.check("list_feeds", admin.get("feeds"))
        feed = "openapi-feed"  # a new file: the rebuild applies it first
        write_feed(server, feed, feed_toml(str(uuid.uuid4()), feed, selector={"types": ["indicator"]}))
        contract.check("rebuild_feed", admin.post(f"feeds/{feed}/rebuild"))
        contract.check("rebuild_feed", admin.post("feeds/no-such-feed/rebuild"), 404)
        contract.check("rebuild_feed", lab.client.post(f"{server.base_url}/admin/feeds/{feed}/rebuild"), 403)
        contract.check("jobs_status", admin.get("jobs"))
        contract.check("jobs_status", lab.client.get(f"{server.base_url}/admin/jobs"), 403)
        contract.check("list_audit_events", admin.get("audit", params={"limit": 50}))
        contract.check("list_audit_events", admin.get("audit", params={"since": "yesterday"}), 400)
        contract.check("list_audit_events", httpx.get(f"{server.base_url}/admin/audit", verify=TLS), 401)
        contract.check("list_audit_events", admin.get("audit", params={"participant": "nobody-at-all"}), 404)
        contract.check("verify_audit_chain", admin.get("audit/verify"))
        contract.check("verify_audit_chain", lab.client.get(f"{server.base_url}/admin/audit/verify"), 403)
        page = contract.check("export_audit_chain", admin.get("audit/export", params={"limit": 2}))
        assert len(page["records"]) == 2 and page["next"] == page["records"][-1]["position"]
        contract.check("export_audit_chain", admin.get("audit/export", params={"since": "someday"}), 400)
        contract.check("list_producer_reads", admin.get("audit/reads", params={"producer": lab.slug}))
        contract.check("list_producer_reads", admin.get("audit/reads", params={"producer": "nobody-at-all"}), 404)
        contract.check("list_producer_reads", lab.client.get(f"{server.base_url}/admin/audit/reads",
                                                             params={"producer": lab.slug}), 403)
    contract.check("list_my_reads", lab.client.get(f"{server.base_url}/me/reads"))
    contract.check("list_my_reads", lab.client.get(f"{server.base_url}/me/reads", params={"since": "x"}), 400)
    contract.check("list_my_reads", httpx.get(f"{server.base_url}/me/reads", verify=TLS), 401)
    contract.check("get_health", httpx.get(f"{server.base_url}/healthz", verify=TLS))
    metrics = f"{server.base_url}/metrics"
    assert "aisx_http_request_duration_seconds" in contract.check("get_metrics", httpx.get(
        metrics, headers={"Authorization": f"Bearer {server.admin_secret}"}, verify=TLS))
    contract.check("get_metrics", lab.client.get(metrics), 403)
    contract.check("get_metrics", httpx.get(metrics, verify=TLS), 401)
    contract.check("get_metrics", httpx.get(metrics, headers={"Authorization": "Bearer aisx_s_wrong"}, verify=TLS), 401)
    contract.check("get_schema", httpx.get(f"{server.base_url}/schemas/exchange-audience.schema.json", verify=TLS))
    contract.check("get_schema", httpx.get(f"{server.base_url}/schemas/nothing.json", verify=TLS), 404)
    contract.check("get_objects", httpx.get(f"{server.base_url}/taxii2/exchange/collections/x/objects/",
                                            params={"match[id]": "x" * 9000}, verify=TLS), 414)


def test_collections_and_grants_through_the_admin_api(server: Server, lab: Participant) -> None:
    """POST /admin/collections and /admin/collections/{collection}/grants: what ``aisx collection add`` and
    ``aisx grant`` do, for operator keys only, refused like them, and audited."""
    admin = httpx.Client(verify=TLS, base_url=f"{server.base_url}/admin/", timeout=60,
                         headers={"Authorization": f"Bearer {server.admin_secret}"})
    with admin:
        made = admin.post("collections", json={"alias": "api-made", "title": "Made by the API", "lenient": True,
                                               "description": "through POST /admin/collections"})
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
        assert made.json() == {"id": cid, "alias": "api-made", "api_root": "exchange", "public": False,
                               "validation": "lenient"}
        # the lab cannot see it until granted; then it reads and writes it
        assert lab.client.get(f"collections/{cid}/").status_code == 404
        granted = admin.post("collections/api-made/grants", json={"subject": lab.slug, "read": True, "write": True})
        assert granted.status_code == 200, granted.text
        assert granted.json() == {"collection_id": cid, "subject_kind": "participant", "subject": lab.slug,
                                  "can_read": True, "can_write": True}
        seen = lab.client.get(f"collections/{cid}/")
        assert seen.status_code == 200 and seen.json()["can_read"] and seen.json()["can_write"], seen.text
        assert seen.json()["title"] == "Made by the API"
        everyone = admin.post(f"collections/{cid}/grants", json={"subject": "everyone", "read": True}).json()
        assert (everyone["subject_kind"], everyone["subject"], everyone["can_write"]) == ("kind", "*", False)
        withdrawn = admin.post(f"collections/{cid}/grants", json={"subject": lab.slug})
        assert withdrawn.status_code == 200 and not withdrawn.json()["can_write"], withdrawn.text
        assert lab.client.get(f"collections/{cid}/").json()["can_write"] is False  # everyone still reads

        refusals = {
            "taken title": (admin.post("collections", json={"alias": "api-made-2", "title": "Made by the API"}),
                            422),
            "taken alias": (admin.post("collections", json={"alias": "api-made", "title": "Other"}), 422),
            "bad alias": (admin.post("collections", json={"alias": "Bad Alias", "title": "Bad"}), 422),
            "public with a default group": (admin.post("collections", json={
                "alias": "api-public", "title": "Public", "public": True, "default_group": "g"}), 422),
            "unknown collection": (admin.post("collections/nothing/grants", json={"subject": "everyone"}), 404),
            "unknown participant": (admin.post(f"collections/{cid}/grants", json={"subject": "nobody"}), 404),
            "bad subject": (admin.post(f"collections/{cid}/grants", json={"subject": "team:x"}), 422),
            "participant key": (lab.client.post(f"{server.base_url}/admin/collections",
                                                json={"alias": "lab-made", "title": "Lab made"}), 403),
            "participant key, grant": (lab.client.post(f"{server.base_url}/admin/collections/{cid}/grants",
                                                       json={"subject": lab.slug, "write": True}), 403),
            "no key": (httpx.post(f"{server.base_url}/admin/collections", json={"alias": "anon", "title": "A"},
                                  verify=TLS),
                       401),
            "no key, grant": (httpx.post(f"{server.base_url}/admin/collections/{cid}/grants",
                                         json={"subject": "everyone", "write": True}, verify=TLS), 401),
        }
        for what, (answer, status) in refusals.items():
            assert answer.status_code == status, (what, answer.text)
            assert answer.json()["http_status"] == str(status), what
        assert lab.client.get(f"collections/{cid}/").json()["can_write"] is False

        added = admin.get("audit", params={"action": "collection.add"}).json()
        assert [(e["participant"], e["collection_id"], json.loads(e["detail"])["alias"]) for e in added
                if e["collection_id"] == cid] == [("admin", cid, "api-made")]
        grants = [(e["participant"], json.loads(e["detail"])) for e in admin.get(
            "audit", params={"action": "collection.grant", "order": "oldest"}).json() if e["collection_id"] == cid]
        assert grants == [
            ("admin", {"subject_kind": "participant", "subject": lab.slug, "can_read": True, "can_write": True}),
            ("admin", {"subject_kind": "kind", "subject": "*", "can_read": True, "can_write": False}),
            ("admin", {"subject_kind": "participant", "subject": lab.slug, "can_read": False, "can_write": False})]
    # the CLI records the same events (by the exchange itself: no participant)
    cli_made = server.cli_json("collection", "add", "cli-made", "--title", "Made by the CLI")
    server.cli_json("grant", "everyone", "cli-made", "--read")
    with httpx.Client(verify=TLS, base_url=f"{server.base_url}/admin/", timeout=60,
                      headers={"Authorization": f"Bearer {server.admin_secret}"}) as admin:
        events = [(e["action"], e["participant"]) for e in admin.get("audit", params={"order": "oldest"}).json()
                  if e["collection_id"] == cli_made["id"]]
    assert events == [("collection.add", None), ("collection.grant", None)]


def test_every_operation_was_seen_answering(contract: Contract) -> None:
    """The two tests above drove every operation (run the module as a whole)."""
    if not contract.checked:
        pytest.skip("run together with the conformance tests")
    assert {op_id for op_id, _ in contract.checked} == set(OPERATIONS)
