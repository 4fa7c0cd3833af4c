"""`aisx ingest` is a TAXII POST: the same write grant and suspension checks, exit status 0/1/2, failures named
by file and position, and --tlp."""

import json
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.server import Participant, Server
from tests.support.stix import TLP_GREEN, indicator

TLP_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"


def unmarked() -> dict[str, Any]:
    obj = indicator()
    del obj["object_marking_refs"]
    return obj


def _bundle(tmp_path: Path, objects: list[Any], name: str = "bundle.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}))
    return path


def _run(server: Server, path: Path, slug: str, collection: str = "shared", *extra: str) -> Any:
    return server.cli("ingest", str(path), "--as", slug, "--collection", collection, *extra, check=False)


@pytest.mark.parametrize("collection", ["directory", "no-grant"])
def test_refuses_collections_the_participant_may_not_write(server: Server, lab: Participant, tmp_path: Path,
                                                           collection: str) -> None:
    if collection == "no-grant":
        server.add_collection("closed-one", "Closed")
        collection = "closed-one"
    result = _run(server, _bundle(tmp_path, [indicator()]), lab.slug, collection, "--json")
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert "may not post" in result.stderr


def test_refuses_a_suspended_participant(server: Server, make_participant: Any, tmp_path: Path) -> None:
    poster = make_participant()
    with server.admin_client() as admin:
        assert admin.post(f"/admin/participants/{poster.slug}/suspend").status_code == 200
    result = _run(server, _bundle(tmp_path, [indicator()]), poster.slug)
    assert result.returncode == 2 and "suspended" in result.stderr
    with server.admin_client() as admin:
        assert admin.post(f"/admin/participants/{poster.slug}/reinstate").status_code == 200
    assert _run(server, _bundle(tmp_path, [indicator()]), poster.slug).returncode == 0


def test_exit_status_positions_and_more(server: Server, lab: Participant, tmp_path: Path) -> None:
    good = [indicator() for _ in range(3)]
    bad = [unmarked() for _ in range(25)]  # no TLP marking
    path = _bundle(tmp_path, [good[0], *bad, good[1], "not an object", good[2]])
    result = _run(server, path, lab.slug)
    assert result.returncode == 1, result.stderr
    assert "3 accepted, 26 rejected" in result.stderr
    assert f"{path}:1 {bad[0]['id']}: no TLP marking" in result.stderr
    assert f"{path}:20 {bad[19]['id']}:" in result.stderr and f"{path}:21 " not in result.stderr
    assert "and 6 more" in result.stderr
    summary = orjson.loads(_run(server, path, lab.slug, "shared", "--json").stdout)
    assert (summary["rejected"], summary["more_failures"]) == (26, 0)
    assert {"file": str(path), "index": 27, "id": None, "message": "not a JSON object with a string 'id'"} in \
        summary["failures"]
    assert _run(server, _bundle(tmp_path, good), lab.slug).returncode == 0


def test_tlp_marks_only_unmarked_objects(server: Server, lab: Participant, shared_collection: str,
                                         tmp_path: Path) -> None:
    bare, green = unmarked(), indicator()
    path = _bundle(tmp_path, [bare, green])
    assert _run(server, path, lab.slug).returncode == 1  # never marked by default
    assert _run(server, path, lab.slug, "shared", "--tlp", "purple").returncode == 2
    assert _run(server, path, lab.slug, "shared", "--tlp", "clear").returncode == 0
    got = {o["id"]: o for o in lab.client.get(f"collections/{shared_collection}/objects/", params={
        "match[id]": f"{bare['id']},{green['id']}"}).json()["objects"]}
    assert got[bare["id"]]["object_marking_refs"] == [TLP_CLEAR]
    assert got[green["id"]]["object_marking_refs"] == [TLP_GREEN]
