"""The `aisx` command line: --json output, errors, bulk ingest of real and generated files, first start."""

import gzip
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import DATA
from tests.support.server import Participant, Server, for_aisx_process, run_aisx
from tests.support.stix import indicator, ts

ATLAS = DATA / "atlas" / "stix-atlas.json"
EXAMPLES = sorted((DATA / "examples").glob("[0-9][0-9]-*.json"))


def _one_json_object(result: subprocess.CompletedProcess) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    payload = orjson.loads(lines[0])
    assert isinstance(payload, dict)
    return payload


def _ingest(server: Server, files: Sequence[Path], slug: str, collection: str = "shared") -> dict[str, Any]:
    result = server.cli("ingest", *map(str, files), "--as", slug, "--collection", collection, "--json", check=False)
    assert result.stdout, result.stderr
    summary = orjson.loads(result.stdout)
    assert result.returncode == (1 if summary["rejected"] else 0), result.stderr
    assert {"accepted", "rejected", "failures"} <= set(summary)
    assert len(summary["failures"]) == min(summary["rejected"], 1000)
    assert all(isinstance(f["message"], str) and f["message"] and "id" in f for f in summary["failures"])
    return summary


def _count(files: Sequence[Path]) -> int:
    return sum(len(json.loads(f.read_text())["objects"]) for f in files)


def test_serve_bootstraps_an_empty_directory(server: Server, tmp_path: Path) -> None:
    log = server.log_path.read_text()
    assert "Operator participant 'admin' created" in log
    assert server.admin_key_id and server.admin_secret and server.admin_secret in log
    with server.client(auth=(server.admin_key_id, server.admin_secret)) as admin:
        collections = admin.get("collections/").json()["collections"]
    [shared] = [c for c in collections if c.get("alias") == "shared"]
    assert shared["can_read"] and shared["can_write"]
    engine = create_engine(server.database.url)
    try:
        with engine.connect() as conn:
            kinds = conn.execute(text("SELECT slug, kind FROM participant")).all()
    finally:
        engine.dispose()
    assert ("admin", "operator") in kinds

    # a second start on the same database makes nothing new and prints no key
    again = Server(tmp_path, 0, server.database).start()
    try:
        assert "secret:" not in again.log_path.read_text()
        with server.client(server.admin_secret) as admin:
            assert admin.get("collections/").json()["collections"] == collections
    finally:
        again.stop()


@pytest.mark.parametrize("args", [["participant", "--help"], ["participant"], ["key", "list", "--help"],
                                  ["collection", "update", "x", "--help"], ["--help"]])
def test_help_needs_no_database(tmp_path: Path, args: list[str]) -> None:
    """A new operator reads the help before anything exists: no "the database has no AISX schema yet", and no
    database file made by asking (it failed for every command group before)."""
    result = run_aisx(args, cwd=tmp_path, env=for_aisx_process(dict(os.environ)), check=False, timeout=120)
    assert "Usage: " in result.stdout + result.stderr, result.stdout + result.stderr
    assert "schema" not in result.stderr
    assert result.returncode in (0, 2)  # click answers a group named alone with its help and exit 2
    assert list(tmp_path.iterdir()) == []


def test_creating_commands_print_one_json_object(server: Server) -> None:
    participant = _one_json_object(server.cli("participant", "add", "json-lab", "--name", "JSON Lab", "--kind",
                                              "lab", "--group", "frontier", "--sector", "technology", "--json"))
    assert participant["slug"] == "json-lab" and isinstance(participant["id"], int)
    assert participant["identity_id"].startswith("identity--")
    assert participant["pseudonym_identity_id"].startswith("identity--")
    assert participant["identity_id"] != participant["pseudonym_identity_id"]

    key = _one_json_object(server.cli("key", "issue", "json-lab", "--label", "ci", "--json"))
    assert key["key_id"] and len(key["secret"]) >= 32

    collection = _one_json_object(server.cli("collection", "add", "json-coll", "--title", "JSON", "--json"))
    assert collection["alias"] == "json-coll" and collection["id"]
    grant = _one_json_object(server.cli("grant", "json-lab", "json-coll", "--read", "--write", "--json"))
    assert grant["collection_id"] == collection["id"]

    with server.client(key["secret"]) as client:  # the new key works and reaches the new collection
        got = client.get(f"collections/{collection['id']}/")
    assert got.status_code == 200, got.text
    assert (got.json()["id"], got.json()["can_read"], got.json()["can_write"]) == (collection["id"], True, True)


