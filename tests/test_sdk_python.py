"""A Python client generated from docs/openapi.json with openapi-python-client (the commands of docs/sdk.md)
drives the main flows against a live server: discovery, collections, posting an envelope and polling its status,
paging with `next`, and, as an operator, admitting a participant and issuing it a key."""

import base64
import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.server import TAXII, Server
from tests.support.stix import TLP_GREEN, envelope, indicator, ts

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "docs" / "sdk" / "python" / "config.yaml"
API_ROOT = "exchange"


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """`openapi-python-client generate`, offline, into a temporary directory; then importable as aisx_client."""
    workdir = tmp_path_factory.mktemp("sdk-python")
    generator = Path(sys.executable).with_name("openapi-python-client")
    env = {**os.environ, "PATH": f"{generator.parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # its ruff hooks
    result = subprocess.run(
        [str(generator), "generate", "--path", str(ROOT / "docs" / "openapi.json"),
         "--output-path", str(workdir / "aisx-client"), "--config", str(CONFIG)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(workdir / "aisx-client"))
    try:
        yield importlib.import_module("aisx_client")
    finally:
        sys.path.remove(str(workdir / "aisx-client"))
        for name in [m for m in sys.modules if m == "aisx_client" or m.startswith("aisx_client.")]:
            del sys.modules[name]


def _import(name: str) -> Any:
    return importlib.import_module(f"aisx_client.{name}")


@pytest.fixture(scope="module")
def operator(sdk: ModuleType, server: Server) -> Any:
    return sdk.AuthenticatedClient(base_url=server.base_url, token=server.admin_secret)


@pytest.fixture(scope="module")
def producer(sdk: ModuleType, server: Server, operator: Any) -> tuple[Any, Any]:
    """A lab admitted and keyed through the SDK's admin operations: (its key, a client with that key)."""
    models = _import("models")
    admitted = _import("api.admin.add_participant").sync(client=operator, body=models.NewParticipant(
        slug="sdk-lab", name="SDK Lab", kind=models.ParticipantKind.LAB, groups=["sdk-testers"]))
    assert isinstance(admitted, models.AdmittedParticipant), admitted
    assert admitted.slug == "sdk-lab" and admitted.identity_id.startswith("identity--")
    key = _import("api.admin.issue_key").sync("sdk-lab", client=operator, body=models.NewKey(label="sdk"))
    assert isinstance(key, models.IssuedKey), key
    assert key.participant == "sdk-lab" and key.secret
    participants = _import("api.admin.list_participants").sync(client=operator)
    assert isinstance(participants, list)
    listed = next(p for p in participants if p.slug == "sdk-lab")
    assert listed.kind is models.ParticipantKind.LAB and [k.key_id for k in listed.keys] == [key.key_id]
    client = sdk.AuthenticatedClient(base_url=server.base_url, token=key.secret, headers={"Accept": TAXII},
                                     raise_on_unexpected_status=True)
    return key, client


def test_discovery(sdk: ModuleType, producer: tuple[Any, Any]) -> None:
    _, client = producer
    models = _import("models")
    response = _import("api.taxii.get_discovery").sync_detailed(client=client)
    assert response.status_code == 200 and response.headers["content-type"] == TAXII
    discovery = response.parsed
    assert isinstance(discovery, models.Discovery)
    assert discovery.default == f"/taxii2/{API_ROOT}/" and discovery.api_roots == [discovery.default]
    root = _import("api.taxii.get_api_root").sync(API_ROOT, client=client)
    assert isinstance(root, models.ApiRootInfo) and root.versions == [TAXII] and root.max_content_length > 0


def test_basic_authentication(sdk: ModuleType, server: Server, producer: tuple[Any, Any]) -> None:
    key, _ = producer
    models = _import("models")
    basic = base64.b64encode(f"{key.key_id}:{key.secret}".encode()).decode()
    client = sdk.AuthenticatedClient(base_url=server.base_url, prefix="Basic", token=basic)
    assert isinstance(_import("api.taxii.get_discovery").sync(client=client), models.Discovery)
    wrong = sdk.AuthenticatedClient(base_url=server.base_url, token="aisx_s_not-a-key")
    error = _import("api.taxii.get_discovery").sync(client=wrong)
    assert isinstance(error, models.ErrorResource) and error.http_status == "401"


def test_list_collections(producer: tuple[Any, Any]) -> None:
    _, client = producer
    collections = _import("api.taxii.get_collections").sync(API_ROOT, client=client)
    by_alias = {c.alias: c for c in collections.collections}
    assert by_alias["shared"].can_read and by_alias["shared"].can_write
    assert by_alias["shared"].media_types == ["application/stix+json;version=2.1"]


def _shared(client: Any) -> str:
    collections = _import("api.taxii.get_collections").sync(API_ROOT, client=client)
    return next(c.id for c in collections.collections if c.alias == "shared")


def test_post_an_envelope_and_poll_its_status(producer: tuple[Any, Any]) -> None:
    _, client = producer
    models = _import("models")
    shared = _shared(client)
    good = indicator(tlp=TLP_GREEN)
    unmarked = {k: v for k, v in indicator().items() if k != "object_marking_refs"}  # no TLP marking: refused
    body = models.AddObjectsEnvelope.from_dict(envelope(good, unmarked))
    response = _import("api.taxii.add_objects").sync_detailed(API_ROOT, shared, client=client, body=body)
    assert response.status_code == 202 and response.headers["content-type"] == TAXII
    status = response.parsed
    assert isinstance(status, models.Status)
    assert (status.total_count, status.success_count, status.failure_count) == (2, 1, 1), status.failures
    assert [s.id for s in status.successes] == [good["id"]]
    assert status.failures[0].id == unmarked["id"] and "TLP" in status.failures[0].message

    polled = _import("api.taxii.get_status").sync(API_ROOT, status.id, client=client)
    assert isinstance(polled, models.Status)
    assert polled.status is models.StatusStatus.COMPLETE and polled.pending_count == 0
    assert polled.id == status.id and polled.success_count == 1

    page = _import("api.taxii.get_object").sync(API_ROOT, shared, good["id"], client=client)
    assert isinstance(page, models.Envelope) and not page.more
    (stored,) = page.objects
    assert stored.to_dict() == good  # every property, exactly as posted


def test_page_through_objects_with_next(producer: tuple[Any, Any]) -> None:
    _, client = producer
    models = _import("models")
    get_objects = _import("api.taxii.get_objects")
    shared = _shared(client)
    posted = [indicator(created=ts(second)) for second in range(7)]
    status = _import("api.taxii.add_objects").sync(
        API_ROOT, shared, client=client, body=models.AddObjectsEnvelope.from_dict(envelope(*posted)))
    assert status.success_count == 7

    ids = ",".join(o["id"] for o in posted)
    seen: list[str] = []
    pages = 0
    next_: Any = _import("types").UNSET  # the first page: no `next`
    while True:
        page = get_objects.sync(API_ROOT, shared, client=client, matchid=ids, limit=3, next_=next_)
        assert isinstance(page, models.Envelope), page
        pages += 1
        seen += [o.id for o in page.objects]
        if not page.more:
            break
        next_ = page.next_
    assert pages == 3 and sorted(seen) == sorted(o["id"] for o in posted)

    manifest = _import("api.taxii.get_manifest").sync(API_ROOT, shared, client=client, matchid=ids)
    assert isinstance(manifest, models.Manifest) and len(manifest.objects) == 7


def test_errors_come_back_as_error_resources(server: Server, producer: tuple[Any, Any]) -> None:
    _, client = producer
    models = _import("models")
    error = _import("api.admin.list_participants").sync(client=client)
    assert isinstance(error, models.ErrorResource) and error.http_status == "403"
    error = _import("api.taxii.get_collection").sync(API_ROOT, "00000000-0000-4000-8000-000000000000", client=client)
    assert isinstance(error, models.ErrorResource) and error.http_status == "404"


def test_operator_suspends_and_reinstates(operator: Any, producer: tuple[Any, Any]) -> None:
    key, client = producer
    models = _import("models")
    view = _import("api.admin.suspend_participant").sync("sdk-lab", client=operator)
    assert isinstance(view, models.ParticipantView) and view.suspended
    error = _import("api.taxii.get_discovery").sync(client=client)  # every key of a suspended participant: 401
    assert isinstance(error, models.ErrorResource) and error.http_status == "401"
    view = _import("api.admin.reinstate_participant").sync("sdk-lab", client=operator)
    assert isinstance(view, models.ParticipantView) and not view.suspended
    assert isinstance(_import("api.taxii.get_discovery").sync(client=client), models.Discovery)
    health = _import("api.operations.get_health").sync(client=operator)
    assert isinstance(health, models.Health) and health.status == "ok"
    assert key.key_id.startswith("aisx_k_")
