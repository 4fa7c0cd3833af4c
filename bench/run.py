"""Run the benchmark and write bench/RESULTS.md.

    .venv/bin/python -m bench.run                          # full run: 10k, 100k, 1M; SQLite and PostgreSQL
    .venv/bin/python -m bench.run --sizes 2000 --quick     # smoke run (what the test suite does)

Everything is measured over HTTP on loopback, against servers this script starts: AISX on SQLite, AISX on
PostgreSQL (a throwaway database, dropped at the end) and medallion 3.0.0 from PyPI in its own venv."""

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from bench import measure
from bench.generator import objects
from bench.targets import (
    REQUEST_TIMEOUT,
    AisxTarget,
    MedallionTarget,
    Target,
    cpu_seconds,
    cpu_used,
    machine_busy_seconds,
    postgres_pids,
)

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TLPS = ("clear", "green", "amber", "red")


@dataclass
class Row:
    size: int
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class Series:
    name: str
    rows: list[Row] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _measure_reads(target: Target, ids: list[str], quick: bool) -> dict[str, Any]:
    lab = target.readers["lab"]
    sync = measure.full_sync(lab)
    figures: dict[str, Any] = {
        "sync_lab_objects": sync["objects"], "sync_lab_per_s": sync["objects_per_s"],
        "page_p50_ms": sync["page_p50_ms"], "last_page_ms": sync["last_page_ms"],
    }
    if "agency" in target.readers:
        agency = measure.full_sync(target.readers["agency"])
        figures.update(sync_agency_objects=agency["objects"], sync_agency_per_s=agency["objects_per_s"])
    repeats = 5 if quick else 30
    if sync["last_last"]:
        figures["poll_empty_ms"] = measure.poll_latency(lab, sync["last_last"], repeats)["p50_ms"]
    if sync["last_first"]:
        tail = measure.poll_latency(lab, sync["last_first"], repeats)
        figures.update(poll_tail_ms=tail["p50_ms"], poll_tail_objects=tail["objects"])
    figures["match_type_ms"] = measure.filter_latency(lab, {"match[type]": "indicator"}, 5 if quick else 20)
    figures["match_id_ms"] = measure.filter_latency(lab, {"match[id]": ids[len(ids) // 2]}, 5 if quick else 20)
    got = measure.get_latency(lab, ids, 30 if quick else 300)
    figures.update(get_p50_ms=got["p50_ms"], get_p99_ms=got["p99_ms"], rss_mb=target.rss_mb())
    return figures


def _load(target: Target, batch: list[dict[str, Any]], second_writer: str | None) -> dict[str, float]:
    """Post ``batch`` in envelopes of 1,000, every fourth envelope from a second producer when there is one."""
    totals = {"accepted": 0.0, "failed": 0.0, "seconds": 0.0}
    for i, start in enumerate(range(0, len(batch), 1000)):
        writer = target.readers[second_writer] if second_writer and i % 4 == 3 else target.readers["writer"]
        result = measure.ingest(writer, batch[start:start + 1000], 1000)
        for key in totals:
            totals[key] += result[key]
    totals["objects_per_s"] = totals["accepted"] / totals["seconds"] if totals["seconds"] else 0.0
    return totals


def _grow(series: Series, target: Target, audience: str | None, sizes: list[int], quick: bool,
          disk_mb: Callable[[], float] | None = None, budget_s: float | None = None) -> None:
    """Load the target up to each size in turn (the first 2,000 objects in envelopes of 100), measuring the
    reads at every size. With a budget (for medallion), a size is skipped when the previous size's time, scaled
    by the square of the size ratio, would exceed it (medallion's poll took 3.8 s at 1,000 objects and 6.5 min
    at 10,000), and a size ends, unmeasured, when one request times out."""
    for reader in target.readers.values():  # first requests pay for connections and statement compilation
        reader.client.get(reader.collection_url).raise_for_status()
        first = {"limit": 1, "match[version]": "all"}
        page = reader.client.get(f"{reader.collection_url}objects/", params=first).raise_for_status()
        if token := page.json().get("next"):
            reader.client.get(f"{reader.collection_url}objects/", params={**first, "next": token}).raise_for_status()
    source = objects(sizes[-1] * 2, seed=11, tlps=TLPS, audience=audience)
    small = list(itertools.islice(source, min(2000, sizes[0] // 2)))
    envelope_100 = measure.ingest(target.readers["writer"], small, 100)
    stored, ids = int(envelope_100["accepted"]), [o["id"] for o in small]
    started, previous = time.monotonic(), None
    for size in sizes:
        if budget_s is not None and previous is not None:
            projected = previous[1] * (size / previous[0]) ** 2
            if time.monotonic() - started + projected > budget_s:
                series.extra["skipped"] = (f"{size:,} skipped: projected {projected / 60:.0f} min from "
                                           f"{previous[1] / 60:.1f} min at {previous[0]:,}, beyond the "
                                           f"{budget_s / 60:.0f}-minute budget")
                print(f"  {series.name}: {series.extra['skipped']}", flush=True)
                break
        stage = time.monotonic()
        try:
            row, stored = _stage(target, source, stored, size, ids, quick)
        except httpx.TimeoutException:
            series.extra["skipped"] = f"{size:,} not measured: one request took longer than {REQUEST_TIMEOUT} s"
            print(f"  {series.name}: {series.extra['skipped']}", flush=True)
            break
        if size == sizes[0]:
            row.figures["ingest_100_per_s"] = envelope_100["objects_per_s"]
        if disk_mb is not None:
            row.figures["disk_mb"] = disk_mb()
        series.rows.append(row)
        previous = (size, time.monotonic() - stage)
        print(f"  {series.name} {size}: {row.figures}", flush=True)


def _stage(target: Target, source: Iterator[dict[str, Any]], stored: int, size: int, ids: list[str],
           quick: bool) -> tuple[Row, int]:
    """Load the target from ``stored`` up to ``size`` objects (appending their ids) and measure the reads there;
    returns the row and how many objects are now stored."""
    batch = list(itertools.islice(source, size - stored))
    loaded = _load(target, batch, None)
    ids += [o["id"] for o in batch]
    row = Row(size, {"ingest_1000_per_s": loaded["objects_per_s"], "failed": loaded["failed"]})
    row.figures.update(_measure_reads(target, ids, quick))
    return row, stored + int(loaded["accepted"])


def run_aisx(kind: str, sizes: list[int], workdir: Path, pg_url: str | None, quick: bool) -> Series:
    bench = AisxTarget(workdir, pg_url)
    target = bench.start()
    series = Series(f"AISX ({kind})")
    try:
        _grow(series, target, bench.audience, sizes, quick, bench.disk_mb)
        if kind == "postgres":
            series.extra["workers"] = _worker_scaling(bench, quick)
            print(f"  {series.name} workers: {series.extra['workers']}", flush=True)
    finally:
        bench.stop()
        bench.drop()
    return series


def _worker_scaling(bench: AisxTarget, quick: bool) -> dict[int, dict[str, float]]:
    """Objects/s served to 4 concurrent syncing clients with 1 and with 2 uvicorn workers, and where the CPU
    went meanwhile (this client, the AISX processes, PostgreSQL): on a small machine all three share the cores."""
    result = {}
    for workers in (1, 2):
        target = bench.restart(workers)
        readers = [target.readers["lab"], *(bench.reader("lab") for _ in range(3))]
        server, pg, me = cpu_seconds(target.pids()), cpu_seconds(postgres_pids()), os.times()
        machine, start = machine_busy_seconds(), time.perf_counter()
        rate = measure.concurrent_reads(readers, 4 if quick else 15)
        wall, now = time.perf_counter() - start, os.times()
        result[workers] = {
            "objects_per_s": rate, "wall_s": wall,
            "client_cpu_s": now.user + now.system - me.user - me.system,
            "server_cpu_s": cpu_used(server, cpu_seconds(target.pids())),
            "postgres_cpu_s": cpu_used(pg, cpu_seconds(postgres_pids())),
            "machine_cpu_s": machine_busy_seconds() - machine,
        }
    return result


def run_medallion(sizes: list[int], workdir: Path, budget_s: float) -> Series:
    med = MedallionTarget(workdir)
    version = med.install()
    target = med.start()
    series = Series(f"medallion {version} (memory)")
    try:
        _grow(series, target, None, sizes, quick=True, budget_s=budget_s)  # few repeats: its pages take seconds
    finally:
        med.stop()
    return series


# ------------------------------------------------------------------ report

_COLUMNS = (
    ("ingest_1000_per_s", "ingest obj/s (env 1000)", "{:,.0f}"),
    ("ingest_100_per_s", "ingest obj/s (env 100)", "{:,.0f}"),
    ("sync_lab_per_s", "full sync obj/s (lab)", "{:,.0f}"),
    ("sync_agency_per_s", "full sync obj/s (agency)", "{:,.0f}"),
    ("page_p50_ms", "page of 1000 p50 ms", "{:.1f}"),
    ("last_page_ms", "last page ms", "{:.1f}"),
    ("poll_empty_ms", "poll (nothing new) ms", "{:.1f}"),
    ("poll_tail_ms", "poll (last page) ms", "{:.1f}"),
    ("match_type_ms", "match[type] ms", "{:.1f}"),
    ("match_id_ms", "match[id] ms", "{:.1f}"),
    ("get_p50_ms", "GET p50 ms", "{:.2f}"),
    ("get_p99_ms", "GET p99 ms", "{:.2f}"),
    ("rss_mb", "server RSS MB", "{:.0f}"),
    ("disk_mb", "DB on disk MB", "{:.0f}"),
)


def _table(series: Series) -> list[str]:
    lines = [f"### {series.name}", "", "| figure | " + " | ".join(f"{r.size:,}" for r in series.rows) + " |",
             "|---|" + "---:|" * len(series.rows)]
    for key, label, fmt in _COLUMNS:
        if any(key in r.figures for r in series.rows):
            cells = [fmt.format(r.figures[key]) if key in r.figures else "" for r in series.rows]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    counts = [f"{r.figures.get('sync_lab_objects', 0):,} / {r.figures.get('sync_agency_objects', '-')}"
              for r in series.rows]
    lines.append("| versions seen by lab / agency | " + " | ".join(counts) + " |")
    if "skipped" in series.extra:
        lines += ["", f"Not measured: {series.extra['skipped']}."]
    lines.append("")
    scaling = series.extra.get("workers", {})
    if scaling:
        lines += ["Worker scaling (at the largest size): 4 clients syncing concurrently for the same wall time; CPU "
                  "seconds used meanwhile by the load generator, the AISX processes, PostgreSQL and the whole "
                  "machine.", "",
                  "| workers | objects/s | wall s | client CPU s | AISX CPU s | PostgreSQL CPU s | machine CPU s | "
                  "cores busy |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for workers, f in scaling.items():
            lines.append(f"| {workers} | {f['objects_per_s']:,.0f} | {f['wall_s']:.1f} | {f['client_cpu_s']:.1f} | "
                         f"{f['server_cpu_s']:.1f} | {f['postgres_cpu_s']:.1f} | {f['machine_cpu_s']:.1f} | "
                         f"{f['machine_cpu_s'] / f['wall_s']:.2f} |")
        lines.append("")
    return lines


def _ratios(aisx: Series, medallion: Series) -> list[str]:
    """AISX / medallion for each size medallion reached, against AISX holding as many objects or more (so every
    ratio is in medallion's favour where the sizes differ)."""
    lines = [f"### {aisx.name} / {medallion.name} (higher is better for AISX)", "",
             "| AISX holding | medallion holding | ingest | full sync | GET p50 | page p50 | poll | match[type] |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for med in medallion.rows:
        row = next((r for r in aisx.rows if r.size >= med.size), None)
        if row is None:
            continue
        f, m = row.figures, med.figures
        lines.append(f"| {row.size:,} | {med.size:,} | {f['ingest_1000_per_s'] / m['ingest_1000_per_s']:.1f}x | "
                     f"{f['sync_lab_per_s'] / m['sync_lab_per_s']:.1f}x | {m['get_p50_ms'] / f['get_p50_ms']:.1f}x | "
                     f"{m['page_p50_ms'] / f['page_p50_ms']:.1f}x | {m['poll_empty_ms'] / f['poll_empty_ms']:.1f}x | "
                     f"{m['match_type_ms'] / f['match_type_ms']:.1f}x |")
    return [*lines, ""]


_READ_FIGURES = (  # (key, label, higher is better)
    ("sync_lab_per_s", "full sync (lab)", True), ("sync_agency_per_s", "full sync (agency)", True),
    ("page_p50_ms", "page p50", False), ("last_page_ms", "last page", False), ("poll_empty_ms", "poll", False),
    ("poll_tail_ms", "poll (last page)", False), ("match_type_ms", "match[type]", False),
    ("match_id_ms", "match[id]", False), ("get_p50_ms", "GET p50", False), ("get_p99_ms", "GET p99", False),
)


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _goals(all_series: list[Series]) -> list[str]:
    """Issue 6's goals, each with the measured figure and whether it is met (SQLite unless stated)."""
    by_name = {s.name: s for s in all_series}
    sqlite, postgres = by_name.get("AISX (sqlite)"), by_name.get("AISX (postgres)")
    lines = ["## Goals", "", "| goal | measured | verdict |", "|---|---|---|"]
    if sqlite and sqlite.rows:
        first, last = sqlite.rows[0], sqlite.rows[-1]
        syncs = [(r.size, who, r.figures[key]) for r in sqlite.rows
                 for who, key in (("lab", "sync_lab_per_s"), ("agency", "sync_agency_per_s")) if key in r.figures]
        slowest = min(syncs, key=lambda s: s[2])
        lines.append(f"| full sync ≥ 50,000 objects/s | slowest: {slowest[2]:,.0f}/s ({slowest[1]}, {slowest[0]:,} "
                     f"stored) | {_verdict(slowest[2] >= 50_000)} |")
        growth = last.figures["page_p50_ms"] / first.figures["page_p50_ms"]
        lines.append(f"| page of 1,000 at {last.size:,} within 1.5x of {first.size:,} | "
                     f"{last.figures['page_p50_ms']:.1f} ms vs {first.figures['page_p50_ms']:.1f} ms "
                     f"({growth:.2f}x) | {_verdict(growth <= 1.5)} |")
        lines.append(f"| GET p50 ≤ 5 ms at {last.size:,} | {last.figures['get_p50_ms']:.2f} ms | "
                     f"{_verdict(last.figures['get_p50_ms'] <= 5)} |")
        ingest = min(sqlite.rows, key=lambda r: r.figures["ingest_1000_per_s"])
        lines.append(f"| validated ingest ≥ 5,000 objects/s (envelopes of 1,000) | slowest: "
                     f"{ingest.figures['ingest_1000_per_s']:,.0f}/s (stage ending at {ingest.size:,}) | "
                     f"{_verdict(ingest.figures['ingest_1000_per_s'] >= 5000)} |")
        rss = max((r.figures["rss_mb"], s.name) for s in (sqlite, postgres) if s for r in s.rows)
        lines.append(f"| RSS ≤ 300 MB at {last.size:,} | largest: {rss[0]:.0f} MB ({rss[1]}) | "
                     f"{_verdict(rss[0] <= 300)} |")
    if sqlite and postgres:
        worst = (0.0, "", 0)
        for lite, pg in zip(sqlite.rows, postgres.rows, strict=False):
            for key, label, higher in _READ_FIGURES:
                if key in lite.figures and key in pg.figures and lite.figures[key] and pg.figures[key]:
                    ratio = (lite.figures[key] / pg.figures[key]) if higher else (pg.figures[key] / lite.figures[key])
                    worst = max(worst, (ratio, label, lite.size))
        lines.append(f"| PostgreSQL within 2x of SQLite on every read figure | worst: {worst[1]} at {worst[2]:,}, "
                     f"{worst[0]:.2f}x | {_verdict(worst[0] <= 2)} |")
    workers = postgres.extra.get("workers", {}) if postgres else {}
    if 1 in workers and 2 in workers:
        one, two = workers[1]["objects_per_s"], workers[2]["objects_per_s"]
        lines.append(f"| PostgreSQL: 2 workers ≥ 1.6x the reads of 1 | {one:,.0f} → {two:,.0f} objects/s "
                     f"({two / one:.2f}x) | {_verdict(two / one >= 1.6)} |")
    return [*lines, ""]


def _machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in
                         ("aisx", "fastapi", "uvicorn", "sqlalchemy", "psycopg", "orjson"))
    import sqlite3

    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip() or "n/a"
    return [f"- machine: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, {cpu}, "
            f"{int(mem) // 1024 // 1024} GiB RAM, {platform.platform()}",
            f"- Python {platform.python_version()}; {versions}; SQLite {sqlite3.sqlite_version}; {pg}"]


def write_report(path: Path, all_series: list[Series], command: str, started: float) -> None:
    """Write RESULTS.md, and the figures it shows to RESULTS.json (``--render`` redraws the report from it)."""
    run = {"command": command, "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "minutes": round((time.time() - started) / 60, 1), "machine": _machine(),
           "series": [asdict(s) for s in all_series]}
    path.with_suffix(".json").write_text(json.dumps(run, indent=1) + "\n")
    render(path, run)


def render(path: Path, run: dict[str, Any]) -> None:
    all_series = [Series(s["name"], [Row(r["size"], r["figures"]) for r in s["rows"]],
                         {**s["extra"], "workers": {int(k): v for k, v in s["extra"].get("workers", {}).items()}})
                  for s in run["series"]]
    lines = ["# Benchmark results", "", f"Command: `{run['command']}` — {run['finished']}, {run['minutes']} min.", "",
             *run["machine"], "",
             "All figures over HTTP on loopback, one client, one server process unless stated. Objects are the "
             "generator's realistic mix (SDOs with several versions, indicators with STIX patterns, relationships, "
             "observables; TLP CLEAR, GREEN, AMBER and RED cycling; AMBER/RED name lab B as recipient). Lab A "
             "posts; 'lab' reads as lab A (sees all it posted), 'agency' as an agency (sees CLEAR and GREEN, about "
             "half). Sizes are stored object versions.", ""]
    for series in all_series:
        lines += _table(series)
    lines += _goals(all_series)
    medallion = next((s for s in all_series if s.name.startswith("medallion")), None)
    if medallion:
        for series in all_series:
            if series is not medallion:
                lines += _ratios(series, medallion)
    notes = path.with_name("NOTES.md")
    if notes.exists():  # the profile-based analysis, written by hand after a run
        lines += ["", notes.read_text().strip()]
    load = path.with_name("LOAD.md")
    if load.exists():  # the polling load test (bench/load.py) reports separately; keep both in one place
        lines += ["", load.read_text().strip()]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--medallion-sizes", default="1000,3000,10000")
    parser.add_argument("--medallion-budget", type=float, default=45,
                        help="minutes medallion may take; a size projected beyond it is skipped")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke test)")
    parser.add_argument("--render", action="store_true",
                        help="only redraw the report from the last run's RESULTS.json (after editing NOTES.md)")
    args = parser.parse_args()
    if args.render:
        out = Path(args.out)
        render(out, json.loads(out.with_suffix(".json").read_text()))
        print(f"wrote {out}")
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    started = time.time()
    series = []
    with tempfile.TemporaryDirectory(prefix="aisx-bench-") as tmp:
        root = Path(tmp)
        for kind in args.databases.split(","):
            if kind:
                (root / kind).mkdir()
                series.append(run_aisx(kind, sizes, root / kind, args.postgres_url if kind == "postgres" else None,
                                       args.quick))
        med_sizes = sorted(int(s) for s in args.medallion_sizes.split(",") if s)
        if med_sizes:
            series.append(run_medallion(med_sizes, root / "medallion", args.medallion_budget * 60))
    write_report(Path(args.out), series, " ".join([Path(sys.executable).name, "-m", "bench.run", *sys.argv[1:]]),
                 started)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
