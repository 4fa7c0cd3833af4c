"""Load: many ``added_after`` pollers while a lab ingests (issue: hardening, 8). Writes bench/LOAD.md.

    .venv/bin/python -m bench.load --seconds 60                       # 50 pollers, SQLite
    .venv/bin/python -m bench.load --seconds 60 --databases sqlite,postgres
    .venv/bin/python -m bench.load --seconds 5 --pollers 5 --preload 500 --out /tmp/LOAD.md   # smoke

Each run starts its own AISX (bench.targets.AisxTarget: a bench collection, lab A posting, lab B named as
recipient of lab A's AMBER/RED objects, an agency reading), preloads the collection, then for ``--seconds``:

- ``--pollers`` asyncio tasks, each with its own connection and the agency's key, poll
  ``objects/?added_after=<last X-TAXII-Date-Added-Last>`` once a second (fixed rate, start times spread over
  the first second), following ``next`` when ``more`` is true; every request's latency is recorded;
- one thread posts the generator's realistic mix as lab A, envelope after envelope, without pause.

Reported: poll latency percentiles, requests and objects per second, errors by kind (HTTP status or exception),
ingest throughput and envelope latency, and delivery lag — from the moment lab A's POST returned to the moment a
poller received one CLEAR/GREEN object of that envelope. Client and server share the machine."""

import argparse
import asyncio
import itertools
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.generator import objects
from bench.measure import percentile
from bench.targets import TAXII, AisxTarget, Target

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TLPS = ("clear", "green", "amber", "red")
VISIBLE = {"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",  # CLEAR and GREEN: what the agency sees
           "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"}


@dataclass
class Figures:
    poll_latency: list[float] = field(default_factory=list)  # seconds, every request of every poll
    poll_errors: Counter[str] = field(default_factory=Counter)
    polls: int = 0
    late_polls: int = 0  # polls that started more than a second after their tick
    objects_received: int = 0
    lag: list[float] = field(default_factory=list)
    ingest_latency: list[float] = field(default_factory=list)
    ingest_errors: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    rejected: int = 0
    committed: dict[str, float] = field(default_factory=dict)  # sample id -> when its POST returned
    seconds: float = 0.0


def ingest(target: Target, stream: Iterator[dict[str, Any]], envelope: int, stop: threading.Event,
           figures: Figures) -> None:
    reader = target.readers["writer"]
    url = f"{reader.collection_url}objects/"
    while not stop.is_set():
        chunk = list(itertools.islice(stream, envelope))
        sample = next((o["id"] for o in chunk if set(o.get("object_marking_refs", [])) & VISIBLE), None)
        t0 = time.perf_counter()
        try:
            response = reader.client.post(url, content=orjson.dumps({"objects": chunk}))
        except httpx.HTTPError as exc:
            figures.ingest_errors[type(exc).__name__] += 1
            continue
        done = time.perf_counter()
        figures.ingest_latency.append(done - t0)
        if response.status_code != 202:
            figures.ingest_errors[f"HTTP {response.status_code}"] += 1
            continue
        status = orjson.loads(response.content)
        figures.accepted += status["success_count"]
        figures.rejected += status["failure_count"]
        if sample:
            figures.committed[sample] = done


