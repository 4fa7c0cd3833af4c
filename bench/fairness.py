"""Fairness: how much one key's big, pattern-heavy envelopes slow another key's reads (issue 12, class 15).

    .venv/bin/python -m bench.fairness                           # this checkout, SQLite
    .venv/bin/python -m bench.fairness --tree /tmp/orig-httpdos  # another checkout's app/ (e.g. before the fix)
    .venv/bin/python -m bench.fairness --seconds 20 --posters 4 --mib 8

One AISX worker (bench.targets.AisxTarget). The agency reads ``objects/?limit=50`` back to back on one
connection, first alone for ``--seconds``, then for ``--seconds`` while lab A posts ``--mib`` MiB envelopes of
indicators with long STIX patterns back to back over ``--posters`` connections at once (honouring 429
Retry-After). Printed: the reader's p50/p90 latency in both phases and their ratio, the envelopes accepted and
the 429s. Client and server share the machine, so compare runs made on the same machine."""

import argparse
import json
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench.generator import objects
from bench.measure import percentile
from bench.targets import AisxTarget, Reader

TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
_TOKEN = "0badc0de"  # replaced in the envelope's ids before every post, so each post stores new objects


def pattern_heavy_envelope(mib: float) -> bytes:
    """An envelope of about ``mib`` MiB: indicators whose patterns OR 40 comparisons each (3.7 KiB an object)."""
    items, size, i = [], 0, 0
    while size < mib * 1024 * 1024:
        clauses = " OR ".join(f"[url:value = 'https://h{i}-{n}.example/{'p' * 40}']" for n in range(40))
        obj = {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{_TOKEN}-0000-4000-8000-{i:012d}",
               "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
               "name": "pattern-heavy", "pattern_type": "stix", "pattern": clauses,
               "valid_from": "2026-01-01T00:00:00.000Z", "object_marking_refs": [TLP_GREEN]}
        encoded = orjson.dumps(obj)
        items.append(encoded)
        size += len(encoded) + 1
        i += 1
    return b'{"objects":[' + b",".join(items) + b"]}"


def read_latencies(reader: Reader, seconds: float) -> list[float]:
    latencies, stop = [], time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.perf_counter()
        answer = reader.client.get(f"{reader.collection_url}objects/", params={"limit": "50"})
        latencies.append(time.perf_counter() - started)
        answer.raise_for_status()
    return latencies


def post_until(reader: Reader, body: bytes, stop: threading.Event, counts: dict[str, int]) -> None:
    """Post fresh copies of ``body`` back to back until ``stop``; on 429 wait as told."""
    while not stop.is_set():
        fresh = body.replace(_TOKEN.encode(), uuid.uuid4().hex[:8].encode())
        answer = reader.client.post(f"{reader.collection_url}objects/", content=fresh)
        if answer.status_code == 429:
            counts["429"] += 1
            stop.wait(float(answer.headers.get("Retry-After", "1")))
        else:
            counts[str(answer.status_code)] = counts.get(str(answer.status_code), 0) + 1


def summary(latencies: list[float]) -> dict[str, float]:
    return {"requests": len(latencies), "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p90_ms": round(percentile(latencies, 90) * 1000, 1)}


def run(tree: Path | None, seconds: float, posters: int, mib: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aisx-fairness-") as workdir:
        target = AisxTarget(Path(workdir), None)
        if tree is not None:  # the server and its CLI import app/ from that checkout first
            target.server.settings["PYTHONPATH"] = str(tree)
        try:
            target.start()
            writer, agency = target.reader("writer"), target.reader("agency")
            preload = {"objects": list(objects(500))}
            writer.client.post(f"{writer.collection_url}objects/", content=orjson.dumps(preload)).raise_for_status()
            body = pattern_heavy_envelope(mib)
            read_latencies(agency, 2)  # warm-up
            quiet = read_latencies(agency, seconds)
            stop, counts = threading.Event(), {"429": 0}
            threads = [threading.Thread(target=post_until, args=(target.reader("writer"), body, stop, counts))
                       for _ in range(posters)]
            for thread in threads:
                thread.start()
            loaded = read_latencies(agency, seconds)
            stop.set()
            for thread in threads:
                thread.join()
        finally:
            target.stop()
            target.drop()
    figures = {"tree": str(tree or "this checkout"), "posters": posters, "envelope_mib": mib,
               "envelope_bytes": len(body), "quiet": summary(quiet), "loaded": summary(loaded), "posts": counts}
    figures["p50_ratio"] = round(figures["loaded"]["p50_ms"] / figures["quiet"]["p50_ms"], 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="a checkout whose app/ the server runs (default: this one)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--posters", type=int, default=4, help="concurrent POST connections of the one key")
    parser.add_argument("--mib", type=float, default=8.0, help="size of each envelope")
    args = parser.parse_args()
    print(json.dumps(run(args.tree, args.seconds, args.posters, args.mib), indent=2))


if __name__ == "__main__":
    main()
