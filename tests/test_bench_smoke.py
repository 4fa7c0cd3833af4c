"""The benchmark harness at a tiny size, on the database of this pass, so that it cannot rot (no timing is
asserted). On PostgreSQL it runs the PostgreSQL target: its disk-size figure read private attributes of the test
harness's database that had been renamed, and a 1M-object PostgreSQL run failed after its whole ingest."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_harness_runs_and_reports(tmp_path):
    out = tmp_path / "RESULTS.md"
    postgres_url = os.environ.get("AISX_TEST_DATABASE_URL")
    database = "postgres" if postgres_url else "sqlite"
    server = ["--postgres-url", postgres_url] if postgres_url else []
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--sizes", "300,600", "--databases", database, *server,
         "--medallion-sizes", "", "--quick", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = out.read_text()
    assert f"### AISX ({database})" in report
    assert "| ingest obj/s (env 1000) |" in report
    seen = next(line for line in report.splitlines() if line.startswith("| versions seen by lab / agency |"))
    lab, agency = (int(n.replace(",", "")) for n in seen.split("|")[-2].split(" / "))  # at 600 stored
    assert lab >= 600 > agency > 0  # the lab sees all it posted (and the definitions); the agency about half
    assert "| DB on disk MB |" in report
