"""Shared fixtures: one live server per test module, participants made through its admin API; test modules
handed to pytest-xdist workers longest first (tests/support/schedule.py)."""

import gc
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import Participant, Server, running_server

DATA = Path(__file__).resolve().parent / "data"  # real and example STIX content: see data/README.md
_counter = itertools.count()
pytest_plugins = ["tests.support.schedule", "tests.support.lazy_rfc3987"]


def pytest_collection_finish(session: pytest.Session) -> None:
    """What is imported and collected by now (the application, hypothesis, schemathesis, the test items) lives as
    long as this process, so the collector is told to leave it alone (``gc.freeze``): its full collections walked
    all of it each time. In one process running test_fuzz_openapi and test_patterns_property, the collector took
    2.61-2.89 s of CPU without, 1.74-2.10 s with (``gc.callbacks`` timing, 3 alternating rounds)."""
    gc.freeze()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("aisx")) as srv:
        yield srv


@pytest.fixture(scope="module")
def shared_collection(server: Server) -> str:
    """The id of the bootstrap collection ``shared`` (read/write for every participant)."""
    return server.collection_id("shared")


@pytest.fixture(scope="module")
def lab(server: Server) -> Participant:
    return server.add_participant(f"lab-{next(_counter)}", "lab")


@pytest.fixture
def make_participant(server: Server):  # type: ignore[no-untyped-def]
    def make(kind: str = "lab", groups: tuple[str, ...] = ()) -> Participant:
        return server.add_participant(f"{kind}-{next(_counter)}", kind, groups)

    return make
