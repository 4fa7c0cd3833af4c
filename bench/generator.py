"""Realistic mixed STIX 2.1 for benchmarks: AI-threat SDOs, indicators with STIX patterns, relationships,
sightings and observables, every TLP level, several versions per object. Deterministic for a seed."""

import hashlib
import random
import uuid
from collections.abc import Iterator
from typing import Any

TLP = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
_SDO_KINDS = ("attack-pattern", "malware", "tool", "infrastructure", "campaign", "intrusion-set", "vulnerability")
_NAMES = (
    "prompt injection via retrieved page",
    "pickle-backdoored checkpoint",
    "abused inference API account",
    "malicious MCP server",
    "weight exfiltration relay",
    "jailbreak prompt kit",
    "poisoned dataset mirror",
)


def _ts(rng: random.Random, base: int = 1_750_000_000) -> str:
    seconds = base + rng.randrange(0, 30_000_000)
    millis = rng.randrange(1000)
    return f"{_iso(seconds)}.{millis:03d}Z"


def _iso(seconds: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _later(stamp: str, rng: random.Random) -> str:
    import datetime as dt

    moment = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ") + dt.timedelta(seconds=rng.randrange(60, 864000))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _sco(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(("ipv4-addr", "domain-name", "url", "file"))
    if kind == "ipv4-addr":
        value: dict[str, Any] = {"value": f"198.51.{rng.randrange(256)}.{rng.randrange(256)}"}
    elif kind == "domain-name":
        value = {"value": f"relay{rng.randrange(10**6)}.example.net"}
    elif kind == "url":
        value = {"value": f"https://inject{rng.randrange(10**6)}.example.org/p"}
    else:
        value = {
            "hashes": {"SHA-256": hashlib.sha256(str(rng.random()).encode()).hexdigest()},
            "name": f"model-{rng.randrange(10**5)}.safetensors",
        }
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": f"{kind}--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        **value,
    }


def objects(
    count: int, seed: int = 7, tlps: tuple[str, ...] = ("clear", "green"), audience: str | None = None
) -> Iterator[dict[str, Any]]:
    """``count`` object versions: ~30% SDOs (some in 2-3 versions), 30% indicators, 20% relationships,
    20% observables; TLP cycles through ``tlps``. Levels stricter than GREEN need recipients on a post:
    ``audience`` (an exchange-audience marking id) is then added to their markings."""
    rng = random.Random(seed)
    recent: list[str] = []
    made = 0
    while made < count:
        roll = rng.random()
        tlp = TLP[tlps[made % len(tlps)]]
        if roll < 0.2 and len(recent) > 2:
            created = _ts(rng)
            obj: dict[str, Any] = {
                "type": "relationship",
                "spec_version": "2.1",
                "id": f"relationship--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                "created": created,
                "modified": created,
                "relationship_type": rng.choice(("uses", "indicates", "targets")),
                "source_ref": rng.choice(recent),
                "target_ref": rng.choice(recent),
                "object_marking_refs": [tlp],
            }
            versions = [obj]
        elif roll < 0.4:
            versions = [dict(_sco(rng), object_marking_refs=[tlp])]
        elif roll < 0.7:
            created = _ts(rng)
            digest = hashlib.sha256(str(rng.random()).encode()).hexdigest()
            obj = {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                "created": created,
                "modified": created,
                "name": rng.choice(_NAMES),
                "indicator_types": ["malicious-activity"],
                "pattern_type": "stix",
                "valid_from": created,
                "pattern": f"[file:hashes.'SHA-256' = '{digest}'] OR [url:value = 'https://x{rng.randrange(10**6)}.example/']",
                "confidence": rng.randrange(101),
                "labels": ["ai-threat"],
                "object_marking_refs": [tlp],
            }
            versions = [obj]
        else:
            kind = rng.choice(_SDO_KINDS)
            created = _ts(rng)
            obj = {
                "type": kind,
                "spec_version": "2.1",
                "id": f"{kind}--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                "created": created,
                "modified": created,
                "name": rng.choice(_NAMES),
                "description": "Synthetic AI-threat object for benchmarking. " * rng.randrange(1, 4),
                "object_marking_refs": [tlp],
            }
            if kind == "malware":
                obj["is_family"] = False
            versions = [obj]
            for _ in range(rng.choice((0, 0, 1, 2))):
                versions.append(
                    dict(
                        versions[-1],
                        modified=_later(versions[-1]["modified"], rng),
                        description=versions[-1]["description"] + " Updated.",
                    )
                )
        for version in versions:
            if made >= count:
                break
            if audience and version["object_marking_refs"][0] not in (TLP["clear"], TLP["green"]):
                version["object_marking_refs"] = [*version["object_marking_refs"], audience]
            if version["type"] not in ("relationship",) and "created" in version:
                recent.append(version["id"])
                recent = recent[-200:]
            made += 1
            yield version
