"""Verification throughput, as a ratio against the raw hash cost of the same chains.

Signs N documents with the embedded backend (in memory), then measures:

* the floor: the raw hashlib work the signature's chains need (the same number
  of SHA-256 calls on inputs of the same sizes), per signature;
* internal-policy verification, per signature;
* internal + key-based verification (the calendar auth record's RSA
  signature), per signature;
* internal + publication-based verification of the extended signatures
  (publications file in memory), per signature.

Reported as signatures/s on one core and as ratios to the floor. Targets
(DESIGN.md section 7): at least 10,000 signatures/s per core for internal +
publication-based, within 4x of the raw hash cost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from jura_trust import EmbeddedBackend, Imprint, ManualClock
from jura_trust.core.chains import Direction
from jura_trust.core.signature import Signature
from jura_trust.publications import PublicationsFile, VerifiedPublicationsFile
from jura_trust.verify import verify_signature


def hash_inputs(sig: Signature) -> list[bytes]:
    """Byte strings of the sizes the signature's chains hash, for the floor."""
    out: list[bytes] = []
    for chain in sig.aggregation_chains:
        x = chain.input_hash.value
        for link in chain.links:
            out.append(bytes(len(x) + len(link.sibling_bytes) + 1))
            x = bytes(33)
    if sig.calendar_chain is not None:
        for link in sig.calendar_chain.links:
            out.append(bytes(33 + len(link.sibling.value) + 1))
            del link
    return out


def best_of(repeats: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


VECTORS = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "ksi"
# Guardtime-issued signatures that verify offline with the publications-file
# policy, and the file that holds their publication.
PUBFILE_VECTORS = [
    ("signatures/valid/ok-sig-2014-04-30.1-extended.ksig", "pubfiles/publications.tlv"),
    (
        "signatures/valid/rfc3161-signature-extended-for-publication-file-based-verification.ksig",
        "pubfiles/publications-file.bin",
    ),
]


def vector_throughput(repeats: int) -> dict[str, float]:
    """Publications-file-based verification of libksi's valid vectors, per second."""
    cases = []
    for sig_name, pub_name in PUBFILE_VECTORS:
        sig = Signature.from_bytes((VECTORS / sig_name).read_bytes())
        pubfile = VerifiedPublicationsFile.unchecked(
            PublicationsFile.parse((VECTORS / pub_name).read_bytes()), "libksi test vector"
        )
        assert verify_signature(sig, policy="publications-file", publications_file=pubfile).ok
        cases.append((sig, pubfile))
    n = 2000

    def run() -> None:
        for i in range(n):
            sig, pubfile = cases[i % len(cases)]
            verify_signature(sig, policy="publications-file", publications_file=pubfile)

    floor_inputs = [hash_inputs(sig) for sig, _ in cases]

    def floor() -> None:
        for i in range(n):
            for data in floor_inputs[i % len(cases)]:
                hashlib.sha256(data).digest()

    t = best_of(repeats, run) / n
    f = best_of(repeats, floor) / n
    return {"vectors_publication_per_s": round(1 / t), "vectors_publication_ratio": round(t / f, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000, help="signatures (default 2000)")
    ap.add_argument("--quick", action="store_true", help="a small run for CI")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = 200 if args.quick else args.n

    clock = ManualClock(1_700_000_000)
    backend = EmbeddedBackend(clock=clock)
    sigs: list[Signature] = []
    # 100 rounds of n/100 requests: realistic tree depth and calendar length
    per_round = max(1, n // 100)
    for r in range(0, n, per_round):
        imprints = [Imprint.hash(f"doc {i}".encode()) for i in range(r, min(n, r + per_round))]
        sigs.extend(backend.sign_many(imprints))
        clock.advance(37)
    clock.advance(3600)
    backend.publish()
    pubfile = backend.trusted_publications_file()
    extended = [backend.extend(s) for s in sigs]
    # round-trip through bytes: "signature in memory" means parsed once
    sigs = [Signature.from_bytes(s.encode()) for s in sigs]
    extended = [Signature.from_bytes(s.encode()) for s in extended]

    inputs = [hash_inputs(s) for s in extended]
    sha = hashlib.sha256

    def floor() -> None:
        for group in inputs:
            for data in group:
                sha(data).digest()

    def internal() -> None:
        for s in sigs:
            verify_signature(s, policy="internal")

    def key() -> None:
        for s in sigs:
            verify_signature(s, policy="key", publications_file=pubfile)

    def publication() -> None:
        for s in extended:
            verify_signature(s, policy="publications-file", publications_file=pubfile)

    for s in sigs[:3]:
        assert verify_signature(s, policy="key", publications_file=pubfile).ok
    for s in extended[:3]:
        assert verify_signature(s, policy="publications-file", publications_file=pubfile).ok

    repeats = 3
    t_floor = best_of(repeats, floor) / n
    t_int = best_of(repeats, internal) / n
    t_key = best_of(repeats, key) / n
    t_pub = best_of(repeats, publication) / n
    hashes = sum(len(g) for g in inputs) / n
    result = {
        "signatures": n,
        "hashes_per_signature": round(hashes, 1),
        "floor_us": round(t_floor * 1e6, 2),
        "internal_per_s": round(1 / t_int),
        "internal_ratio": round(t_int / t_floor, 2),
        "key_based_per_s": round(1 / t_key),
        "key_based_ratio": round(t_key / t_floor, 2),
        "publication_per_s": round(1 / t_pub),
        "publication_ratio": round(t_pub / t_floor, 2),
        "left_links_seen": sum(
            1 for link in extended[0].calendar_chain.links if link.direction is Direction.LEFT
        )
        if extended[0].calendar_chain
        else 0,
    }
    result.update(vector_throughput(repeats))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:>24}: {v}")
    backend.close()


if __name__ == "__main__":
    main()
