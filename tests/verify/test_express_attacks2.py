"""Second attack run on the express lane (issue 10, item 1): what changed since the first.

Three things were new and unattacked: the lane answers for the **general**
policy (the default) when its publications-file alternative is OK; it reads
level-corrected and legacy-id links with the one-pass parser's run reader
(``_sigparse._links_to_end``) and every other link with
``_sigparse._aggregation_link``; and the certificate validity and RSA key
checks are cached. Every signature here is forged hash-consistent (the
forger of tests/verify/test_express_attacks.py), so only its shape or the
trust inputs can make the lane and the engine part.

The engine is run on a :class:`VerificationContext` built the way
``verify_signature`` builds it, with **every** argument (extension allowed,
an extender, its name): the lane sees only the bytes, the policy, the
document hash and the file, so whatever else the caller gives must not
change the engine's OK either, or the lane must not answer.
"""

from __future__ import annotations

import copy
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from jura_trust import pki
from jura_trust._value import FrozenError
from jura_trust.core.chains import CalendarChain
from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import PublicationData
from jura_trust.core.signature import Signature
from jura_trust.errors import ErrorCode, FormatError, JuraError, Outcome
from jura_trust.publications import VerifiedPublicationsFile
from jura_trust.verify import POLICIES, Policy, VerificationContext, verify_signature
from jura_trust.verify import _express as express
from jura_trust.verify.result import VerificationResult
from tests.budget import scaled
from tests.core.test_sigparse import check_agrees
from tests.verify.test_express_attacks import (
    CERT,
    CERT_ID,
    KEY,
    Chain,
    Forged,
    Link,
    T,
    enc,
    file_for,
    forge,
    imprint,
    plain,
    pubfile,
    uint,
    utf8,
)

#: Every policy the lane answers for, the default included.
LANE_POLICIES = [Policy.INTERNAL, Policy.KEY, Policy.PUBLICATIONS_FILE, Policy.GENERAL]
LEGACY = b"\x03\x00\x02GT" + bytes(24)


class _Extender:
    """An extender that records every call and answers with ``answer`` (or raises)."""

    def __init__(self, answer: CalendarChain | None = None) -> None:
        self.answer = answer
        self.calls: list[tuple[int, int | None]] = []

    def __call__(self, aggregation_time: int, publication_time: int | None) -> CalendarChain:
        self.calls.append((aggregation_time, publication_time))
        if self.answer is None:
            raise JuraError("the extender is unreachable", code=ErrorCode.GEN_02)
        return self.answer


def _contexts() -> list[dict[str, Any]]:
    """What else a caller may give ``verify_signature`` with no input level or user publication."""
    return [
        {},
        {"extending_allowed": True},
        {"extending_allowed": True, "extender": _Extender(), "extender_name": "https://x"},
        {"extending_allowed": False, "extender": _Extender(), "extender_name": "n"},
    ]


def engine(
    data: bytes,
    policy: Policy,
    document: Imprint | None,
    file: VerifiedPublicationsFile | None,
    **kwargs: Any,
) -> VerificationResult | None:
    """The engine's result, on a context made as ``verify_signature`` makes it."""
    try:
        sig = Signature.from_bytes(data)
    except JuraError:
        return None
    ctx = VerificationContext(
        signature=sig,
        document_hash=document,
        input_level=0,
        publications_file=file,
        user_publication=None,
        **kwargs,
    )
    return POLICIES[policy](ctx)


def lane(
    data: bytes, policy: Policy, document: Imprint | None, file: VerifiedPublicationsFile | None
) -> VerificationResult | None:
    return express.verify_bytes(data, POLICIES[policy], document, file)


def agree_all(
    forged: Forged | bytes, file: VerifiedPublicationsFile | None, document: Imprint | None = None
) -> dict[Policy, bool]:
    """Lane and engine agree under every lane policy and every caller context.

    Returns, per policy, whether the lane answered.
    """
    data = forged if isinstance(forged, bytes) else forged.data
    answered = {}
    for policy in LANE_POLICIES:
        fast = lane(data, policy, document, file)
        answered[policy] = fast is not None
        if fast is None:
            continue
        assert fast.outcome is Outcome.OK
        for kwargs in _contexts():
            slow = engine(data, policy, document, file, **kwargs)
            assert slow is not None, "the lane answered for bytes that do not parse"
            assert slow == fast, (policy, kwargs)
            assert slow.steps == fast.steps
            assert slow.policy == fast.policy
            assert slow.aggregation_time == fast.aggregation_time
            assert slow.as_dict() == fast.as_dict()
            extender = kwargs.get("extender")
            assert extender is None or not extender.calls, "an OK the lane gives never extends"
    return answered


