"""The value types of STIX 2.1 (§2) as checks: each takes a value, its property path and the list of findings, and
appends a finding for every rule the value breaks. ``app.stix.model`` composes them into the object model.

A check never raises and never stops early, so that one pass reports everything that is wrong with an object."""

import base64
import binascii
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from app.stix.findings import Finding, article
from app.stix.timestamps import TimestampError, parse_timestamp

Check = Callable[[Any, str, list[Finding]], None]

# §2.9: an identifier ends in an RFC 4122 UUID, in references as in ``id``: version 1-8 (RFC 9562 added 6-8) and
# the RFC 4122 variant (the first hex digit of the fourth group is 8, 9, a or b), written in lower case.
UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
UUID = re.compile(rf"^{UUID_PATTERN}\Z")
IDENTIFIER = re.compile(rf"^([a-z0-9][a-z0-9-]{{1,248}}[a-z0-9])--{UUID_PATTERN}\Z")
# §2.14: YYYY-MM-DDTHH:mm:ss[.s+]Z, upper-case T and Z, UTC only.
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z\Z")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+\Z")
_MAC = re.compile(r"^(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\Z")
# RFC 3986 §3.1: a URL starts with a scheme; no whitespace or control characters anywhere.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]+\Z")
# RFC 5646 §2.1 (language tags, private use and the grandfathered irregular tags, case-insensitive).
_LANG = re.compile(
    r"^(?:(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})(?:-[a-z]{4})?(?:-(?:[a-z]{2}|\d{3}))?"
    r"(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*(?:-[\da-wyz](?:-[a-z\d]{2,8})+)*(?:-x(?:-[a-z\d]{1,8})+)?"
    r"|x(?:-[a-z\d]{1,8})+|en-gb-oed|i-(?:ami|bnn|default|enochian|hak|klingon|lux|mingo|navajo|pwn|tao|tay|tsu)"
    r"|sgn-(?:be-fr|be-nl|ch-de))\Z", re.IGNORECASE)
# CPE 2.3 formatted string binding (NISTIR 7695 §6.2, the schema's regular expression).
_CPE_VALUE = r"(?:(?:\?*|\*?)(?:[a-zA-Z0-9\-._]|\\[\\*?!\"#$%&'()+,/:;<=>@\[\]\^`{|}~])+(?:\?*|\*?)|[*\-])"
_CPE = re.compile(rf"^cpe:2\.3:[aho*\-](?::{_CPE_VALUE}){{5}}:(?:[a-zA-Z]{{2,3}}(?:-(?:[a-zA-Z]{{2}}|\d{{3}}))?|[*\-])"
                  rf"(?::{_CPE_VALUE}){{4}}\Z")
# hash-algorithm-ov (§10.7) with the hex length of each digest; SSDEEP and TLSH have no fixed hex form.
HASH_LENGTHS = {"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-512": 128, "SHA3-256": 64, "SHA3-512": 128}
HASH_ALGORITHMS = frozenset({*HASH_LENGTHS, "SSDEEP", "TLSH"})


# ------------------------------------------------------------------ scalars


def string(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, str):
        out.append(Finding(path, "type", f"must be a string, not {type(value).__name__}"))


def non_empty_string(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, str) or not value:
        out.append(Finding(path, "type", "must be a non-empty string"))


def boolean(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, bool):
        out.append(Finding(path, "type", "must be true or false"))


@lru_cache(maxsize=65536)
def _timestamp_problem(value: str, millis: bool) -> str | None:
    """Cached: in STIX content created, modified and valid_from are often one and the same string."""
    match = _TIMESTAMP.match(value)
    if match is None:
        return f"{value!r} is not a STIX timestamp: YYYY-MM-DDTHH:mm:ss[.s+]Z, in UTC, with upper-case T and Z"
    if millis and len(match.group(1) or "") < 4:
        return f"{value!r} must be precise to at least the millisecond (three digits after the decimal point)"
    try:
        parse_timestamp(value, require_utc=True)
    except TimestampError as exc:
        return str(exc)
    return None


def _timestamp_check(millis: bool) -> Check:
    def check(value: Any, path: str, out: list[Finding]) -> None:
        problem = (_timestamp_problem(value, millis) if isinstance(value, str)
                   else f"{value!r} is not a STIX timestamp such as 2025-01-31T12:00:00.000Z")
        if problem:
            out.append(Finding(path, "timestamp", problem))
    return check


timestamp = _timestamp_check(millis=False)
timestamp_millis = _timestamp_check(millis=True)  # created, modified (§3.2: "the minimum precision MUST be ms")


