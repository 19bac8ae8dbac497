"""Abuse benchmark of the local KSI service: memory bound and fairness against a non-reader.

Starts the real server (``python -m jura_trust.service``) on 127.0.0.1 with
two logins, ``abuser`` and ``victim``, then:

1. measures the victim's single-request latency with the service quiet
   (the floor, measured in the same run);
2. starts the abuser: ``--connections`` sockets with a small receive buffer,
   each pipelining aggregation requests of ``--batch`` hashes (every PDU
   with a fresh message id, the whole within the abuser's rate) and never
   reading an answer; a socket the server closes (write timeout) is opened
   again;
3. while the abuse runs, samples the server's resident memory
   (``VmRSS`` of ``/proc/<pid>/status``) and the victim's latency.

Reports the peak RSS against the documented bound
(:func:`documented_bound`, docs/service.md "Limits and the memory bound"),
as a ratio, and the victim's latency under abuse against its quiet latency,
as a ratio, plus the server's refusal counters. ``--quick`` is the small
run the CI test uses (a few seconds); the default is a larger abuse load.
It reports; it does not fail on the numbers (benchmarks are not timed
tests), except that ``--check`` exits 1 when the RSS exceeds the bound or a
victim latency exceeds one round + 100 ms.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.core.hashing import Imprint
from jura_trust.pdu import AggregationRequest, encode_aggregation_request

ABUSER, ABUSER_KEY = "abuser", "abuser-key"
VICTIM, VICTIM_KEY = "victim", "victim-key"
MIB = 1024 * 1024

#: The documented bound's constants (docs/service.md, "Limits and the memory bound").
BASE_BYTES = 64 * MIB
PER_ANSWER_BYTES = 4096
PER_CONNECTION_BYTES = 256 * 1024
PER_REPLAY_ENTRY_BYTES = 160

CONFIG = """
[server]
round_ms = {round_ms}
write_timeout_s = {write_timeout}
max_connections = {max_connections}
max_reading_bytes = {max_reading_bytes}

[publisher]
schedule = "off"

[limits]
total_rate = {total_rate}
total_burst = {total_burst}
total_in_flight = {total_in_flight}
replay_capacity = {replay_capacity}

[[login]]
name = "{abuser}"
key = "{abuser_key}"
rate = {rate}
burst = {burst}
in_flight = {in_flight}

