"""The TAXII 2.1 endpoints (spec §4.1-5.8), one function each. Thin: parse, authorise, read through
``app.sharing.reads`` (which applies the sharing rules for the caller), answer."""

import orjson
from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app import ingest
from app.audit import record
from app.config import get_settings
from app.errors import NotAuthenticated
from app.sharing import reads
from app.sharing.access import Access, Caller, access_for, access_map, require_delete, require_read
from app.sharing.rules import Poster
from app.store import collections as collection_store
from app.store.collections import ApiRootRow, CollectionRow
from app.store.engine import read_connection, write_transaction
from app.store.objects import PageRow
from app.store.queries import ALL_VERSIONS
from app.store.status import get_status
from app.taxii import resources
from app.taxii.admission import post_slot
from app.taxii.auth import optional_caller, require_caller
from app.taxii.cursor import binding, issue
from app.taxii.envelope import parse_envelope, read_body
from app.taxii.errors import TaxiiError
from app.taxii.filters import QueryLimits, parse_object_filter, parse_version_only
from app.taxii.media import STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE, accepts_taxii, is_postable_content
from app.taxii.read_counts import count_reads


async def require_taxii_accept(request: Request) -> None:
    """406 unless the client accepts TAXII 2.1 (TAXII 2.1 §1.6.8); 404 for path segments no id can contain.

    Async because it only reads the request: FastAPI runs a plain ``def`` dependency in its thread pool, and that
    hop cost about 0.1 ms of CPU (anyio, on the 2-core test machine) on every TAXII request."""
    if not accepts_taxii(request.headers.get("accept")):
        raise TaxiiError(406, f"This endpoint answers only with {TAXII_MEDIA_TYPE}; send it in Accept.")
    if any(not value.isprintable() for value in request.path_params.values()):
        raise TaxiiError(404, "No such resource.")


router = APIRouter(prefix="/taxii2", dependencies=[Depends(require_taxii_accept)], tags=["TAXII 2.1"])


def _json(body: bytes, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status_code, media_type=TAXII_MEDIA_TYPE, headers=headers)


def _api_root(conn: Connection, name: str) -> ApiRootRow:
    root = collection_store.get_api_root(conn, name)
    if root is None:
        raise _no_api_root(name)
    return root


def _no_api_root(name: str) -> TaxiiError:
    return TaxiiError(404, f"No API root named {name!r}.")


def _collection(conn: Connection, api_root: str, collection_id: str, caller: Caller | None) -> tuple[
        CollectionRow, Access]:
    """The collection and the caller's access; an anonymous caller finds only public collections."""
    _, collection, access = _root_and_collection(conn, api_root, collection_id, caller)
    return collection, access


def _root_and_collection(conn: Connection, api_root: str, collection_id: str, caller: Caller | None) -> tuple[
        ApiRootRow, CollectionRow, Access]:
    root, collection = collection_store.get_root_and_collection(conn, api_root, collection_id)
    if root is None:
        raise _no_api_root(api_root)
    access = access_for(conn, collection, caller) if collection else Access(False, False)
    if collection is None or not access.any:
        if caller is None:
            raise NotAuthenticated()
        raise TaxiiError(404, "No such collection, or you have no access to it.")
    return root, collection, access


# ------------------------------------------------------------------ server information (§4)


@router.get("/", summary="Server discovery", operation_id="get_discovery")
def get_discovery(caller: Caller = Depends(require_caller)) -> Response:
    with read_connection() as conn:
        return _json(orjson.dumps(resources.discovery(collection_store.list_api_roots(conn), get_settings())))


@router.get("/{api_root}/", summary="API root information", operation_id="get_api_root")
def get_api_root(api_root: str, caller: Caller = Depends(require_caller)) -> Response:
    with read_connection() as conn:
        return _json(orjson.dumps(resources.api_root(_api_root(conn, api_root))))


@router.get("/{api_root}/status/{status_id}/", summary="Status of an add-objects request",
            operation_id="get_status")
def get_status_resource(api_root: str, status_id: str, caller: Caller = Depends(require_caller)) -> Response:
    with read_connection() as conn:
        _api_root(conn, api_root)
        row = get_status(conn, api_root, status_id)
    if row is None or row.participant_id != caller.participant_id:
        raise TaxiiError(404, "No such status resource, or it is not yours.")
    return _json(resources.status(row))


# ------------------------------------------------------------------ collections (§5.1, §5.2)


@router.get("/{api_root}/collections/", summary="List collections", operation_id="get_collections")
def get_collections(api_root: str, caller: Caller = Depends(require_caller)) -> Response:
    with read_connection() as conn:
        _api_root(conn, api_root)
        rows = collection_store.list_collections(conn, api_root)
        access = access_map(conn, rows, caller)
    listed = [resources.collection(row, access[row.id]) for row in rows if access[row.id].any]
    return _json(orjson.dumps({"collections": listed} if listed else {}))


@router.get("/{api_root}/collections/{collection_id}/", summary="Get a collection",
            operation_id="get_collection")
def get_collection(api_root: str, collection_id: str, caller: Caller | None = Depends(optional_caller)) -> Response:
    with read_connection() as conn:
        collection, access = _collection(conn, api_root, collection_id, caller)
    return _json(orjson.dumps(resources.collection(collection, access)))


# ------------------------------------------------------------------ objects (§5.3-5.8)


