"""Selectors: which object versions a feed takes. Evaluated once per object version when it arrives (and on
rebuild), over facts derived at ingest — never by scanning stored JSON at read time."""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from app.stix.markings import Tlp

_TLP_NAMES = {"clear": Tlp.CLEAR, "green": Tlp.GREEN, "amber": Tlp.AMBER, "amber+strict": Tlp.AMBER_STRICT,
              "red": Tlp.RED}


@dataclass(frozen=True)
class Facts:
    """What selectors can ask about one object version."""

    type: str
    tlp: int
    producer_kind: str | None  # None: the exchange itself, or a pseudonymous or unattributed object
    producer_slug: str | None
    confidence: int | None
    labels: frozenset[str]
    revoked: bool
    terms: frozenset[tuple[str, str]]  # (kind, value) from app.stix.ai.index_terms
    source_collection: str  # id of the collection the version was posted to

    @classmethod
    def of(cls, obj: dict[str, Any], tlp: int, producer_kind: str | None, producer_slug: str | None,
           producer_identities: Collection[str], source_collection: str,
           terms: Collection[tuple[str, str]]) -> "Facts":
        """The producer is a fact only if the object names one of its real identities (its own, or one it claimed,
        which it published under before): a pseudonymous (created_by_ref the pseudonym) or unattributed (no
        created_by_ref) post must never be selected by who posted it, or a ``producers``/``producer_kinds`` feed
        would tell its readers who is behind it."""
        if obj.get("created_by_ref") not in producer_identities:
            producer_kind = producer_slug = None
        confidence = obj.get("confidence")
        labels = obj.get("labels")
        return cls(
            type=obj.get("type", ""), tlp=tlp, producer_kind=producer_kind, producer_slug=producer_slug,
            confidence=confidence if isinstance(confidence, int) and not isinstance(confidence, bool) else None,
            labels=frozenset(v for v in labels if isinstance(v, str)) if isinstance(labels, list) else frozenset(),
            revoked=obj.get("revoked") is True, terms=frozenset(terms), source_collection=source_collection,
        )


@dataclass(frozen=True)
class Selector:
    """A feed's selector with its source collections resolved to ids (None: every non-feed collection)."""

    sources: frozenset[str] | None
    types: frozenset[str] | None = None
    threat_categories: frozenset[str] | None = None
    atlas_techniques: tuple[str, ...] | None = None
    owasp: frozenset[str] | None = None
    producer_kinds: frozenset[str] | None = None
    producers: frozenset[str] | None = None
    max_tlp: int | None = None
    min_confidence: int | None = None
    labels: frozenset[str] | None = None
    revoked: bool | None = None

    @classmethod
    def build(cls, spec: dict[str, Any], sources: frozenset[str] | None) -> "Selector":
        def names(key: str) -> frozenset[str] | None:
            return frozenset(spec[key]) if key in spec else None

        return cls(
            sources=sources, types=names("types"), threat_categories=names("threat_categories"),
            atlas_techniques=tuple(spec["atlas_techniques"]) if "atlas_techniques" in spec else None,
            owasp=names("owasp"), producer_kinds=names("producer_kinds"), producers=names("producers"),
            max_tlp=_TLP_NAMES[spec["max_tlp"]] if "max_tlp" in spec else None,
            min_confidence=spec.get("min_confidence"), labels=names("labels"), revoked=spec.get("revoked"),
        )

    def matches(self, facts: Facts) -> bool:
        """Every given field must hold (AND); within a field any value will do (OR)."""
        return (
            (self.sources is None or facts.source_collection in self.sources)
            and (self.types is None or facts.type in self.types)
            and (self.threat_categories is None or _has(facts, "threat_category", self.threat_categories))
            and (self.atlas_techniques is None or any(
                value == t or value.startswith(t + ".") for kind, value in facts.terms if kind == "atlas"
                for t in self.atlas_techniques))
            and (self.owasp is None or _has(facts, "owasp", self.owasp))
            and (self.producer_kinds is None or facts.producer_kind in self.producer_kinds)
            and (self.producers is None or facts.producer_slug in self.producers)
            and (self.max_tlp is None or facts.tlp <= self.max_tlp)
            and (self.min_confidence is None or (facts.confidence is not None
                                                 and facts.confidence >= self.min_confidence))
            and (self.labels is None or bool(facts.labels & self.labels))
            and (self.revoked is None or facts.revoked == self.revoked)
        )


def _has(facts: Facts, kind: str, wanted: frozenset[str]) -> bool:
    return any(k == kind and v in wanted for k, v in facts.terms)