async def poller(url: str, secret: str, checkpoint: str, until: float, figures: Figures) -> None:
    headers = {"Accept": TAXII, "Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(headers=headers, timeout=30, limits=httpx.Limits(max_connections=1)) as client:
        tick = time.perf_counter() + random.random()
        while tick < until:
            await asyncio.sleep(max(0.0, tick - time.perf_counter()))
            if time.perf_counter() - tick > 1.0:
                figures.late_polls += 1
            figures.polls += 1
            token = None
            while True:
                params = {"added_after": checkpoint, **({"next": token} if token else {})}
                t0 = time.perf_counter()
                try:
                    response = await client.get(url, params=params)
                except httpx.HTTPError as exc:
                    figures.poll_errors[type(exc).__name__] += 1
                    break
                figures.poll_latency.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    figures.poll_errors[f"HTTP {response.status_code}"] += 1
                    break
                seen = time.perf_counter()
                body = orjson.loads(response.content)
                for obj in body.get("objects", []):
                    figures.objects_received += 1
                    committed = figures.committed.get(obj["id"])
                    if committed is not None:
                        figures.lag.append(seen - committed)
                if not body.get("more"):
                    checkpoint = response.headers.get("X-TAXII-Date-Added-Last", checkpoint)
                    break
                token = body.get("next")
            tick += 1.0


async def poll_all(target: Target, secret: str, pollers: int, seconds: float, figures: Figures) -> None:
    url = f"{target.readers['agency'].collection_url}objects/"
    checkpoint = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() - 1))  # the preload is older
    until = time.perf_counter() + seconds
    await asyncio.gather(*(poller(url, secret, checkpoint, until, figures) for _ in range(pollers)))


def run(kind: str, workdir: Path, pg_url: str | None, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    bench = AisxTarget(workdir, pg_url, workers=workers)
    target = bench.start()
    try:
        preload = list(objects(args.preload, seed=1, tlps=TLPS, audience=bench.audience))
        writer = target.readers["writer"]
        for start in range(0, len(preload), 1000):
            writer.client.post(f"{writer.collection_url}objects/", content=orjson.dumps(
                {"objects": preload[start:start + 1000]})).raise_for_status()
        stream = objects(10**9, seed=2, tlps=TLPS, audience=bench.audience)  # generated as they are posted
        figures, stop = Figures(), threading.Event()
        load_before = os.getloadavg()
        writer_thread = threading.Thread(target=ingest, args=(target, stream, args.envelope, stop, figures),
                                         daemon=True)
        started = time.perf_counter()
        writer_thread.start()
        asyncio.run(poll_all(target, bench.parts["agency-1"].secret, args.pollers, args.seconds, figures))
        stop.set()
        writer_thread.join(120)
        figures.seconds = time.perf_counter() - started
        return summarise(kind, workers, args, figures, load_before, os.getloadavg())
    finally:
        bench.stop()
        bench.drop()


def _ms(samples: list[float], p: float) -> float:
    return percentile(samples, p) * 1000 if samples else float("nan")


def summarise(kind: str, workers: int, args: argparse.Namespace, f: Figures, before: tuple[float, ...],
              after: tuple[float, ...]) -> dict[str, Any]:
    return {
        "database": kind, "pollers": args.pollers, "seconds": round(f.seconds, 1), "workers": workers,
        "preload": args.preload, "envelope": args.envelope,
        "poll_requests": len(f.poll_latency), "polls": f.polls, "late_polls": f.late_polls,
        "poll_p50_ms": _ms(f.poll_latency, 50), "poll_p90_ms": _ms(f.poll_latency, 90),
        "poll_p99_ms": _ms(f.poll_latency, 99), "poll_max_ms": max(f.poll_latency, default=0) * 1000,
        "poll_requests_per_s": len(f.poll_latency) / f.seconds, "objects_received": f.objects_received,
        "poll_errors": dict(f.poll_errors),
        "ingest_accepted": f.accepted, "ingest_rejected": f.rejected, "ingest_per_s": f.accepted / f.seconds,
        "ingest_envelopes": len(f.ingest_latency), "ingest_p50_ms": _ms(f.ingest_latency, 50),
        "ingest_p99_ms": _ms(f.ingest_latency, 99), "ingest_errors": dict(f.ingest_errors),
        "lag_samples": len(f.lag), "lag_p50_ms": _ms(f.lag, 50), "lag_p99_ms": _ms(f.lag, 99),
        "lag_max_ms": max(f.lag, default=0) * 1000, "load_before": before[0], "load_after": after[0],
    }


def _machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("aisx", "fastapi", "uvicorn", "sqlalchemy",
                                                                  "psycopg", "httpx"))
    import sqlite3

    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip() or "n/a"
    return [f"- machine: {os.cpu_count()} cores, {cpu}, {int(mem) // 1024 // 1024} GiB RAM, {platform.platform()}",
            f"- Python {platform.python_version()}; {versions}; SQLite {sqlite3.sqlite_version}; {pg}"]


