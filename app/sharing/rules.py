"""Write-time sharing rules (DESIGN.md decision 4): who a submitted object may reach, decided once and
stored with it. Pure functions over plain data; the pipeline supplies what they need to look up."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.stix.checks import CheckedObject, ObjectRejected
from app.stix.markings import AUDIENCE_EXTENSION_ID, TLP2_IDS, TLP_BY_ID, AudienceSpec, Tlp
from app.store.audience import Audience


@dataclass(frozen=True)
class Poster:
    participant_id: int
    identity_id: str
    pseudonym_identity_id: str
    mirror: bool = False  # an operator-configured upstream mirror: objects keep their upstream creators
    claimed: frozenset[str] = frozenset()  # identity ids it already published under, attached by the operator

    @property
    def real_identities(self) -> frozenset[str]:
        """The ids that name the poster openly: its identity and those it claimed (never its pseudonym)."""
        return self.claimed | {self.identity_id}


@dataclass(frozen=True)
class Directory:
    """Who can be named as a recipient: identity ids (real, pseudonym or claimed) → participant id, and groups."""

    identities: Mapping[str, int]
    groups: frozenset[str]


@dataclass(frozen=True)
class Target:
    public: bool
    default_group: str | None


def check_creator(obj: dict[str, Any], poster: Poster) -> None:
    creator = obj.get("created_by_ref")
    if poster.mirror or creator is None or creator == poster.pseudonym_identity_id or creator in poster.real_identities:
        return
    raise ObjectRejected(
        f"'created_by_ref' is {creator!r}, which is not you: omit it, or use your identity "
        f"{poster.identity_id} or your pseudonym {poster.pseudonym_identity_id} (impersonation is refused; an "
        "identity id your organisation already publishes under can be attached to you by the exchange operators)",
        rule="impersonation",
    )


def _recipients(spec: AudienceSpec, directory: Directory) -> tuple[frozenset[int], frozenset[str]]:
    unknown = [i for i in spec.identities if i not in directory.identities]
    if unknown:
        raise ObjectRejected(f"recipient_identities names no participant of this exchange: {', '.join(unknown)} "
                             "(see the directory collection)", rule="unknown_recipient")
    missing = [g for g in spec.groups if g not in directory.groups]
    if missing:
        raise ObjectRejected(f"recipient_groups names unknown groups: {', '.join(missing)}", rule="unknown_recipient")
    return frozenset(directory.identities[i] for i in spec.identities), frozenset(spec.groups)


def decide_audience(
    item: CheckedObject,
    poster: Poster,
    target: Target,
    directory: Directory,
    audience_marking: Callable[[str], AudienceSpec | None],
) -> Audience:
    """The audience of ``item`` posted by ``poster`` into ``target``; raises ObjectRejected with the reason."""
    check_creator(item.obj, poster)
    own_spec = own_audience_spec(item)
    if own_spec is not None:  # an audience marking-definition is seen by the people it names
        participants, groups = _recipients(own_spec, directory)
        return Audience(Tlp.AMBER, None, participants | {poster.participant_id}, groups)
    tlp = item.tlp
    if tlp is None and item.type == "marking-definition":
        tlp = Tlp.GREEN  # a definition (a statement, a licence) may travel unmarked, to participants only
    if tlp is None:
        raise ObjectRejected(
            "no TLP marking: add a TLP 2.0 marking-definition id to 'object_marking_refs' (e.g. TLP:GREEN "
            f"{TLP2_IDS[Tlp.GREEN]}); the exchange never adds one",
            rule="no_tlp",
        )
    specs = [s for s in (audience_marking(r) for r in item.marking_refs if r not in TLP_BY_ID) if s is not None]
    if len(specs) > 1:
        raise ObjectRejected("more than one exchange-audience marking; reference exactly one", rule="audience")
    spec = specs[0] if specs else AudienceSpec()
    participants, groups = _recipients(spec, directory)
    check_public(target, tlp)
    if tlp == Tlp.CLEAR and spec.has_recipients:
        raise ObjectRejected("TLP:CLEAR cannot carry recipients: it is for everyone. Use TLP:GREEN or stricter",
                             rule="audience")
    if tlp == Tlp.RED and not spec.has_recipients:
        raise ObjectRejected("TLP:RED needs named recipients: reference an exchange-audience marking "
                             f"({AUDIENCE_EXTENSION_ID}) with recipient_identities or recipient_groups",
                             rule="audience")
    if tlp in (Tlp.AMBER, Tlp.AMBER_STRICT) and not spec.has_recipients:
        if target.default_group is None:
            raise ObjectRejected(f"{tlp.label} needs named recipients (an exchange-audience marking) in a "
                                 "collection without a default group", rule="audience")
        groups = frozenset({target.default_group})  # frozen now: later config changes do not re-scope it
    return Audience(tlp, spec.embargo_until, participants, groups)


def check_public(target: Target, tlp: Tlp | None) -> None:
    """A public collection accepts TLP:CLEAR only (an object without TLP is refused for that reason instead)."""
    if target.public and tlp is not None and tlp != Tlp.CLEAR:
        raise ObjectRejected(f"this collection is public and accepts TLP:CLEAR only, not {tlp.label}",
                             rule="public_collection")


def check_copied_marking(item: CheckedObject, poster: Poster) -> None:
    """A copy of a stored audience marking-definition that the exchange did not mint with its current key must
    pass the checks a new one gets: the answer must not tell whether the copy's id is stored (issue 12: ids and
    bodies of markings minted before it can be computed)."""
    if AUDIENCE_EXTENSION_ID in (item.obj.get("extensions") or {}):
        check_creator(item.obj, poster)
        own_audience_spec(item)


def own_audience_spec(item: CheckedObject) -> AudienceSpec | None:
    """The audience of an exchange-audience marking-definition a participant posts, or None for other objects."""
    if item.audience_error is not None:
        raise ObjectRejected(item.audience_error, rule="audience")
    if item.audience is not None and item.obj.get("created_by_ref") is not None:
        raise ObjectRejected("an exchange-audience marking-definition posted by a participant must not have "
                             "'created_by_ref' (it would identify you); or ask the exchange to mint one",
                             rule="audience")
    return item.audience
