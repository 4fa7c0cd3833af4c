"""Noninterference harness: two exchanges that differ only in objects an attacker may not see, one scripted
attacker session run against both in lockstep, and a normaliser that removes what legitimately differs between
two servers (random ids, wall-clock times, opaque tokens) so that everything else can be compared byte for byte.

World A ("absent") and world B ("hidden") are set up identically — same participants in the same order, same
groups, collections, grants and feeds — and then world B alone receives the victim's secrets (``plant_secrets``).
Whatever the attacker and its colluder can observe must be the same in both.

Session requests are *templates*: ``${name}`` placeholders stand for per-world values (identities, collection
ids, the previous answer's ``next`` token), so the recorded request is world-independent and is part of what is
compared. Everything the attacker writes (ids, timestamps) is a literal in the templates, identical in both
worlds, and is therefore never normalised.

Normalisation (applied to status code, every header value and the body, in this order):

1. per-world names: participants' identity and pseudonym ids, collection ids → ``${role.identity}``,
   ``${coll:alias}`` (they are random per server);
2. ``next`` tokens → ``N<k>`` per distinct token in order of appearance; when a token is readable text
   (base64url of printable ASCII) what it reveals is kept too: numbers that are server timestamps are
   replaced by their rank (step 3), hex runs of 12+ digits (digests, MACs) by ``H<k>``, every other number is
   kept — a counter in a token is part of the answer;
3. timestamps (RFC 3339, and integer microseconds inside tokens): those equal to a timestamp the attacker
   itself sent are kept (so an embargo release moved by a microsecond shows); all others (date_added,
   request_timestamp, X-TAXII-Date-Added-*, SCO versions, minted markings…) are server clock readings and become
   ``T<k>`` in order of first appearance. (Sorted ranks would also compare the order of unrelated readings,
   but one leaked reading would then shift every later rank and hide the real differences in noise; the order
   of what the attacker sees is compared anyway through the order of objects in every answer.)
4. every remaining UUID not sent by the attacker (status ids, the exchange's identity, hidden producers'
   pseudonyms) → ``U<k>`` in order of first appearance: two transcripts are equal if they are equal up to a
   consistent renaming of values the attacker cannot choose.

Headers not compared (documented list, ``IGNORED_HEADERS``): ``date`` and ``server`` (wall clock and server
software, the same whatever the store holds). ``content-length`` *is* compared: a length is observable; less the
length of the ``next`` token, which is compressed before it is sealed (app/taxii/cursor.py), so its length varies
with the digits of the clock reading it carries — a value the reader was served (the page's last date_added) and
that differs between any two servers; the token itself is compared as above. ``x-request-id``, when the server
generated it (16 random hex digits), is compared by that shape only.
Timing is never compared (see docs/threat-model.md, out of scope)."""

import base64
import binascii
import re
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import stix2

from app.stix.markings import AUDIENCE_EXTENSION_ID, TLP2_EXTENSION_ID, TLP_BY_ID
from app.stix.timestamps import parse_timestamp
from tests.feed_support import feed_toml
from tests.sharing_helpers import accepted, admit, collection, mint, relationship, sdo, wait_until
from tests.support.server import TAXII, TLS, Participant, Server, running_server
from tests.support.stix import TLP_AMBER, TLP_AMBER_STRICT, TLP_CLEAR, TLP_GREEN, TLP_RED

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FAR_EMBARGO = "2099-01-01T00:00:00.000000Z"
IGNORED_HEADERS = frozenset({"date", "server"})
# The TLP 1.0/2.0 and extension ids the exchange publishes: the same everywhere, kept for readable messages.
WELL_KNOWN_UUIDS = frozenset(
    u for stix_id in [*TLP_BY_ID, TLP2_EXTENSION_ID, AUDIENCE_EXTENSION_ID] for u in _UUID.findall(stix_id))
ROLES = ("attacker", "colluder", "victim", "agency", "bystander")
ATTACKERS = ("attacker", "colluder")
FEEDS = {  # alias → (fixed collection id, feed file body); identical in both worlds
    "by-victim": ("8f1d3c52-6b0e-4a8e-9f55-0c6f1e9b2a01", {"producers": ["victim"]}),
    "labs-green": ("8f1d3c52-6b0e-4a8e-9f55-0c6f1e9b2a02", {"producer_kinds": ["lab"], "max_tlp": "green"}),
    "clear-public": ("8f1d3c52-6b0e-4a8e-9f55-0c6f1e9b2a03", {"max_tlp": "clear"}),
}
COLLECTIONS = ("shared", "vault", "open", "directory", *FEEDS)

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")
_NEXT = re.compile(r'"next":"([^"]*)"')
_HEX = re.compile(r"[0-9a-f]{12,}")
_NUMBER = re.compile(r"(?<![0-9a-f])\d+(?![0-9a-f])")


