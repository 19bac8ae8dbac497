"""The express lane against the rule engine (issue 10, item 1).

``verify_signature(data)`` given a signature's bytes first asks
:func:`jura_trust.verify._express.verify_bytes`, which reads the bytes once
and answers OK or nothing; the engine decides everything else. Its safety
rests on one property, checked here on every vector, bit flips, byte
mutations, re-encodings that keep every hash (TLV16 headers, flags, field
order, duplicates, unknown elements) and changed trust inputs:

* whenever the lane answers, the bytes parse, and the engine's result for
  the parsed signature is the same, field by field (policy, outcome, steps,
  message, anchor and its details, proven time, document checked).

The last tests keep the lane in use for the signatures people verify, show
that the suite-wide check (``JURA_TRUST_EXPRESS_CHECK``, set by
tests/conftest.py) catches a lane that disagrees, and that bytes that do
not parse still raise the parser's error.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust import EmbeddedBackend, Imprint, ManualClock
from jura_trust.core import tlv
from jura_trust.core.hashing import HashAlgorithm
from jura_trust.core.signature import Signature
from jura_trust.errors import FormatError, JuraError, Outcome
from jura_trust.publications import PublicationsFile, VerifiedPublicationsFile
from jura_trust.verify import POLICIES, Policy, VerificationContext, verify_signature
from jura_trust.verify import _express as express
from jura_trust.verify.result import VerificationResult
from tests.budget import LONG, scaled
from tests.mutations import mutate
from tests.vectors import KSI

LANE_POLICIES = [Policy.INTERNAL, Policy.KEY, Policy.PUBLICATIONS_FILE, Policy.GENERAL]


def _pubfile(name: str) -> VerifiedPublicationsFile:
    data = (KSI / "pubfiles" / name).read_bytes()
    return VerifiedPublicationsFile.unchecked(PublicationsFile.parse(data), "libksi test vector")


def _backend() -> tuple[list[bytes], VerifiedPublicationsFile, VerifiedPublicationsFile]:
    clock = ManualClock(1_700_000_000)
    with EmbeddedBackend(clock=clock) as backend:
        sigs = backend.sign_many([Imprint.hash(bytes([i])) for i in range(7)])
        lone = backend.sign(Imprint.hash(b"lone"), level=3)
        sha512 = backend.sign(Imprint.hash(b"long", HashAlgorithm.SHA2_512))
        clock.advance(4000)
        backend.publish()
        extended = [backend.extend(s) for s in (sigs[1], sigs[6])]
        pubfile = backend.trusted_publications_file()
    # A second service: its file knows neither the first one's key nor its publications.
    with EmbeddedBackend(clock=ManualClock(1_700_000_000)) as other:
        other.sign(Imprint.hash(b"x"))
        other.publish()
        foreign = other.trusted_publications_file()
    raw = [s.encode() for s in (*sigs[:3], lone, sha512, *extended)]
    return raw, pubfile, foreign


BACKEND, BACKEND_FILE, FOREIGN_FILE = _backend()
VECTOR_FILES = [_pubfile(n) for n in ("publications.tlv", "publications-file.bin")]
CORPUS = sorted(p for p in KSI.rglob("*.ksig") if p.is_file())


def engine(
    data: bytes,
    policy: Policy,
    document_hash: Imprint | None,
    pubfile: VerifiedPublicationsFile | None,
) -> VerificationResult | None:
    """The engine's result for ``data``, or ``None`` if the bytes do not parse."""
    try:
        sig = Signature.from_bytes(data)
    except JuraError:
        return None
    ctx = VerificationContext(sig, document_hash, 0, publications_file=pubfile)
    return POLICIES[policy](ctx)


def check_lane(
    data: bytes,
    policy: Policy,
    document_hash: Imprint | None = None,
    pubfile: VerifiedPublicationsFile | None = None,
) -> bool:
    """The lane agrees with the engine on ``data``; True if it answered."""
    fast = express.verify_bytes(data, POLICIES[policy], document_hash, pubfile)
    if fast is None:
        return False
    slow = engine(data, policy, document_hash, pubfile)
    assert slow is not None, "the lane answered for bytes that do not parse"
    assert fast.outcome is Outcome.OK
    assert slow == fast, f"lane {fast!r} != engine {slow!r}"
    assert slow.steps == fast.steps
    assert slow.anchor.as_dict() == fast.anchor.as_dict()
    assert dict(slow.facts) == dict(fast.facts)
    assert slow.as_dict() == fast.as_dict()
    return True