def engine_result(
    forged: Forged, policy: Policy, file: VerifiedPublicationsFile | None, **kwargs: Any
) -> VerificationResult:
    result = engine(forged.data, policy, forged.document, file, **kwargs)
    assert result is not None
    return result


def same_for_bytes_and_parsed(data: bytes, **kwargs: Any) -> VerificationResult:
    """``verify_signature`` of the bytes equals that of the parsed signature."""
    got = verify_signature(data, **kwargs)
    want = verify_signature(Signature.from_bytes(data), **kwargs)
    assert got == want
    assert got.steps == want.steps
    assert got.as_dict() == want.as_dict()
    return got


# -- 1. the general policy --------------------------------------------------------


def test_general_policy_is_the_publications_file_ok_attack():
    """The one case the lane answers under general: the signature's publication in the file."""
    forged = forge([Chain(plain(3))], record="pub")
    file = file_for(forged)
    for document in (None, forged.document):
        answered = agree_all(forged, file, document)
        assert answered == {
            Policy.INTERNAL: True,
            Policy.KEY: False,
            Policy.PUBLICATIONS_FILE: True,
            Policy.GENERAL: True,
        }
    result = lane(forged.data, Policy.GENERAL, None, file)
    assert result is not None
    assert result.policy == "general"
    assert result.anchor.kind == "publication"
    assert [s.rule for s in result.steps[-3:]] == [
        "publications_file_present",
        "publication_in_file",
        "file_publication_algorithms",
    ]
    # The default policy of verify_signature is general: the lane's answer is the parsed one.
    assert same_for_bytes_and_parsed(forged.data, publications_file=file) == result


@pytest.mark.parametrize("same_hash", [True, False], ids=["user agrees", "user disagrees"])
def test_general_policy_with_a_user_publication_never_takes_the_lane_attack(
    same_hash: bool, monkeypatch: pytest.MonkeyPatch
):
    """With a user publication, general runs the user's path: a file that agrees proves nothing.

    A user publication of the signature's second with another hash must FAIL
    (PUB-04) even though the trusted file holds the signature's publication.
    """
    forged = forge([Chain(plain(3))], record="pub")
    file = file_for(forged)
    assert forged.publication_time is not None
    published = forged.root if same_hash else imprint(1, 99)
    user = PublicationData(forged.publication_time, Imprint(published))

    def never(*args: object) -> None:
        raise AssertionError("the express lane was asked with a user publication")

    monkeypatch.setattr(sys.modules["jura_trust.verify"], "verify_bytes", never)
    result = same_for_bytes_and_parsed(forged.data, publications_file=file, user_publication=user)
    if same_hash:
        assert result.outcome is Outcome.OK
        assert result.anchor.details["source"] == "user"
    else:
        assert result.outcome is Outcome.FAIL
        assert result.code is ErrorCode.PUB_04


def test_general_policy_file_with_another_hash_for_the_second_attack():
    """The file's record for the signature's second differs: general FAILs (PUB-05), never OK."""
    forged = forge([Chain(plain(3))], record="pub")
    assert forged.publication_time is not None
    file = pubfile([(forged.publication_time, imprint(1, 5))])
    assert agree_all(forged, file) == {
        Policy.INTERNAL: True,
        Policy.KEY: False,
        Policy.PUBLICATIONS_FILE: False,
        Policy.GENERAL: False,
    }
    for kwargs in _contexts():
        result = engine_result(forged, Policy.GENERAL, file, **kwargs)
        assert (result.outcome, result.code) == (Outcome.FAIL, ErrorCode.PUB_05)
    result = same_for_bytes_and_parsed(forged.data, publications_file=file)
    assert (result.outcome, result.code) == (Outcome.FAIL, ErrorCode.PUB_05)


@pytest.mark.parametrize("right_first", [True, False])
def test_general_policy_file_with_two_records_for_the_second_attack(right_first: bool):
    """Two records for one second with different hashes: no such file is made (FMT-14).

    The first attack run found the answer depended on the records' order;
    the file is now refused. The same record twice is one publication.
    """
    forged = forge([Chain(plain(3))], record="pub")
    assert forged.publication_time is not None
    right, wrong = (forged.publication_time, forged.root), (forged.publication_time, imprint(1, 5))
    with pytest.raises(FormatError) as refused:
        pubfile([right, wrong] if right_first else [wrong, right])
    assert refused.value.code is ErrorCode.FMT_BAD_PUBLICATIONS_FILE
    file = pubfile([right, right])
    assert engine_result(forged, Policy.GENERAL, file).outcome is Outcome.OK
    assert agree_all(forged, file)[Policy.GENERAL]
    same_for_bytes_and_parsed(forged.data, publications_file=file)