# ------------------------------------------------------------------ deterministic attacker-side ids


class Ids:
    """Ids drawn from a seed: the same in both worlds, so the attacker's own ids need no normalising."""

    def __init__(self, seed: str) -> None:
        self._namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"aisx-noninterference:{seed}")
        self._count = 0

    def __call__(self, kind: str) -> str:
        self._count += 1
        return f"{kind}--{uuid.uuid5(self._namespace, str(self._count))}"


def sco_id(kind: str, **properties: Any) -> str:
    """The deterministic id of an observable (STIX 2.1 §2.9: UUIDv5 of its id-contributing properties)."""
    return {"ipv4-addr": stix2.IPv4Address, "url": stix2.URL, "file": stix2.File}[kind](**properties).id


def sco(kind: str, marking: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": kind, "spec_version": "2.1", "id": sco_id(kind, **properties), **properties,
            "object_marking_refs": marking}


# ------------------------------------------------------------------ worlds


@dataclass
class World:
    name: str
    server: Server
    people: dict[str, Participant] = field(default_factory=dict)
    collections: dict[str, str] = field(default_factory=dict)  # alias → id
    anonymous: httpx.Client | None = None

    def client(self, role: str) -> httpx.Client:
        if role == "anonymous":
            assert self.anonymous is not None
            return self.anonymous
        return self.people[role].client

    def values(self) -> dict[str, str]:
        """Placeholder name → this world's value."""
        values = {f"coll:{alias}": cid for alias, cid in self.collections.items()}
        for role, person in self.people.items():
            values[f"{role}.identity"] = person.identity_id
            values[f"{role}.pseudonym"] = person.pseudonym_identity_id
        return values


def _write_feeds(workdir: Path) -> None:
    feeds = workdir / "feeds"
    feeds.mkdir(parents=True, exist_ok=True)
    for alias, (feed_id, selector) in FEEDS.items():
        public = True if alias == "clear-public" else None
        (feeds / f"{alias}.toml").write_text(feed_toml(feed_id, alias, selector=selector, read=("everyone",),
                                                       public=public))


def _furnish(world: World) -> World:
    """Participants, groups, collections, grants: identical in every world, made in the same order."""
    server = world.server
    groups = {"attacker": ("crew",), "colluder": ("crew",), "victim": ("victim-circle",),
              "agency": ("agencies",), "bystander": ()}
    for role in ROLES:
        world.people[role] = admit(server, role, "agency" if role == "agency" else "lab", groups[role])
    with server.client(server.admin_secret) as admin:
        listed = admin.get("collections/").json()["collections"]
    world.collections = {c["alias"]: c["id"] for c in listed}
    world.collections["vault"] = collection(server, "vault", grant=False)
    server.grant("group:victim-circle", "vault", read=True, write=True)
    server.grant("kind:agency", "vault", read=True)
    world.collections["open"] = collection(server, "open", public=True)
    world.anonymous = httpx.Client(verify=TLS, base_url=server.root_url, headers={"Accept": TAXII}, timeout=60)
    assert set(world.collections) == set(COLLECTIONS), world.collections
    return world


@contextmanager
def two_worlds(workdir: Path) -> Iterator[tuple[World, World]]:
    """World A and world B, furnished identically (in parallel: each is its own server)."""
    with ExitStack() as stack:
        servers = []
        for name in ("A", "B"):
            (workdir / name).mkdir()
            _write_feeds(workdir / name)
            servers.append(stack.enter_context(running_server(workdir / name)))
        with ThreadPoolExecutor(2) as pool:
            worlds = list(pool.map(_furnish, [World("A", s) for s in servers]))
        for world in worlds:
            stack.callback(world.anonymous.close)  # type: ignore[union-attr]
        yield worlds[0], worlds[1]


# ------------------------------------------------------------------ the victim's secrets (world B only)


@dataclass
class Secrets:
    """Ids of what world B hides, known to the attacker as *candidates* (it may guess or learn any id)."""

    objects: dict[str, str] = field(default_factory=dict)  # label → stix id
    markings: dict[str, str] = field(default_factory=dict)  # label → minted or posted marking id

    @property
    def candidates(self) -> list[str]:
        return [*self.objects.values(), *self.markings.values()]


