"""The audience stored with an object version: the sharing rules (``app.sharing.rules``) decide it when the
object arrives, the store keeps it in ``stix_object`` and ``object_audience``, and the visibility predicate
reads it back. Defined here, below both, so that the store imports nothing from the rules."""

from dataclasses import dataclass

from app.stix.markings import Tlp


@dataclass(frozen=True)
class Audience:
    """An object version's stored audience."""

    tlp: Tlp
    release_at: int | None = None
    participants: frozenset[int] = frozenset()
    groups: frozenset[str] = frozenset()

    @property
    def has_recipients(self) -> bool:
        return bool(self.participants or self.groups)