def _document_hashes(data: bytes) -> Iterator[Imprint | None]:
    """No document hash, the right one, another document's, another algorithm's."""
    yield None
    try:
        right = Signature.from_bytes(data).document_hash
    except JuraError:
        return
    yield right
    yield Imprint(right.value[:-1] + bytes([right.value[-1] ^ 1]))
    other = HashAlgorithm.SHA2_512 if right.algorithm_id == 1 else HashAlgorithm.SHA2_256
    yield Imprint.hash(b"document", other)


def check_everything(data: bytes, files: list[VerifiedPublicationsFile | None]) -> int:
    """:func:`check_lane` under every lane policy, document hash and file; answers counted."""
    taken = 0
    for policy in LANE_POLICIES:
        for document_hash in _document_hashes(data):
            for pubfile in files:
                taken += check_lane(data, policy, document_hash, pubfile)
    return taken


ALL_FILES: list[VerifiedPublicationsFile | None] = [
    None,
    BACKEND_FILE,
    FOREIGN_FILE,
    *VECTOR_FILES,
]


def test_lane_agrees_with_engine_on_every_vector():
    taken = sum(check_everything(p.read_bytes(), ALL_FILES) for p in CORPUS)
    assert taken > 100  # the valid vectors under the internal policy at least


def test_lane_agrees_with_engine_on_backend_signatures():
    taken = sum(check_everything(data, ALL_FILES) for data in BACKEND)
    assert taken > 40


def _flips(data: bytes, seed: int, count: int) -> Iterator[bytes]:
    positions = range(len(data) * 8)
    chosen = (
        positions if LONG else random.Random(seed).sample(positions, min(count, len(positions)))
    )
    for bit in chosen:
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        yield bytes(flipped)


@pytest.mark.parametrize("index", range(len(BACKEND)))
def test_lane_agrees_with_engine_on_bit_flips(index: int):
    """Every answered flip is one the engine calls OK too (most flips break a hash).

    The flips that keep a signature OK are those in bytes no hash covers under
    the policy (the auth record's signature under the internal policy,
    headers' flags the parsers ignore): exactly where a lane that read more
    loosely than the parsers would say OK alone.
    """
    data = BACKEND[index]
    files: list[VerifiedPublicationsFile | None] = [BACKEND_FILE]
    answered = 0
    for flipped in _flips(data, index, 600):
        for policy in LANE_POLICIES:
            document_hash = None
            answered += check_lane(flipped, policy, document_hash, files[0])
    assert answered > 0


def test_lane_agrees_with_engine_on_bit_flips_of_guardtime_signatures():
    valid = sorted((KSI / "signatures" / "valid").iterdir())
    for i, path in enumerate(valid):
        for flipped in _flips(path.read_bytes(), 100 + i, 150):
            for policy in LANE_POLICIES:
                check_lane(flipped, policy, None, VECTOR_FILES[0])


@settings(max_examples=scaled(300))
@given(st.data())
def test_lane_agrees_with_engine_on_mutations(data: st.DataObject):
    sources = BACKEND + [p.read_bytes() for p in CORPUS[:20]]
    raw = mutate(data, data.draw(st.sampled_from(sources)), rounds=3)
    policy = data.draw(st.sampled_from(LANE_POLICIES))
    check_lane(raw, policy, None, BACKEND_FILE)


# -- re-encodings that keep every hash ------------------------------------------

_HASHED_VALUES = {0x04, 0x10}  # a metadata value and published data are hashed or signed whole


def _encode(element: tlv.TLV, *, tlv16: bool, flags: int) -> bytes:
    value = element.value
    typ = element.type
    if tlv16 or typ > 0x1F or len(value) > 0xFF:
        head = bytes((0x80 | flags | (typ >> 8), typ & 0xFF)) + len(value).to_bytes(2, "big")
    else:
        head = bytes((flags | typ, len(value)))
    return head + value


