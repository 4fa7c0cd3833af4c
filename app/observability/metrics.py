"""The exchange's Prometheus metrics, and their exposition in the text format.

``aisx serve`` may run several worker processes; each counts in its own memory-mapped files under
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode) and ``/metrics`` sums them, whichever
worker answers. ``aisx serve`` makes that directory per run and empties it at start (``use_directory``), so
counters begin at zero with the server and never add up files of an earlier run's processes.

The metrics are built on first use, not at import: prometheus-client picks in-memory or file-backed values when
a value is created, and ``aisx serve`` imports much of app/ before it knows the directory.

Label values are bounded sets (route templates, methods, statuses, reason codes, feed aliases), never raw
paths, key ids or anything a client chooses: each label value is a time series kept forever."""

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Request latency: a page of 1,000 objects takes tens of milliseconds, a validated POST of 10,000 seconds.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class Metrics:
    requests: Histogram
    objects_accepted: Counter
    objects_rejected: Counter
    sharing_refusals: Counter
    auth_failures: Counter
    rate_limited: Counter
    upstream_pulls: Counter
    upstream_failures: Counter
    upstream_objects: Counter
    pool_size: Gauge
    pool_checked_out: Gauge
    counter_flush_failures: Counter
    statistics_refresh_failures: Counter


_registry = CollectorRegistry(auto_describe=True)  # this process's metrics, when not in multiprocess mode


@lru_cache
def metrics() -> Metrics:
    r = _registry
    return Metrics(
        requests=Histogram("aisx_http_request_duration_seconds", "HTTP requests by route template, method and "
                           "status, and how long they took (the _count is the number of requests).",
                           ["route", "method", "status"], buckets=_LATENCY_BUCKETS, registry=r),
        objects_accepted=Counter("aisx_objects_accepted", "Object versions accepted by a POST, aisx ingest or "
                                 "upstream mirroring.", registry=r),
        objects_rejected=Counter("aisx_objects_rejected", "Objects rejected, by reason: validation (STIX and "
                                 "size checks), sharing (a sharing rule), conflict (ownership or a different "
                                 "payload under a stored version).", ["reason"], registry=r),
        sharing_refusals=Counter("aisx_sharing_refusals", "Objects refused by a sharing rule, by rule.",
                                 ["rule"], registry=r),
        auth_failures=Counter("aisx_auth_failures", "Failed authentications, by reason.", ["reason"], registry=r),
        rate_limited=Counter("aisx_rate_limited", "429 answers, by limit: key (requests per key), auth_failures "
                             "(failed authentications per address), concurrent_posts (POSTs in progress per key).",
                             ["limit"], registry=r),
        upstream_pulls=Counter("aisx_upstream_pulls", "Upstream mirror runs, per feed.", ["feed"], registry=r),
        upstream_failures=Counter("aisx_upstream_failures", "Upstream mirror runs that stopped on an error, per "
                                  "feed.", ["feed"], registry=r),
        upstream_objects=Counter("aisx_upstream_objects", "Objects pulled from upstream, per feed.", ["feed"],
                                 registry=r),
        pool_size=Gauge("aisx_db_pool_size", "Database connections the pools may hold open (summed over live "
                        "worker processes).", multiprocess_mode="livesum", registry=r),
        pool_checked_out=Gauge("aisx_db_pool_checked_out", "Database connections in use (summed over live "
                               "worker processes).", multiprocess_mode="livesum", registry=r),
        counter_flush_failures=Counter("aisx_rate_counter_flush_failures", "Failed flushes of the rate-limit "
                                       "counters to the database (the counts are kept and retried).", registry=r),
        statistics_refresh_failures=Counter("aisx_statistics_refresh_failures", "Failed planner-statistics "
                                            "refreshes (ANALYZE).", registry=r),
    )


def use_directory(directory: Path) -> None:
    """Count in ``directory`` from now on, shared with the processes started after this (they inherit the
    environment): emptied first, so a run starts from zero. Call it before any metric is used."""
    if metrics.cache_info().currsize:
        raise RuntimeError("use_directory must come before the first metric is used")
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.environ[_ENV] = str(directory)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]  # chosen at import of prometheus_client, before we knew


def multiprocess_directory() -> Path | None:
    value = os.environ.get(_ENV)
    return Path(value) if value else None


def method_label(method: str) -> str:
    return method if method in _METHODS else "other"


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request; ``method`` already through ``method_label``."""
    metrics().requests.labels(route, method, str(status)).observe(seconds)


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """Every metric of every process of this server (plus ``extra``, computed now), in the text format."""
    directory = multiprocess_directory()
    registry = CollectorRegistry(auto_describe=False)
    if directory is not None:
        _forget_dead_processes(directory)
        MultiProcessCollector(registry, str(directory))  # type: ignore[no-untyped-call]
    else:
        registry.register(_Registered())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


class _Registered(Collector):
    def collect(self) -> Iterator[object]:  # type: ignore[override]
        metrics()  # so that every family is listed, at zero, before its first event
        yield from _registry.collect()


def _forget_dead_processes(directory: Path) -> None:
    """Drop the live gauges (pool use) of worker processes that have died (uvicorn restarts a worker that hangs):
    prometheus-client keeps their files, so their last values would be summed forever."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
        except PermissionError:
            pass


class GaugeCollector(Collector):
    """A gauge family computed at scrape time from ``read`` (label values → value), e.g. from the database."""

    def __init__(self, name: str, documentation: str, labels: list[str],
                 read: Callable[[], dict[tuple[str, ...], float]]) -> None:
        self.name, self.documentation, self.labels, self.read = name, documentation, labels, read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for label_values, value in self.read().items():
            family.add_metric(list(label_values), value)
        yield family


def seconds_since(micros: int, now: float) -> float:
    """Seconds from a stored microsecond timestamp to ``now`` (seconds since the epoch)."""
    return (now * 1_000_000 - micros) / 1_000_000
