"""What the client tests share: a recorder of every request a client sends and the answer it got (over httpx
or over requests, which taxii2-client uses), a corpus of objects some readers are entitled to and some not,
and the STIX timestamps clients format."""

import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import requests
from requests.auth import AuthBase

from tests.support.server import TLS, Participant, Server
from tests.support.stix import TLP_AMBER, TLP_CLEAR, TLP_GREEN, TLP_RED

TAXII_SPACED = "application/taxii+json; version=2.1"  # as OpenCTI writes it
STIX_SPACED = "application/stix+json; version=2.1"


@dataclass
class Exchange:
    method: str
    url: str
    status: int
    headers: dict[str, str]


@dataclass
class Wire:
    """Every request a client sent, with its answer's status."""

    seen: list[Exchange] = field(default_factory=list)

    def note(self, method: str, url: str, status: int, headers: dict[str, str]) -> None:
        self.seen.append(Exchange(method, url, status, headers))

    def httpx(self, base_url: str, **kwargs: Any) -> httpx.Client:
        def hook(response: httpx.Response) -> None:
            self.note(response.request.method, str(response.request.url), response.status_code,
                      dict(response.request.headers))
        return httpx.Client(verify=TLS, base_url=base_url, timeout=60, event_hooks={"response": [hook]}, **kwargs)

    def auth(self, inner: AuthBase) -> AuthBase:
        """``inner`` (how taxii2-client authenticates: pass it as ``auth=``), recording every request."""
        return _Recording(inner, self)

    def assert_no_errors(self) -> None:
        failed = [(e.method, e.url, e.status) for e in self.seen if e.status >= 400]
        assert not failed, failed
        assert self.seen, "the client sent nothing"

    def urls(self, method: str = "GET") -> list[str]:
        return [e.url for e in self.seen if e.method == method]


class _Recording(AuthBase):
    def __init__(self, inner: AuthBase, wire: Wire) -> None:
        self.inner, self.wire = inner, wire

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request = self.inner(request)

        def hook(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
            sent = response.request
            self.wire.note(sent.method or "", sent.url or "", response.status_code, dict(sent.headers))
        request.register_hook("response", hook)
        return request


class HeaderAuth(AuthBase):
    """A secret in a header of the user's choosing: XSOAR's ``_header:NAME`` user, OpenCTI's USE_APIKEY."""

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.name] = self.value
        return request


def stix_now(seconds_ago: float = 0) -> str:
    """Now, as producers write STIX timestamps (milliseconds)."""
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _common(stix_type: str, markings: list[str], when: str) -> dict[str, Any]:
    return {"type": stix_type, "spec_version": "2.1", "id": f"{stix_type}--{uuid.uuid4()}", "created": when,
            "modified": when, "object_marking_refs": markings}


_serial = itertools.count()


def campaign(tlp: str = TLP_GREEN, *, size: int = 1, audience: str | None = None) -> list[dict[str, Any]]:
    """``size`` groups of indicator, malware and the relationship between them, timestamped just now, marked
    ``tlp`` (and shared with ``audience`` only, an exchange-audience marking, if given)."""
    objects, markings = [], [tlp, *([audience] if audience else [])]
    for _ in range(size):
        when, n = stix_now(5), next(_serial)
        ind = {**_common("indicator", markings, when), "name": f"injection marker {n}", "pattern_type": "stix",
               "pattern": f"[url:value = 'https://evil.example/{n}']", "valid_from": when,
               "indicator_types": ["malicious-activity"]}
        mal = {**_common("malware", markings, when), "name": f"poisoned-model-{n}", "is_family": False,
               "malware_types": ["trojan"]}
        rel = {**_common("relationship", markings, when), "relationship_type": "indicates", "source_ref": ind["id"],
               "target_ref": mal["id"]}
        objects += [ind, mal, rel]
    return objects


_CONTENT = frozenset({"indicator", "malware", "relationship"})  # what ``campaign`` makes


@dataclass
class Corpus:
    """Objects in a collection: those a reader is entitled to, and those it is not (AMBER and RED of another
    lab, addressed to nobody else)."""

    collection_id: str
    entitled: dict[str, dict[str, Any]] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)

    @staticmethod
    def content(received: Iterable[str]) -> set[str]:
        """The producer content among ``received``: the exchange's own definitions (TLP and extension definitions,
        its identity), which every collection holds from its creation, are left out."""
        return {i for i in received if i.partition("--")[0] in _CONTENT}

    def wanted(self, types: Iterable[str] | None = None) -> set[str]:
        kinds = set(types) if types is not None else _CONTENT
        return {i for i, o in self.entitled.items() if o["type"] in kinds}

    def expect(self, received: Iterable[str], *, types: Iterable[str] | None = None) -> None:
        """Every entitled object (of ``types``) arrived, and no other producer content."""
        wanted = self.wanted(types)
        got = self.content(received)
        assert not got & self.hidden, "an object the reader is not entitled to arrived"
        assert got == wanted, (len(got - wanted), len(wanted - got))


def post(client: httpx.Client, collection_id: str, objects: list[dict[str, Any]], chunk: int = 60) -> None:
    for start in range(0, len(objects), chunk):
        response = client.post(f"collections/{collection_id}/objects/", json={"objects": objects[start:start + chunk]},
                               headers={"Content-Type": "application/taxii+json;version=2.1"})
        assert response.status_code == 202, response.text
        assert response.json()["failure_count"] == 0, response.text


def audience_of(client: httpx.Client, *identities: str) -> str:
    """The id of an exchange-audience marking naming ``identities`` (POST /admin/audiences)."""
    response = client.post(str(client.base_url.copy_with(path="/admin/audiences")),
                           json={"recipient_identities": list(identities)})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def grow(corpus: Corpus, producer: Participant, outsider: Participant, *, size: int) -> list[dict[str, Any]]:
    """Post ``size`` visible groups (GREEN and CLEAR) by ``producer``, and a few by ``outsider`` that only
    ``producer`` may see (AMBER and RED naming it)."""
    visible = campaign(TLP_GREEN, size=size - size // 4) + campaign(TLP_CLEAR, size=size // 4)
    audience = audience_of(outsider.client, producer.identity_id)
    hidden = campaign(TLP_AMBER, size=2, audience=audience) + campaign(TLP_RED, size=1, audience=audience)
    post(producer.client, corpus.collection_id, visible[: len(visible) // 2])
    post(outsider.client, corpus.collection_id, hidden)
    post(producer.client, corpus.collection_id, visible[len(visible) // 2:])
    corpus.entitled.update((o["id"], o) for o in visible)
    corpus.hidden.update(o["id"] for o in hidden)
    return visible


def discovery_url(server: Server) -> str:
    return f"{server.base_url}/taxii2/"
