"""Fuzzing every operation of the live server's ``/openapi.json`` with schemathesis (issue: hardening, 4).

For each operation, schemathesis generates requests that fit the schema and requests that break it (wrong
types, missing and extra parameters, junk bodies); hypothesis picks the credentials (a participant's key as
Bearer or Basic, the operator's key, a wrong key, none), the Accept header, and whether the path names things
that exist (the API root, a collection, a stored object, a status resource, a participant and a key) or not.

Checked on every answer: never a 5xx, never a stack trace, and every error is a TAXII error resource — a JSON
object with a title and ``http_status`` equal to the status code, sent as ``application/taxii+json;version=2.1``
(the admin API and /schemas answer errors the same way).

Operations or parameters the served document leaves out are filled in from TAXII 2.1 before fuzzing (the
filters of §3.5, the envelope body of §5.4), so the fuzz never depends on how complete the document is."""

import base64
import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.schemas import APIOperation

from tests.hardening_support import (
    error_resource_problem,
    running_server,
    shared_collection_id,
    taxii_error_problem,
)
from tests.support.server import TAXII, TLS, Server
from tests.support.stix import indicator

EXAMPLES = settings(max_examples=30, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

# TAXII 2.1 §3.5 filters and pagination, for documents that do not declare them.
_FILTERS = {
    "added_after": {"type": "string", "examples": ["2026-01-01T00:00:00.000Z"]},
    "limit": {"type": "integer", "minimum": 1},
    "next": {"type": "string"},
    "match[id]": {"type": "string"},
    "match[type]": {"type": "string", "examples": ["indicator,attack-pattern"]},
    "match[version]": {"type": "string", "examples": ["all", "first,last"]},
    "match[spec_version]": {"type": "string", "examples": ["2.1"]},
}
_ENVELOPE = {"type": "object", "properties": {"objects": {"type": "array", "items": {"type": "object"}}}}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """The served document, with the TAXII filters and the envelope body added where they are missing."""
    document = copy.deepcopy(document)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "patch", "delete"):
                continue
            params = operation.setdefault("parameters", [])
            named = {p.get("name") for p in params}
            listing = method == "get" and path.endswith(("/objects/", "/manifest/", "/versions/"))
            if path.startswith("/taxii2/") and (listing or method == "delete"):
                wanted = ["match[version]"] if method == "delete" else list(_FILTERS)
                params += [{"name": name, "in": "query", "required": False, "schema": _FILTERS[name]}
                           for name in wanted if name not in named]
            if method == "post" and path.endswith("/objects/") and "requestBody" not in operation:
                operation["requestBody"] = {"required": True, "content": {TAXII: {"schema": _ENVELOPE}}}
    return document


@dataclass
class Fuzzed:
    server: Server
    schema: schemathesis.BaseSchema
    credentials: list[dict[str, str]]  # Authorization headers to choose from ({} for none)
    existing: dict[str, str]  # a path parameter's name -> a value that exists


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    # Fuzzing sends wrong keys by design: no failed-authentication throttling here (tested elsewhere).
    with running_server(tmp_path_factory.mktemp("fuzz-openapi"),
                        settings={"AISX_AUTH_FAILURES_PER_MINUTE": "0", "AISX_RATE_LIMIT_PER_MINUTE": "0"}) as srv:
        lab = srv.add_participant("fuzz-lab")
        victim = srv.add_participant("fuzz-admin-target")  # what the operator's admin calls may suspend or revoke
        collection = shared_collection_id(lab.client)
        obj = indicator()
        status = lab.client.post(f"collections/{collection}/objects/", json={"objects": [obj]},
                                 headers={"Content-Type": TAXII}).json()
        document = httpx.get(f"{srv.base_url}/openapi.json", timeout=30, verify=TLS).json()
        basic = base64.b64encode(f"{lab.key_id}:{lab.secret}".encode()).decode()
        yield Fuzzed(
            srv, schemathesis.openapi.from_dict(complete(document)),
            credentials=[{"Authorization": f"Bearer {lab.secret}"}, {"Authorization": f"Basic {basic}"},
                         {"Authorization": f"Bearer {srv.admin_secret}"}, {},
                         {"Authorization": "Bearer aisx_s_not-a-key"}, {"Authorization": "Basic !!!"}],
            existing={"api_root": "exchange", "collection_id": collection, "object_id": obj["id"],
                      "status_id": status["id"], "slug": victim.slug, "key_id": victim.key_id,
                      "name": "ai-threat-context.schema.json", "identity_id": f"identity--{uuid.uuid4()}",
                      # the shared collection: a standard one, so removing it is refused (409) however fuzzed
                      "collection": collection, "subject": victim.slug})


def _operations() -> list[str]:
    """The operations the app declares (the live document is checked to declare the same ones)."""
    from app.main import create_app

    document = create_app().openapi()
    return sorted(f"{method.upper()} {path}" for path, item in document["paths"].items()
                  for method in item if method in ("get", "post", "patch", "delete"))


