"""A fresh clone and an installed wheel work on their own: the data the tests read is inside the repository, and
``aisx serve`` started in any directory serves the default feeds, says where it read them and warns when it found
none (an exchange serving no feeds used to look exactly like a healthy one)."""

import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from app.feeds.definitions import load_feeds
from tests.conftest import DATA
from tests.support.server import Server, running_server

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FEEDS = load_feeds(REPO / "feeds")


@dataclass
class OperatorServer(Server):
    """``aisx serve`` as an operator starts it: no AISX_FEEDS_DIR, and no feeds/ in the working directory."""

    @property
    def env(self) -> dict[str, str]:
        return {k: v for k, v in super().env.items() if k != "AISX_FEEDS_DIR"}


def _aliases(server: Server) -> set[str]:
    with server.client(server.admin_secret) as client:
        return {c.get("alias") for c in client.get("collections/").json()["collections"]}


def _log_line(server: Server, level: str, message: str) -> bool:
    return re.search(rf"^{level}:\s+{re.escape(message)}$", server.log_path.read_text(), re.MULTILINE) is not None


def test_the_test_data_is_in_the_repository_with_its_licences() -> None:
    assert DATA.is_relative_to(REPO)
    readme = (DATA / "README.md").read_text()
    for name in ("atlas/stix-atlas.json", "genai-incidents-ai-subset.stix.json.gz", "Apache-2.0.txt"):
        assert name in readme
    assert (DATA / "LICENSES" / "Apache-2.0.txt").read_text().count("Apache License") >= 1


def test_serve_started_anywhere_serves_the_default_feeds(tmp_path: Path) -> None:
    with running_server(tmp_path, kind=OperatorServer) as server:
        assert not (tmp_path / "feeds").exists()
        assert {f.alias for f in DEFAULT_FEEDS} <= _aliases(server)
        assert _log_line(server, "INFO", f"feeds directory: {REPO / 'feeds'} ({len(DEFAULT_FEEDS)} feed definitions)")


def test_an_empty_feeds_directory_is_logged_with_a_warning(server: Server) -> None:
    feeds = server.workdir / "feeds"
    assert _log_line(server, "INFO", f"feeds directory: {feeds} (0 feed definitions)")
    assert _log_line(server, "WARNING", f"no feed definitions (*.toml) in {feeds}: the exchange serves no feeds")


def test_the_wheel_ships_the_default_feeds_and_serves_them(tmp_path: Path) -> None:
    """A regular wheel (no source tree beside it): built, unpacked and put first on PYTHONPATH, it must carry the
    feed files and serve them from inside the package."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("aisx-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if n.startswith("app/default_feeds/")}
        assert {f"app/default_feeds/{Path(f.source).name}" for f in DEFAULT_FEEDS} <= shipped
        archive.extractall(site, [n for n in archive.namelist() if n.startswith("app/")])
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    with running_server(workdir, kind=OperatorServer, settings={"PYTHONPATH": str(site)}) as server:
        assert {f.alias for f in DEFAULT_FEEDS} <= _aliases(server)
        packaged = site / "app" / "default_feeds"
        assert _log_line(server, "INFO", f"feeds directory: {packaged} ({len(DEFAULT_FEEDS)} feed definitions)")