def test_general_policy_file_lacking_the_signatures_publication_attack():
    """The file lacks the signature's second: general goes on to extension and the key; no lane."""
    forged = forge([Chain(plain(3))], record="pub")
    assert forged.publication_time is not None
    later = pubfile([(forged.publication_time + 86_400, imprint(1, 6))])
    earlier = pubfile([(forged.publication_time - 1, imprint(1, 6))])
    for file in (later, earlier, pubfile([])):
        answered = agree_all(forged, file)
        assert not answered[Policy.GENERAL]
        assert not answered[Policy.PUBLICATIONS_FILE]
        for kwargs in _contexts():
            assert engine_result(forged, Policy.GENERAL, file, **kwargs).outcome is not Outcome.OK
        same_for_bytes_and_parsed(forged.data, publications_file=file)
        same_for_bytes_and_parsed(
            forged.data, publications_file=file, extending_allowed=True, extender=_Extender()
        )


def test_general_policy_extender_answer_is_never_taken_by_the_lane_attack():
    """An extender given with a file lacking the publication: the engine may extend; the lane not.

    The extender returns the signature's own calendar chain for a later
    second the file names: the engine checks it (and refuses it, it proves
    another publication) while the lane must not answer at all.
    """
    forged = forge([Chain(plain(3))], record="pub")
    sig = Signature.from_bytes(forged.data)
    assert sig.calendar_chain is not None and forged.publication_time is not None
    file = pubfile([(forged.publication_time + 10, forged.root)])
    extender = _Extender(sig.calendar_chain)
    assert lane(forged.data, Policy.GENERAL, None, file) is None
    result = same_for_bytes_and_parsed(
        forged.data, publications_file=file, extending_allowed=True, extender=extender
    )
    assert result.outcome is not Outcome.OK
    assert extender.calls


def test_general_policy_with_an_auth_record_attack():
    """General through the key is the engine's: the lane declines, the result is the parsed one."""
    forged = forge([Chain(plain(3))], record="auth")
    file = file_for(forged)
    assert agree_all(forged, file) == {
        Policy.INTERNAL: True,
        Policy.KEY: True,
        Policy.PUBLICATIONS_FILE: False,
        Policy.GENERAL: False,
    }
    result = same_for_bytes_and_parsed(forged.data, publications_file=file)
    assert result.outcome is Outcome.OK
    assert result.anchor.kind == "calendar-key"
    # The file has a later publication: extension allowed but unreachable falls back to the key.
    assert forged.publication_time is not None
    later = pubfile([(forged.publication_time + 10, imprint(1, 3))])
    result = same_for_bytes_and_parsed(
        forged.data, publications_file=later, extending_allowed=True, extender=_Extender()
    )
    assert result.anchor.kind == "calendar-key"


def test_general_policy_without_a_file_or_a_calendar_attack():
    forged = forge([Chain(plain(3))], record="pub")
    assert lane(forged.data, Policy.GENERAL, None, None) is None
    assert same_for_bytes_and_parsed(forged.data).outcome is Outcome.NA
    bare = forge([Chain(plain(3))], calendar=False, record="none")
    assert agree_all(bare, pubfile([]))[Policy.GENERAL] is False
    assert same_for_bytes_and_parsed(bare.data, publications_file=pubfile([])).outcome is (
        Outcome.NA
    )


def test_general_policy_with_a_wrong_document_attack():
    forged = forge([Chain(plain(3))], record="pub")
    file = file_for(forged)
    wrong = Imprint(imprint(1, 1234))
    assert lane(forged.data, Policy.GENERAL, wrong, file) is None
    result = same_for_bytes_and_parsed(forged.data, publications_file=file, document_hash=wrong)
    assert (result.outcome, result.code) == (Outcome.FAIL, ErrorCode.GEN_01)


# -- 2. links read by the parser's run reader and link reader ---------------------


@dataclass
class RawLink(Link):
    """A link encoded exactly as given (``raw``); ``sibling`` and ``correction`` as hashed."""

    raw: bytes = b""

    def encode(self) -> bytes:
        return self.raw


def _link(left: bool, kids: bytes, sibling: bytes, correction: int = 0, **kw: Any) -> RawLink:
    raw = enc(0x07 if left else 0x08, kids, **kw)
    return RawLink(left=left, sibling=sibling, correction=correction, raw=raw)