VICTIM_SCOS = {
    "ipv4": ("ipv4-addr", {"value": "203.0.113.7"}),
    "url": ("url", {"value": "https://victim.example/leaked-system-prompt"}),
    "file": ("file", {"hashes": {"SHA-256": "5" * 64}}),
}


def secret_ids(seed: str = "victim") -> Secrets:
    """The ids world B will hold, computed without any server (the attacker's candidate list)."""
    ids = Ids(seed)
    secrets = Secrets()
    for label, kind in [("amber", "indicator"), ("red", "malware"), ("strict", "attack-pattern"),
                        ("green-to-agency", "indicator"), ("embargoed-green", "indicator"),
                        ("embargoed-amber", "indicator"), ("embargoed-clear", "indicator"),
                        ("relationship", "relationship"),
                        ("sighting", "sighting"), ("employee", "identity"), ("statement", "marking-definition"),
                        ("own-audience", "marking-definition"), ("vault-green", "indicator"),
                        ("vault-clear", "indicator"), ("report", "report")]:
        secrets.objects[label] = ids(kind)
    for label, (kind, props) in VICTIM_SCOS.items():
        secrets.objects[label] = sco_id(kind, **props)
    return secrets


def _audience_marking(obj_id: str, groups: list[str]) -> dict[str, Any]:
    return {"type": "marking-definition", "spec_version": "2.1", "id": obj_id, "created": "2026-01-02T00:00:00.000Z",
            "name": "victim audience", "extensions": {
                "extension-definition--319e7e75-a626-4088-aace-986f2157fd95": {
                    "extension_type": "property-extension", "recipient_groups": groups}}}


def plant_secrets(world: World, secrets: Secrets) -> None:
    """World B: everything the victim hides from the attacker and its colluder, on every path."""
    victim = world.people["victim"].client
    agency = world.people["agency"].identity_id
    circle = mint(victim, groups=("victim-circle",))["id"]
    to_agency = mint(victim, identities=(agency,))["id"]
    embargo = mint(victim, embargo=FAR_EMBARGO)["id"]
    circle_embargo = mint(victim, groups=("victim-circle",), embargo=FAR_EMBARGO)["id"]
    secrets.markings.update({"minted-circle": circle, "minted-agency": to_agency, "minted-embargo": embargo,
                             "minted-circle-embargo": circle_embargo})
    o = secrets.objects
    shared, vault, public = (world.collections[a] for a in ("shared", "vault", "open"))
    amber, red = [TLP_AMBER, circle], [TLP_RED, circle]
    accepted(victim, shared,
             sdo(stix_id=o["amber"], marking=amber, created_by=world.people["victim"].identity_id),
             sdo("malware", stix_id=o["red"], marking=red),
             sdo("attack-pattern", stix_id=o["strict"], marking=[TLP_AMBER_STRICT, circle], name="secret"),
             sdo(stix_id=o["green-to-agency"], marking=[TLP_GREEN, to_agency]),
             sdo(stix_id=o["embargoed-green"], marking=[TLP_GREEN, embargo]),
             sdo(stix_id=o["embargoed-amber"], marking=[TLP_AMBER, circle_embargo]),
             relationship(o["amber"], o["red"], marking=amber, id=o["relationship"]),
             {**sdo("sighting", stix_id=o["sighting"], marking=amber), "sighting_of_ref": o["amber"], "count": 3},
             {"type": "identity", "spec_version": "2.1", "id": o["employee"], "created": "2026-01-02T00:00:00.000Z",
              "modified": "2026-01-02T00:00:00.000Z", "name": "Victim red-team lead",
              "identity_class": "individual", "object_marking_refs": amber},
             {"type": "marking-definition", "spec_version": "2.1", "id": o["statement"],
              "created": "2026-01-02T00:00:00.000Z", "definition_type": "statement",
              "definition": {"statement": "Victim internal"}, "object_marking_refs": amber},
             _audience_marking(o["own-audience"], ["victim-circle"]),
             {"type": "report", "spec_version": "2.1", "id": o["report"], "created": "2026-01-02T00:00:00.000Z",
              "modified": "2026-01-02T00:00:00.000Z", "name": "incident", "published": "2026-01-02T00:00:00Z",
              "object_refs": [o["amber"], o["ipv4"]], "object_marking_refs": amber},
             *(sco(kind, amber, **props) for kind, props in VICTIM_SCOS.values()))
    accepted(victim, public, sdo(stix_id=o["embargoed-clear"], marking=[TLP_CLEAR, embargo]))
    accepted(victim, vault, sdo(stix_id=o["vault-green"]), sdo(stix_id=o["vault-clear"], marking=TLP_CLEAR))


