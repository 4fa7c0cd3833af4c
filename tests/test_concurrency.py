"""Concurrency (issue: hardening, 6): 8 writers post overlapping ids and versions — identical duplicates, new
versions, conflicting payloads, another lab's ids — while 8 readers page through the same collection with
``next`` and poll it with ``added_after``, on a server with 2 workers. No 5xx; every version whose status said
success is stored exactly once, with the content that succeeded; no reader sees a version twice or misses one
that was committed (its status received) before its traversal began."""

import hashlib
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text

from app.stix.timestamps import parse_timestamp
from tests.hardening_support import running_server, shared_collection_id
from tests.support.server import TAXII, TLS, Server
from tests.support.stix import indicator, ts

WRITERS, READERS, ROUNDS, PER_ENVELOPE = 8, 8, 20, 12
VERSIONS = 6
OWN_IDS, SHARED_IDS = 25, 10
PAGE = 25


def _ids(prefix: int, count: int) -> list[str]:
    return [f"indicator--{prefix:08x}-0000-4000-8000-{n:012x}" for n in range(count)]


POOLS = {"lab-a": _ids(0xA, OWN_IDS), "lab-b": _ids(0xB, OWN_IDS)}
SHARED_POOL = _ids(0xAB, SHARED_IDS)  # both labs post these: the first to commit owns each
OURS = {*POOLS["lab-a"], *POOLS["lab-b"], *SHARED_POOL}


def payload(stix_id: str, version: int, conflicting: str | None = None) -> dict[str, Any]:
    """The canonical content of a version, or (``conflicting``) a different content under the same version."""
    description = f"version {version}" + (f", rewritten by {conflicting}" if conflicting else "")
    return indicator(stix_id, created=ts(0), modified=ts(version), description=description)


