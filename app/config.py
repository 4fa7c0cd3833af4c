"""Settings, read once from ``AISX_*`` environment variables."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.shipped import default_feeds_dir


def _feeds_dir() -> Path:
    """``./feeds`` if the working directory has one, else the feeds shipped with the package: an installed
    ``aisx serve`` started anywhere else used to serve no feeds at all, silently."""
    local = Path("feeds")
    return local if local.is_dir() else default_feeds_dir()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AISX_", extra="ignore")

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'aisx.db'}",
        description="SQLAlchemy URL; SQLite file in the working directory by default.",
    )
    feeds_dir: Path = Field(default_factory=_feeds_dir, description=(
        "Directory of feed definitions (*.toml); unset: ./feeds if it exists, else the packaged defaults."))
    host: str = "127.0.0.1"
    port: int = 6100
    workers: int = 1

    title: str = "AISX — AI Security Exchange"
    description: str = "TAXII 2.1 exchange for AI-related cyber threat intelligence."
    contact: str = "operators@aisx.invalid"
    default_api_root: str = "exchange"

    max_content_length: int = Field(10 * 1024 * 1024, gt=0, description="Largest accepted request body, bytes.")
    page_default: int = Field(1000, gt=0, description="Objects per page when the client sends no limit.")
    page_max: int = Field(10000, gt=0, description="Hard maximum page size; larger limits are clamped.")
    max_filter_values: int = Field(100, gt=0, description="Most comma-separated values in one match[] filter.")
    max_envelope_objects: int = Field(10000, gt=0, description="Most objects in one POSTed envelope (413 above).")
    max_object_bytes: int = Field(1024 * 1024, gt=0, description="Largest single object, serialised (rejected above).")
    max_nesting_depth: int = Field(32, gt=0, description="Deepest JSON nesting inside one object (rejected above).")
    max_query_length: int = Field(8192, gt=0, description="Longest accepted query string, bytes (414 above).")
    cursor_secret: SecretStr | None = Field(None, description=(
        "Key for the 'next' tokens (any string; all workers and hosts must share it). Unset (the default): a "
        "random key is generated once and kept in the database."))
    body_read_timeout: float = Field(30.0, gt=0, description="Seconds a request body may stall before 408.")
    body_read_deadline: float = Field(
        120.0, gt=0, description="Seconds a whole request body may take to arrive before 408, however steadily it "
                                 "trickles in (10 MiB in 120 s is 85 KiB/s).")
    admin_max_body_bytes: int = Field(
        64 * 1024, gt=0, description="Largest accepted /admin/ request body, bytes (413 above); read only once the "
                                     "caller is authenticated.")
    max_concurrent_posts_per_key: int = Field(
        2, ge=0, description="Envelope POSTs one API key may have in progress at once in one worker (429 with "
                             "Retry-After above; 0: no limit).")
    client_cert_header: str | None = Field(None, description=(
        "Request header carrying the SHA-256 fingerprint of a client certificate verified by the TLS-terminating "
        "proxy in front of AISX (mutual TLS). Set it only when nothing but that proxy can reach AISX and the proxy "
        "overwrites the header on every request."))
    api_key_header: str | None = Field("X-API-Key", description=(
        "Request header that may carry an API key's secret alone, for TAXII clients that send a key in a header "
        "of the user's choosing (Cortex XSOAR's '_header:NAME' username, OpenCTI's USE_APIKEY). Empty: only "
        "Authorization (Bearer, Token, Basic) and client certificates authenticate."))
    db_pool_size: int = 10
    embargo_release_interval: float = Field(
        1.0, gt=0, le=60, description="Seconds between two runs of the embargo release job (on the leader): an "
                                      "embargoed object enters its collections at most this long after its embargo "
                                      "ends.")
    audit_read_retention_days: int = Field(
        90, ge=1, description="Days the per-day counts of reads of AMBER/RED objects (who read a producer's objects) "
                              "are kept; the leader prunes older days every hour.")
    audit_key_use_retention_days: int = Field(
        30, ge=1, description="Days the per-minute key-use counts are kept (each key's newest minute is kept "
                              "whatever its age, as its \"last used\").")
    audit_retention_interval: float = Field(
        3600.0, gt=0, description="Seconds between two runs of the audit retention job (on the leader).")
    leader_interval: float = Field(
        5.0, gt=0, le=300, description="Seconds between two leader-lock checks of each `aisx serve` instance: a "
                                       "follower takes over the background jobs at most this long after the "
                                       "leader's lock is released (at once when its process dies).")
    rate_limit_per_minute: int = Field(12000, ge=0, description="Requests per API key per minute (0: no limit).")
    auth_failures_per_minute: int = Field(
        600, ge=0, description="Failed authentications per client address per minute before 429 (0: no limit).")
    rate_limit_window: int = Field(
        60, ge=1, le=86400, description="Seconds in one window of the two limits above (a minute): they count per "
                                        "window. The tests lengthen it, so that no test waits for a new window.")
    cors_origins: str = Field(
        "", description="Comma-separated browser origins allowed to call the API cross-origin (CORS), or '*'; "
                        "empty (the default): no CORS headers at all.")
    forwarded_allow_ips: str | None = Field(
        None, description="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For and "
                          "X-Forwarded-Proto are trusted; unset (the default): forwarded headers are ignored and "
                          "the client address is the TCP peer.")

    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as human text (the default) or one JSON object per line ('json').")
    metrics_address: str | None = Field(
        None, description="host:port (or a port alone: on 127.0.0.1) where `aisx serve` also answers GET /metrics "
                          "without credentials, for Prometheus scrapers; unset (the default): /metrics only on the "
                          "main port, for operator keys.")

    @field_validator("metrics_address")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value:
            port = value.strip().rpartition(":")[2]
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"AISX_METRICS_ADDRESS must be host:port or a port, not {value!r}")
        return value or None

    @property
    def metrics_listen(self) -> tuple[str, int] | None:
        """AISX_METRICS_ADDRESS as (host, port); the host is loopback when none is given."""
        if not self.metrics_address:
            return None
        host, _, port = self.metrics_address.strip().rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