GREEN_RELATIONSHIP = Ids("visible")("relationship")


def post_green_relationship(world: World, secrets: Secrets) -> None:
    """In both worlds, the victim's GREEN relationship between two of the ids world B hides: a relationship is
    shown by its own marking only (docs/threat-model/oracles.md, class 2), so it is visible to every participant,
    and it must look the same whether its endpoints are absent (A) or present but hidden (B)."""
    accepted(world.people["victim"].client, world.collections["shared"],
             relationship(secrets.objects["amber"], secrets.objects["strict"], id=GREEN_RELATIONSHIP))


def post_pseudonymous(world: World, poster: str, seed: str = "pseudonymous") -> None:
    """A GREEN object posted without attribution and one under the poster's pseudonym. World A: the bystander
    posts them; world B: the victim. Who is behind a pseudonym is the secret (A3)."""
    ids = Ids(seed)
    person = world.people[poster]
    accepted(person.client, world.collections["shared"],
             sdo(stix_id=ids("indicator"), labels=["ai-threat"]),
             sdo(stix_id=ids("indicator"), created_by=person.pseudonym_identity_id, labels=["ai-threat"]))


# ------------------------------------------------------------------ sessions


@dataclass(frozen=True)
class Step:
    """One attacker request, as a world-independent template. ``follow``: also fetch every further page
    through ``next`` (each page is a step of its own in the transcript)."""

    role: str
    method: str
    path: str  # relative to the API root, or absolute (starting with /)
    params: tuple[tuple[str, str], ...] = ()
    body: Any = None
    follow: bool = False

    def label(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params)
        return f"{self.role}: {self.method} {self.path}{'?' + query if query else ''}" + (
            f" body={orjson.dumps(self.body).decode()[:600]}" if self.body is not None else "")


def get(role: str, path: str, *params: tuple[str, str], follow: bool = False) -> Step:
    return Step(role, "GET", path, tuple(params), follow=follow)


def post_objects(role: str, alias: str, *objects: dict[str, Any]) -> Step:
    return Step(role, "POST", f"collections/${{coll:{alias}}}/objects/", body={"objects": list(objects)})


def delete(role: str, alias: str, stix_id: str, *params: tuple[str, str]) -> Step:
    return Step(role, "DELETE", f"collections/${{coll:{alias}}}/objects/{stix_id}/", tuple(params))


@dataclass
class Record:
    step: str  # the template's label (plus the page number when following next)
    status: int
    headers: list[tuple[str, str]]
    body: str


def _resolve(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], value)
    if isinstance(value, list):
        return [_resolve(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, values) for k, v in value.items()}
    return value


class Runner:
    """Executes steps against one world, remembering what later templates may refer to: ``${last.status}``
    (the id of the last status resource this world returned) and ``${last.marking}`` (the last minted marking)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.values = world.values()
        self.records: list[Record] = []

    def run(self, step: Step) -> None:
        if step.method == "WAIT":  # until the timestamp in ``path`` has passed (embargo releases)
            wait_until(step.path, margin=1.0)
            return
        params = [(k, _resolve(v, self.values)) for k, v in step.params]
        page = 0
        while True:
            response = self._send(step, params)
            self.records.append(Record(step.label() + (f" [page {page + 1}]" if page else ""), response.status_code,
                                       list(response.headers.multi_items()), response.text))
            if step.method == "POST" and response.status_code in (201, 202):
                self.values["last.status" if response.status_code == 202 else "last.marking"] = response.json()["id"]
            token = response.json().get("next") if response.status_code == 200 and step.follow else None
            if not token or page >= 20:
                return
            params = [(k, v) for k, v in params if k != "next"] + [("next", token)]
            page += 1

    def _send(self, step: Step, params: list[tuple[str, str]]) -> httpx.Response:
        client = self.world.client(step.role)
        path = _resolve(step.path, self.values)
        url = str(client.base_url.copy_with(path=path)) if path.startswith("/") else path
        if step.body is None:
            return client.request(step.method, url, params=params)
        content_type = "application/json" if path.startswith("/admin/") else TAXII
        return client.request(step.method, url, params=params, content=orjson.dumps(_resolve(step.body, self.values)),
                              headers={"Content-Type": content_type})


def mint_step(role: str, body: dict[str, Any]) -> Step:
    """POST /admin/audiences: any participant may mint an audience marking."""
    return Step(role, "POST", "/admin/audiences", body=body)


# ------------------------------------------------------------------ normalisation


def _literals(steps: Iterable[Step]) -> tuple[set[int], set[str]]:
    """Timestamps (as microseconds) and UUIDs the attacker sent: kept verbatim in answers."""
    text = " ".join(orjson.dumps([s.path, s.params, s.body]).decode() for s in steps)
    return {_micros(t) for t in _TIMESTAMP.findall(text)}, set(_UUID.findall(text))


def _micros(timestamp: str) -> int:
    return parse_timestamp(timestamp)


def _readable(token: str) -> str | None:
    """The text inside a token, if the token is base64url-encoded printable ASCII (else None: opaque)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    text = raw.decode("ascii", errors="replace")
    return text if raw.isascii() and text.isprintable() else None


