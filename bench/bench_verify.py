"""Verification cost as a ratio against the raw hash cost of the same chains.

Signs N documents with the embedded backend (in memory, 100 rounds), extends
them to a publication, and measures per signature, each against the floor of
the very signatures it verifies:

* the floor: the raw ``hashlib`` work of the signature's hash steps (the same
  number of SHA-256 calls on inputs of the same sizes). Unextended signatures
  (calendar chain to their own second) have shorter chains than extended ones
  (calendar chain to the publication), so each has its own floor;
* **from bytes**: ``verify_signature(data)`` on the signature's bytes (the
  express lane answers the common OK results in one pass; anything else is
  parsed and run through the rule engine), what a CLI, a QR check or an
  extender does with a signature it receives; **parse then verify**:
  ``Signature.from_bytes`` + ``verify_signature`` (what from bytes was
  before the express lane);
* **pre-parsed**: ``verify_signature`` on a ``Signature`` parsed beforehand
  (parsed again before each pass, outside the timing, so that no pass
  profits from the calendar root a verification caches on its signature);
* for the internal policy, the key-based policy (adds the calendar auth
  record's RSA signature) and the publications-file policy (extended
  signatures, publications file in memory);
* the same from bytes and pre-parsed for Guardtime-issued signatures of the
  test vectors under the publications-file policy;
* parsing alone and parsing + the internal policy from bytes for each valid
  Guardtime signature of the test vectors (their shapes: legacy ids, level
  corrections, metadata, up to six aggregation chains, RFC 3161 records),
  each against its own floor, and all of them together;
* parsing alone, with the one-pass parser and with the reference parser
  (``Signature.from_tlv``, what every signature went through before issue 10).

Reported as microseconds and as ratios to the floor (issue 10 targets, from
bytes: internal at most 5x, key-based at most 8x, publications-file at most
5x). Times are CPU time of the thread per chunk of signatures, each chunk's
best over the passes, so the figures hold on a machine shared with other
work. No libksi comparison: libksi cannot be built on the development
machine (docs/performance.md).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jura_trust import EmbeddedBackend, Imprint, ManualClock
from jura_trust.core import tlv
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
        out.extend(bytes(33 + len(link.sibling.value) + 1) for link in sig.calendar_chain.links)
    return out


CHUNK = 50


def per_item(
    repeats: int,
    items: list[Any],
    fn: Callable[[list[Any]], object],
    fresh: Callable[[list[Any]], list[Any]] | None = None,
) -> float:
    """CPU seconds of ``fn`` per item: the best of ``repeats`` passes over chunks.

    Each chunk of :data:`CHUNK` items is timed on its own with the thread's
    CPU clock, and each chunk keeps its best time over the passes: on a
    shared machine this drops the time slices other processes take (wall
    time would count them) and the chunks another process's cache traffic
    slowed down, the same way for the floor as for the work.

    ``fresh`` makes new items for each pass, outside the timing (pre-parsed
    signatures parsed again, so that no pass reuses what a verification
    caches on its signature, such as the calendar root).
    """
    best = [float("inf")] * len(range(0, len(items), CHUNK))
    clock = time.thread_time
    for _ in range(repeats):
        batch = fresh(items) if fresh is not None else items
        chunks = [batch[i : i + CHUNK] for i in range(0, len(batch), CHUNK)]
        for i, chunk in enumerate(chunks):
            t0 = clock()
            fn(chunk)
            best[i] = min(best[i], clock() - t0)
    return sum(best) / len(items)


def floor_of(signatures: list[Signature], repeats: int) -> float:
    """CPU seconds per signature of the raw hash steps of ``signatures``."""
    sha = hashlib.sha256

    def run(groups: list[Any]) -> None:
        for group in groups:
            for data in group:
                sha(data).digest()

    return per_item(repeats, [hash_inputs(s) for s in signatures], run)


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


def vector_figures(repeats: int, n: int) -> dict[str, float]:
    """Publications-file verification of Guardtime's valid vectors."""
    cases = []
    for sig_name, pub_name in PUBFILE_VECTORS:
        data = (VECTORS / sig_name).read_bytes()
        pubfile = VerifiedPublicationsFile.unchecked(
            PublicationsFile.parse((VECTORS / pub_name).read_bytes()), "libksi test vector"
        )
        sig = Signature.from_bytes(data)
        assert verify_signature(sig, policy="publications-file", publications_file=pubfile).ok
        cases.append((data, sig, pubfile))
    work: list[Any] = [cases[i % len(cases)] for i in range(n)]

    def from_bytes(chunk: list[Any]) -> None:
        for data, _sig, pubfile in chunk:
            verify_signature(data, policy="publications-file", publications_file=pubfile)

    def parsed(chunk: list[Any]) -> None:
        for _data, sig, pubfile in chunk:
            verify_signature(sig, policy="publications-file", publications_file=pubfile)

    floor = floor_of([sig for _d, sig, _p in cases for _ in range(n // len(cases))], repeats)
    t_bytes = per_item(repeats, work, from_bytes)
    t_parsed = per_item(
        repeats,
        work,
        parsed,
        lambda items: [(d, Signature.from_bytes(d), p) for d, _s, p in items],
    )
    return {
        "vectors_floor_us": round(floor * 1e6, 2),
        "vectors_publication_from_bytes_us": round(t_bytes * 1e6, 1),
        "vectors_publication_from_bytes_ratio": round(t_bytes / floor, 2),
        "vectors_publication_parsed_us": round(t_parsed * 1e6, 1),
        "vectors_publication_parsed_ratio": round(t_parsed / floor, 2),
    }


VALID_VECTORS = VECTORS / "signatures" / "valid"


def vector_internal_figures(repeats: int, n: int) -> dict[str, object]:
    """Parse and parse + internal policy from bytes of each valid Guardtime vector.

    Each vector against the floor of its own hash steps, and all of them
    together (every vector equally often) against theirs.
    """
    cases = []
    for path in sorted(VALID_VECTORS.glob("*.ksig")):
        data = path.read_bytes()
        sig = Signature.from_bytes(data)
        if verify_signature(sig, policy="internal").ok:
            cases.append((path.stem, data, sig))

    def parse(chunk: list[Any]) -> None:
        for data in chunk:
            Signature.from_bytes(data)

    def internal(chunk: list[Any]) -> None:
        for data in chunk:
            verify_signature(data, policy="internal")

    per_vector: dict[str, dict[str, float]] = {}
    for name, data, sig in cases:
        floor = floor_of([sig] * n, repeats)
        t_parse = per_item(repeats, [data] * n, parse)
        t_internal = per_item(repeats, [data] * n, internal)
        per_vector[name] = {
            "floor_us": round(floor * 1e6, 2),
            "parse_us": round(t_parse * 1e6, 1),
            "parse_ratio": round(t_parse / floor, 2),
            "internal_from_bytes_us": round(t_internal * 1e6, 1),
            "internal_from_bytes_ratio": round(t_internal / floor, 2),
        }
    mixed = [cases[i % len(cases)] for i in range(n)]
    floor = floor_of([sig for _n, _d, sig in mixed], repeats)
    t_parse = per_item(repeats, [data for _n, data, _s in mixed], parse)
    t_internal = per_item(repeats, [data for _n, data, _s in mixed], internal)
    return {
        "vectors_internal_floor_us": round(floor * 1e6, 2),
        "vectors_parse_us": round(t_parse * 1e6, 1),
        "vectors_parse_ratio": round(t_parse / floor, 2),
        "vectors_internal_from_bytes_us": round(t_internal * 1e6, 1),
        "vectors_internal_from_bytes_ratio": round(t_internal / floor, 2),
        "vectors_internal_by_vector": per_vector,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000, help="signatures (default 2000)")
    ap.add_argument("--quick", action="store_true", help="a small run for CI")
    ap.add_argument("--repeats", type=int, default=20, help="passes, best kept (default 20)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = 200 if args.quick else args.n
    repeats = 5 if args.quick else args.repeats

    clock = ManualClock(1_700_000_000)
    backend = EmbeddedBackend(clock=clock)
    signed: list[Signature] = []
    # 100 rounds of n/100 requests: realistic tree depth and calendar length
    per_round = max(1, n // 100)
    for r in range(0, n, per_round):
        imprints = [Imprint.hash(f"doc {i}".encode()) for i in range(r, min(n, r + per_round))]
        signed.extend(backend.sign_many(imprints))
        clock.advance(37)
    clock.advance(3600)
    backend.publish()
    pubfile = backend.trusted_publications_file()
    raw = [s.encode() for s in signed]
    raw_ext = [backend.extend(s).encode() for s in signed]
    backend.close()
    sigs = [Signature.from_bytes(b) for b in raw]
    ext = [Signature.from_bytes(b) for b in raw_ext]
    for s in sigs[:3]:
        assert verify_signature(s, policy="key", publications_file=pubfile).ok
    for s in ext[:3]:
        assert verify_signature(s, policy="publications-file", publications_file=pubfile).ok

    def parse(chunk: list[Any]) -> None:
        for b in chunk:
            Signature.from_bytes(b)

    def parse_reference(chunk: list[Any]) -> None:
        for b in chunk:
            Signature.from_tlv(tlv.decode(b))

    def from_bytes(policy: str) -> Callable[[list[Any]], None]:
        def run(chunk: list[Any]) -> None:
            for b in chunk:
                verify_signature(b, policy=policy, publications_file=pubfile)

        return run

    def parse_then_verify(policy: str) -> Callable[[list[Any]], None]:
        def run(chunk: list[Any]) -> None:
            for b in chunk:
                sig = Signature.from_bytes(b)
                verify_signature(sig, policy=policy, publications_file=pubfile)

        return run

    def parsed(policy: str) -> Callable[[list[Any]], None]:
        def run(chunk: list[Any]) -> None:
            for sig in chunk:
                verify_signature(sig, policy=policy, publications_file=pubfile)

        return run

    # What the bench keeps alive (2 x n parsed signatures) must not make
    # every garbage collection of the measured code slower: freeze it.
    gc.collect()
    gc.freeze()
    if os.environ.get("BENCH_NOGC"):
        gc.disable()
    floor = floor_of(sigs, repeats)
    floor_ext = floor_of(ext, repeats)
    result: dict[str, object] = {
        "signatures": n,
        "load_average": round(os.getloadavg()[0], 2),
        "hashes_unextended": round(sum(len(hash_inputs(s)) for s in sigs) / n, 1),
        "hashes_extended": round(sum(len(hash_inputs(s)) for s in ext) / n, 1),
        "floor_unextended_us": round(floor * 1e6, 2),
        "floor_extended_us": round(floor_ext * 1e6, 2),
    }
    b_raw: list[Any] = list(raw)
    b_ext: list[Any] = list(raw_ext)
    p_raw: list[Any] = list(sigs)
    p_ext: list[Any] = list(ext)
    figures = [
        ("parse", b_raw, parse, floor),
        ("parse_reference", b_raw, parse_reference, floor),
        ("internal_from_bytes", b_raw, from_bytes("internal"), floor),
        ("internal_parse_then_verify", b_raw, parse_then_verify("internal"), floor),
        ("internal_parsed", p_raw, parsed("internal"), floor),
        ("key_from_bytes", b_raw, from_bytes("key"), floor),
        ("key_parse_then_verify", b_raw, parse_then_verify("key"), floor),
        ("key_parsed", p_raw, parsed("key"), floor),
        ("publication_from_bytes", b_ext, from_bytes("publications-file"), floor_ext),
        ("publication_parse_then_verify", b_ext, parse_then_verify("publications-file"), floor_ext),
        ("publication_parsed", p_ext, parsed("publications-file"), floor_ext),
    ]

    def reparse(items: list[Any]) -> list[Any]:
        return [Signature.from_bytes(s.encode()) for s in items]

    for name, items, fn, base in figures:
        t = per_item(repeats, items, fn, reparse if name.endswith("_parsed") else None)
        result[f"{name}_us"] = round(t * 1e6, 1)
        result[f"{name}_ratio"] = round(t / base, 2)
    result.update(vector_figures(repeats, min(n, 400)))
    result.update(vector_internal_figures(repeats, min(n, 200)))
    gc.unfreeze()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            if isinstance(v, dict):
                print(f"{k:>38}:")
                for name, figures in v.items():
                    print(f"{name:>60}: {figures}")
            else:
                print(f"{k:>38}: {v}")


if __name__ == "__main__":
    main()