def digest(obj: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass
class Ledger:
    """What every thread saw, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    committed: set[tuple[str, int]] = field(default_factory=set)  # (id, version) with a success received
    successes: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))  # -> digests
    failures: list[tuple[str, str, int, str, str]] = field(default_factory=list)  # lab, id, version, digest, msg
    server_errors: list[str] = field(default_factory=list)
    reader_problems: list[str] = field(default_factory=list)
    seen_content: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))
    requests: Counter[str] = field(default_factory=Counter)
    traversals: int = 0
    polls: int = 0

    def note(self, kind: str, response: httpx.Response) -> None:
        with self.lock:
            self.requests[kind] += 1
            if response.status_code >= 500:
                self.server_errors.append(f"{kind} {response.status_code}: {response.text[:300]}")

    def snapshot(self) -> set[tuple[str, int]]:
        with self.lock:
            return set(self.committed)


def writer(name: str, lab: str, client: httpx.Client, url: str, ledger: Ledger, seed: int) -> None:
    rng = random.Random(seed)
    pool = POOLS[lab] + SHARED_POOL
    for _ in range(ROUNDS):
        chosen: dict[tuple[str, int], dict[str, Any]] = {}
        while len(chosen) < PER_ENVELOPE:
            stix_id, version = rng.choice(pool), rng.randrange(1, VERSIONS + 1)
            conflicting = name if rng.random() < 0.05 else None
            chosen.setdefault((stix_id, version), payload(stix_id, version, conflicting))
        objs = list(chosen.values())
        try:
            response = client.post(url, content=orjson.dumps({"objects": objs}), headers={"Content-Type": TAXII})
        except httpx.HTTPError as exc:
            with ledger.lock:
                ledger.server_errors.append(f"POST by {name}: {exc!r}")
            continue
        ledger.note("post", response)
        if response.status_code != 202:
            with ledger.lock:
                ledger.server_errors.append(f"POST by {name}: {response.status_code} {response.text[:300]}")
            continue
        status = response.json()
        by_key = {(o["id"], parse_timestamp(o["modified"])): o for o in objs}
        with ledger.lock:
            for entry in status.get("successes", []):
                key = (entry["id"], parse_timestamp(entry["version"]))
                ledger.successes[key].add(digest(by_key[key]))
                ledger.committed.add(key)
            for entry in status.get("failures", []):
                key = (entry["id"], parse_timestamp(entry["version"]))
                ledger.failures.append((lab, key[0], key[1], digest(by_key[key]), entry.get("message", "")))


def pages(client: httpx.Client, url: str, params: dict[str, str], ledger: Ledger,
          kind: str) -> Iterator[httpx.Response]:
    """The pages of one traversal, following ``next`` until ``more`` is false."""
    token = None
    while True:
        response = client.get(url, params={**params, **({"next": token} if token else {})})
        ledger.note(kind, response)
        if response.status_code != 200:
            raise AssertionError(f"{kind}: {response.status_code} {response.text[:300]}")
        yield response
        body = response.json()
        if not body.get("more"):
            return
        token = body["next"]


def _seen(ledger: Ledger, response: httpx.Response) -> list[tuple[str, int]]:
    keys = []
    for obj in response.json().get("objects", []):
        key = (obj["id"], parse_timestamp(obj.get("modified") or obj["created"]))
        keys.append(key)
        if obj["id"] in OURS:  # the collection also holds the exchange's own objects (TLP definitions, …)
            with ledger.lock:
                ledger.seen_content[key].add(digest(obj))
    return keys


def pager(name: str, client: httpx.Client, url: str, ledger: Ledger, done: threading.Event) -> None:
    """Full traversals by pages of 25 following ``next``, again and again, and once more after the writers."""
    last = False
    while not last:
        last = done.is_set()
        before = ledger.snapshot()
        seen: list[tuple[str, int]] = []
        for response in pages(client, url, {"match[version]": "all", "limit": str(PAGE)}, ledger, "page"):
            seen += _seen(ledger, response)
        twice = [k for k, n in Counter(seen).items() if n > 1]
        missed = before - set(seen)
        with ledger.lock:
            ledger.traversals += 1
            if twice:
                ledger.reader_problems.append(f"{name} saw {len(twice)} versions twice in one traversal: {twice[:3]}")
            if missed:
                ledger.reader_problems.append(f"{name} missed {len(missed)} committed versions: {sorted(missed)[:3]}")


def poller(name: str, client: httpx.Client, url: str, ledger: Ledger, done: threading.Event) -> None:
    """Incremental sync: ``added_after`` the last X-TAXII-Date-Added-Last, every page of each poll."""
    checkpoint: str | None = None
    seen: Counter[tuple[str, int]] = Counter()
    last = False
    while not last:
        last = done.is_set()
        before = ledger.snapshot()
        params = {"match[version]": "all", "limit": str(PAGE), **({"added_after": checkpoint} if checkpoint else {})}
        for response in pages(client, url, params, ledger, "poll"):
            seen.update(_seen(ledger, response))
            checkpoint = response.headers.get("X-TAXII-Date-Added-Last", checkpoint)
        twice = [k for k, n in seen.items() if n > 1]
        missed = before - set(seen)
        with ledger.lock:
            ledger.polls += 1
            if twice:
                ledger.reader_problems.append(f"{name} received {len(twice)} versions twice: {twice[:3]}")
            if missed:
                ledger.reader_problems.append(f"{name} never received {len(missed)} committed versions: "
                                              f"{sorted(missed)[:3]}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("concurrency"), workers=2,
                        settings={"AISX_RATE_LIMIT_PER_MINUTE": "0"}) as srv:
        yield srv


def _key(srv: Server, slug: str) -> str:
    response = httpx.post(f"{srv.base_url}/admin/participants/{slug}/keys", json={"label": "concurrency"},
                          headers={"Authorization": f"Bearer {srv.admin_secret}"}, timeout=30, verify=TLS)
    assert response.status_code == 201, response.text
    return response.json()["secret"]


def test_writers_and_readers_at_once(busy: Server) -> None:
    labs = {slug: busy.add_participant(slug) for slug in POOLS}
    agency = busy.add_participant("agency-reader", "agency")
    collection = shared_collection_id(agency.client)
    url = f"{busy.root_url}collections/{collection}/objects/"
    ledger, done = Ledger(), threading.Event()

    def client(secret: str) -> httpx.Client:
        return httpx.Client(verify=TLS, headers={"Accept": TAXII, "Authorization": f"Bearer {secret}"}, timeout=120)

    errors: list[BaseException] = []

    def thread(target: Callable[..., None], *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # reported below, with every other finding
                errors.append(exc)

        return threading.Thread(target=run, daemon=True)

    writers = [thread(writer, f"w{i}", lab, client(_key(busy, lab)), url, ledger, i)
               for i, lab in enumerate(list(POOLS) * (WRITERS // 2))]
    readers = [thread(pager if i % 2 else poller, f"r{i}", client(_key(busy, agency.slug)), url, ledger, done)
               for i in range(READERS)]
    started = time.perf_counter()
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(300)
    done.set()
    for t in readers:
        t.join(300)
    elapsed = time.perf_counter() - started

    assert not errors, errors[:3]
    assert not ledger.server_errors, ledger.server_errors[:5]
    assert not ledger.reader_problems, ledger.reader_problems[:5]
    assert ledger.traversals >= READERS // 2 and ledger.polls >= READERS // 2

    engine = create_engine(busy.database.url)
    with engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT o.stix_id, o.version, o.raw, o.producer_id, "
            " (SELECT count(*) FROM membership m WHERE m.object_seq = o.seq AND m.collection_id = :c) AS members "
            "FROM stix_object o WHERE o.stix_id LIKE 'indicator--0000000%' OR o.stix_id LIKE 'indicator--000000ab%'"),
            {"c": collection}).all()
    engine.dispose()
    rows: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for row in stored:
        rows[(row.stix_id, row.version)].append(row)
    owner = {stix_id: rs[0].producer_id for (stix_id, _), rs in rows.items()}
    problems = []
    for key, digests in ledger.successes.items():
        if len(digests) > 1:
            problems.append(f"{key}: {len(digests)} different payloads all reported success")
        found = rows.get(key, [])
        if len(found) != 1:
            problems.append(f"{key} reported success but is stored {len(found)} times")
        elif found[0].members != 1:
            problems.append(f"{key} is in the collection {found[0].members} times")
        elif digest(orjson.loads(found[0].raw)) not in digests:
            problems.append(f"{key} is stored with content that no success reported")
    for key in rows.keys() - ledger.successes.keys():
        problems.append(f"{key} is stored but no POST reported it a success")
    for key, digests in ledger.seen_content.items():
        if digests - ledger.successes.get(key, set()):
            problems.append(f"{key}: a reader was served content that no POST reported a success")
    ids = {slug: p.id for slug, p in labs.items()}
    for lab, stix_id, version, failed, message in ledger.failures:
        found = rows.get((stix_id, version), [])
        if "different content" in message:  # a conflict: the stored copy is another one
            if not found or digest(orjson.loads(found[0].raw)) == failed:
                problems.append(f"{stix_id} {version}: a conflict was reported but the posted content is stored")
        elif "belongs to another participant" in message:
            if owner.get(stix_id) == ids[lab]:
                problems.append(f"{stix_id}: {lab} was told it is not the owner, but it is")
        else:
            problems.append(f"{stix_id} {version}: unexpected failure {message!r}")
    assert not problems, "\n".join(problems[:20])
    reasons = Counter("conflict" if "different content" in f[4] else "not owner" for f in ledger.failures)
    print(f"\n{elapsed:.1f} s; requests {dict(ledger.requests)}; {len(ledger.successes)} versions stored; "
          f"failures {dict(reasons)}; {ledger.traversals} traversals, {ledger.polls} polls")