@dataclass
class _Relabel:
    """Consistent renaming of values in order of first appearance."""

    prefix: str
    seen: dict[str, str] = field(default_factory=dict)

    def __call__(self, value: str) -> str:
        return self.seen.setdefault(value, f"{self.prefix}{len(self.seen) + 1}")


_GENERATED_REQUEST_ID = re.compile(r"[0-9a-f]{16}")


def _header_value(name: str, value: str, token_length: int) -> str:
    if name == "content-length":
        return str(int(value) - token_length)
    if name == "x-request-id" and _GENERATED_REQUEST_ID.fullmatch(value):
        return "<16 random hex digits>"  # a generated id's digits are random; any other value is compared
    return value


def _headers(record: Record) -> list[tuple[str, str]]:
    """Compared headers, lower-cased; ``content-length`` less the length of the ``next`` token and a generated
    ``x-request-id`` by its shape (see the module docstring)."""
    token_length = sum(map(len, _NEXT.findall(record.body)))
    return [(k, _header_value(k, v, token_length))
            for k, v in ((k.lower(), v) for k, v in record.headers) if k not in IGNORED_HEADERS]


class Normaliser:
    def __init__(self, world: World, steps: Iterable[Step]) -> None:
        steps = list(steps)
        # Others' pseudonyms are not named: which participant is behind one is exactly what must not show.
        self.names = {value: "${" + name + "}" for name, value in world.values().items()
                      if not name.endswith(".pseudonym") or name.split(".")[0] in ATTACKERS}
        self.literal_times, self.literal_uuids = _literals(steps)
        self.literal_uuids |= WELL_KNOWN_UUIDS
        self.tokens, self.hexes, self.uuids, self.times = _Relabel("N"), _Relabel("H"), _Relabel("U"), _Relabel("T")
        self.ranks: dict[int, str] = {}

    def __call__(self, records: list[Record]) -> list[tuple[str, int, list[tuple[str, str]], str]]:
        texts = [self._names(r) for r in records]
        for text in texts:
            for micros in map(_micros, _TIMESTAMP.findall(text)):
                if micros not in self.literal_times:
                    self.ranks.setdefault(micros, self.times(str(micros)))
        out = []
        for record, (status_and_headers, body) in zip(records, (self._split(t) for t in texts), strict=True):
            headers = [(k, self._value(v)) for k, v in status_and_headers]
            out.append((record.step, record.status, headers, self._value(body)))
        return out

    def _names(self, record: Record) -> str:
        text = orjson.dumps([_headers(record), record.body]).decode()
        for value, name in self.names.items():
            text = text.replace(value, name)
        return text

    @staticmethod
    def _split(text: str) -> tuple[list[tuple[str, str]], str]:
        headers, body = orjson.loads(text)
        return [tuple(h) for h in headers], body  # type: ignore[misc]

    def _value(self, text: str) -> str:
        text = _NEXT.sub(lambda m: f'"next":"{self._token(m.group(1))}"', text)
        text = _TIMESTAMP.sub(self._time, text)
        return _UUID.sub(lambda m: m.group(0) if m.group(0) in self.literal_uuids else self.uuids(m.group(0)), text)

    def _time(self, match: re.Match[str]) -> str:
        micros = _micros(match.group(0))
        return match.group(0) if micros in self.literal_times else self.ranks[micros]

    def _token(self, token: str) -> str:
        symbol = self.tokens(token)
        readable = _readable(token)
        if readable is None:
            return symbol
        readable = _NUMBER.sub(lambda m: self.ranks.get(int(m.group(0)), m.group(0)), readable)
        readable = _HEX.sub(lambda m: self.hexes(m.group(0)), readable)
        return f"{symbol}<{readable}>"