def _reencode(element: tlv.TLV, rng: random.Random, depth: int = 0) -> bytes:
    """``element`` with its encoding changed at random where no hash reads it."""
    if (element.type in _HASHED_VALUES and depth > 1) or not _composite(element):
        return _encode(
            element, tlv16=rng.random() < 0.1, flags=rng.choice([0, 0, 0, 0x20, 0x40, 0x60])
        )
    children = [_reencode(c, rng, depth + 1) for c in _children(element)]
    roll = rng.random()
    if roll < 0.15 and len(children) > 1:
        i = rng.randrange(len(children) - 1)
        children[i], children[i + 1] = children[i + 1], children[i]  # two fields swapped
    elif roll < 0.25 and children:
        children.insert(rng.randrange(len(children) + 1), rng.choice(children))  # a duplicate
    elif roll < 0.35:
        unknown = bytes((0x40 | 0x1D, 2)) + rng.randbytes(2)  # an unknown non-critical element
        children.insert(rng.randrange(len(children) + 1), unknown)
    body = b"".join(children)
    flags = rng.choice([0, 0, 0, 0x20, 0x40])
    rebuilt = tlv.TLV(element.type, body)
    return _encode(rebuilt, tlv16=rng.random() < 0.1, flags=flags if depth else 0)


def _composite(element: tlv.TLV) -> bool:
    try:
        _children(element)
    except JuraError:
        return False
    return element.type in {0x800, 0x801, 0x802, 0x803, 0x805, 0x07, 0x08, 0x0B, 0x10, 0x04}


def _children(element: tlv.TLV) -> list[tlv.TLV]:
    return tlv.decode_sequence(element.value)


def test_lane_agrees_with_engine_on_reencoded_signatures():
    """Changed encodings the hashes do not see: the lane may answer only as the engine does."""
    sources = BACKEND + [p.read_bytes() for p in sorted((KSI / "signatures" / "valid").iterdir())]
    rng = random.Random(18)
    answered = 0
    changed = 0
    for _ in range(scaled(400)):
        data = rng.choice(sources)
        mutated = _reencode(tlv.decode(data), rng)
        changed += mutated != data
        for policy in LANE_POLICIES:
            answered += check_lane(mutated, policy, None, BACKEND_FILE)
            check_lane(mutated, policy, None, VECTOR_FILES[0])
    assert changed > 100
    assert answered > 0


# -- the lane is used, checked, and never hides a parse error --------------------


def test_lane_answers_for_the_signatures_people_verify():
    """A lane that declined everything would pass every test above."""
    unextended, extended = BACKEND[0], BACKEND[-1]
    assert check_lane(unextended, Policy.INTERNAL)
    assert check_lane(unextended, Policy.KEY, None, BACKEND_FILE)
    assert check_lane(extended, Policy.PUBLICATIONS_FILE, None, BACKEND_FILE)
    right = Signature.from_bytes(unextended).document_hash
    assert check_lane(unextended, Policy.INTERNAL, right)
    guardtime = KSI / "signatures" / "valid" / "ok-sig-2014-04-30.1.ksig"
    assert check_lane(guardtime.read_bytes(), Policy.INTERNAL)
    published = KSI / "signatures" / "valid" / "ok-sig-2014-04-30.1-extended.ksig"
    assert check_lane(published.read_bytes(), Policy.PUBLICATIONS_FILE, None, VECTOR_FILES[0])
    # the default policy, on a receipt extended to a publication in the trusted file
    assert check_lane(extended, Policy.GENERAL, None, BACKEND_FILE)
    assert check_lane(published.read_bytes(), Policy.GENERAL, None, VECTOR_FILES[0])