def _corrected(left: bool, correction: int, sibling: bytes | None = None) -> RawLink:
    sibling = sibling if sibling is not None else imprint(1, 40 + correction)
    kind = 0x03 if len(sibling) == 29 else 0x02
    kids = enc(0x01, uint(correction)) + enc(kind, sibling)
    return _link(left, kids, sibling, correction)


def _metadata_of_length(n: int, padded: bool) -> bytes:
    """A metadata value of ``n`` bytes: a machine id first (not imprint-like), then the client."""
    pad = enc(0x1E, b"\x01", flags=0x60) if padded else b""
    head = pad + enc(0x02, b"\0")
    rest = n - len(head) - 2
    assert rest >= 1
    return head + enc(0x01, b"c" * (rest - 1) + b"\0")


#: Metadata link values (``04 len <metadata>``) of each usual link length.
_USUAL_LENGTH_METADATA = {
    0x23: _metadata_of_length(0x21, padded=False),
    0x26: _metadata_of_length(0x24, padded=True),
    0x1F: _metadata_of_length(0x1D, padded=False),
    0x22: _metadata_of_length(0x20, padded=True),
}


@pytest.mark.parametrize("length", sorted(_USUAL_LENGTH_METADATA))
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_metadata_link_of_a_usual_link_length_attack(length: int, where: str):
    """A metadata link as long as a usual link: neither run reader takes it for one."""
    value = _USUAL_LENGTH_METADATA[length]
    meta = _link(False, enc(0x04, value), value)
    assert len(meta.raw) - 2 == length
    usual = [_corrected(True, 2), _link(False, enc(0x03, LEGACY), LEGACY), *plain(2)]
    position = {"first": 0, "middle": 2, "last": len(usual)}[where]
    links = [*usual[:position], meta, *usual[position:]]
    forged = forge([Chain(links)], record="pub")
    file = file_for(forged)
    assert check_agrees(forged.data)
    assert engine_result(forged, Policy.GENERAL, file).outcome is Outcome.OK
    answered = agree_all(forged, file, forged.document)
    assert answered == {
        Policy.INTERNAL: True,
        Policy.KEY: False,
        Policy.PUBLICATIONS_FILE: True,
        Policy.GENERAL: True,
    }


def test_imprint_like_metadata_of_a_usual_link_length_attack():
    """Unpadded metadata of 33 bytes starting 01: imprint-like (INT-11); never OK in the lane."""
    value = enc(0x01, utf8("x" * 30))
    assert len(value) == 33
    links = [*plain(2), _link(True, enc(0x04, value), value), _corrected(False, 1)]
    forged = forge([Chain(links)], record="pub")
    file = file_for(forged)
    result = engine_result(forged, Policy.GENERAL, file)
    assert (result.outcome, result.code) == (Outcome.FAIL, ErrorCode.INT_11)
    assert not any(agree_all(forged, file).values())


@pytest.mark.parametrize(
    ("name", "encoded", "correction", "parses"),
    [
        ("empty (zero)", b"", 0, True),
        ("one zero byte (not minimal)", b"\x00", 0, False),
        ("one", b"\x01", 1, True),
        ("255", b"\xff", 255, True),
        ("256", b"\x01\x00", 256, False),
        ("255 with a leading zero", b"\x00\xff", 255, False),
    ],
)
@pytest.mark.parametrize("sibling", ["imprint", "legacy id"])
def test_level_corrections_in_usual_runs_attack(
    name: str, encoded: bytes, correction: int, parses: bool, sibling: str
):
    """Corrections of 0, 255, 256 (and non-minimal ones) inside a run of usual links.

    255 on the first link reaches level 256 at once: the engine FAILs
    (INT-01) and the lane declines.
    """
    value = LEGACY if sibling == "legacy id" else imprint(1, 77)
    kind = 0x03 if sibling == "legacy id" else 0x02
    odd = _link(True, enc(0x01, encoded) + enc(kind, value), value, correction % 256)
    for links in ([odd, *plain(2)], [_corrected(False, 3), odd, _corrected(True, 1)]):
        forged = forge([Chain(links)], record="pub")
        file = file_for(forged)
        answered = agree_all(forged, file)
        result = engine(forged.data, Policy.GENERAL, None, file)
        if not parses:
            assert result is None
            assert not any(answered.values())
            continue
        assert result is not None
        if correction >= 254:
            assert result.outcome is Outcome.FAIL
            assert not any(answered.values())
        else:
            assert result.outcome is Outcome.OK
            assert answered[Policy.GENERAL]