[[login]]
name = "{victim}"
key = "{victim_key}"
"""


def documented_bound(settings: dict[str, Any], logins: int) -> int:
    """The server's documented RSS bound in bytes for these settings.

    ``base + total_in_flight * 4 KiB + max_connections * 256 KiB
    + max_reading_bytes + logins * replay_capacity * 160 B``.
    """
    return (
        BASE_BYTES
        + settings["total_in_flight"] * PER_ANSWER_BYTES
        + settings["max_connections"] * PER_CONNECTION_BYTES
        + settings["max_reading_bytes"]
        + logins * settings["replay_capacity"] * PER_REPLAY_ENTRY_BYTES
    )


def rss(pid: int) -> int:
    """The resident memory of process ``pid`` in bytes (``VmRSS``)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _drain(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    with proc.stdout:
        proc.stdout.read()


def start_server(home: Path, settings: dict[str, Any]) -> tuple[subprocess.Popen[str], str]:
    """The real service on 127.0.0.1 (a free port): the process and its base URL."""
    config = home / "abuse.toml"
    config.write_text(
        CONFIG.format(
            abuser=ABUSER,
            abuser_key=ABUSER_KEY,
            victim=VICTIM,
            victim_key=VICTIM_KEY,
            **settings,
        )
    )
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
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            threading.Thread(target=_drain, args=(proc,), daemon=True).start()
            return proc, match.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the server did not start")


class Abuser(threading.Thread):
    """One connection pipelining requests at ``rate`` hashes/s and never reading."""

    def __init__(self, url: str, batch: int, rate: float, seed: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.batch = batch
        self.interval = batch / rate
        self.instance = 0x7000_0000 + seed
        self.message = 0
        self.stop = stop
        self.sent = 0
        self.reconnects = 0

    def _request(self) -> bytes:
        pdus = []
        for start in range(0, self.batch, 1000):
            self.message += 1
            requests = [
                AggregationRequest(
                    i + 1, Imprint.hash(b"abuse %d %d %d" % (self.instance, self.message, i))
                )
                for i in range(start, min(self.batch, start + 1000))
            ]
            pdus.append(
                encode_aggregation_request(
                    requests,
                    login_id=ABUSER,
                    key=ABUSER_KEY.encode(),
                    instance_id=self.instance,
                    message_id=self.message,
                )
            )
        body = b"".join(pdus)
        head = (
            f"POST /aggregator HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/ksi-request\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(1.0)
                sock.connect((self.host, self.port))
            except OSError:
                time.sleep(0.05)
                continue
            try:
                next_at = time.monotonic()
                while not self.stop.is_set():
                    sock.sendall(self._request())
                    self.sent += self.batch
                    next_at += self.interval
                    self.stop.wait(max(0.0, next_at - time.monotonic()))
            except OSError:
                self.reconnects += 1
            finally:
                sock.close()


def abuse_process(
    url: str, rate: float, connections: int, batch: int, done: Any, sent: Any
) -> None:
    """The abuser, in its own process (so it does not slow the victim's client down)."""
    stop = threading.Event()
    abusers = [Abuser(url, batch, rate / connections, i, stop) for i in range(connections)]
    for abuser in abusers:
        abuser.start()
    done.wait()
    stop.set()
    for abuser in abusers:
        abuser.join(timeout=5)
    sent.value = sum(a.sent for a in abusers)


def victim_latencies(url: str, seconds: float, pause: float) -> list[float]:
    """Single-request signing latencies of the victim login for ``seconds``."""
    out: list[float] = []
    with KsiHttpBackend(url + "/aggregator", login=VICTIM, key=VICTIM_KEY, timeout=30.0) as ksi:
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            n += 1
            started = time.monotonic()
            ksi.sign_many_encoded([Imprint.hash(b"victim %d %f" % (n, started))])
            out.append(time.monotonic() - started)
            time.sleep(pause)
    return out


def metrics(url: str) -> dict[str, float]:
    """The server's refusal counters and gauges of interest."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("jura_trust_refusals_total", "jura_trust_signatures_total")):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def run(
    settings: dict[str, Any], *, connections: int, batch: int, seconds: float
) -> dict[str, Any]:
    """One abuse run; the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="jt-abuse-") as tmp:
        home = Path(tmp)
        proc, url = start_server(home, settings)
        try:
            quiet = victim_latencies(url, 3.0, 0.1)
            rss_quiet = rss(proc.pid)
            stop = threading.Event()
            abuse_stop = mp.Event()
            sent = mp.Value("q", 0)
            abuse = mp.Process(
                target=abuse_process,
                args=(url, settings["rate"], connections, batch, abuse_stop, sent),
                daemon=True,
            )
            peak = [rss_quiet]

            def sample() -> None:
                while not stop.is_set():
                    peak.append(rss(proc.pid))
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            abuse.start()
            time.sleep(min(2.0, seconds / 3))  # let the abuse build up
            abused = victim_latencies(url, seconds, 0.1)
            abuse_stop.set()
            abuse.join(timeout=10)
            stop.set()
            sampler.join(timeout=5)
            counters = metrics(url)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    bound = documented_bound(settings, logins=2)
    round_s = max(settings["round_ms"], 1000) / 1000
    return {
        "settings": settings,
        "connections": connections,
        "batch": batch,
        "abuser_hashes_sent": sent.value,
        "rss_quiet_mib": round(rss_quiet / MIB, 1),
        "rss_peak_mib": round(max(peak) / MIB, 1),
        "bound_mib": round(bound / MIB, 1),
        "rss_peak_over_bound": round(max(peak) / bound, 3),
        "victim_quiet_p50_ms": round(statistics.median(quiet) * 1000),
        "victim_quiet_max_ms": round(max(quiet) * 1000),
        "victim_abused_p50_ms": round(statistics.median(abused) * 1000),
        "victim_abused_max_ms": round(max(abused) * 1000),
        "victim_abused_over_quiet_p50": round(
            statistics.median(abused) / statistics.median(quiet), 3
        ),
        "victim_limit_ms": round((round_s + 0.1) * 1000),
        "victim_samples": len(abused),
        "victim_abused_ms": [round(x * 1000) for x in abused],
        "server": counters,
    }


QUICK = {
    "round_ms": 1000,
    "write_timeout": 2.0,
    "max_connections": 16,
    "max_reading_bytes": 2 * MIB,
    "total_rate": 8000,
    "total_burst": 16000,
    "total_in_flight": 2048,
    "replay_capacity": 2000,
    "rate": 6000,
    "burst": 12000,
    "in_flight": 2048,
}

LARGE = {
    "round_ms": 1000,
    "write_timeout": 5.0,
    "max_connections": 256,
    "max_reading_bytes": 16 * MIB,
    "total_rate": 8000,
    "total_burst": 16000,
    "total_in_flight": 40000,
    "replay_capacity": 50000,
    "rate": 6000,
    "burst": 12000,
    "in_flight": 30000,
}


def main() -> None:
    """Command line: ``python bench/bench_abuse.py [--quick] [--json] [--check]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="the small CI run (a few seconds)")
    parser.add_argument("--seconds", type=float, help="abuse measuring window")
    parser.add_argument("--connections", type=int, help="abuser connections")
    parser.add_argument("--batch", type=int, help="hashes per abuser request")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 over the bound or limit")
    args = parser.parse_args()
    settings = QUICK if args.quick else LARGE
    result = run(
        settings,
        connections=args.connections or (8 if args.quick else 64),
        batch=args.batch or 4000,
        seconds=args.seconds or (4.0 if args.quick else 20.0),
    )
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    if args.check and (
        result["rss_peak_over_bound"] > 1
        or result["victim_abused_max_ms"] > result["victim_limit_ms"]
    ):
        sys.exit(1)


if __name__ == "__main__":
    main()