def report(results: list[dict[str, Any]], command: str) -> str:
    lines = ["## Load: 50 pollers while a lab ingests", "",
             f"Command: `{command}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "", *_machine(), "",
             "Each poller is an agency client with its own connection polling `objects/?added_after=<its last "
             "X-TAXII-Date-Added-Last>` once a second (following `next`), while lab A posts envelopes of the "
             "generator's mix back to back. Latency is per HTTP request, measured by the client on the same "
             "machine as the server (one load generator process: asyncio pollers, one ingest thread). Lag is from "
             "lab A's POST returning to a poller receiving a CLEAR/GREEN object of that envelope. Load average "
             "is the machine's, before → after (other work on the machine shows up in it).", "",
             "| database | workers | pollers, s | poll requests | p50 ms | p90 ms | p99 ms | max ms | poll errors "
             "| late polls | ingest obj/s | ingest p50 / p99 ms | ingest errors | lag p50 / p99 / max ms | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['database']} | {r['workers']} | {r['pollers']}, {r['seconds']:.0f} | {r['poll_requests']} "
            f"({r['poll_requests_per_s']:.0f}/s) | {r['poll_p50_ms']:.1f} | {r['poll_p90_ms']:.1f} | "
            f"{r['poll_p99_ms']:.1f} | {r['poll_max_ms']:.0f} | {sum(r['poll_errors'].values())} "
            f"{r['poll_errors'] or ''} | {r['late_polls']} of {r['polls']} | {r['ingest_per_s']:.0f} | "
            f"{r['ingest_p50_ms']:.0f} / {r['ingest_p99_ms']:.0f} | {sum(r['ingest_errors'].values())} "
            f"{r['ingest_errors'] or ''} | {r['lag_p50_ms']:.0f} / {r['lag_p99_ms']:.0f} / {r['lag_max_ms']:.0f} "
            f"| {r['load_before']:.1f} → {r['load_after']:.1f} |")
    lines += ["", f"Load average above {os.cpu_count()} (the core count) means the run waited for CPU: server, "
              "load generator and any other work on the machine share it. Late polls started more than a second "
              "after their tick because the previous poll of that poller was still running.", "", "Per run:"]
    for r in results:
        lines.append(f"- {r['database']}, {r['workers']} worker(s): preloaded {r['preload']} object versions; "
                     f"{r['ingest_envelopes']} "
                     f"envelopes of {r['envelope']} posted, {r['ingest_accepted']} accepted, {r['ingest_rejected']} "
                     f"rejected; pollers received {r['objects_received']} objects; {r['lag_samples']} lag samples.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--workers", default="1", help="uvicorn workers; a list (1,2) runs each")
    parser.add_argument("--preload", type=int, default=10000, help="object versions stored before the run")
    parser.add_argument("--envelope", type=int, default=100, help="objects per POST of the ingesting lab")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--out", default=str(Path(__file__).with_name("LOAD.md")))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="aisx-load-") as tmp:
        for kind in [k for k in args.databases.split(",") if k]:
            for workers in [int(w) for w in str(args.workers).split(",") if w]:
                workdir = Path(tmp) / f"{kind}-{workers}"
                workdir.mkdir()
                pg_url = args.postgres_url if kind == "postgres" else None
                results.append(run(kind, workdir, pg_url, workers, args))
                print(orjson.dumps(results[-1], option=orjson.OPT_INDENT_2).decode())
    command = " ".join([".venv/bin/python", "-m", "bench.load", *sys.argv[1:]])
    Path(args.out).write_text(report(results, command))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
