"""Small STIX 2.1 builders for tests. Every object carries a TLP marking, as the exchange requires."""

import uuid
from typing import Any

TLP_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP_AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
TLP_AMBER_STRICT = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
TLP_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


def ts(second: int = 0, micro: int = 0, *, day: int = 1) -> str:
    return f"2026-01-{day:02d}T00:00:{second:02d}.{micro:06d}Z"


def indicator(stix_id: str | None = None, *, modified: str | None = None, created: str | None = None,
              tlp: str = TLP_GREEN, **extra: Any) -> dict[str, Any]:
    created = created or ts()
    obj = {
        "type": "indicator", "spec_version": "2.1", "id": stix_id or f"indicator--{uuid.uuid4()}",
        "created": created, "modified": modified or created, "name": "prompt-injection marker",
        "pattern": "[url:value = 'https://evil.example/inject']", "pattern_type": "stix",
        "valid_from": created, "object_marking_refs": [tlp],
    }
    obj.update(extra)
    return obj


def envelope(*objects: dict[str, Any]) -> dict[str, Any]:
    return {"objects": list(objects)}
