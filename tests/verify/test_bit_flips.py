"""Single-bit flips of valid signatures never crash and never wrongly verify.

For every valid vector (and for signatures from the embedded backend), each
flipped copy must either fail to parse with a JuraError, or verify as FAIL/NA,
or, if it still verifies OK, be shown to *mean exactly the same*:

* under a trust-anchored policy (key-based, publications-file) that the
  original passes, the flipped signature verifies OK only if its decoded
  model equals the original's, once the fields KSI never authenticates are
  set aside (publication references and repository URIs, the certificate
  repository URI: hints printed for people, covered by no hash or signature),
  and its canonical re-encoding (rebuilt from the model, every kept raw byte
  dropped) is identical;
* under the internal policy, which anchors nothing, a flipped signature that
  verifies OK with another meaning must be caught by an anchored policy the
  original passes (it FAILs or is NA there); a signature that passes no
  anchored policy (no calendar chain, or an unanchored one) is only checked
  for never crashing, since internal consistency is all it can show.

CI checks a deterministic sample of positions per signature; JURA_TRUST_LONG=1
flips every bit.
"""

import random
from pathlib import Path

import pytest

from jura_trust._value import evolve
from jura_trust.core.chains import AggregationChain, AggregationLink, CalendarChain
from jura_trust.core.publication import PublicationData, PublicationRecord
from jura_trust.core.signature import CalendarAuthRecord, Signature
from jura_trust.errors import JuraError
from jura_trust.verify import verify_signature
from tests.vectors import KSI, trusted_pubfile

OLD_FILE = trusted_pubfile("pubfiles/publications.tlv")
NEW_FILE = trusted_pubfile("pubfiles/publications-file.bin")
SAMPLE = 400


def canonical(sig: Signature) -> bytes:
    """Re-encode from the model alone, dropping every kept raw byte."""

    def link(x: AggregationLink) -> AggregationLink:
        meta = x.metadata
        if meta is not None:
            meta = evolve(meta)
        return evolve(x, metadata=meta)

    def chain(c: AggregationChain) -> AggregationChain:
        return evolve(c, links=tuple(link(x) for x in c.links))

    def pubdata(d: PublicationData) -> PublicationData:
        return PublicationData.build(d.publication_time, d.published_hash, forward=d.forward)

    cal = sig.calendar_chain
    rec = sig.publication_record
    auth = sig.calendar_auth_record
    return Signature(
        aggregation_chains=tuple(chain(c) for c in sig.aggregation_chains),
        calendar_chain=evolve(cal) if isinstance(cal, CalendarChain) else None,
        publication_record=PublicationRecord.build(
            pubdata(rec.published_data), rec.references, rec.repository_uris
        )
        if rec is not None
        else None,
        calendar_auth_record=CalendarAuthRecord(
            pubdata(auth.published_data),
            evolve(auth.signature_data),
        )
        if auth is not None
        else None,
        rfc3161_record=evolve(sig.rfc3161_record) if sig.rfc3161_record is not None else None,
    ).encode()


def policies_passing(sig: Signature) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = [("internal", None)]
    out.extend(
        (policy, pubfile)
        for pubfile in (OLD_FILE, NEW_FILE)
        for policy in ("key", "publications-file")
        if verify_signature(sig, policy=policy, publications_file=pubfile).ok
    )
    return out


def positions(data: bytes, long_run: bool, seed: int) -> list[int]:
    bits = len(data) * 8
    if long_run:
        return list(range(bits))
    rng = random.Random(seed)
    # every bit of the first header, plus a deterministic sample of the rest
    return sorted(set(range(32)) | set(rng.sample(range(bits), min(SAMPLE, bits))))


def meaning(sig: Signature) -> Signature:
    """The signature without what KSI never authenticates.

    Unknown non-critical elements are ignored by every rule (and hashed by
    none), so they are set aside too.
    """
    rec = sig.publication_record
    auth = sig.calendar_auth_record
    cal = sig.calendar_chain
    return evolve(
        sig,
        unknown=(),
        aggregation_chains=tuple(
            evolve(c, unknown=(), links=tuple(evolve(x, unknown=()) for x in c.links))
            for c in sig.aggregation_chains
        ),
        calendar_chain=evolve(cal, unknown=()) if cal else None,
        publication_record=PublicationRecord.build(rec.published_data) if rec else None,
        calendar_auth_record=evolve(
            auth,
            unknown=(),
            signature_data=evolve(auth.signature_data, certificate_repository_uri=None),
        )
        if auth
        else None,
    )


def same_meaning(a: Signature, b: Signature) -> bool:
    return meaning(a) == meaning(b) and canonical(meaning(a)) == canonical(meaning(b))


def verifies(sig: Signature, policy: str, pubfile: object) -> bool:
    return verify_signature(sig, policy=policy, publications_file=pubfile).ok  # type: ignore[arg-type]


def check_flips(original_bytes: bytes, long_run: bool, seed: int) -> dict[str, int]:
    original = Signature.from_bytes(original_bytes)
    passing = policies_passing(original)
    anchored = [(p, f) for p, f in passing if p != "internal"]
    tally = {"rejected": 0, "not_ok": 0, "same_meaning": 0, "caught_by_anchor": 0, "unanchored": 0}
    for pos in positions(original_bytes, long_run, seed):
        flipped = bytearray(original_bytes)
        flipped[pos // 8] ^= 1 << (pos % 8)
        try:
            sig = Signature.from_bytes(bytes(flipped))
        except JuraError:
            tally["rejected"] += 1
            continue
        for policy, pubfile in passing:
            if not verifies(sig, policy, pubfile):
                tally["not_ok"] += 1
            elif same_meaning(sig, original):
                tally["same_meaning"] += 1
            elif policy != "internal":
                pytest.fail(f"bit {pos} verifies OK under {policy} with another meaning")
            elif anchored:
                assert not any(verifies(sig, p, f) for p, f in anchored), f"bit {pos}"
                tally["caught_by_anchor"] += 1
            else:
                tally["unanchored"] += 1
    return tally


VALID = sorted((KSI / "signatures" / "valid").glob("*"))


@pytest.mark.fuzz
@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_vector_bit_flips(path: Path, long_run: bool) -> None:
    tally = check_flips(path.read_bytes(), long_run, seed=len(path.name))
    assert tally["rejected"] + tally["not_ok"] > 0


@pytest.mark.fuzz
def test_embedded_backend_signature_bit_flips(ksi_backend, ksi_clock, long_run: bool) -> None:
    from jura_trust.core.hashing import Imprint

    sig = ksi_backend.sign_many([Imprint.hash(bytes([i])) for i in range(5)])[2]
    pubfile = ksi_backend.trusted_publications_file()
    data = sig.encode()
    assert verify_signature(sig, policy="key", publications_file=pubfile).ok
    rng = random.Random(7)
    picks = range(len(data) * 8) if long_run else rng.sample(range(len(data) * 8), SAMPLE)
    for pos in picks:
        flipped = bytearray(data)
        flipped[pos // 8] ^= 1 << (pos % 8)
        try:
            s = Signature.from_bytes(bytes(flipped))
        except JuraError:
            continue
        if verify_signature(s, policy="key", publications_file=pubfile).ok:
            assert same_meaning(s, sig), f"bit {pos}"


def test_canonical_reencoding_is_faithful() -> None:
    """The oracle itself: canonical bytes of a vector re-parse to an equal model."""
    for path in VALID:
        sig = Signature.from_bytes(path.read_bytes())
        again = Signature.from_bytes(canonical(sig))
        assert again == sig
