"""Load benchmark of the local KSI service on loopback.

Starts the real server (``python -m jura_trust.service``) on 127.0.0.1 with a
free port and a fresh state directory, then runs N client processes that each
sign batches with the ``ksi_http`` backend (one HTTP request, one round per
batch) for a fixed time. Reports:

* sustained signatures/s over the measuring window (after a warm-up);
* p50/p99 latency of a signature (send to answer), the round length used;
* the server's resident memory (current and peak), rounds and their size;
* a floor measured in the same run: the embedded backend's own round
  (leaves with metadata, tree, calendar append with fsync, RSA auth record,
  every chain encoded) for the same number of requests, in process, with no
  HTTP; the service's throughput is reported as a ratio to it.

Targets (issue 10 item 3, 2 cores): at least 10,000 signatures/s sustained with
the independent load pattern, p99 at most one round + 100 ms, and no request
left unacknowledged (a client batch that fails is counted, never dropped). The
server's CPU time in the measuring window, per signature, is reported too: on a
machine shared with other work the rate and latency depend on what the other
work takes, the CPU cost per signature much less. ``--quick`` is a bounded run for CI
(about 10 s); it reports the numbers but does not fail on them (benchmarks
are not timed tests).

``--tcp`` makes the clients send the same PDUs over raw TCP (``ksi+tcp://``,
the server started with ``--tcp-listen``) instead of HTTP. The independent
load pattern of issue 9 (many clients, each sending 20 to 100 hashes per
request) is ``--threads 25 --batch-range 20:100``: every thread of every
client process is an independent client with its own connection and its own
random batch size per request.

Clients use :meth:`KsiHttpBackend.sign_many_encoded` by default (HMAC, request
ids, statuses and document hashes checked; signatures kept as bytes), as a
bulk signer storing ``.ksig`` files would; ``--parse`` makes them build every
``Signature`` object instead, which costs the client several times more CPU
than the server spends per signature.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.backends.memory import EmbeddedBackend, RoundRequest
from jura_trust.core.hashing import Imprint

LOGIN, KEY = "bench", "bench-key"
#: Issue 10 item 3: signatures/s with the independent load pattern.
TARGET_RATE = 10_000
CONFIG = """
[server]
round_ms = {round_ms}
[publisher]
schedule = "off"
[limits]
rate = 1000000
burst = 10000000
in_flight = 1000000
total_rate = 1000000
total_burst = 10000000
total_in_flight = 2000000
replay_capacity = 1000000
[[login]]
name = "{login}"
key = "{key}"
"""


def start_server(
    home: Path, round_ms: int, own_session: bool = False
) -> tuple[subprocess.Popen[str], str, str]:
    config = home / "service.toml"
    config.write_text(CONFIG.format(round_ms=round_ms, login=LOGIN, key=KEY))
    config.chmod(0o600)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jura_trust.service",
            "--home",
            str(home / "state"),
            "--config",
            str(config),
            "--listen",
            "127.0.0.1:0",
            "--tcp-listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        # its own session: with the kernel's autogroup scheduling, the cores
        # are then shared between the service and the clients as a group,
        # as between a service started by a service manager and other work
        start_new_session=own_session,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    tcp_url = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        tcp = re.search(r"listening on (ksi\+tcp://\S+)", line)
        if tcp:
            tcp_url = tcp.group(1)
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return proc, match.group(1), tcp_url
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the server did not start")


class _TimedBackend(KsiHttpBackend):
    """The client, noting when each HTTP answer was read whole (before it is checked)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_at = threading.local()

    def _exchange(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        result = super()._exchange(*args, **kwargs)
        self.read_at.t = time.time()
        return result


Call = tuple[float, float, float, int]

ClientJob = tuple[str, tuple[int, int], float, float, float, bool, int, int, int]


def client(args: ClientJob) -> tuple[list[Call], float]:
    """One client process of ``threads`` independent clients.

    Returns (sent, answered, read, n) per batch (``read``: when the HTTP
    answer was read whole, before the client checked it; NaN over TCP), and
    the process's CPU time in the
    measuring window (all its threads). A batch that fails (no answer, an
    error status, a bad signature) is recorded with ``n`` negative:
    ``-batch`` requests not acknowledged.
    """
    url, (lo, hi), start_at, window_at, stop_at, parse, seed, threads, nice = args
    if nice:
        os.nice(nice)
    out: list[Call] = []
    lock = threading.Lock()

    def run(backend: _TimedBackend, me: int) -> None:
        rng = random.Random(seed * 1000 + me)
        mine: list[Call] = []
        n = 0
        while time.time() < start_at:
            time.sleep(0.005)
        while time.time() < stop_at:
            batch = rng.randint(lo, hi)
            imprints = [Imprint.hash(b"%d-%d-%d" % (seed, me, n + i)) for i in range(batch)]
            n += batch
            sent = time.time()
            backend.read_at.t = float("nan")
            try:
                if parse:
                    got = len(backend.sign_many(imprints))
                else:
                    got = len(backend.sign_many_encoded(imprints))
            except Exception:  # counted as not acknowledged
                got = 0
            answered = time.time()
            mine.append((sent, answered, backend.read_at.t, batch if got == batch else -batch))
        with lock:
            out.extend(mine)

    with _TimedBackend(url, login=LOGIN, key=KEY, timeout=30.0) as backend:
        workers = [threading.Thread(target=run, args=(backend, i)) for i in range(threads)]
        for w in workers:
            w.start()
        time.sleep(max(0.0, window_at - time.time()))
        cpu0 = time.process_time()
        time.sleep(max(0.0, stop_at - time.time()))
        cpu = time.process_time() - cpu0
        for w in workers:
            w.join()
    return out, cpu


def rss_kib(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (all cores, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def metrics_text(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        return str(resp.read().decode())


Sample = tuple[float, tuple[float, float], str]


def sample_window(pid: int, url: str, start: float, end: float) -> list[Sample]:
    """At ``start`` and ``end`` (in a thread): the server's CPU time, the machine's, its metrics."""
    samples: list[Sample] = []

    def run() -> None:
        for at in (start, end):
            time.sleep(max(0.0, at - time.time()))
            samples.append((cpu_seconds(pid), machine_cpu(), metrics_text(url)))

    threading.Thread(target=run, daemon=True).start()
    return samples


def histogram(metrics: str, name: str) -> list[tuple[float, int]]:
    """The cumulative buckets (upper bound, count) of histogram ``name``."""
    pattern = re.compile(rf'^{name}_bucket{{le="([^"]+)"}} (\d+)$', re.MULTILINE)
    return [(float(le), int(n)) for le, n in pattern.findall(metrics)]


def window_quantiles(
    before: str, after: str, name: str, qs: tuple[float, ...]
) -> tuple[int, list[float]]:
    """Observations of histogram ``name`` in the window, and the bucket bounds of ``qs``."""
    b = dict(histogram(before, name))
    buckets = [(le, n - b.get(le, 0)) for le, n in histogram(after, name)]
    count = buckets[-1][1] if buckets else 0
    out = []
    for q in qs:
        rank = q * count
        out.append(next((le for le, n in buckets if n >= rank), float("nan")))
    return count, out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def floor(n: int) -> float:
    """Signatures/s of the embedded backend's own round of n requests (on disk, no HTTP)."""
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBackend(tmp) as backend:
        requests = [RoundRequest(Imprint.hash(b"floor %d" % i), 0, LOGIN) for i in range(n)]
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            rnd = backend.aggregate(requests)
            rnd.calendar_chain.encode()
            rnd.calendar_auth_record.encode()
            rnd.encoded_aggregation_chains()
            best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clients", type=int, default=6, help="client processes (default 6)")
    ap.add_argument("--batch", type=int, default=1000, help="requests per batch (default 1000)")
    ap.add_argument("--seconds", type=float, default=20.0, help="measuring window (default 20)")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    ap.add_argument("--round-ms", type=int, default=1000, help="server round length (1000)")
    ap.add_argument("--parse", action="store_true", help="clients build Signature objects")
    ap.add_argument("--quick", action="store_true", help="a bounded run for CI (about 10 s)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--tcp", action="store_true", help="raw PDUs over TCP (ksi+tcp://)")
    ap.add_argument("--threads", type=int, default=1, help="clients per process (default 1)")
    ap.add_argument(
        "--client-nice",
        type=int,
        default=0,
        metavar="N",
        help="run the client processes at nice N (default 0): they then leave the\n"
        "cores to the server when it needs them, closer to clients on other machines",
    )
    ap.add_argument(
        "--server-session",
        action="store_true",
        help="start the server in its own session (its own scheduling group under\n"
        "autogroup, as a service manager would), not in the clients' session",
    )
    ap.add_argument(
        "--batch-range",
        metavar="LO:HI",
        help="a random batch size in LO..HI per request (instead of --batch)",
    )
    args = ap.parse_args()
    if args.quick:
        args.clients, args.batch, args.seconds, args.warmup = 3, 500, 4.0, 2.0
    lo = hi = args.batch
    if args.batch_range:
        lo, hi = (int(x) for x in args.batch_range.split(":"))

    with tempfile.TemporaryDirectory(prefix="jura-trust-bench-") as tmp:
        proc, url, tcp_url = start_server(Path(tmp), args.round_ms, args.server_session)
        target = tcp_url if args.tcp else url + "/aggregator"
        try:
            begin = time.time() + 0.5 + 0.2 * args.threads * args.clients / 50
            window_start = begin + args.warmup
            window_end = window_start + args.seconds
            jobs: list[ClientJob] = [
                (
                    target,
                    (lo, hi),
                    begin,
                    window_start,
                    window_end,
                    args.parse,
                    seed,
                    args.threads,
                    args.client_nice,
                )
                for seed in range(args.clients)
            ]
            samples = sample_window(proc.pid, url, window_start, window_end)
            with mp.get_context("spawn").Pool(args.clients) as pool:
                results = pool.map(client, jobs)
            rss, peak = rss_kib(proc.pid)
            metrics = metrics_text(url)
        finally:
            proc.terminate()
            proc.wait(30)
    calls = [c for r, _ in results for c in r]
    client_cpu = sum(cpu for _, cpu in results)
    cpu = [s[0] for s in samples]
    lost = sum(-n for _, _, _, n in calls if n < 0)
    done = [c for c in calls if window_start <= c[1] <= window_end and c[3] > 0]
    signed = sum(n for _, _, _, n in done)
    server_cpu = cpu[1] - cpu[0] if len(cpu) == 2 else float("nan")
    cpu_us = server_cpu / signed * 1e6 if signed else float("nan")
    rate = signed / args.seconds
    latencies = [end - sent for sent, end, _, _ in done]
    # the client's own share: from the answer read whole to the batch checked
    checking = [end - read for _, end, read, _ in done if read == read]
    rounds = int(re.search(r"^jura_trust_rounds_total (\d+)", metrics, re.MULTILINE).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"^jura_trust_signatures_total (\d+)", metrics, re.MULTILINE).group(1))  # type: ignore[union-attr]
    close_sum = re.search(r"^jura_trust_round_close_seconds_sum (\S+)", metrics, re.MULTILINE)
    close_ms = float(close_sum.group(1)) / rounds * 1000 if close_sum and rounds else float("nan")
    round_size = args.clients * args.threads * (lo + hi) // 2
    base = floor(round_size)
    p50 = percentile(latencies, 0.50) if latencies else float("nan")
    p99 = percentile(latencies, 0.99) if latencies else float("nan")
    bound = args.round_ms / 1000 + 0.1
    # The server's side of the latency (from its metrics, over the window):
    # receipt to the answer's last PDU handed to the socket, and the end of
    # the request's round to the same moment (bucket bounds, 10 ms steps).
    nan = float("nan")
    served, (s50, s99) = (0, [nan, nan])
    a50 = a99 = a100 = nan
    busy = nan
    if len(samples) == 2:
        first, last = samples[0][2], samples[1][2]
        served, (s50, s99) = window_quantiles(
            first, last, "jura_trust_answer_written_seconds", (0.5, 0.99)
        )
        _, (a50, a99, a100) = window_quantiles(
            first, last, "jura_trust_answer_after_round_seconds", (0.5, 0.99, 1.0)
        )
        (b0, t0), (b1, t1) = samples[0][1], samples[1][1]
        busy = (b1 - b0) / (t1 - t0) if t1 > t0 else nan
    made = re.search(r"^jura_trust_round_answers_made_seconds_sum (\S+)", metrics, re.MULTILINE)
    made_ms = float(made.group(1)) / rounds * 1000 if made and rounds else nan
    client_us = client_cpu / signed * 1e6 if signed else nan
    c50 = percentile(checking, 0.5) if checking else nan
    c99 = percentile(checking, 0.99) if checking else nan
    report = {
        "transport": "tcp" if args.tcp else "http",
        "clients": args.clients,
        "threads": args.threads,
        "batch": args.batch if not args.batch_range else f"{lo}..{hi}",
        "round_ms": args.round_ms,
        "client_mode": "parse" if args.parse else "encoded",
        "client_nice": args.client_nice,
        "server_own_session": args.server_session,
        "window_s": args.seconds,
        "signatures_per_s": round(rate, 1),
        "latency_p50_s": round(p50, 4),
        "latency_p99_s": round(p99, 4),
        "p99_bound_s": bound,
        "server_rss_mib": round(rss / 1024, 1),
        "server_peak_rss_mib": round(peak / 1024, 1),
        "rounds": rounds,
        "mean_round_size": round(total / rounds, 1) if rounds else 0,
        "round_close_mean_ms": round(close_ms, 1),
        "answers_made_mean_ms": round(made_ms, 1),
        "server_answer_p50_s": s50,
        "server_answer_p99_s": s99,
        "answer_after_round_end_p50_s": a50,
        "answer_after_round_end_p99_s": a99,
        "answer_after_round_end_max_s": a100,
        "server_answers_in_window": served,
        "client_checking_p50_s": round(c50, 4),
        "client_checking_p99_s": round(c99, 4),
        "client_cpu_s": round(client_cpu, 2),
        "client_cpu_us_per_signature": round(client_us, 1),
        "machine_cpu_busy": round(busy, 3),
        "floor_round_signatures_per_s": round(base, 1),
        "ratio_to_floor": round(rate / base, 3),
        "not_acknowledged": lost,
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_us_per_signature": round(cpu_us, 1),
        "server_capacity_per_cpu_s": round(1e6 / cpu_us) if signed else 0,
        "load_average": round(os.getloadavg()[0], 2),
        "target_rate_met": rate >= TARGET_RATE,
        "target_p99_met": p99 <= bound,
        "target_no_loss_met": lost == 0,
    }
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"service on loopback ({report['transport']}): {args.clients} client processes x "
        f"{args.threads} clients x {report['batch']} per batch"
    )
    print(f"  round length        {args.round_ms} ms (one calendar second per round)")
    print(
        f"  sustained           {rate:,.0f} signatures/s over {args.seconds:g} s "
        f"(target {TARGET_RATE:,})"
    )
    ms = {k: round(v * 1000) for k, v in (("p50", p50), ("p99", p99), ("bound", bound))}
    print(f"  latency             p50 {ms['p50']} ms, p99 {ms['p99']} ms (bound {ms['bound']} ms)")
    print(
        f"  server side         receipt to answer written p50 {s50 * 1000:.0f} ms, "
        f"p99 {s99 * 1000:.0f} ms; round end to answer written p50 {a50 * 1000:.0f} ms, "
        f"p99 {a99 * 1000:.0f} ms, max {a100 * 1000:.0f} ms (10 ms buckets)"
    )
    print(f"  server memory       {rss / 1024:.0f} MiB resident, {peak / 1024:.0f} MiB peak")
    print(
        f"  rounds              {rounds}, mean size {report['mean_round_size']}, "
        f"closing {close_ms:.0f} ms on average (tree, fsync, RSA, then chains and "
        f"sealed answers: {made_ms:.0f} ms)"
    )
    print(f"  floor (in process)  {base:,.0f} signatures/s for a round of {round_size}")
    print(f"  ratio to floor      {rate / base:.3f}")
    print(
        f"  server CPU          {server_cpu:.2f} s in the window: {cpu_us:.0f} us per signature "
        f"({report['server_capacity_per_cpu_s']:,} signatures per CPU-second)"
    )
    print(
        f"  client side         answer read to batch checked p50 {c50 * 1000:.0f} ms, "
        f"p99 {c99 * 1000:.0f} ms (the client thread's own work, waiting for its GIL and a core)"
    )
    print(
        f"  client CPU          {client_cpu:.2f} s in the window: {client_us:.0f} us per "
        f"signature; machine busy {busy:.0%} of its {os.cpu_count()} cores"
    )
    print(f"  not acknowledged    {lost} requests (target 0)")
    print(f"  load average        {report['load_average']} (machine shared with other work)")


if __name__ == "__main__":
    main()