def _read_page(
    request: Request, endpoint: str, api_root: str, collection_id: str, caller: Caller | None,
    *, stix_id: str | None = None, with_raw: bool = True, with_matches: bool = True,
) -> tuple[list[PageRow], bool, str | None]:
    scope = binding(endpoint, api_root, collection_id, stix_id, caller.participant_id if caller else None)
    settings = get_settings()
    limits = QueryLimits(settings.page_default, settings.page_max, settings.max_filter_values)
    flt = parse_object_filter(request.query_params, scope, limits, with_matches=with_matches)
    with read_connection() as conn:
        collection, access = _collection(conn, api_root, collection_id, caller)
        require_read(access, caller)
        page = reads.page(conn, caller, collection, flt, stix_id=stix_id, with_raw=with_raw)
        if stix_id is not None and not page.rows and flt.added_after is None and flt.after is None:
            raise TaxiiError(404, f"No object {stix_id} in this collection, or you cannot see it.")
    if caller is not None:
        count_reads(caller, collection, flt, page.rows)
    token = issue(flt, page.resume_at, scope) if page.resume_at is not None else None
    return page.rows, page.more, token


@router.get("/{api_root}/collections/{collection_id}/manifest/", summary="Get object manifests",
            operation_id="get_manifest")
def get_manifest(request: Request, api_root: str, collection_id: str,
                 caller: Caller | None = Depends(optional_caller)) -> Response:
    rows, more, token = _read_page(request, "manifest", api_root, collection_id, caller, with_raw=False)
    return _json(resources.manifest(rows, more, token), headers=resources.date_headers(rows))


@router.get("/{api_root}/collections/{collection_id}/objects/", summary="Get objects",
            operation_id="get_objects")
def get_objects(request: Request, api_root: str, collection_id: str,
                caller: Caller | None = Depends(optional_caller)) -> Response:
    rows, more, token = _read_page(request, "objects", api_root, collection_id, caller)
    return _json(resources.envelope(rows, more, token), headers=resources.date_headers(rows))


@router.post("/{api_root}/collections/{collection_id}/objects/", summary="Add objects", status_code=202,
             operation_id="add_objects", dependencies=[Depends(post_slot)])
async def add_objects(request: Request, api_root: str, collection_id: str,
                      caller: Caller | None = Depends(optional_caller)) -> Response:
    def authorise() -> tuple[CollectionRow, Poster, int]:
        with read_connection() as conn:
            root, collection, access = _root_and_collection(conn, api_root, collection_id, caller)
            poster = ingest.authorise_post(conn, collection, caller, access)
            return collection, poster, root.max_content_length

    collection, poster, max_length = await run_in_threadpool(authorise)
    content_type = request.headers.get("content-type")
    if not is_postable_content(content_type):
        raise TaxiiError(415, f"POST a TAXII envelope as {TAXII_MEDIA_TYPE}, or a STIX bundle as {STIX_MEDIA_TYPE}, "
                              f"not {content_type or 'nothing'}.")
    objects = parse_envelope(await read_body(request, max_length), get_settings().max_envelope_objects)
    assert caller is not None
    status = await run_in_threadpool(ingest.submit, collection, poster, objects, caller.key_id)
    return _json(resources.status(status), status_code=202)


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/", summary="Get an object",
            operation_id="get_object")
def get_object(request: Request, api_root: str, collection_id: str, object_id: str,
               caller: Caller | None = Depends(optional_caller)) -> Response:
    rows, more, token = _read_page(request, "object", api_root, collection_id, caller, stix_id=object_id)
    return _json(resources.envelope(rows, more, token), headers=resources.date_headers(rows))


@router.delete("/{api_root}/collections/{collection_id}/objects/{object_id}/", summary="Delete an object",
               operation_id="delete_object")
def delete_object(request: Request, api_root: str, collection_id: str, object_id: str,
                  caller: Caller = Depends(require_caller)) -> Response:
    params = request.query_params
    most_values = get_settings().max_filter_values
    versions = parse_version_only(params, most_values) if "match[version]" in params else None
    with read_connection() as conn:
        collection, access = _collection(conn, api_root, collection_id, caller)
    require_delete(access, caller)
    with write_transaction() as conn:
        producers = reads.producers(conn, caller, collection, object_id)
        if not producers:
            raise TaxiiError(404, f"No object {object_id} in this collection, or you cannot see it.")
        if caller.participant_id not in producers:
            raise TaxiiError(403, "You can see this object but only its creator may delete it.")
        removed = reads.remove_own(conn, caller, collection, object_id, versions or ALL_VERSIONS)
        if not removed:
            raise TaxiiError(404, f"No version of {object_id} matches match[version].")
        record(conn, "objects.delete", participant_id=caller.participant_id, key_id=caller.key_id,
               collection_id=collection_id, object_count=removed, detail={"id": object_id}, subject=caller.slug)
    return _json(b"{}")


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/versions/",
            summary="Get object versions", operation_id="get_object_versions")
def get_object_versions(request: Request, api_root: str, collection_id: str, object_id: str,
                        caller: Caller | None = Depends(optional_caller)) -> Response:
    rows, more, token = _read_page(request, "versions", api_root, collection_id, caller, stix_id=object_id,
                                      with_raw=False, with_matches=False)
    return _json(resources.versions(rows, more, token), headers=resources.date_headers(rows))
