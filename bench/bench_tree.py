"""Round tree and calendar benchmarks, as ratios against a floor from the same run.

Measures (DESIGN.md section 7):

* the floor: n - 1 raw ``hashlib.sha256`` calls on 67-byte inputs (the
  hashing a binary tree of n leaves cannot avoid), best of three;
* a round tree of n leaves without metadata: ``TreeBuilder.add_leaves`` +
  ``build`` + every leaf's encoded chain, as the ratio to the floor
  (target: at most 4x at n = 10^6), two ways: chains *streamed*
  (``Tree.iter_encoded_links``: each chain made, measured and dropped, as a
  server sending each response does) and all chains *kept*
  (``Tree.all_encoded_links``, a list of every chain);
* the same streamed with metadata on every leaf (``add_leaf`` per leaf: the
  aggregator's case, with one extra hash per leaf);
* SQLite calendars of about 10 years (head 3.2e8 s: filler, then the
  stored rounds) with rounds every second, 10 s, 100 s and hour: the
  store's bytes per round (target: at most 2.5 x 32 at any density) and
  the calendar chain to the head, in ms, for random seconds of the whole
  calendar, random round seconds and the last 1,000 seconds (target: at
  most 1 ms).

The first round of a process runs on a cold heap: kept, the chains of
10^6 leaves are ~0.75 GB of fresh memory, and page faults can cost more
than the hashing. Each first round therefore runs in a fresh child process
(with its own floor) and reports the fresh memory it took (growth of the
peak RSS, per leaf) beside the chain bytes per leaf; the steady state is
the best of ``--rounds`` later rounds in this process, as a long-running
aggregator sees. The load average is printed: the machine may be shared.

    python bench/bench_tree.py            # n = 1,000,000
    python bench/bench_tree.py --quick    # n = 20,000 (CI)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import repeat
from pathlib import Path

from jura_trust.backends.stores import SQLiteCalendarStore
from jura_trust.core.calendar import calendar_chain
from jura_trust.core.chains import Metadata
from jura_trust.core.hashing import Imprint
from jura_trust.core.tree import TreeBuilder


def floor_seconds(n: int, repeats: int = 3) -> float:
    """Best time of n - 1 sha256 calls on a 67-byte input."""
    data = bytes(range(67))
    sha = hashlib.sha256
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in repeat(None, n - 1):
            sha(data).digest()
        best = min(best, time.perf_counter() - t0)
    return best


def _leaves(n: int) -> list[Imprint]:
    rng = random.Random(1)
    return [Imprint(b"\x01" + rng.randbytes(32)) for _ in range(n)]


def _metas(n: int) -> list[Metadata]:
    clients = [Metadata.build(f"client-{i}", machine_id="bench") for i in range(1000)]
    return [clients[i % len(clients)] for i in range(n)]


def tree_round(
    leaves: list[Imprint], metas: list[Metadata] | None, keep: bool
) -> tuple[float, int]:
    """One round: add the leaves, build, every leaf's encoded chain; (seconds, chain bytes).

    ``keep``: all chains at once (:meth:`Tree.all_encoded_links`), else
    streamed (:meth:`Tree.iter_encoded_links`, each chain measured and dropped,
    as a server that sends each response does).
    """
    t0 = time.perf_counter()
    builder = TreeBuilder()
    if metas is None:
        builder.add_leaves(leaves)
    else:
        add = builder.add_leaf
        for leaf, meta in zip(leaves, metas, strict=True):
            add(leaf, metadata=meta)
    tree = builder.build()
    if keep:
        chains = tree.all_encoded_links()
        total = sum(map(len, chains))
    else:
        total = sum(map(len, tree.iter_encoded_links()))
    elapsed = time.perf_counter() - t0
    return elapsed, total


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def first_round(mode: str, n: int) -> dict[str, float]:
    """The first round of a fresh process (run as a child): time, floor and fresh memory."""
    floor = floor_seconds(n)
    leaves = _leaves(n)
    metas = _metas(n) if mode.startswith("metadata") else None
    before = _maxrss_bytes()
    elapsed, total = tree_round(leaves, metas, keep=mode.endswith("keep"))
    return {
        "floor_s": floor,
        "s": elapsed,
        "ratio": elapsed / floor,
        "fresh_bytes_per_leaf": (_maxrss_bytes() - before) / n,
        "chain_bytes_per_leaf": total / n,
    }


def first_round_in_child(mode: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--n", str(n)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def bench_trees(n: int, rounds: int) -> dict[str, object]:
    out: dict[str, object] = {"n": n}
    for mode in ("plain_stream", "plain_keep", "metadata_stream"):
        first = first_round_in_child(mode, n)
        out[f"{mode}_first_s"] = round(first["s"], 4)
        out[f"{mode}_first_ratio"] = round(first["ratio"], 2)
        out[f"{mode}_first_floor_s"] = round(first["floor_s"], 4)
        out[f"{mode}_fresh_bytes_per_leaf"] = round(first["fresh_bytes_per_leaf"])
        out[f"{mode}_chain_bytes_per_leaf"] = round(first["chain_bytes_per_leaf"], 1)
    floor = floor_seconds(n)
    out["floor_s"] = round(floor, 4)
    leaves = _leaves(n)
    metas = _metas(n)
    for mode, m, keep in (
        ("plain_stream", None, False),
        ("plain_keep", None, True),
        ("metadata_stream", metas, False),
    ):
        best = min(tree_round(leaves, m, keep)[0] for _ in range(rounds))
        out[f"{mode}_best_s"] = round(best, 4)
        out[f"{mode}_best_ratio"] = round(best / floor, 2)
    return out


def _store_bytes(path: Path) -> int:
    size = path.stat().st_size
    for extra in ("-wal", "-shm"):
        p = Path(str(path) + extra)
        if p.exists():
            size += p.stat().st_size
    return size


def _chain_times(
    store: SQLiteCalendarStore, seconds: list[int], head: int
) -> tuple[float, float, float]:
    """Mean and p99 wall time, and p99 CPU time, in ms, of the chain from each second to the head.

    On a shared machine the wall-time tail holds the scheduler's time
    slices (a few ms when other processes want the cores); the CPU time of
    this thread does not.
    """
    times = []
    cpu = []
    for t in seconds:
        c0 = time.thread_time()
        t0 = time.perf_counter()
        chain = calendar_chain(store, t, head)
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        assert chain.aggregation_time == t
    times.sort()
    cpu.sort()
    p99 = int(0.99 * (len(times) - 1))
    return statistics.fmean(times) * 1e3, times[p99] * 1e3, cpu[p99] * 1e3


def bench_calendar(head: int, rounds: int, gap: int, samples: int) -> dict[str, object]:
    """A calendar whose last ``rounds`` rounds are ``gap`` seconds apart, ending at ``head``.

    Chains to the head are timed for random seconds of the whole calendar
    (``any``: mostly filler before the first round), random round seconds
    (``round``) and random seconds of the last 1,000 seconds (``recent``).
    """
    rng = random.Random(2)
    rounds = min(rounds, head // gap + 1)
    first = head - (rounds - 1) * gap
    key = f"calendar_every_{gap}s"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calendar.sqlite"
        t0 = time.perf_counter()
        with SQLiteCalendarStore(path) as store:
            store.append_many(
                (first + i * gap, Imprint(b"\x01" + rng.randbytes(32))) for i in range(rounds)
            )
        load = time.perf_counter() - t0
        size = _store_bytes(path)
        results: dict[str, object] = {
            f"{key}_rounds": rounds,
            f"{key}_load_s": round(load, 2),
            f"{key}_bytes_per_round": round(size / rounds, 1),
            f"{key}_size_ratio": round(size / rounds / 32, 2),
        }
        with SQLiteCalendarStore(path) as store:
            for label, seconds in (
                ("any", [rng.randint(0, head) for _ in range(samples)]),
                ("round", [first + gap * rng.randrange(rounds) for _ in range(samples)]),
                ("recent", [rng.randint(head - 999, head) for _ in range(samples)]),
            ):
                mean, p99, cpu_p99 = _chain_times(store, seconds, head)
                results[f"{key}_chain_{label}_mean_ms"] = round(mean, 3)
                results[f"{key}_chain_{label}_p99_ms"] = round(p99, 3)
                results[f"{key}_chain_{label}_cpu_p99_ms"] = round(cpu_p99, 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="leaves per tree")
    parser.add_argument("--quick", action="store_true", help="CI size: n = 20,000")
    parser.add_argument("--rounds", type=int, default=3, help="steady-state tree rounds")
    parser.add_argument("--calendar-head", type=int, default=320_000_000)
    parser.add_argument(
        "--recent",
        type=int,
        default=100_000,
        help="rounds of the dense calendar (sparse ones: a fifth)",
    )
    parser.add_argument("--samples", type=int, default=2000, help="calendar chains timed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = 20_000 if args.quick else args.n
    if args.child:
        print(json.dumps(first_round(args.child, n)))
        return
    recent = min(args.recent, 10_000) if args.quick else args.recent
    results = bench_trees(n, max(1, args.rounds))
    gaps = (1, 10, 100, 3600)
    for gap in gaps:
        rounds = recent if gap == 1 else recent // 5
        results.update(bench_calendar(args.calendar_head, rounds, gap, args.samples))
    results["pid"] = os.getpid()
    results["loadavg"] = os.getloadavg()
    if args.json:
        print(json.dumps(results))
        return
    r = results
    print(f"round tree, n = {n:,}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"  floor (n-1 sha256 on 67 B):        {r['floor_s']:.3f} s")
    for mode, label in (
        ("plain_stream", "plain, chains streamed"),
        ("plain_keep", "plain, all chains kept"),
        ("metadata_stream", "metadata, chains streamed"),
    ):
        print(
            f"  {label:<26} first round (fresh process) {r[f'{mode}_first_s']:.3f} s"
            f" ({r[f'{mode}_first_ratio']}x its floor), steady {r[f'{mode}_best_s']:.3f} s"
            f" ({r[f'{mode}_best_ratio']}x); fresh memory"
            f" {r[f'{mode}_fresh_bytes_per_leaf']} B/leaf, chains"
            f" {r[f'{mode}_chain_bytes_per_leaf']} B/leaf"
        )
    print("  target: at most 4x the floor")
    print(
        f"calendar (SQLite), head {args.calendar_head:,}; rounds every 1 s, 10 s, 100 s, 1 h;"
        " chains to the head for random seconds (any), round seconds, the last 1,000 s"
    )
    print("  targets: at most 2.5x the 32-byte leaf per round, a chain in at most 1 ms")
    for gap in gaps:
        k = f"calendar_every_{gap}s"
        print(
            f"  every {gap:>4} s, {r[f'{k}_rounds']:>6,} rounds:"
            f" {r[f'{k}_bytes_per_round']:6} B/round ({r[f'{k}_size_ratio']}x)"
        )
        for label in ("any", "round", "recent"):
            c = f"{k}_chain_{label}"
            print(
                f"      chain, {label:<6} second: mean {r[f'{c}_mean_ms']} ms,"
                f" p99 {r[f'{c}_p99_ms']} ms (CPU p99 {r[f'{c}_cpu_p99_ms']} ms)"
            )


if __name__ == "__main__":
    main()
