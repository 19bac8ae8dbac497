"""Benchmark of the PostgreSQL deployment: several ``serve`` processes on one database.

Reports, all measured in the same run:

* signatures/s and p99 latency with 1, 2 and 4 service processes on one
  PostgreSQL database, with the independent load pattern (many clients,
  each request 20 to 100 hashes), the clients spread over the processes;
  the floor is the same load against one single-process service on SQLite
  (the default deployment), and each figure is also given as a ratio to it;
* failover time: the calendar writer is SIGKILLed under load; the time
  until another process holds the lease, and until a client of a surviving
  process gets a signature again;
* store bytes per round in PostgreSQL (table and index pages of ``leaf``
  and ``node``) at one round per second and at one round per hour, against
  the SQLite store's file bytes per round for the same calendar (the floor).

Needs a PostgreSQL DSN: ``--dsn`` or ``JURA_TRUST_TEST_PG`` (start a
throwaway cluster with ``eval "$(.ci/start-postgres.sh start)"``). Each
measurement runs in a schema of its own, dropped afterwards. ``--quick`` is
a bounded run (about a minute); benchmarks report, they do not fail.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import KEY, LOGIN, client, percentile

from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.backends.postgres import PostgresCalendarStore
from jura_trust.backends.stores import SQLiteCalendarStore
from jura_trust.core.hashing import Imprint

CONFIG = """
[server]
round_ms = 1000
[publisher]
schedule = "off"
[limits]
rate = 1000000
burst = 10000000
[[login]]
name = "{login}"
key = "{key}"
"""


class Schema:
    """A fresh schema in the database (``search_path``), dropped on exit."""

    def __init__(self, dsn: str) -> None:
        self.base = dsn
        self.name = f"bench_{uuid.uuid4().hex[:12]}"
        sep = "&" if "?" in dsn else "?"
        self.dsn = f"{dsn}{sep}options={urllib.parse.quote(f'-csearch_path={self.name}')}"

    def __enter__(self) -> Schema:
        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.name}")
        return self

    def __exit__(self, *exc: object) -> None:
        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")


def start(home: Path, store: str | None) -> tuple[subprocess.Popen[str], str]:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "service.toml"
    config.write_text(CONFIG.format(login=LOGIN, key=KEY))
    cmd = [sys.executable, "-m", "jura_trust.service", "--home", str(home / "state")]
    cmd += ["--config", str(config), "--listen", "127.0.0.1:0"]
    if store is not None:
        cmd += ["--store", store]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return proc, match.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("a server did not start")


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def load(urls: list[str], clients: int, threads: int, seconds: float, warmup: float) -> dict:
    """The independent load pattern over ``urls``: signatures/s and latency percentiles."""
    start_at = time.time() + warmup
    stop_at = start_at + seconds
    jobs = [
        (urls[i % len(urls)] + "/aggregator", (20, 100), start_at, stop_at, False, i, threads)
        for i in range(clients)
    ]
    with mp.get_context("spawn").Pool(clients) as pool:
        results = pool.map(client, jobs)
    batches = [b for r in results for b in r if b[0] >= start_at]
    signed = sum(n for _, _, n in batches)
    latencies = [answered - sent for sent, answered, _ in batches]
    return {
        "signatures_per_s": signed / seconds,
        "p50_s": percentile(latencies, 0.5) if latencies else None,
        "p99_s": percentile(latencies, 0.99) if latencies else None,
        "requests": len(batches),
    }


def throughput(dsn: str | None, processes: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        schema = Schema(dsn) if dsn is not None else None
        if schema is not None:
            schema.__enter__()
        procs: list[subprocess.Popen[str]] = []
        try:
            urls = []
            for i in range(processes):
                proc, url = start(Path(tmp) / f"n{i}", schema.dsn if schema else None)
                procs.append(proc)
                urls.append(url)
            return load(urls, args.clients, args.threads, args.seconds, args.warmup)
        finally:
            stop(procs)
            if schema is not None:
                schema.__exit__()


def lease(dsn: str) -> tuple[str, int]:
    with psycopg.connect(dsn) as conn:
        holder, token = conn.execute("SELECT holder, token FROM writer_lease").fetchone()
    return str(holder), int(token)


def failover(dsn: str) -> dict:
    """Kill the writer of two processes under load; time the takeover and the next signature."""
    with tempfile.TemporaryDirectory() as tmp, Schema(dsn) as schema:
        procs, urls = [], []
        try:
            for i in range(2):
                proc, url = start(Path(tmp) / f"n{i}", schema.dsn)
                procs.append(proc)
                urls.append(url)
            time.sleep(2.0)
            holder, token = lease(schema.dsn)
            pid = int(holder.rsplit(":", 1)[1])
            writer = next(i for i, p in enumerate(procs) if p.pid == pid)
            survivor = urls[1 - writer]
            with KsiHttpBackend(survivor + "/aggregator", login=LOGIN, key=KEY) as c:
                c.sign(Imprint.hash(b"before"))
                killed = time.monotonic()
                procs[writer].kill()
                took_lease = None
                while time.monotonic() - killed < 30:
                    if lease(schema.dsn)[1] > token:
                        took_lease = time.monotonic() - killed
                        break
                    time.sleep(0.02)
                signed_again = None
                while time.monotonic() - killed < 60:
                    try:
                        c.sign(Imprint.hash(b"after %f" % time.monotonic()))
                    except Exception:
                        time.sleep(0.05)
                        continue
                    signed_again = time.monotonic() - killed
                    break
            return {"lease_taken_s": took_lease, "next_signature_s": signed_again}
        finally:
            stop(procs)


def store_bytes(dsn: str, rounds: int, gap: int) -> dict:
    """Bytes per round of the PostgreSQL and SQLite stores for ``rounds`` rounds ``gap`` s apart."""
    items = [(1_700_000_000 + i * gap, Imprint.hash(b"%d" % i)) for i in range(rounds)]
    with Schema(dsn) as schema, PostgresCalendarStore(schema.dsn) as store:
        store.append_many(items)
        with psycopg.connect(schema.dsn) as conn:
            pg = conn.execute(
                "SELECT pg_total_relation_size('leaf') + pg_total_relation_size('node')"
            ).fetchone()[0]
            nodes = conn.execute("SELECT count(*) FROM node").fetchone()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.sqlite"
        with SQLiteCalendarStore(path) as sq:
            sq.append_many(items)
        sqlite = path.stat().st_size
    return {
        "rounds": rounds,
        "gap_s": gap,
        "postgresql_bytes_per_round": pg / rounds,
        "sqlite_bytes_per_round": sqlite / rounds,
        "ratio_to_sqlite": pg / sqlite,
        "stored_nodes_per_round": nodes / rounds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dsn", default=os.environ.get("JURA_TRUST_TEST_PG"))
    ap.add_argument("--processes", default="1,2,4", help="service process counts (1,2,4)")
    ap.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    ap.add_argument("--threads", type=int, default=6, help="clients per process (default 6)")
    ap.add_argument("--seconds", type=float, default=15.0, help="measuring window")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=20000, help="rounds for the store size")
    ap.add_argument("--quick", action="store_true", help="a bounded run (about a minute)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.dsn:
        raise SystemExit("give --dsn or JURA_TRUST_TEST_PG (.ci/start-postgres.sh)")
    if args.quick:
        args.seconds, args.warmup, args.rounds = 5.0, 2.0, 4000
        args.clients, args.threads = 2, 4
    report: dict = {"floor_sqlite_1_process": throughput(None, 1, args)}
    floor = report["floor_sqlite_1_process"]["signatures_per_s"] or 1.0
    for n in (int(x) for x in args.processes.split(",")):
        result = throughput(args.dsn, n, args)
        result["ratio_to_floor"] = result["signatures_per_s"] / floor
        report[f"postgresql_{n}_processes"] = result
    report["failover"] = failover(args.dsn)
    report["store_1_round_per_second"] = store_bytes(args.dsn, args.rounds, 1)
    report["store_1_round_per_hour"] = store_bytes(args.dsn, args.rounds, 3600)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, values in report.items():
        shown = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
        )
        print(f"{name}: {shown}")


if __name__ == "__main__":
    main()
