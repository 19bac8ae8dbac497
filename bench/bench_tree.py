"""Round tree and calendar benchmarks, as ratios against a floor from the same run.

Measures (DESIGN.md section 7):

* the floor: n - 1 raw ``hashlib.sha256`` calls on 67-byte inputs (the
  hashing a binary tree of n leaves cannot avoid), best of three;
* a round tree of n leaves without metadata: ``TreeBuilder.add_leaves`` +
  ``build`` + ``all_encoded_links`` (root and every leaf's encoded chain),
  as the ratio to the floor (target: at most 4x at n = 10^6);
* the same with metadata on every leaf (``add_leaf`` per leaf: the
  aggregator's case, with one extra hash per leaf);
* a calendar chain for a random second of a 10-year calendar (3.2e8
  seconds: filler, then a stored recent part) read from SQLite, in ms
  (target: at most 1 ms), and the store's bytes per stored leaf (target:
  at most 2.5 x 32).

The first tree round of a process runs on a cold heap: with n = 10^6 the
leaf chains alone are ~0.75 GB of fresh memory, and page faults can cost
more than the hashing. Later rounds reuse that memory, as a long-running
aggregator does; both are printed.

    python bench/bench_tree.py            # n = 1,000,000
    python bench/bench_tree.py --quick    # n = 20,000 (CI)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
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


def tree_plain(leaves: list[Imprint]) -> tuple[float, int]:
    t0 = time.perf_counter()
    builder = TreeBuilder()
    builder.add_leaves(leaves)
    tree = builder.build()
    chains = tree.all_encoded_links()
    elapsed = time.perf_counter() - t0
    return elapsed, sum(map(len, chains))


def tree_metadata(leaves: list[Imprint], metas: list[Metadata]) -> tuple[float, int]:
    t0 = time.perf_counter()
    builder = TreeBuilder()
    add = builder.add_leaf
    for leaf, meta in zip(leaves, metas, strict=True):
        add(leaf, metadata=meta)
    tree = builder.build()
    chains = tree.all_encoded_links()
    elapsed = time.perf_counter() - t0
    return elapsed, sum(map(len, chains))


def bench_trees(n: int, rounds: int) -> dict[str, object]:
    floor = floor_seconds(n)
    rng = random.Random(1)
    leaves = [Imprint(b"\x01" + rng.randbytes(32)) for _ in range(n)]
    plain = [tree_plain(leaves) for _ in range(rounds)]
    clients = [Metadata.build(f"client-{i}", machine_id="bench") for i in range(1000)]
    metas = [clients[i % len(clients)] for i in range(n)]
    meta = [tree_metadata(leaves, metas) for _ in range(rounds)]
    out: dict[str, object] = {
        "n": n,
        "floor_s": round(floor, 4),
        "plain_first_s": round(plain[0][0], 4),
        "plain_best_s": round(min(t for t, _ in plain), 4),
        "plain_first_ratio": round(plain[0][0] / floor, 2),
        "plain_best_ratio": round(min(t for t, _ in plain) / floor, 2),
        "plain_chain_bytes": plain[0][1],
        "metadata_first_s": round(meta[0][0], 4),
        "metadata_best_s": round(min(t for t, _ in meta), 4),
        "metadata_best_ratio": round(min(t for t, _ in meta) / floor, 2),
        "metadata_chain_bytes": meta[0][1],
    }
    return out


def bench_calendar(head: int, recent: int, samples: int) -> dict[str, object]:
    rng = random.Random(2)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calendar.sqlite"
        first = head - recent + 1
        t0 = time.perf_counter()
        with SQLiteCalendarStore(path) as store:
            store.append_many(
                (t, Imprint(b"\x01" + rng.randbytes(32))) for t in range(first, head + 1)
            )
        load = time.perf_counter() - t0
        size = path.stat().st_size
        for extra in ("-wal", "-shm"):
            p = Path(str(path) + extra)
            if p.exists():
                size += p.stat().st_size
        results: dict[str, object] = {
            "calendar_head": head,
            "calendar_stored_leaves": recent,
            "calendar_load_s": round(load, 2),
            "calendar_bytes_per_leaf": round(size / recent, 1),
            "calendar_size_ratio": round(size / recent / 32, 2),
        }
        with SQLiteCalendarStore(path) as store:
            for label, low in (("any", 0), ("recent", first)):
                seconds = [rng.randint(low, head) for _ in range(samples)]
                times = []
                for t in seconds:
                    t0 = time.perf_counter()
                    chain = calendar_chain(store, t, head)
                    times.append(time.perf_counter() - t0)
                    assert chain.aggregation_time == t
                times.sort()
                results[f"chain_{label}_mean_ms"] = round(statistics.fmean(times) * 1e3, 3)
                results[f"chain_{label}_p99_ms"] = round(
                    times[int(0.99 * (len(times) - 1))] * 1e3, 3
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="leaves per tree")
    parser.add_argument("--quick", action="store_true", help="CI size: n = 20,000")
    parser.add_argument("--rounds", type=int, default=3, help="tree rounds (first is cold)")
    parser.add_argument("--calendar-head", type=int, default=320_000_000)
    parser.add_argument("--recent", type=int, default=100_000, help="stored recent seconds")
    parser.add_argument("--samples", type=int, default=2000, help="calendar chains timed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    n = 20_000 if args.quick else args.n
    recent = min(args.recent, 10_000) if args.quick else args.recent
    results = bench_trees(n, max(1, args.rounds))
    results.update(bench_calendar(args.calendar_head, recent, args.samples))
    results["pid"] = os.getpid()
    if args.json:
        print(json.dumps(results))
        return
    print(f"round tree, n = {n:,}")
    print(f"  floor (n-1 sha256 on 67 B):        {results['floor_s']:.3f} s")
    print(
        f"  plain: first round {results['plain_first_s']:.3f} s "
        f"({results['plain_first_ratio']}x), best {results['plain_best_s']:.3f} s "
        f"({results['plain_best_ratio']}x)   target <= 4x"
    )
    print(
        f"  metadata on every leaf: first {results['metadata_first_s']:.3f} s, "
        f"best {results['metadata_best_s']:.3f} s ({results['metadata_best_ratio']}x)"
    )
    print(f"calendar, head {args.calendar_head:,}, {recent:,} stored recent seconds (SQLite)")
    print(
        f"  store: {results['calendar_bytes_per_leaf']} B/leaf "
        f"({results['calendar_size_ratio']}x of 32 B; target <= 2.5x), "
        f"loaded in {results['calendar_load_s']} s"
    )
    print(
        f"  chain, random second:  mean {results['chain_any_mean_ms']} ms, "
        f"p99 {results['chain_any_p99_ms']} ms   target <= 1 ms"
    )
    print(
        f"  chain, recent second:  mean {results['chain_recent_mean_ms']} ms, "
        f"p99 {results['chain_recent_p99_ms']} ms"
    )


if __name__ == "__main__":
    main()