# ------------------------------------------------------------------ lockstep comparison


def _show(entry: tuple[str, int, list[tuple[str, str]], str], start: int) -> str:
    """Status, headers, and the body from a little before ``start`` (where the two bodies part)."""
    _, status, headers, body = entry
    shown = "\n    ".join(f"{k}: {v}" for k, v in headers)
    begin = max(0, start - 300)
    return (f"  status {status}\n  headers:\n    {shown}\n  body{f' (from character {begin})' if begin else ''}: "
            f"{body[begin:begin + 2500]}")


def _parting(x: str, y: str) -> int:
    return next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y)))


def run_session(a: World, b: World, steps: list[Step]) -> tuple[list[Any], list[Any]]:
    """Run ``steps`` against both worlds, one request at a time on each (A, then B), and normalise."""
    runners = Runner(a), Runner(b)
    for step in steps:
        for runner in runners:
            runner.run(step)
    return tuple(Normaliser(r.world, steps)(r.records) for r in runners)  # type: ignore[return-value]


def differences(normal_a: list[Any], normal_b: list[Any]) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(normal_a, normal_b, strict=False)) if x != y] + (
        [min(len(normal_a), len(normal_b))] if len(normal_a) != len(normal_b) else [])


def assert_noninterference(a: World, b: World, steps: list[Step]) -> None:
    """Every answer to the attacker's session is the same in both worlds, up to normalisation; otherwise fail
    with the first differing request and both answers (and the labels of the other differing requests)."""
    normal_a, normal_b = run_session(a, b, steps)
    diff = differences(normal_a, normal_b)
    if not diff:
        return
    first = diff[0]
    if first >= min(len(normal_a), len(normal_b)):
        raise AssertionError(f"the worlds answered a different number of pages: {len(normal_a)} vs {len(normal_b)}")
    others = "\n".join(f"  - {normal_a[i][0]}" for i in diff[1:15])
    start = _parting(normal_a[first][3], normal_b[first][3])
    raise AssertionError(
        f"{len(diff)} of {len(normal_a)} answers differ between the world without the victim's hidden objects "
        f"(A) and the world with them (B).\nFirst differing request:\n  {normal_a[first][0]}\n"
        f"A (hidden objects absent):\n{_show(normal_a[first], start)}\n"
        f"B (hidden objects present):\n{_show(normal_b[first], start)}"
        + (f"\nOther differing requests:\n{others}" if others else ""))


# ------------------------------------------------------------------ building blocks for sessions


def reads(role: str, alias: str, ids: Iterable[str]) -> list[Step]:
    """Every read endpoint of one collection, with each filter, for one reader. Whole listings are paged 25
    at a time; filtered ones (few objects) one at a time, so that every ``next`` is exercised."""
    base = f"collections/${{coll:{alias}}}/"
    ids = list(ids)
    steps = [get(role, base)]
    for endpoint in ("objects/", "manifest/"):
        steps += [
            get(role, base + endpoint),
            get(role, base + endpoint, ("match[version]", "all"), ("limit", "25"), follow=True),
            get(role, base + endpoint, ("match[version]", "first"), ("match[spec_version]", "2.1")),
            get(role, base + endpoint, ("added_after", "2026-01-01T00:00:00Z"), ("match[version]", "last,first"),
                ("limit", "25"), follow=True),
            get(role, base + endpoint, ("match[type]", "relationship,sighting,marking-definition,identity,"
                                        "ipv4-addr,url,file,report,malware,attack-pattern"), ("limit", "1"),
                follow=True),
        ]
        if ids:
            steps.append(get(role, base + endpoint, ("match[id]", ",".join(ids)), ("match[version]", "all"),
                             ("limit", "1"), follow=True))
    for i in ids:
        steps += [get(role, f"{base}objects/", ("match[id]", i)),
                  get(role, f"{base}objects/{i}/", ("match[version]", "all")),
                  get(role, f"{base}objects/{i}/", ("match[version]", "first"),
                      ("added_after", "2026-01-01T00:00:00Z")),
                  get(role, f"{base}objects/{i}/versions/", ("limit", "1"), follow=True)]
    return steps


def server_information(role: str) -> list[Step]:
    """Discovery, the API root, the collection list, and two things that do not exist."""
    return [get(role, "/taxii2/"), get(role, ""), get(role, "collections/"), get(role, "/taxii2/nowhere/"),
            get(role, "collections/00000000-0000-4000-8000-000000000000/")]