@pytest.mark.parametrize(
    ("name", "legacy", "valid"),
    [
        ("empty name", b"\x03\x00\x00" + bytes(26), True),
        ("25 bytes of name", b"\x03\x00\x19" + b"n" * 25 + b"\0", True),
        ("26 bytes of name", b"\x03\x00\x1a" + b"n" * 26, False),
        ("non-zero padding", b"\x03\x00\x01n" + bytes(24) + b"\x01", False),
        ("bad prefix", b"\x03\x01\x01n" + bytes(25), False),
        ("not UTF-8", b"\x03\x00\x02\xff\xfe" + bytes(24), False),
    ],
)
@pytest.mark.parametrize("corrected", [False, True])
def test_legacy_ids_in_usual_runs_attack(name: str, legacy: bytes, valid: bool, corrected: bool):
    """Every legacy id of a run is checked as the reference parser checks it."""
    assert len(legacy) == 29
    kids = enc(0x03, legacy)
    if corrected:
        kids = enc(0x01, b"\x02") + kids
    odd = _link(False, kids, legacy, 2 if corrected else 0)
    forged = forge([Chain([_corrected(True, 1), odd, *plain(2)])], record="pub")
    file = file_for(forged)
    answered = agree_all(forged, file)
    assert (engine(forged.data, Policy.GENERAL, None, file) is not None) is valid
    assert answered[Policy.GENERAL] is valid


@pytest.mark.parametrize(
    "variant", ["N on the link", "F on the link", "N on the sibling", "TLV16 link", "TLV16 child"]
)
def test_flags_and_tlv16_inside_usual_runs_attack(variant: str):
    """One usual link of a run with flags or a TLV16 header: read one by one, same result."""
    value = imprint(1, 55)
    kids = enc(0x01, b"\x04") + enc(0x02, value, flags=0x40 if "sibling" in variant else 0)
    if variant == "TLV16 child":
        kids = enc(0x01, b"\x04", tlv16=True) + enc(0x02, value)
    flags = {"N on the link": 0x40, "F on the link": 0x20}.get(variant, 0)
    odd = _link(True, kids, value, 4, flags=flags, tlv16=variant == "TLV16 link")
    runs = [[_corrected(False, 1), odd, _corrected(True, 2)], [odd, *plain(3)]]
    for links in runs:
        forged = forge([Chain(links)], record="pub")
        file = file_for(forged)
        assert check_agrees(forged.data)
        assert agree_all(forged, file)[Policy.GENERAL]


def test_usual_links_hidden_in_an_unknown_element_attack():
    """A non-critical unknown child holding whole usual links: hashed as the link's sibling only.

    The run reader's length-sum check must not let the links inside the
    unknown element stand for the chain's links.
    """
    inner = b"".join(_corrected(i % 2 == 0, 1 + i).raw for i in range(3))
    value = imprint(1, 66)
    hidden = _link(True, enc(0x02, value) + enc(0x1F, inner, flags=0x40), value)
    for links in (
        [hidden, *plain(2)],
        [_corrected(False, 1), hidden, _corrected(True, 2)],
        [_corrected(False, 1), _corrected(True, 2), hidden],
    ):
        forged = forge([Chain(links)], record="pub")
        file = file_for(forged)
        assert check_agrees(forged.data)
        assert agree_all(forged, file)[Policy.GENERAL]
    # The hidden links hashed as if they were the chain's own: the engine FAILs, no lane.
    runs = [_corrected(i % 2 == 0, 1 + i) for i in range(3)]
    wrapper = _link(True, enc(0x02, value) + enc(0x1F, inner, flags=0x40), value).raw
    for first in (0, 1):  # the wrapper first, or after a usual link (a run reader's start)
        pretend = [RawLink(left=r.left, sibling=r.sibling, correction=r.correction) for r in runs]
        if first:
            pretend[0].raw = runs[0].raw
            inner_rest = b"".join(r.raw for r in runs[1:])
            pretend[1].raw = _link(
                True, enc(0x02, value) + enc(0x1F, inner_rest, flags=0x40), value
            ).raw
        else:
            pretend[0].raw = wrapper
        forged = forge([Chain(pretend)], record="pub")
        assert check_agrees(forged.data)
        result = engine(forged.data, Policy.GENERAL, None, file_for(forged))
        assert result is not None and result.outcome is Outcome.FAIL
        assert not any(agree_all(forged, file_for(forged)).values())


def test_a_critical_unknown_element_in_a_link_attack():
    value = imprint(1, 67)
    links = [_corrected(False, 1), _link(True, enc(0x02, value) + enc(0x1F, b"x"), value)]
    forged = forge([Chain(links)], record="pub")
    assert engine(forged.data, Policy.GENERAL, None, file_for(forged)) is None
    assert not any(agree_all(forged, file_for(forged)).values())


# -- generated forgeries and re-encodings of them ----------------------------------