def number(low: float, high: float | None = None) -> Check:
    """A JSON number (integer or float) from ``low`` to ``high`` (no upper bound when None)."""
    wanted = f"a number from {low:g} to {high:g}" if high is not None else f"a number of at least {low:g}"

    def check(value: Any, path: str, out: list[Finding]) -> None:
        if (not isinstance(value, int | float) or isinstance(value, bool) or value != value  # NaN
                or value < low or (high is not None and value > high)):
            out.append(Finding(path, "range", f"must be {wanted}"))
    return check


def integer(low: int = -2**63, high: int = 2**63 - 1) -> Check:
    wanted = f"an integer from {low} to {high}" if low > -2**63 else "an integer"

    def check(value: Any, path: str, out: list[Finding]) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            out.append(Finding(path, "range", f"must be {wanted}"))
    return check


def enum(allowed: set[str] | frozenset[str]) -> Check:
    """A closed enumeration: only these values."""
    listed = ", ".join(sorted(allowed))

    def check(value: Any, path: str, out: list[Finding]) -> None:
        if not isinstance(value, str) or value not in allowed:
            out.append(Finding(path, "vocabulary", f"must be one of {listed}, not {value!r}"))
    return check


def _pattern_check(pattern: re.Pattern[str], rule: str, wanted: str) -> Check:
    def check(value: Any, path: str, out: list[Finding]) -> None:
        if not isinstance(value, str):
            out.append(Finding(path, "type", f"must be a string: {wanted}"))
        elif not pattern.match(value):
            out.append(Finding(path, rule, f"must be {wanted}, not {value!r}"[:300]))
    return check


hex_string = _pattern_check(_HEX, "hex", "a hex string of whole octets (§2.10)")
mac_address = _pattern_check(_MAC, "format", "a lower-case, colon-separated MAC-48 address with leading zeros")
url = _pattern_check(_URL, "format", "a URL with a scheme, without spaces (RFC 3986)")
language_tag = _pattern_check(_LANG, "format", "an RFC 5646 language tag such as 'en' or 'pt-BR'")
cpe = _pattern_check(_CPE, "format", "a CPE 2.3 formatted string such as 'cpe:2.3:a:vendor:product:1.0:*:*:*:*:*:*:*'")


def binary(value: Any, path: str, out: list[Finding]) -> None:
    """§2.3: base64 (RFC 4648 §4)."""
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        out.append(Finding(path, "format", "must be base64-encoded (RFC 4648)"))


def iso_639_2(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, str) or not (value in _ISO_639_2 or re.match(r"^q[a-t][a-z]\Z", value)):
        out.append(Finding(path, "format", f"must be an ISO 639-2 three-letter language code such as 'eng', "
                                           f"not {value!r}"))


# ------------------------------------------------------------------ containers and references


def list_of(item: Check) -> Check:
    """§2.12: a list; "empty lists are prohibited" (omit the property instead)."""
    def check(value: Any, path: str, out: list[Finding]) -> None:
        if not isinstance(value, list) or not value:
            out.append(Finding(path, "type", "must be a non-empty list (omit the property instead of an empty one)"))
            return
        for i, element in enumerate(value):
            item(element, f"{path}[{i}]", out)
    return check


def dictionary(value: Any, path: str, out: list[Finding]) -> None:
    """§2.8: an object with at least one key; keys of at most 250 ASCII characters."""
    if not isinstance(value, dict) or not value:
        out.append(Finding(path, "type", "must be a non-empty dictionary"))
        return
    for key in value:
        if not key or len(key) > 250 or not key.isascii():
            out.append(Finding(f"{path}.{key[:40]}", "dictionary-key", "dictionary keys are 1-250 ASCII characters"))


def hashes(value: Any, path: str, out: list[Finding]) -> None:
    """§2.7: keys from hash-algorithm-ov, or custom keys of 3-250 characters; known digests in hex of the
    algorithm's length (case-insensitive)."""
    if not isinstance(value, dict) or not value:
        out.append(Finding(path, "type", "must be a non-empty dictionary of hash algorithm → value"))
        return
    for algorithm, digest in value.items():
        where = f"{path}.{algorithm[:40]}"
        if not isinstance(digest, str) or not digest:
            out.append(Finding(where, "type", "must be a non-empty string"))
        elif algorithm in HASH_LENGTHS:
            if len(digest) != HASH_LENGTHS[algorithm] or not _HEX.match(digest):
                out.append(Finding(where, "hash", f"must be {HASH_LENGTHS[algorithm]} hex digits"))
        elif algorithm not in HASH_ALGORITHMS and not 3 <= len(algorithm) <= 250:
            out.append(Finding(where, "hash", "hash keys are a hash-algorithm-ov value (MD5, SHA-1, SHA-256, SHA-512, "
                                              "SHA3-256, SHA3-512, SSDEEP, TLSH) or a custom key of 3-250 "
                                              "characters"))


def _not_identifier(value: Any, path: str) -> Finding:
    return Finding(path, "identifier", f"must be a STIX identifier 'type--<UUID>' (RFC 4122), not {value!r}"[:300])