OPERATIONS = _operations()


def test_the_live_document_declares_every_operation(fuzzed: Fuzzed) -> None:
    live = sorted(f"{r.ok().method.upper()} {r.ok().path}" for r in fuzzed.schema.get_all_operations())
    assert live == OPERATIONS


@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzz_operation(fuzzed: Fuzzed, label: str) -> None:
    operation = fuzzed.schema.find_operation_by_label(label)
    assert isinstance(operation, APIOperation), label
    names = {p.name for p in operation.path_parameters}
    real = {name: value for name, value in fuzzed.existing.items() if name in names}
    strategies = [operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    if real:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real))
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=real))
    accept = st.sampled_from([TAXII, TAXII, TAXII, "application/taxii+json", "*/*", "application/json", ""])
    seen: list[int] = []

    @given(case=st.one_of(strategies), auth=st.sampled_from(fuzzed.credentials), accept=accept)
    @EXAMPLES
    def fuzz(case: schemathesis.Case, auth: dict[str, str], accept: str) -> None:
        headers = {**auth, **({"Accept": accept} if accept else {})}
        response = case.call(base_url=fuzzed.server.base_url, headers=headers, timeout=60)
        seen.append(response.status_code)
        where = f"{case.method} {case.formatted_path} {case.query or ''} -> {response.status_code}"
        assert response.status_code < 500, f"{where}: {response.text[:500]}"
        assert "Traceback" not in response.text, where
        if response.status_code >= 400:
            content_type = next(iter(response.headers.get("content-type", [])), None)
            problem = error_resource_problem(response.status_code, content_type, response.content)
            assert problem is None, f"{where}: {problem}"

    fuzz()
    print(f"{label}: {len(seen)} requests, statuses {sorted(set(seen))}")


# ------------------------------------------------------------------ hostile strings in every parameter

HOSTILE = ["a\x00b", "\x00", "\u202e\ufeff\u200b", "%00%", "'; SELECT 1; --", "\U0001f9e8" * 50]
_BODIES = {  # a valid body for each operation that takes one, and the string fields to poison in it
    "POST /admin/participants": ({"slug": "hostile-lab", "name": "Hostile", "kind": "lab"}, ["slug", "name"]),
    "POST /admin/participants/{slug}/keys": ({"label": "fine"}, ["label"]),
    "POST /admin/audiences": ({"recipient_groups": ["labs"]}, ["embargo_until"]),
}


def _places() -> list[Any]:
    from app.main import create_app

    document = complete(create_app().openapi())
    cases = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "patch", "delete"):
                continue
            label = f"{method.upper()} {path}"
            places = [f"path {p['name']}" for p in operation.get("parameters", []) if p["in"] == "path"]
            places += [f"query {p['name']}" for p in operation.get("parameters", []) if p["in"] == "query"]
            places += [f"body {name}" for name in _BODIES.get(label, ({}, []))[1]]
            for place in places:
                cases.append(pytest.param(label, place, id=f"{label} {place}"))
    return cases


@pytest.mark.parametrize(("label", "place"), _places())
def test_hostile_strings_in_each_parameter(fuzzed: Fuzzed, label: str, place: str) -> None:
    """NUL, bidi and zero-width controls, percent signs, SQL and long emoji runs in one parameter at a time
    (the others valid, the key the operator's for /admin/, a participant's otherwise): never a 5xx."""
    method, path = label.split(" ", 1)
    where, name = place.split(" ", 1)
    secret = fuzzed.server.admin_secret if path.startswith("/admin/") else fuzzed.credentials[0]["Authorization"][7:]
    body, _ = _BODIES.get(label, (None, []))
    for value in HOSTILE:
        values = {n: v for n, v in fuzzed.existing.items() if "{" + n + "}" in path}
        params, payload = {}, dict(body) if body else None
        if where == "path":
            values[name] = value
        elif where == "query":
            params[name] = value
        else:
            assert payload is not None
            payload[name] = value
        url = fuzzed.server.base_url + path.format(**{n: quote(v, safe="") for n, v in values.items()})
        response = httpx.request(method, url, params=params, json=payload, timeout=60,
                                 headers={"Authorization": f"Bearer {secret}", "Accept": TAXII}, verify=TLS)
        assert response.status_code < 500, f"{label} with {place}={value!r}: {response.text[:300]}"
        if response.status_code >= 400:
            assert taxii_error_problem(response) is None, f"{label} {place}={value!r}: {taxii_error_problem(response)}"


def test_basic_credentials_with_a_nul_are_refused(fuzzed: Fuzzed) -> None:
    for user, password in (("k\x00ey", "secret"), ("key", "sec\x00ret"), ("\x00", "\x00")):
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        response = httpx.get(f"{fuzzed.server.root_url}collections/", timeout=30,
                             headers={"Authorization": f"Basic {token}", "Accept": TAXII}, verify=TLS)
        assert response.status_code == 401, (user, password, response.text[:300])
        assert taxii_error_problem(response) is None
