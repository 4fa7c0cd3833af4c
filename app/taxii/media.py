"""Content negotiation (TAXII 2.1 §1.6.8, §3.1): what a client may Accept and what it may POST."""

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
_TAXII = "application/taxii+json"
_STIX = "application/stix+json"


def _media_ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    ranges = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params = {}
        for param in pieces[1:]:
            name, _, value = param.partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        ranges.append((pieces[0].lower(), params))
    return ranges


def _is_21(media: str, params: dict[str, str], *, base: str = _TAXII) -> bool:
    """``base`` with version 2.1 or no version (taken as the newest, 2.1)."""
    return media == base and params.get("version", "2.1") == "2.1"


def accepts_taxii(header: str | None) -> bool:
    """True when the Accept header admits the TAXII 2.1 media type (a missing header admits anything)."""
    if not header:
        return True
    for media, params in _media_ranges(header):
        try:
            quality = float(params.get("q", "1"))
        except ValueError:
            quality = 1.0
        if quality <= 0:
            continue
        if media in ("*/*", "application/*") or _is_21(media, params):
            return True
    return False


def is_postable_content(header: str | None) -> bool:
    """True for a TAXII 2.1 envelope's media type, and for STIX 2.1's, which Splunk's CTIS app, OpenCTI's
    taxii-post stream and the stix2 library send with a bundle; spaces around ';' and '=' are tolerated."""
    ranges = _media_ranges(header or "")
    return len(ranges) == 1 and any(_is_21(*ranges[0], base=base) for base in (_TAXII, _STIX))