def _metadata_value(rng: random.Random) -> bytes:
    body = enc(0x01, b"c" * rng.randrange(0, 30) + b"\0")
    if rng.random() < 0.3:
        body += enc(0x03, uint(rng.randrange(1, 1 << 20)))
    kind = rng.choice(["padded", "padded", "bare", "machine first"])
    if kind == "machine first":
        return enc(0x02, b"\0") + body
    if kind == "padded":
        pad = b"\x01" if (len(body) + 3) % 2 == 0 else b"\x01\x01"
        return enc(0x1E, pad, flags=rng.choice([0x60, 0x60, 0x40])) + body
    return body


def _random_link(rng: random.Random) -> RawLink:
    left = rng.random() < 0.5
    seed = rng.randrange(1 << 30)
    shape = rng.choice(
        ["plain", "plain", "corrected", "legacy", "corrected legacy", "metadata",
         "corrected metadata", "correction last", "unknown", "flags", "tlv16", "zero",
         "not minimal", "sha1", "sha3"]
    )  # fmt: skip
    if shape == "corrected legacy":
        return _corrected(left, rng.choice([1, 3, 255]), LEGACY)
    if shape == "corrected":
        return _corrected(left, rng.choice([1, 2, 5, 255]))
    if shape == "legacy":
        return _link(left, enc(0x03, LEGACY), LEGACY)
    if shape in ("metadata", "corrected metadata"):
        value = _metadata_value(rng)
        if shape == "metadata":
            return _link(left, enc(0x04, value), value)
        c = rng.choice([1, 4])
        return _link(left, enc(0x01, uint(c)) + enc(0x04, value), value, c)
    value = imprint({"sha1": 0, "sha3": 8}.get(shape, 1), seed)
    if shape == "correction last":
        return _link(left, enc(0x02, value) + enc(0x01, b"\x02"), value, 2)
    if shape == "unknown":
        unknown = enc(0x1F, rng.randbytes(rng.choice([0, 1, 2])), flags=rng.choice([0x40, 0x60]))
        return _link(left, enc(0x02, value) + unknown, value)
    if shape == "flags":
        kids = enc(0x02, value, flags=rng.choice([0x20, 0x40]))
        return _link(left, kids, value, flags=rng.choice([0, 0x40, 0x20]))
    if shape == "tlv16":
        return _link(left, enc(0x02, value, tlv16=rng.random() < 0.5), value, tlv16=True)
    if shape == "zero":
        return _link(left, enc(0x01, b"") + enc(0x02, value), value)
    if shape == "not minimal":
        return _link(left, enc(0x01, b"\x00\x05") + enc(0x02, value), value, 5)
    return _link(left, enc(0x02, value), value)


def test_generated_forgeries_of_every_link_shape_under_general_attack():
    """Random runs of every link shape, under the four lane policies and every caller context."""
    rng = random.Random(1802)
    answered = dict.fromkeys(LANE_POLICIES, 0)
    for _ in range(scaled(250)):
        chains = [
            Chain([_random_link(rng) for _ in range(rng.choice([1, 2, 3, 5, 8]))], algorithm=alg)
            for alg in rng.sample([1, 1, 1, 8, 5], rng.choice([1, 1, 2]))
        ]
        forged = forge(chains, record=rng.choice(["auth", "pub", "pub", "none"]))
        check_agrees(forged.data)
        file = file_for(forged) if forged.publication_time else pubfile([])
        for document in (None, forged.document):
            for policy, took in agree_all(forged, file, document).items():
                answered[policy] += took
    assert answered[Policy.GENERAL] > 40
    assert answered[Policy.GENERAL] == answered[Policy.PUBLICATIONS_FILE]


# A signature's elements as a tree: the composite elements by their path of types.
_COMPOSITE = {
    (0x800,),
    (0x800, 0x801),
    (0x800, 0x801, 0x07),
    (0x800, 0x801, 0x08),
    (0x800, 0x801, 0x07, 0x04),
    (0x800, 0x801, 0x08, 0x04),
    (0x800, 0x802),
    (0x800, 0x803),
    (0x800, 0x803, 0x10),
    (0x800, 0x805),
    (0x800, 0x805, 0x10),
    (0x800, 0x805, 0x0B),
    (0x800, 0x806),
}


