"""The measurements, each over plain TAXII 2.1 HTTP so that AISX and medallion are measured alike."""

import random
import statistics
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson

from bench.targets import Reader


def percentile(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ingest(reader: Reader, objects: list[dict[str, Any]], envelope: int) -> dict[str, float]:
    """POST ``objects`` in envelopes of ``envelope``; objects/s counts only accepted objects."""
    bodies = [orjson.dumps({"objects": objects[i:i + envelope]}) for i in range(0, len(objects), envelope)]
    accepted = failed = 0
    start = time.perf_counter()
    for body in bodies:
        response = reader.client.post(f"{reader.collection_url}objects/", content=body)
        response.raise_for_status()
        status = response.json()
        accepted += status.get("success_count", 0)
        failed += status.get("failure_count", 0)
    seconds = time.perf_counter() - start
    return {"objects_per_s": accepted / seconds, "accepted": accepted, "failed": failed, "seconds": seconds}


def full_sync(reader: Reader, limit: int = 1000) -> dict[str, Any]:
    """Every version in the collection, page by page following ``next``; also each page's latency and the
    date headers of the last page (for the incremental polls)."""
    count, token, latencies = 0, None, []
    headers: dict[str, str] = {}
    start = time.perf_counter()
    while True:
        params: dict[str, Any] = {"limit": limit, "match[version]": "all"}
        if token:
            params["next"] = token
        t0 = time.perf_counter()
        response = reader.client.get(f"{reader.collection_url}objects/", params=params)
        response.raise_for_status()
        latencies.append(time.perf_counter() - t0)
        envelope = orjson.loads(response.content)
        count += len(envelope.get("objects", []))
        headers = {k: v for k, v in response.headers.items() if k.lower().startswith("x-taxii-date-added")}
        token = envelope.get("next")
        if not envelope.get("more") or not token:
            break
    seconds = time.perf_counter() - start
    return {"objects": count, "objects_per_s": count / seconds, "pages": len(latencies), "seconds": seconds,
            "page_p50_ms": statistics.median(latencies) * 1000, "last_page_ms": latencies[-1] * 1000,
            "last_first": headers.get("x-taxii-date-added-first"), "last_last": headers.get("x-taxii-date-added-last")}


def poll_latency(reader: Reader, added_after: str, repeats: int = 30) -> dict[str, float]:
    """An incremental ``added_after`` poll near the end of the collection."""
    samples, returned = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        response = reader.client.get(f"{reader.collection_url}objects/", params={"added_after": added_after})
        response.raise_for_status()
        samples.append(time.perf_counter() - t0)
        returned = len(orjson.loads(response.content).get("objects", []))
    return {"p50_ms": statistics.median(samples) * 1000, "p99_ms": percentile(samples, 99) * 1000,
            "objects": returned}


def get_latency(reader: Reader, ids: list[str], repeats: int = 300) -> dict[str, float]:
    """Single-object GET of random known ids."""
    rng = random.Random(5)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        reader.client.get(f"{reader.collection_url}objects/{rng.choice(ids)}/").raise_for_status()
        samples.append(time.perf_counter() - t0)
    return {"p50_ms": statistics.median(samples) * 1000, "p99_ms": percentile(samples, 99) * 1000}


def filter_latency(reader: Reader, params: dict[str, str], repeats: int = 20) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        reader.client.get(f"{reader.collection_url}objects/", params={"limit": "1000", **params}).raise_for_status()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def concurrent_reads(readers: list[Reader], seconds: float = 10.0) -> float:
    """Objects/s served to len(readers) clients each paging through the collection for ``seconds``."""
    served = [0] * len(readers)
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        token = None
        while time.monotonic() < stop:
            params: dict[str, Any] = {"limit": 1000, "match[version]": "all"}
            if token:
                params["next"] = token
            envelope = orjson.loads(readers[i].client.get(f"{readers[i].collection_url}objects/",
                                                          params=params).content)
            served[i] += len(envelope.get("objects", []))
            token = envelope.get("next") if envelope.get("more") else None

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(readers))]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(served) / (time.perf_counter() - start)