def test_lane_declines_what_it_does_not_answer():
    """Failures, other policies, input levels and user publications go to the engine."""
    data = BACKEND[0]
    wrong = Imprint.hash(b"another document")
    assert express.verify_bytes(data, POLICIES[Policy.INTERNAL], wrong, None) is None
    assert express.verify_bytes(data, POLICIES[Policy.GENERAL], None, BACKEND_FILE) is None
    assert express.verify_bytes(data, POLICIES[Policy.KEY], None, None) is None
    assert express.verify_bytes(data, POLICIES[Policy.KEY], None, FOREIGN_FILE) is None
    unextended_in_file = express.verify_bytes(
        data, POLICIES[Policy.PUBLICATIONS_FILE], None, BACKEND_FILE
    )
    assert unextended_in_file is None  # the extension path is the engine's
    result = verify_signature(data, policy="internal", document_hash=wrong)
    assert result.outcome is Outcome.FAIL
    assert result.code is not None
    assert result.code.value == "GEN-01"


def test_verify_signature_from_bytes_is_verify_of_the_parsed_signature():
    for data in BACKEND:
        sig = Signature.from_bytes(data)
        for policy in [*LANE_POLICIES, Policy.GENERAL]:
            got = verify_signature(data, policy=policy, publications_file=BACKEND_FILE)
            want = verify_signature(sig, policy=policy, publications_file=BACKEND_FILE)
            assert got == want
            assert got.anchor.as_dict() == want.anchor.as_dict()
        level = verify_signature(data, policy="internal", input_level=1)
        assert level == verify_signature(sig, policy="internal", input_level=1)


def test_bytes_that_do_not_parse_raise_the_parsers_error():
    broken = BACKEND[0][:-5]
    with pytest.raises(FormatError) as from_bytes:
        Signature.from_bytes(broken)
    with pytest.raises(FormatError) as verified:
        verify_signature(broken, policy="internal")
    assert verified.value.code == from_bytes.value.code
    with pytest.raises(TypeError):
        verify_signature(BACKEND[0], policy="key", publications_file=object())  # type: ignore[arg-type]


def test_check_mode_catches_a_lane_that_disagrees(monkeypatch: pytest.MonkeyPatch):
    """With JURA_TRUST_EXPRESS_CHECK set, a wrong express answer fails loudly."""
    data = BACKEND[0]
    wrong = Imprint.hash(b"another document")
    honest = express.verify_bytes(data, POLICIES[Policy.INTERNAL], None, None)
    assert honest is not None

    def lying(*_args: object) -> VerificationResult:
        return honest

    monkeypatch.setattr(sys.modules["jura_trust.verify"], "verify_bytes", lying)
    monkeypatch.setattr(express, "CHECK", True)
    with pytest.raises(AssertionError, match="express lane disagrees"):
        verify_signature(data, policy="internal", document_hash=wrong)
    monkeypatch.setattr(express, "CHECK", False)
    assert verify_signature(data, policy="internal", document_hash=wrong) is honest


def test_suite_runs_with_the_check_on():
    assert express.CHECK, "tests/conftest.py sets JURA_TRUST_EXPRESS_CHECK"


def test_check_is_read_from_the_environment_at_import():
    """CLI processes the suite starts check too: the flag comes from the environment."""
    import subprocess

    code = "from jura_trust.verify import _express; print(_express.CHECK)"
    for value, expected in [("1", "True"), ("", "False"), ("0", "False")]:
        env = {**os.environ, express.CHECK_ENV: value}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected


def test_vector_paths_exist():
    assert all(isinstance(p, Path) and p.exists() for p in CORPUS)
    assert len(CORPUS) > 50


def test_deprecation_lookups_are_the_algorithms_own():
    """The lane's ``t >= first second`` lookups say what ``is_deprecated_at`` says."""
    for alg in HashAlgorithm:
        info = alg._info
        edges = {0, 1, 2**40, 2**63}
        for t in (info.deprecated_since, info.obsolete_since):
            if t is not None:
                edges |= {t - 1, t, t + 1}
        for t in edges:
            assert (t >= express._DEPRECATED_FROM[alg.value]) is alg.is_deprecated_at(t)
            if alg is HashAlgorithm.SHA2_256:
                assert (t >= express._SHA256_OBSOLETE_FROM) is alg.is_obsolete_at(t)
                assert (t >= express._SHA256_DEPRECATED_FROM) is alg.is_deprecated_at(t)