def tree(data: bytes, pos: int = 0, end: int | None = None, path: tuple[int, ...] = ()) -> Any:
    """The elements of ``data[pos:end]``, composites (by :data:`_COMPOSITE`) opened."""
    end = len(data) if end is None else end
    out = []
    while pos < end:
        b0 = data[pos]
        if b0 & 0x80:
            typ, start = ((b0 & 0x1F) << 8) | data[pos + 1], pos + 4
            stop = start + int.from_bytes(data[pos + 2 : pos + 4], "big")
        else:
            typ, start, stop = b0 & 0x1F, pos + 2, pos + 2 + data[pos + 1]
        node: dict[str, Any] = {"type": typ, "flags": b0 & 0x60, "tlv16": bool(b0 & 0x80)}
        if (*path, typ) in _COMPOSITE:
            node["kids"] = tree(data, start, stop, (*path, typ))
        else:
            node["value"] = data[start:stop]
        out.append(node)
        pos = stop
    return out


def encode(node: dict[str, Any]) -> bytes:
    value = b"".join(encode(k) for k in node["kids"]) if "kids" in node else node["value"]
    typ = node["type"]
    if node["tlv16"] or typ > 0x1F or len(value) > 0xFF:
        head = bytes((0x80 | node["flags"] | (typ >> 8), typ & 0xFF))
        return head + len(value).to_bytes(2, "big") + value
    return bytes((node["flags"] | typ, len(value))) + value


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for kid in node.get("kids", ()):
        yield from _walk(kid)


_UNKNOWN = [
    {"type": 0x1F, "flags": 0x40, "tlv16": False, "value": b"x"},
    {"type": 0x1F, "flags": 0x00, "tlv16": False, "value": b""},
    {"type": 0x1D, "flags": 0x60, "tlv16": True, "value": b""},
    {"type": 0x499, "flags": 0x40, "tlv16": True, "value": b"ab"},
    {"type": 0x1E, "flags": 0x60, "tlv16": False, "value": b"\x01"},
]


def reencodings(root: dict[str, Any]) -> Iterator[bytes]:
    """Every one-step structural change: flags, TLV16, unknown children, deletions, swaps."""
    count = sum(1 for _ in _walk(root))
    for i in range(count):

        def at(copied: dict[str, Any], i: int = i) -> dict[str, Any]:
            return list(_walk(copied))[i]

        node = at(root)
        for change in (
            {"flags": node["flags"] ^ 0x40},
            {"flags": node["flags"] ^ 0x20},
            {"tlv16": not node["tlv16"]},
        ):
            changed = copy.deepcopy(root)
            at(changed).update(change)
            yield encode(changed)
        kids = node.get("kids")
        if kids is None:
            continue
        for pos in range(len(kids) + 1):
            for unknown in _UNKNOWN:
                changed = copy.deepcopy(root)
                at(changed)["kids"].insert(pos, dict(unknown))
                yield encode(changed)
        for pos in range(len(kids)):
            changed = copy.deepcopy(root)
            del at(changed)["kids"][pos]
            yield encode(changed)
            changed = copy.deepcopy(root)
            moved = at(changed)["kids"]
            moved.insert(pos, copy.deepcopy(moved[pos]))
            yield encode(changed)
            if pos + 1 < len(kids):
                changed = copy.deepcopy(root)
                moved = at(changed)["kids"]
                moved[pos], moved[pos + 1] = moved[pos + 1], moved[pos]
                yield encode(changed)


def test_reencodings_of_forgeries_keep_lane_and_engine_equal_attack():
    """Every one-step re-encoding of forged signatures (hashes kept) under the four policies."""
    rng = random.Random(1803)
    answered = 0
    for _ in range(scaled(6)):
        chains = [Chain([_random_link(rng) for _ in range(rng.choice([2, 3, 5]))])]
        forged = forge(chains, record=rng.choice(["auth", "pub"]))
        file = file_for(forged)
        (root,) = tree(forged.data)
        assert encode(root) == forged.data
        for data in reencodings(root):
            check_agrees(data)
            answered += sum(agree_all(data, file, forged.document).values())
    assert answered > 100


# -- 3. the caches on the key-based path ------------------------------------------


def test_anchor_of_a_lane_answer_is_immutable_and_equal_after_use_attack():
    """The lane's anchor is the engine's: built once, immutable, equal before and after use."""
    forged = forge([Chain(plain(2))], record="pub")
    file = file_for(forged)
    fast = lane(forged.data, Policy.GENERAL, None, file)
    slow = engine(forged.data, Policy.GENERAL, None, file)
    assert fast is not None and slow is not None
    with pytest.raises(FrozenError):
        fast.anchor.kind = "none"  # type: ignore[misc]
    assert fast.anchor.kind == "publication"
    first = fast.anchor.as_dict()
    assert first == slow.anchor.as_dict() == fast.anchor.as_dict()
    assert copy.deepcopy(fast.anchor) == slow.anchor


