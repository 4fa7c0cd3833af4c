"""Feed definitions: TOML files in ``AISX_FEEDS_DIR``, checked against ``schemas/feed.schema.json``.
A bad file stops startup with a message naming the file and the problem."""

import logging
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from app.shipped import schema_path

log = logging.getLogger("aisx")


class FeedError(ValueError):
    pass


@dataclass(frozen=True)
class Upstream:
    url: str
    collection: str
    attribute_to: str
    username_env: str | None = None
    password_env: str | None = None
    poll_interval: int = 300
    page_size: int = 1000
    retry_attempts: int = 6  # tries per page on network errors, 429 and 5xx
    retry_backoff: float = 1.0  # seconds before the first retry; doubled each time (at most 60)


@dataclass(frozen=True)
class FeedDefinition:
    id: str
    alias: str
    title: str
    selector: dict[str, Any] | None  # None: a mirror that takes nothing posted locally
    read: tuple[str, ...] = ()
    public: bool = False
    description: str | None = None
    api_root: str = "exchange"
    default_group: str | None = None
    upstream: Upstream | None = None
    source: str = field(default="", compare=False)

    def to_json(self) -> str:
        """What is stored on the feed's collection row: the definition minus where it was read from."""
        body = {k: v for k, v in self.__dict__.items() if k != "source"}
        body["upstream"] = self.upstream.__dict__ if self.upstream else None
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, text: str) -> "FeedDefinition":
        body = orjson.loads(text)
        upstream = Upstream(**body.pop("upstream")) if body.get("upstream") else None
        body.pop("upstream", None)
        body["read"] = tuple(body.get("read", ()))
        return cls(**body, upstream=upstream)


@lru_cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(orjson.loads(schema_path("feed.schema.json").read_bytes()))


def parse_feed(text: str, source: str) -> FeedDefinition:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FeedError(f"{source}: not valid TOML: {exc}") from None
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise FeedError(f"{source}: {where}: {errors[0].message}")
    access = data.get("access", {})
    upstream = Upstream(**data["upstream"]) if "upstream" in data else None
    return FeedDefinition(
        id=data["id"], alias=data["alias"], title=data["title"], selector=data.get("selector"),
        read=tuple(access.get("read", ())), public=access.get("public", False), description=data.get("description"),
        api_root=data.get("api_root", "exchange"), default_group=data.get("default_group"), upstream=upstream,
        source=source,
    )


def load_feeds(directory: Path) -> list[FeedDefinition]:
    """Every ``*.toml`` in ``directory`` (none if it does not exist); ids and aliases must be unique. Says which
    directory it read, and warns when it holds no feed: the directory depends on the working directory and
    AISX_FEEDS_DIR, and an exchange serving no feeds because of a wrong one used to look exactly like a healthy
    one."""
    paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
    feeds = [parse_feed(path.read_text(), str(path)) for path in paths]
    log.info("feeds directory: %s (%d feed definitions)", directory.resolve(), len(feeds))
    if not feeds:
        log.warning("no feed definitions (*.toml) in %s: the exchange serves no feeds", directory.resolve())
    for attr in ("id", "alias"):
        seen: dict[str, str] = {}
        for feed in feeds:
            value = getattr(feed, attr)
            if value in seen:
                raise FeedError(f"{feed.source}: {attr} {value!r} is also used by {seen[value]}")
            seen[value] = feed.source
    return feeds


def definition_file(directory: Path, feed_id: str) -> Path | None:
    """The file of ``directory`` that defines the feed ``feed_id``, if any, to name it in a message (a file that
    does not parse is skipped here: loading the feeds reports it)."""
    for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
        try:
            if tomllib.loads(path.read_text()).get("id") == feed_id:
                return path
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
    return None
