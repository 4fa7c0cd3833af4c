"""TLP and the exchange-audience marking: reading what an object says about who may see it.

TLP levels are ordered integers so that "most restrictive wins" is ``max``. The four TLP 1.0 ids are read as
their TLP 2.0 equivalents (WHITE → CLEAR); OpenCTI's private AMBER+STRICT id is read as AMBER+STRICT, and its
"TLP:CLEAR" — which reuses the TLP 1.0 WHITE id — as CLEAR. Stored objects are never rewritten."""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from app.stix.timestamps import TimestampError, parse_timestamp


class Tlp(IntEnum):
    CLEAR = 0
    GREEN = 1
    AMBER = 2
    AMBER_STRICT = 3
    RED = 4

    @property
    def label(self) -> str:
        return "TLP:" + self.name.replace("_", "+")


TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
AUDIENCE_EXTENSION_ID = "extension-definition--319e7e75-a626-4088-aace-986f2157fd95"
TLP2_CREATOR_ID = "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01"  # created the OASIS TLP 2.0 definitions

TLP2_IDS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP1_IDS = {
    Tlp.CLEAR: "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",  # WHITE
    Tlp.GREEN: "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    Tlp.AMBER: "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    Tlp.RED: "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
OPENCTI_AMBER_STRICT_ID = "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"

TLP_BY_ID: dict[str, Tlp] = {
    **{v: k for k, v in TLP2_IDS.items()},
    **{v: k for k, v in TLP1_IDS.items()},
    OPENCTI_AMBER_STRICT_ID: Tlp.AMBER_STRICT,
}


def tlp2_definitions() -> list[dict[str, Any]]:
    """The OASIS TLP 2.0 extension-definition and marking-definitions, byte-for-byte as published."""
    extension = {
        "type": "extension-definition", "spec_version": "2.1", "id": TLP2_EXTENSION_ID, "name": "TLP 2.0",
        "description": "This defines TLP 2.0 as a STIX extension", "created": "2022-10-01T00:00:00.000Z",
        "modified": "2022-10-01T00:00:00.000Z",
        "created_by_ref": TLP2_CREATOR_ID,
        "schema": "https://github.com/oasis-open/cti-stix-common-objects/tree/master/"
                  "extension-definition-specifications/tlp-2.0",
        "version": "1.0.0", "extension_types": ["property-extension"],
    }
    markings = [
        {"type": "marking-definition", "spec_version": "2.1", "id": marking_id,
         "created": "2022-10-01T00:00:00.000Z", "name": level.label,
         "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension",
                                            "tlp_2_0": level.label[4:].lower()}}}
        for level, marking_id in TLP2_IDS.items()
    ]
    return [extension, *markings]


def tlp1_definitions() -> list[dict[str, Any]]:
    """The four TLP 1.0 marking-definitions built into STIX 2.1 (§7.2.1.4)."""
    names = {Tlp.CLEAR: "white", Tlp.GREEN: "green", Tlp.AMBER: "amber", Tlp.RED: "red"}
    return [
        {"type": "marking-definition", "spec_version": "2.1", "id": marking_id,
         "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp",
         "name": f"TLP:{names[level].upper()}", "definition": {"tlp": names[level]}}
        for level, marking_id in TLP1_IDS.items()
    ]


def marking_refs(obj: dict[str, Any]) -> list[str]:
    """Every marking an object applies: object-level and granular."""
    listed, granular_markings = obj.get("object_marking_refs"), obj.get("granular_markings")
    refs = [r for r in listed if isinstance(r, str)] if isinstance(listed, list) else []
    for granular in granular_markings if isinstance(granular_markings, list) else []:
        if isinstance(granular, dict) and isinstance(granular.get("marking_ref"), str):
            refs.append(granular["marking_ref"])
    return refs


def effective_tlp(obj: dict[str, Any]) -> Tlp | None:
    """The most restrictive TLP among all markings, or None when the object carries none."""
    return tlp_of(marking_refs(obj))


def tlp_of(refs: Iterable[str]) -> Tlp | None:
    """The most restrictive TLP among these marking ids, or None when none is a TLP marking."""
    levels = [TLP_BY_ID[r] for r in refs if r in TLP_BY_ID]
    return max(levels) if levels else None


@dataclass(frozen=True)
class AudienceSpec:
    """What an exchange-audience marking says: recipients (identity ids, group names) and an embargo."""

    identities: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    embargo_until: int | None = None

    @property
    def has_recipients(self) -> bool:
        return bool(self.identities or self.groups)


class MarkingError(ValueError):
    pass


def audience_spec(marking: dict[str, Any]) -> AudienceSpec | None:
    """The audience a marking-definition carries, or None if it is not an exchange-audience marking."""
    if marking.get("type") != "marking-definition":
        return None
    extensions = marking.get("extensions")
    body = extensions.get(AUDIENCE_EXTENSION_ID) if isinstance(extensions, dict) else None
    if body is None:
        return None
    if not isinstance(body, dict) or body.get("extension_type") != "property-extension":
        raise MarkingError(f"extensions.{AUDIENCE_EXTENSION_ID} must be a property-extension object")
    unknown = set(body) - {"extension_type", "recipient_identities", "recipient_groups", "embargo_until"}
    if unknown:
        raise MarkingError(f"unknown exchange-audience properties: {', '.join(sorted(unknown))}")
    identities = _string_list(body, "recipient_identities")
    groups = _string_list(body, "recipient_groups")
    embargo = body.get("embargo_until")
    if embargo is not None:
        try:
            embargo = parse_timestamp(embargo, require_utc=True)
        except TimestampError as exc:
            raise MarkingError(f"embargo_until: {exc}") from None
    if not identities and not groups and embargo is None:
        raise MarkingError("an exchange-audience marking needs recipient_identities, recipient_groups or "
                           "embargo_until")
    return AudienceSpec(tuple(sorted(set(identities))), tuple(sorted(set(groups))), embargo)


def read_audience(marking: dict[str, Any]) -> tuple[AudienceSpec | None, str | None]:
    """``audience_spec``, or (None, why) for a malformed exchange-audience extension."""
    try:
        return audience_spec(marking), None
    except MarkingError as exc:
        return None, str(exc)


def _string_list(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise MarkingError(f"{name} must be a list of non-empty strings")
    if name in body and not value:
        raise MarkingError(f"{name} must not be an empty list; omit it instead")
    return value
