"""Reading a POSTed envelope: size limit first (without buffering more than allowed), then shape."""

import re
from typing import Any

import orjson
from fastapi import Request

from app.taxii.errors import TaxiiError
from app.taxii.filters import bounded_int

_BUNDLE_ID = re.compile(r"^bundle--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


async def read_body(request: Request, max_length: int) -> bytes:
    """The request body, or 413 as soon as it exceeds ``max_length`` (declared or actually sent). Call it only
    once the caller is authenticated and authorised: nothing is read before. How long the body may take to
    arrive is bounded for every route by app.main's body deadline."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise TaxiiError(400, "Content-Length must be a non-negative integer.")
        if bounded_int(declared, max_length) > max_length:
            raise _too_large(max_length)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_length:
            raise _too_large(max_length)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_length: int) -> TaxiiError:
    return TaxiiError(413, f"The request body exceeds the largest accepted here, {max_length} bytes.",
                      details={"max_content_length": max_length})


def parse_envelope(body: bytes, most: int) -> list[dict[str, Any]]:
    """The objects of a TAXII 2.1 envelope, or of a STIX 2.1 bundle (what Splunk's CTIS app, OpenCTI's
    taxii-post stream and the stix2 library POST); 400/422 for anything that is neither, 413 for more than
    ``most`` objects."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TaxiiError(400, f"The body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise TaxiiError(400, 'The body must be a TAXII envelope: a JSON object {"objects": [...]}.')
    if "type" in data:
        _check_bundle(data)
    objects = data.get("objects")
    if not isinstance(objects, list) or not objects:
        raise TaxiiError(400, "The envelope must have an 'objects' list with at least one object.")
    if len(objects) > most:
        raise TaxiiError(413, f"The envelope has {len(objects)} objects; at most {most} are accepted per request.",
                         details={"max_envelope_objects": most})
    unnamed = [i for i, obj in enumerate(objects) if not isinstance(obj, dict) or not isinstance(obj.get("id"), str)]
    if unnamed:
        raise TaxiiError(422, "Every object must be a JSON object with a string 'id'; nothing was stored.",
                         details={"objects_without_id": unnamed[:100]})
    return objects


def _check_bundle(data: dict[str, Any]) -> None:
    """A body with a ``type`` must be a STIX 2.1 bundle (STIX 2.1 §8): its objects are taken as an envelope's."""
    if data["type"] != "bundle":
        raise TaxiiError(422, f"The body has type {data['type']!r}: POST a TAXII envelope "
                         '{"objects": [...]} or a STIX bundle (type "bundle"), not a single object.')
    if not isinstance(data.get("id"), str) or not _BUNDLE_ID.match(data["id"]):
        raise TaxiiError(422, f"A STIX bundle's id must be 'bundle--<UUID>' (lower-case hex), not {data.get('id')!r}.")
    if data.get("spec_version", "2.1") != "2.1":
        raise TaxiiError(422, f"This exchange takes STIX 2.1; the bundle says spec_version "
                         f"{data['spec_version']!r}.")