@pytest.mark.parametrize(("args", "message"), [
    (["participant", "add", "admin", "--name", "Again", "--kind", "operator"], "already exists"),
    (["participant", "add", "spy-1", "--name", "Spy", "--kind", "spy"], "kind"),
    (["key", "issue", "nobody"], "nobody"),
    (["grant", "admin", "no-such-collection", "--read"], "no-such-collection"),
    (["collection", "add", "shared-again", "--title", "SHARED exchange collection"], "already has a collection titled"),
    (["ingest", "{file}", "--as", "admin", "--collection", "no-such-collection"], "no-such-collection"),
    (["ingest", "{missing}", "--as", "admin", "--collection", "shared"], "missing.json"),
    (["ingest", "{broken}", "--as", "admin", "--collection", "shared"], "broken.jsonl: object 1 is not JSON"),
])
def test_errors_exit_non_zero_with_nothing_on_stdout(
    server: Server, tmp_path: Path, args: list[str], message: str,
) -> None:
    (tmp_path / "file.json").write_text(json.dumps({"type": "bundle", "objects": [indicator()]}))
    (tmp_path / "broken.jsonl").write_text(json.dumps(indicator()) + "\n{not json\n")
    paths = {"file": tmp_path / "file.json", "missing": tmp_path / "missing.json",
             "broken": tmp_path / "broken.jsonl"}
    result = server.cli(*(a.format(**paths) for a in args), "--json", check=False)
    assert result.returncode != 0
    assert result.stdout == ""
    assert message in result.stderr


def test_ingest_json_lines_gzip_and_arrays(server: Server, lab: Participant, shared_collection: str,
                                          tmp_path: Path) -> None:
    """One command, four files: JSON lines (blank lines allowed), gzipped JSON lines, a gzipped bundle and a
    JSON array with a UTF-8 byte order mark; each holds two versions of one indicator, another indicator and
    one STIX 2.0 object."""
    sources, good, bad = [], [], []
    for name in ("lines.jsonl", "lines.jsonl.gz", "bundle.json.gz", "array-bom.json"):
        first = indicator(created=ts(0), modified=ts(0))
        objects = [first, indicator(first["id"], created=ts(0), modified=ts(1)), indicator(),
                   indicator(spec_version="2.0")]
        good += objects[:3]
        bad.append(objects[3]["id"])
        if "lines" in name:
            data = "\n\n".join(json.dumps(o) for o in objects).encode() + b"\n"
        elif "bundle" in name:
            data = json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}).encode()
        else:
            data = b"\xef\xbb\xbf" + json.dumps(objects).encode()
        sources.append(tmp_path / name)
        sources[-1].write_bytes(gzip.compress(data) if name.endswith(".gz") else data)

    summary = _ingest(server, sources, lab.slug)
    assert (summary["accepted"], summary["rejected"]) == (12, 4)
    assert sorted(f["id"] for f in summary["failures"]) == sorted(bad)
    assert all("spec_version" in f["message"] for f in summary["failures"])
    got = lab.client.get(f"collections/{shared_collection}/objects/",
                         params={"match[id]": ",".join({o["id"] for o in good} | set(bad)),
                                 "match[version]": "all"})
    assert sorted(got.json()["objects"], key=str) == sorted(good, key=str)


def test_ingest_atlas_bundle(server: Server, lab: Participant) -> None:
    summary = _ingest(server, [ATLAS], lab.slug)
    assert summary["accepted"] + summary["rejected"] == _count([ATLAS]) == 538


def test_ingest_the_example_bundles(server: Server, shared_collection: str,
                                    make_participant: Callable[[], Participant]) -> None:
    assert len(EXAMPLES) == 10
    poster = make_participant()
    manifest = f"collections/{shared_collection}/manifest/"

    def served() -> set[str]:
        response = poster.client.get(manifest, params={"match[version]": "all", "limit": 10000})
        assert response.status_code == 200
        assert not response.json()["more"]
        return {r["id"] for r in response.json().get("objects", [])}

    before = served()
    summary = _ingest(server, EXAMPLES, poster.slug)
    assert summary["accepted"] + summary["rejected"] == _count(EXAMPLES) == 194

    # what was accepted is served to its producer
    rejected = {f["id"] for f in summary["failures"]}
    posted = {o["id"]: o["type"] for f in EXAMPLES for o in json.loads(f.read_text())["objects"]}
    after = served()
    assert after - before <= set(posted)
    assert {i for i in posted if i not in rejected} <= after

    # ingesting the same files again changes nothing: exact duplicates are accepted, the rest rejected again
    again = _ingest(server, EXAMPLES, poster.slug)
    assert (again["accepted"], again["rejected"]) == (summary["accepted"], summary["rejected"])
    assert served() == after
