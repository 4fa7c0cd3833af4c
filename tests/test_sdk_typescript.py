"""A TypeScript client generated from docs/openapi.json with @hey-api/openapi-ts (from the npm registry) type-checks
with `tsc` together with the example in docs/sdk/typescript/, and that example, compiled, drives a live server.
The commands are those of docs/sdk.md."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.server import TAXII, Server

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "sdk" / "typescript"
# Pinned: @hey-api/openapi-ts 0.96 and later need Node 22; 0.95 runs on Node 20.19+.
PACKAGES = ["typescript@5.9.3", "@hey-api/openapi-ts@0.95.0", "@types/node@^20"]

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="the TypeScript SDK tests need node and npm on PATH")


def _run(args: list[str], cwd: Path, timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "npm_config_update_notifier": "false", **env})
    assert result.returncode == 0, f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """npm init; install the generator and TypeScript; generate src/aisx/; add the example's sources."""
    work = tmp_path_factory.mktemp("sdk-typescript")
    _run(["npm", "init", "-y"], work, 60)
    _run(["npm", "install", "--no-audit", "--no-fund", "--save-exact", *PACKAGES], work, 300)
    _run([str(work / "node_modules" / ".bin" / "openapi-ts"), "-i", str(ROOT / "docs" / "openapi.json"),
          "-o", "src/aisx"], work, 180)
    for name in ("tsconfig.json", "tsconfig.run.json", "src/usage.ts", "src/run.ts"):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EXAMPLE / name, work / name)
    return work


def test_the_generated_client_type_checks(project: Path) -> None:
    sdk = (project / "src" / "aisx" / "sdk.gen.ts").read_text()
    for function in ("getDiscovery", "getCollections", "addObjects", "getStatus", "getObjects", "addParticipant",
                     "issueKey"):
        assert f"export const {function} = " in sdk
    assert f"'Content-Type': '{TAXII}'" in sdk  # add_objects posts the TAXII media type
    _run([str(project / "node_modules" / ".bin" / "tsc"), "--noEmit", "-p", "."], project, 180)


def test_the_example_drives_a_live_server(project: Path, server: Server) -> None:
    _run([str(project / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.run.json"], project, 180)
    result = _run(["node", "dist/run.js"], project, 120, AISX_URL=server.base_url,
                  AISX_ADMIN_SECRET=server.admin_secret)
    summary = json.loads(result.stdout)
    assert summary["participant"] == "ts-lab" and summary["keyId"].startswith("aisx_k_")
    assert summary["apiRoots"] == ["/taxii2/exchange/"]
    assert summary["contentType"] == TAXII
    assert (summary["status"], summary["successCount"]) == ("complete", 3)
    assert summary["read"] == summary["posted"] and summary["pages"] == 2  # limit 2, with Basic authentication
    assert (summary["deniedStatus"], summary["deniedError"]) == (401, "401")