def ref(*types: str, category: str | None = None, excluded: frozenset[str] = frozenset()) -> Check:
    """An identifier (§2.9) whose type is one of ``types``; or, with ``category`` (e.g. "an SCO"), of any type
    outside ``excluded`` (custom and extension-defined types cannot be classified from the id alone)."""
    wanted = category or " or ".join(types)

    def check(value: Any, path: str, out: list[Finding]) -> None:
        match = IDENTIFIER.match(value) if isinstance(value, str) else None
        if match is None:
            out.append(_not_identifier(value, path))
            return
        target = match.group(1)
        if target in types or (category is not None and target not in excluded):
            return
        out.append(Finding(path, "ref-type", f"must reference {wanted}, not {article(target)}"))
    return check


def any_ref(value: Any, path: str, out: list[Finding]) -> None:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        out.append(_not_identifier(value, path))


def embedded(props: dict[str, Check], required: tuple[str, ...] = (), what: str = "object",
             one_of: tuple[str, ...] = ()) -> Check:
    """A nested object (kill-chain-phase, external-reference, a predefined extension, ...): its required
    properties, at least one of ``one_of``, and the checks of the properties it defines."""
    def check(value: Any, path: str, out: list[Finding]) -> None:
        if not isinstance(value, dict):
            out.append(Finding(path, "type", f"must be {article(what)} object"))
            return
        for prop in required:
            if prop not in value:
                out.append(Finding(f"{path}.{prop}", "required", f"is required on {article(what)}"))
        if one_of and not any(prop in value for prop in one_of):
            out.append(Finding(path, "required", f"{article(what)} needs at least one of {', '.join(one_of)}"))
        for prop, item in value.items():
            known = props.get(prop)
            if known is not None:
                known(item, f"{path}.{prop}", out)
    return check


_ISO_639_2_CODES = """
    aar abk ace ach ada ady afa afh afr ain aka akk alb ale alg alt amh ang anp apa ara arc arg arm arn arp
    art arw asm ast ath aus ava ave awa aym aze bad bai bak bal bam ban baq bas bat bej bel bem ben ber bho bih
    bik bin bis bla bnt bod bos bra bre btk bua bug bul bur byn cad cai car cat cau ceb cel ces cha chb che chg
    chi chk chm chn cho chp chr chu chv chy cmc cnr cop cor cos cpe cpf cpp cre crh crp csb cus cym cze dak dan
    dar day del den deu dgr din div doi dra dsb dua dum dut dyu dzo efi egy eka ell elx eng enm epo est eus ewe
    ewo fan fao fas fat fij fil fin fiu fon fra fre frm fro frr frs fry ful fur gaa gay gba gem geo ger gez gil
    gla gle glg glv gmh goh gon gor got grb grc gre grn gsw guj gwi hai hat hau haw heb her hil him hin hit hmn
    hmo hrv hsb hun hup hye iba ibo ice ido iii ijo iku ile ilo ina inc ind ine inh ipk ira iro isl ita jav jbo
    jpn jpr jrb kaa kab kac kal kam kan kar kas kat kau kaw kaz kbd kha khi khm kho kik kin kir kmb kok kom kon
    kor kos kpe krc krl kro kru kua kum kur kut lad lah lam lao lat lav lez lim lin lit lol loz ltz lua lub lug
    lui lun luo lus mac mad mag mah mai mak mal man mao map mar mas may mdf mdr men mga mic min mis mkd mkh mlg
    mlt mnc mni mno moh mon mos mri msa mul mun mus mwl mwr mya myn myv nah nai nap nau nav nbl nde ndo nds nep
    new nia nic niu nld nno nob nog non nor nqo nso nub nwc nya nym nyn nyo nzi oci oji ori orm osa oss ota oto
    paa pag pal pam pan pap pau peo per phi phn pli pol pon por pra pro pus que raj rap rar roa roh rom ron rum
    run rup rus sad sag sah sai sal sam san sas sat scn sco sel sem sga sgn shn sid sin sio sit sla slk slo slv
    sma sme smi smj smn smo sms sna snd snk sog som son sot spa sqi srd srn srp srr ssa ssw suk sun sus sux swa
    swe syc syr tah tai tam tat tel tem ter tet tgk tgl tha tib tig tir tiv tkl tlh tli tmh tog ton tpi tsi tsn
    tso tuk tum tup tur tut tvl twi tyv udm uga uig ukr umb und urd uzb vai ven vie vol vot wak wal war was wel
    wen wln wol xal xho yao yap yid yor ypk zap zbl zen zgh zha zho znd zul zun zxx zza
"""
_ISO_639_2 = frozenset(_ISO_639_2_CODES.split())  # ISO 639-2/T and /B codes, from Debian iso-codes
