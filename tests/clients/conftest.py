"""A server with small pages and a small max_content_length, so every client's paging and splitting is
exercised with a few hundred objects; a producer, an outsider whose objects the reader may not see, a reader."""

from collections.abc import Iterator

import pytest

from tests.clients.wire import Corpus, grow
from tests.support.server import Participant, Server, running_server

PAGE_DEFAULT = 40  # objects per page when a client sends no limit
MAX_CONTENT_LENGTH = 60_000  # bytes: the API root's, what MISP splits its envelopes under


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {"AISX_PAGE_DEFAULT": str(PAGE_DEFAULT), "AISX_MAX_CONTENT_LENGTH": str(MAX_CONTENT_LENGTH)}
    with running_server(tmp_path_factory.mktemp("aisx"), settings=settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def outsider(server: Server) -> Participant:
    return server.add_participant("outsider-lab", "lab")


@pytest.fixture(scope="module")
def reader(server: Server) -> Participant:
    return server.add_participant("reading-agency", "agency")


@pytest.fixture(scope="module")
def corpus(lab: Participant, outsider: Participant, shared_collection: str) -> Corpus:
    """About 150 objects the reader is entitled to and 9 it is not, in the bootstrap collection ``shared``."""
    built = Corpus(shared_collection)
    grow(built, lab, outsider, size=50)
    return built