_RSA_KEY = pki.generate_rsa_key()
_RSA_CERT = pki.self_signed_certificate(
    _RSA_KEY, {"CN": "forged RSA calendar"}, not_before=T - 10_000, not_after=T + 10_000
)


def _with_auth_record(
    forged: Forged, key: pki.PrivateKey, *, flags: int = 0, sign_flags: int | None = None
) -> bytes:
    """``forged`` (made without a record) with an auth record whose published data has ``flags``.

    The record signs the published data with ``sign_flags`` on its header
    (by default the flags it carries).
    """
    assert forged.publication_time is not None
    published = enc(0x02, uint(forged.publication_time)) + enc(0x04, forged.root)
    carried = enc(0x10, published, flags=flags)
    signed_over = enc(0x10, published, flags=flags if sign_flags is None else sign_flags)
    oid, value = pki.sign(key, signed_over)
    signed = enc(0x01, utf8(oid)) + enc(0x02, value) + enc(0x03, CERT_ID)
    return enc(0x800, forged.data[4:] + enc(0x805, carried + enc(0x0B, signed)))


@pytest.mark.parametrize("flags", [0, 0x40, 0x20, 0x60])
def test_usual_rsa_auth_record_with_flagged_published_data_attack(flags: int):
    """The parser's usual-record pattern takes flags on the published data; the key signs them.

    Signed over the flagged bytes: OK in the engine and the lane alike.
    Signed over the bytes without (or with other) flags: never OK.
    """
    forged = forge([Chain(plain(3))], record="none")
    file = pubfile([], _RSA_CERT)
    good = _with_auth_record(forged, _RSA_KEY, flags=flags)
    assert check_agrees(good)
    assert engine(good, Policy.KEY, None, file).outcome is Outcome.OK  # type: ignore[union-attr]
    assert agree_all(good, file)[Policy.KEY]
    bad = _with_auth_record(forged, _RSA_KEY, flags=flags, sign_flags=flags ^ 0x40)
    assert check_agrees(bad)
    result = engine(bad, Policy.KEY, None, file)
    assert result is not None
    assert (result.outcome, result.code) == (Outcome.FAIL, ErrorCode.KEY_02)
    assert not agree_all(bad, file)[Policy.KEY]


def test_rsa_key_type_cache_keeps_key_types_apart_attack():
    """The RSA check is remembered per key type: an RSA record never verifies with an EC key.

    Each order is run after the other has warmed the cache.
    """
    forged = forge([Chain(plain(3))], record="none")
    rsa_record = _with_auth_record(forged, _RSA_KEY)
    ec_record = _with_auth_record(forged, KEY)
    rsa_file, ec_file = pubfile([], _RSA_CERT), pubfile([], CERT)
    for _ in range(2):
        for data, file, ok in [
            (rsa_record, rsa_file, True),
            (rsa_record, ec_file, False),
            (ec_record, ec_file, True),
            (ec_record, rsa_file, False),
        ]:
            result = engine(data, Policy.KEY, None, file)
            assert result is not None
            assert (result.outcome is Outcome.OK) is ok
            assert agree_all(data, file)[Policy.KEY] is ok
            if not ok:
                assert result.code is ErrorCode.KEY_02


def test_unknown_non_critical_elements_the_lane_reads_attack():
    """Non-critical unknown elements: read inside links and publication records, else declined.

    No rule reads an unknown element, so the engine's OK stands with any of
    them; the lane reads those the parser's own link and record readers
    keep (``_aggregation_link``, ``_publication_record``) and declines the others.
    """
    unknown = enc(0x1F, b"?", flags=0x40)
    value = imprint(1, 71)
    in_link = [_link(True, enc(0x02, value) + unknown, value), *plain(2)]
    read = [
        forge([Chain(in_link)], record="pub"),
        forge([Chain(plain(3))], record="pub", record_extra=unknown),
    ]
    for forged in read:
        file = file_for(forged)
        assert engine_result(forged, Policy.GENERAL, file).outcome is Outcome.OK
        assert agree_all(forged, file, forged.document)[Policy.GENERAL]
    in_chain = Chain(plain(3), order=lambda fields, links: [*fields, unknown, *links])
    declined = [
        (forge([in_chain], record="pub"), Policy.GENERAL),
        (forge([Chain(plain(3))], record="pub", extra=enc(0x41F, b"", flags=0x40)), Policy.GENERAL),
        (forge([Chain(plain(3))], record="auth", record_extra=unknown), Policy.KEY),
    ]
    for forged, policy in declined:
        file = file_for(forged)
        assert engine_result(forged, policy, file).outcome is Outcome.OK
        assert not any(agree_all(forged, file).values())
