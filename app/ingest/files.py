"""Reading STIX from files for bulk ingest: bundles, TAXII envelopes, JSON arrays, single objects or JSON
lines, optionally gzip-compressed."""

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


class UnreadableFile(ValueError):
    pass


def _text(path: Path) -> bytes:
    data = path.read_bytes()
    data = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark, as Windows tools write it


def read_objects(path: Path) -> list[Any]:
    """Every object in ``path``, in file order."""
    data = _text(path)
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return list(_json_lines(path, data))
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and isinstance(document.get("objects"), list):
        return document["objects"]  # a bundle or an envelope
    if isinstance(document, dict) and "type" in document:
        return [document]
    raise UnreadableFile(f"{path}: not a STIX bundle, TAXII envelope, JSON array, object or JSON lines")


def _json_lines(path: Path, data: bytes) -> Iterator[Any]:
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise UnreadableFile(f"{path}:{number}: not JSON ({exc})") from None
