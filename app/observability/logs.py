"""Logging: the configuration every ``aisx`` process applies, the JSON line format, and the one log line per
HTTP request.

``logging_config`` is applied by every ``aisx`` command (dictConfig) and handed to uvicorn, which applies it
again in each worker: every ``aisx`` logger then writes to stderr through one handler, in the format
``AISX_LOG_FORMAT`` names (``text``, the default, or ``json``: one JSON object per line). Without it, CLI
commands had no handler on ``aisx`` and their warnings and errors reached stderr bare, through Python's
last-resort handler.

The request line (logger ``aisx.request``) says method, route template, status, milliseconds, key id and
request id. Only those: never the raw path or the query string (a client may put a secret in either; ``next``
tokens and ids are the caller's business), never a header value but a sanitised X-Request-ID."""

import logging
import re
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]
REQUEST_LOGGER = "aisx.request"
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
# What an API key's secret and key id look like (app.participants.keys): never echoed as a request id.
_SECRET_LIKE = re.compile(r"aisx_s_|aisx_k_", re.IGNORECASE)
_REQUEST_FIELDS = ("method", "route", "status", "ms", "key_id", "request_id")


@dataclass
class RequestRecord:
    """What the request log line and the metrics learn about one request while it is served. Mutable and shared
    by reference: authentication runs in a worker thread with a copy of the context, so it fills this object in
    rather than setting a context variable of its own."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    route: str | None = None
    key_id: str | None = None


_current: ContextVar[RequestRecord | None] = ContextVar("aisx_request", default=None)


def begin_request(request_id: str) -> RequestRecord:
    record = RequestRecord(request_id)
    _current.set(record)
    return record


def current_request() -> RequestRecord | None:
    return _current.get()


def note_key(key_id: str) -> None:
    """The request being served is authenticated by ``key_id`` (for its log line)."""
    record = _current.get()
    if record is not None:
        record.key_id = key_id


def request_id(sent: str | None, credentials: tuple[str, ...] = ()) -> str:
    """The client's X-Request-ID when it is a plain token (at most 64 letters, digits and ``._:-``) that holds
    none of the request's credentials and does not look like a key, else a new random one. The id is logged and
    echoed: a client that put its secret there (by mistake, or a proxy that copies headers) must not find it in
    the log."""
    if sent is not None and _REQUEST_ID.match(sent) and not _SECRET_LIKE.search(sent) \
            and not any(_overlaps(sent, c) for c in credentials):
        return sent
    return secrets.token_hex(8)


def _overlaps(sent: str, credential: str) -> bool:
    """``sent`` holds the credential (or its random part, without the ``aisx_s_`` prefix), or is a piece of it."""
    core = _SECRET_LIKE.sub("", credential)
    return (len(core) >= 8 and core in sent) or (len(sent) >= 8 and sent in credential)


def log_request(record: RequestRecord, method: str, status: int, seconds: float) -> None:
    fields = {"method": method, "route": record.route or "unmatched", "status": status,
              "ms": round(seconds * 1000, 1), "key_id": record.key_id or "-", "request_id": record.request_id}
    logging.getLogger(REQUEST_LOGGER).info(
        "%s %s %d %.1f ms key=%s request_id=%s", fields["method"], fields["route"], status, fields["ms"],
        fields["key_id"], fields["request_id"], extra={"aisx_request": fields})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, RFC 3339), level, logger, message; the request fields as their own
    keys on request lines; the exception, when there is one, as one string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        request = getattr(record, "aisx_request", None)
        if isinstance(request, dict):
            line.update({k: request[k] for k in _REQUEST_FIELDS if k in request})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def logging_config(log_format: LogFormat = "text") -> dict[str, Any]:
    """The dictConfig of every ``aisx`` process: uvicorn's loggers and ``aisx`` on one stderr handler.

    Text keeps uvicorn's own look (``INFO:     message``) for every line; JSON formats uvicorn's lines too, so
    that a log shipper sees nothing but JSON objects."""
    formatter: dict[str, Any] = (
        {"()": f"{JsonFormatter.__module__}.JsonFormatter"} if log_format == "json"
        else {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s", "use_colors": None})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": {"formatter": "default", "class": "logging.StreamHandler",
                                 "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "aisx": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }
