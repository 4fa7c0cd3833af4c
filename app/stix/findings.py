"""What validation says about one object: each finding names the property path and the rule."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    path: str  # property path, e.g. "external_references[0].source_name"; "" for the whole object
    rule: str  # short rule id, e.g. "required", "type", "ref-type", "pattern", "schema"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message
