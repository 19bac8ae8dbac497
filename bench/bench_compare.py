"""Optional: our round tree beside python-opentimestamps' and pymerkle's (not run in CI).

For n leaves, each library builds a Merkle tree and produces every leaf's
path to the root, in the same process and run, with the floor of
bench_tree.py (n - 1 raw ``hashlib.sha256`` calls on 67 bytes):

* jura_trust: ``TreeBuilder.add_leaves`` + ``build`` + every leaf's encoded
  chain (``Tree.iter_encoded_links``, KSI link TLVs, each chain made and
  measured);
* python-opentimestamps (``opentimestamps``): a ``Timestamp`` per leaf,
  ``make_merkle_tree`` (SHA-256 of the concatenation), then every leaf's
  timestamp serialized (its ops from the leaf to the tip; the tip carries a
  pending attestation so that it can be serialized);
* pymerkle (``pymerkle``): ``InmemoryTree.append_entry`` per leaf (the
  leaves' 32-byte digests as entries), then ``prove_inclusion`` for every
  leaf (the proof object, not serialized: this favours pymerkle).

Each figure is the best of ``--repeat`` runs, as a ratio to the floor and to
jura_trust. Libraries that are not installed are skipped:

    pip install opentimestamps pymerkle
    python bench/bench_compare.py [--n 10000,100000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from itertools import repeat
from typing import Any

from jura_trust.core.hashing import Imprint
from jura_trust.core.tree import TreeBuilder


def floor_seconds(n: int) -> float:
    data = bytes(range(67))
    sha = hashlib.sha256
    t0 = time.perf_counter()
    for _ in repeat(None, n - 1):
        sha(data).digest()
    return time.perf_counter() - t0


def ours(digests: list[bytes]) -> int:
    builder = TreeBuilder()
    builder.add_leaves(Imprint(b"\x01" + d) for d in digests)
    return sum(map(len, builder.build().iter_encoded_links()))


def opentimestamps(digests: list[bytes]) -> int:
    from opentimestamps.core.notary import PendingAttestation  # noqa: PLC0415
    from opentimestamps.core.serialize import BytesSerializationContext  # noqa: PLC0415
    from opentimestamps.core.timestamp import Timestamp, make_merkle_tree  # noqa: PLC0415

    leaves = [Timestamp(d) for d in digests]
    tip = make_merkle_tree(leaves)
    tip.attestations.add(PendingAttestation("https://example.invalid"))
    total = 0
    for leaf in leaves:
        ctx = BytesSerializationContext()
        leaf.serialize(ctx)
        total += len(ctx.getbytes())
    return total


def pymerkle(digests: list[bytes]) -> int:
    from pymerkle import InmemoryTree  # noqa: PLC0415

    tree = InmemoryTree(algorithm="sha256")
    for d in digests:
        tree.append_entry(d)
    size = tree.get_size()
    proofs = [tree.prove_inclusion(i, size) for i in range(1, size + 1)]
    return len(proofs)


def available(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def best(fn: Callable[[list[bytes]], int], digests: list[bytes], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(digests)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="10000,100000", help="comma-separated leaf counts")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    contenders: dict[str, Callable[[list[bytes]], int]] = {"jura_trust": ours}
    if available("opentimestamps"):
        contenders["python-opentimestamps"] = opentimestamps
    if available("pymerkle"):
        contenders["pymerkle"] = pymerkle
    report: dict[str, Any] = {"loadavg": os.getloadavg(), "runs": []}
    for n in (int(x) for x in args.n.split(",")):
        rng = random.Random(n)
        digests = [rng.randbytes(32) for _ in range(n)]
        floor = min(floor_seconds(n) for _ in range(3))
        row: dict[str, Any] = {"n": n, "floor_s": floor}
        for name, fn in contenders.items():
            row[name] = best(fn, digests, args.repeat)
        report["runs"].append(row)
    if args.json:
        print(json.dumps(report))
        return
    print(f"load average {' '.join(f'{x:.2f}' for x in report['loadavg'])}")
    for row in report["runs"]:
        print(f"n = {row['n']:,}: floor {row['floor_s']:.3f} s")
        for name in contenders:
            t = row[name]
            print(
                f"  {name:<22} {t:8.3f} s  {t / row['floor_s']:7.1f}x floor"
                f"  {t / row['jura_trust']:7.1f}x jura_trust"
            )


if __name__ == "__main__":
    main()
