"""What validation says about one object: each finding names the property path and the rule."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    path: str  # property path, e.g. "external_references[0].source_name"; "" for the whole object
    rule: str  # short rule id, e.g. "required", "type", "ref-type", "pattern", "schema"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


_YOU_SOUND = ("user", "url", "uri", "uni", "use", "uuid")  # a u spoken "you" takes "a"


def article(word: str) -> str:
    """``word`` with its indefinite article as it is read aloud: an indicator, a user-account, an x509-certificate
    (STIX type names are the words messages name most)."""
    lower = word.lower()
    vowel_sound = (lower[:1] in ("a", "e", "i", "o", "u", "x")) and not lower.startswith(_YOU_SOUND)
    return f"{'an' if vowel_sound else 'a'} {word}"


def describe(findings: Sequence[Finding], most: int = 50) -> str:
    """Every finding up to ``most`` (then "and N more"): one object's findings, each naming its property path and
    rule; 50 bounds a status entry at a few kilobytes even for an object built to break every rule."""
    text = "; ".join(str(f) for f in findings[:most])
    return text + (f"; and {len(findings) - most} more" if len(findings) > most else "")
