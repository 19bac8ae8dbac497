"""Attacks on the express lane (issue 10, item 1): forged shapes, not bit flips.

tests/verify/test_express.py holds the lane equal to the engine on valid
signatures, their bit flips, mutations and re-encodings; almost every one of
those breaks a hash, so the lane is asked mostly about signatures the engine
refuses anyway. Here the signatures are *forged*: every hash is recomputed,
so each chain, calendar chain and record is consistent, and only the shape
is unusual (level corrections, legacy ids, metadata with odd padding,
several chains in any order, fields after links, flags and TLV16 headers,
other hash algorithms, SHA-1 around its deprecation, a calendar time field
against the shape, a file with another hash for the same second, a
certificate valid at one of the two times only). A lane that read one
element more loosely than the parsers, or skipped one rule, would say OK
alone on exactly these.

The last tests are about ``verify_signature`` itself: given bytes it must
behave as ``verify_signature(Signature.from_bytes(data), ...)`` in every
way, errors included.
"""

from __future__ import annotations

import gc
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from jura_trust import pki
from jura_trust.core.chains import _calendar_root
from jura_trust.core.hashing import IMPRINT_SIZES, HashAlgorithm, Imprint, hash_constructor
from jura_trust.core.publication import PublicationData, PublicationRecord
from jura_trust.core.signature import Signature
from jura_trust.errors import ErrorCode, FormatError, JuraError, Outcome
from jura_trust.publications import PublicationsFile, VerifiedPublicationsFile
from jura_trust.trust import TrustConfig, Verifier
from jura_trust.verify import POLICIES, Policy, VerificationContext, verify_signature
from jura_trust.verify import _express as express
from jura_trust.verify.result import VerificationResult
from tests.budget import scaled

T = 1_700_000_000
SHA1_DEPRECATED = HashAlgorithm.SHA1.deprecated_since
assert SHA1_DEPRECATED is not None
KEY = pki.generate_ec_key()
NOT_BEFORE, NOT_AFTER = T - 10_000, T + 10_000
CERT = pki.self_signed_certificate(
    KEY, {"CN": "forged calendar"}, not_before=NOT_BEFORE, not_after=NOT_AFTER
)
CERT_ID = b"\x0a\x0b\x0c\x0d"
LANE_POLICIES = [Policy.INTERNAL, Policy.KEY, Policy.PUBLICATIONS_FILE]


# -- a forger: hash-consistent signatures of any shape ---------------------------


def enc(typ: int, value: bytes, *, flags: int = 0, tlv16: bool = False) -> bytes:
    """One element, with the header the caller asks for (flags N 0x40, F 0x20)."""
    if tlv16 or typ > 0x1F or len(value) > 0xFF:
        head = bytes((0x80 | flags | (typ >> 8), typ & 0xFF)) + len(value).to_bytes(2, "big")
        return head + value
    return bytes((flags | typ, len(value))) + value


def uint(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def utf8(text: str) -> bytes:
    return text.encode() + b"\0"


def imprint(alg: int, seed: int = 0) -> bytes:
    return bytes((alg,)) + random.Random(seed).randbytes(IMPRINT_SIZES[alg] - 1)


def padded_metadata(client_id: str = "client") -> bytes:
    body = enc(0x01, utf8(client_id))
    pad = b"\x01" if (len(body) + 3) % 2 == 0 else b"\x01\x01"
    return enc(0x1E, pad, flags=0x60) + body


@dataclass
class Link:
    """One aggregation link: its direction, its sibling child and an optional correction."""

    left: bool
    kind: int = 0x02  # 0x02 sibling imprint, 0x03 legacy id, 0x04 metadata
    sibling: bytes = field(default_factory=lambda: imprint(1, 7))
    correction: int | None = None
    link_flags: int = 0
    child_flags: int = 0
    tlv16: bool = False

    def encode(self) -> bytes:
        parts = [enc(self.kind, self.sibling, flags=self.child_flags)]
        if self.correction is not None:
            parts.insert(0, enc(0x01, uint(self.correction)))
        typ = 0x07 if self.left else 0x08
        return enc(typ, b"".join(parts), flags=self.link_flags, tlv16=self.tlv16)


@dataclass
class Chain:
    """An aggregation chain; ``fields`` may reorder or repeat its field elements."""

    links: list[Link]
    algorithm: int = 1
    time: int = T
    index: list[int] | None = None  # None: computed (rule 7 and 10 hold)
    input_data: bytes | None = None
    order: Callable[[list[bytes], list[bytes]], list[bytes]] = lambda f, links: f + links


@dataclass
class Forged:
    data: bytes
    document: Imprint
    root: bytes  # the calendar root (or the aggregation root without a calendar)
    publication_time: int | None


def shape_of(links: list[Link]) -> int:
    shape, bit = 0, 1
    for link in links:
        shape |= bit if link.left else 0
        bit <<= 1
    return shape | bit


def calendar_directions(publication_time: int, signing_time: int) -> bytes:
    """The links' directions (leaf first) of a calendar chain from ``signing_time``."""
    r, rest, out = publication_time, signing_time, []
    while r > 0:
        h = 1 << (r.bit_length() - 1)
        if rest >= h:
            out.append(0x08)
            rest -= h
            r -= h
        else:
            out.append(0x07)
            r = h - 1
    return bytes(reversed(out))


def forge(
    chains: list[Chain],
    *,
    document: bytes | None = None,
    calendar: bool = True,
    publication_time: int | None = None,
    time_field: int | bool = True,  # False: none; True: the signing time
    calendar_sibling: Callable[[int], bytes] = lambda i: imprint(1, 100 + i),
    record: str = "auth",  # "auth", "pub", "none"
    record_extra: bytes = b"",  # appended to the publication record or signature data
    chain_order: Callable[[list[bytes]], list[bytes]] = lambda c: c,
    extra: bytes = b"",
    key: pki.PrivateKey = KEY,
) -> Forged:
    """A signature whose every hash holds, chains given leaf-most first."""
    doc = document if document is not None else imprint(1, 1)
    x, level, encoded = doc, 0, []
    shapes = [shape_of(c.links) for c in chains]
    for k, chain in enumerate(chains):
        new = hash_constructor(chain.algorithm)
        prefix = bytes((chain.algorithm,))
        chain_input = x
        for link in chain.links:
            level += (link.correction or 0) + 1
            lb = bytes((level & 0xFF,))
            x = (
                prefix
                + (new(x + link.sibling + lb) if link.left else new(link.sibling + x + lb)).digest()
            )
        index = chain.index if chain.index is not None else list(reversed(shapes[k:]))
        fields = [enc(0x02, uint(chain.time)), *(enc(0x03, uint(i)) for i in index)]
        if chain.input_data is not None:
            fields.append(enc(0x04, chain.input_data))
        fields += [enc(0x05, chain_input), enc(0x06, uint(chain.algorithm))]
        body = chain.order(fields, [link.encode() for link in chain.links])
        encoded.append(enc(0x801, b"".join(body)))
    parts = chain_order(encoded)
    signing_time = chains[0].time
    root, published = x, None
    if calendar:
        published = signing_time + 4000 if publication_time is None else publication_time
        directions = calendar_directions(published, signing_time)
        siblings = tuple(calendar_sibling(i) for i in range(len(directions)))
        root = _calendar_root(x, directions, siblings)
        fields = [enc(0x01, uint(published))]
        if time_field is not False:
            fields.append(enc(0x02, uint(signing_time if time_field is True else time_field)))
        fields.append(enc(0x05, x))
        links = [enc(d, s) for d, s in zip(directions, siblings, strict=True)]
        parts.append(enc(0x802, b"".join(fields + links)))
        data = enc(0x10, enc(0x02, uint(published)) + enc(0x04, root))
        if record == "pub":
            parts.append(enc(0x803, data + record_extra))
        elif record == "auth":
            oid, value = pki.sign(key, data)
            signed = enc(0x01, utf8(oid)) + enc(0x02, value) + enc(0x03, CERT_ID) + record_extra
            parts.append(enc(0x805, data + enc(0x0B, signed)))
    return Forged(enc(0x800, b"".join(parts) + extra), Imprint(doc), root, published)


def pubfile(
    publications: list[tuple[int, bytes]], cert: pki.Certificate = CERT
) -> VerifiedPublicationsFile:
    records = [PublicationRecord(PublicationData(t, Imprint(h))) for t, h in publications]
    built = PublicationsFile.build(1, {CERT_ID: cert}, records)
    return VerifiedPublicationsFile.unchecked(built, "forged for the express lane attacks")


def file_for(forged: Forged) -> VerifiedPublicationsFile:
    assert forged.publication_time is not None
    return pubfile([(forged.publication_time, forged.root)])


def engine(
    data: bytes, policy: Policy, document: Imprint | None, file: VerifiedPublicationsFile | None
) -> VerificationResult | None:
    try:
        sig = Signature.from_bytes(data)
    except JuraError:
        return None
    return POLICIES[policy](VerificationContext(sig, document, 0, publications_file=file))


def lane(
    data: bytes, policy: Policy, document: Imprint | None, file: VerifiedPublicationsFile | None
) -> VerificationResult | None:
    return express.verify_bytes(data, POLICIES[policy], document, file)


def agree(
    forged: Forged | bytes, file: VerifiedPublicationsFile | None = None
) -> dict[Policy, bool]:
    """Lane and engine agree under every lane policy, with and without the document hash.

    Returns, per policy, whether the lane answered (without the document hash).
    """
    data = forged if isinstance(forged, bytes) else forged.data
    documents: list[Imprint | None] = [None]
    if isinstance(forged, Forged):
        documents.append(forged.document)
    answered = {}
    for policy in LANE_POLICIES:
        for document in documents:
            fast = lane(data, policy, document, file)
            slow = engine(data, policy, document, file)
            if document is None:
                answered[policy] = fast is not None
            if fast is None:
                continue
            assert slow is not None, "the lane answered for bytes that do not parse"
            assert fast.outcome is Outcome.OK
            assert slow == fast
            assert slow.steps == fast.steps
            assert slow.anchor.as_dict() == fast.anchor.as_dict()
            assert slow.as_dict() == fast.as_dict()
    return answered


def engine_ok(forged: Forged, policy: Policy, file: VerifiedPublicationsFile | None) -> bool:
    result = engine(forged.data, policy, forged.document, file)
    return result is not None and result.outcome is Outcome.OK


def plain(n: int = 3, left: bool = True) -> list[Link]:
    return [Link(left=(i % 2 == 0) == left, sibling=imprint(1, 10 + i)) for i in range(n)]


# -- the forger is right: the lane answers its plain signatures -------------------


def test_forged_plain_signatures_are_ok_in_lane_and_engine():
    auth = forge([Chain(plain())])
    file = file_for(auth)
    assert agree(auth, file) == {
        Policy.INTERNAL: True,
        Policy.KEY: True,
        Policy.PUBLICATIONS_FILE: False,
    }
    published = forge([Chain(plain())], record="pub")
    assert agree(published, file_for(published)) == {
        Policy.INTERNAL: True,
        Policy.KEY: False,
        Policy.PUBLICATIONS_FILE: True,
    }
    assert engine_ok(published, Policy.PUBLICATIONS_FILE, file_for(published))


# -- shapes the parsers read, hashes intact: the lane answers only as the engine --


def test_level_corrections_and_legacy_ids_attack():
    legacy = b"\x03\x00\x02ab" + bytes(24)
    links = [
        Link(left=True, correction=3),
        Link(left=False, kind=0x03, sibling=legacy),
        Link(left=True, kind=0x03, sibling=legacy, correction=0),
        Link(left=False, correction=248),  # level 6 + 248 + 1 = 255 exactly
    ]
    forged = forge([Chain(links)])
    assert engine_ok(forged, Policy.KEY, file_for(forged))
    assert agree(forged, file_for(forged))[Policy.KEY]
    # One level more overflows: the engine fails (INT-01) and the lane declines.
    over = forge([Chain([*links[:3], Link(left=False, correction=249)])])
    assert not engine_ok(over, Policy.INTERNAL, None)
    assert agree(over, file_for(over)) == dict.fromkeys(LANE_POLICIES, False)


def test_level_overflow_in_runs_of_plain_links_attack():
    """The lane's run reader counts levels across chains as the engine does.

    A chain index holds at most 64 bits, so a chain has at most 63 links:
    four chains of 60 and one of 15 reach level 255; one link more overflows.
    """
    for last, ok in [(15, True), (16, False)]:
        chains = [Chain(plain(60)) for _ in range(4)] + [Chain(plain(last))]
        forged = forge(chains, calendar=False, record="none")
        assert engine_ok(forged, Policy.INTERNAL, None) is ok
        assert agree(forged)[Policy.INTERNAL] is ok


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("padded", padded_metadata(), True),
        ("unpadded, even", enc(0x01, utf8("clients")), True),
        ("unpadded, imprint-like", enc(0x01, utf8("x" * 30)), False),  # 01 1f ...: 33 bytes
        ("padding without N", enc(0x1E, b"\x01\x01", flags=0x20) + enc(0x01, utf8("ab")), False),
        ("padding TLV16", bytes((0xE0, 0x1E, 0, 2, 1, 1)) + enc(0x01, utf8("abc")), False),
        ("padding 02", enc(0x1E, b"\x02", flags=0x60) + enc(0x01, utf8("abcd")), False),
        ("padding twice", enc(0x1E, b"\x01", flags=0x60) * 2 + enc(0x01, utf8("ab")), False),
        ("padding last", enc(0x01, utf8("ab")) + enc(0x1E, b"\x01\x01", flags=0x60), None),
        ("odd length", enc(0x1E, b"\x01", flags=0x60) + enc(0x01, utf8("abc")), False),
        ("no client id", enc(0x1E, b"\x01\x01", flags=0x60) + enc(0x02, utf8("ab")), None),
        ("client id twice", enc(0x01, utf8("a")) * 2, None),
        ("client id TLV16", enc(0x01, utf8("abc"), tlv16=True), True),
        ("unknown child", enc(0x01, utf8("ab")) + enc(0x1D, b"xy", flags=0x40), None),
    ],
)
def test_metadata_shapes_attack(name: str, value: bytes, ok: bool | None):
    """Metadata links of every padding case: ``ok`` None means the parsers refuse or differ."""
    for child_flags in (0, 0x40):
        links = [Link(left=False, kind=0x04, sibling=value, child_flags=child_flags), *plain(2)]
        forged = forge([Chain(links)])
        file = file_for(forged)
        answered = agree(forged, file)
        if ok is None:
            assert not any(answered.values()), name
        else:
            assert engine_ok(forged, Policy.KEY, file) is ok, name
            assert answered[Policy.KEY] is ok, name


def test_metadata_link_with_a_correction_and_flags_attack():
    links = [Link(left=False, kind=0x04, sibling=padded_metadata(), correction=2, link_flags=0x40)]
    forged = forge([Chain([*links, *plain(2)])])
    assert engine_ok(forged, Policy.KEY, file_for(forged))
    assert agree(forged, file_for(forged))[Policy.KEY]


def test_several_chains_in_any_file_order_attack():
    chains = [
        Chain(plain(2)),
        Chain([Link(left=False, kind=0x04, sibling=padded_metadata("upper")), *plain(1)], 5),
        Chain(plain(3, left=False)),
    ]
    orders: list[Callable[[list[bytes]], list[bytes]]] = [
        lambda c: c,
        lambda c: c[::-1],
        lambda c: [c[1], c[2], c[0]],
    ]
    for order in orders:
        forged = forge(chains, chain_order=order)
        file = file_for(forged)
        assert engine_ok(forged, Policy.KEY, file)
        assert agree(forged, file)[Policy.KEY]


def test_chains_with_equal_index_lengths_attack():
    """Two chains with index lists of one length: the parsers keep file order; the lane declines."""
    lower, upper = Chain(plain(2)), Chain(plain(2))
    lower.index = [shape_of(lower.links)]
    upper.index = [shape_of(upper.links)]
    for order in (lambda c: c, lambda c: c[::-1]):
        forged = forge([lower, upper], chain_order=order)
        assert agree(forged, file_for(forged)) == dict.fromkeys(LANE_POLICIES, False)


def test_wrong_chain_index_attack():
    """Rule 7 (continuation) and rule 10 (shape) hold the index: the lane declines both."""
    chains = [Chain(plain(2)), Chain(plain(2))]
    shapes = [shape_of(c.links) for c in chains]
    for lower_index in ([shapes[1] ^ 2, shapes[0]], [shapes[1], shapes[0] ^ 1]):
        chains[0].index = lower_index
        forged = forge(chains)
        assert not engine_ok(forged, Policy.INTERNAL, None)
        assert agree(forged, file_for(forged)) == dict.fromkeys(LANE_POLICIES, False)


def test_chains_of_different_times_attack():
    forged = forge([Chain(plain(2)), Chain(plain(2), time=T + 1)])
    assert not engine_ok(forged, Policy.INTERNAL, None)
    assert agree(forged, file_for(forged)) == dict.fromkeys(LANE_POLICIES, False)


def test_fields_after_links_and_reordered_fields_attack():
    def after(fields: list[bytes], links: list[bytes]) -> list[bytes]:
        return fields[:1] + links + fields[1:]

    def reversed_fields(fields: list[bytes], links: list[bytes]) -> list[bytes]:
        return fields[::-1] + links

    late = forge([Chain(plain(2), order=after)])
    assert engine_ok(late, Policy.KEY, file_for(late))  # the parsers read fields anywhere
    assert agree(late, file_for(late)) == dict.fromkeys(LANE_POLICIES, False)  # the lane does not
    shuffled = forge([Chain(plain(2), order=reversed_fields)])
    assert engine_ok(shuffled, Policy.KEY, file_for(shuffled))
    assert agree(shuffled, file_for(shuffled))[Policy.KEY]


@pytest.mark.parametrize(
    ("what", "order"),
    [
        ("time twice", lambda f, links: [f[0], *f, *links]),
        ("input hash twice", lambda f, links: [*f, f[-2], *links]),
        ("algorithm twice", lambda f, links: [*f, f[-1], *links]),
        ("no time", lambda f, links: [*f[1:], *links]),
        ("no index", lambda f, links: [f[0], *f[-2:], *links]),
        ("no input hash", lambda f, links: [*f[:-2], f[-1], *links]),
        ("no algorithm", lambda f, links: [*f[:-1], *links]),
        ("no links", lambda f, links: f),
        ("unknown non-critical", lambda f, links: [*f, enc(0x1D, b"x", flags=0x40), *links]),
        ("unknown critical", lambda f, links: [*f, enc(0x1D, b"x"), *links]),
        ("unknown after links", lambda f, links: [*f, *links, enc(0x1D, b"x", flags=0x40)]),
    ],
)
def test_chain_fields_the_parsers_refuse_or_keep_attack(
    what: str, order: Callable[[list[bytes], list[bytes]], list[bytes]]
):
    forged = forge([Chain(plain(2), order=order)])
    assert agree(forged, file_for(forged)) == dict.fromkeys(LANE_POLICIES, False), what


def test_empty_and_non_minimal_values_attack():
    """An empty input data is read; a non-minimal integer or an empty imprint is refused."""
    forged = forge([Chain(plain(2), input_data=b"")])
    assert agree(forged, file_for(forged))[Policy.KEY]

    def padded_time(fields: list[bytes], links: list[bytes]) -> list[bytes]:
        return [enc(0x02, b"\x00" + uint(T)), *fields[1:], *links]

    assert agree(forge([Chain(plain(2), order=padded_time)])) == dict.fromkeys(LANE_POLICIES, False)

    def empty_input(fields: list[bytes], links: list[bytes]) -> list[bytes]:
        return [*fields[:-2], enc(0x05, b""), fields[-1], *links]

    assert agree(forge([Chain(plain(2), order=empty_input)])) == dict.fromkeys(LANE_POLICIES, False)


def test_flags_and_tlv16_headers_on_links_attack():
    """Flags and TLV16 headers the parsers ignore: the lane reads them as they do."""
    links = [
        Link(left=True, link_flags=0x40),
        Link(left=False, child_flags=0x20),
        Link(left=True, link_flags=0x60),
        *plain(3),
    ]
    forged = forge([Chain(links)])
    assert engine_ok(forged, Policy.KEY, file_for(forged))
    assert agree(forged, file_for(forged))[Policy.KEY]


def test_trailing_and_unknown_top_level_elements_attack():
    base = forge([Chain(plain(2))])
    for extra in (enc(0x1D, b"xy", flags=0x40), enc(0x1D, b"xy"), enc(0x804, b"")):
        forged = forge([Chain(plain(2))], extra=extra)
        assert agree(forged, file_for(forged)) == dict.fromkeys(LANE_POLICIES, False)
    for trailing in (b"\x00", b"\x00\x00", base.data):
        assert agree(base.data + trailing, file_for(base)) == dict.fromkeys(LANE_POLICIES, False)
        with pytest.raises(FormatError):
            verify_signature(base.data + trailing, policy="key", publications_file=file_for(base))
    # The signature's own header with flags: the parsers read the type only.
    flagged = bytes((base.data[0] | 0x60,)) + base.data[1:]
    assert agree(flagged, file_for(base))[Policy.KEY]


def test_two_anchor_records_attack():
    auth = forge([Chain(plain(2))])
    pub = forge([Chain(plain(2))], record="pub")
    pub_record = pub.data[pub.data.index(b"\x88\x03") :]
    both = enc(0x800, auth.data[4:] + pub_record)
    assert agree(both, file_for(auth)) == dict.fromkeys(LANE_POLICIES, False)
    with pytest.raises(FormatError):
        Signature.from_bytes(both)


# -- algorithms ------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [0, 2, 4, 5, 7, 8, 9, 10])
def test_aggregation_algorithms_attack(algorithm: int):
    """Each chain algorithm, around SHA-1's deprecation: the lane follows rule 6."""
    for time in (SHA1_DEPRECATED - 1, SHA1_DEPRECATED):
        forged = forge([Chain(plain(2), algorithm=algorithm, time=time)])
        file = file_for(forged)
        agree(forged, file)
        expected = not (algorithm == 0 and time >= SHA1_DEPRECATED)
        assert engine_ok(forged, Policy.INTERNAL, None) is expected


def test_sha1_document_hash_at_deprecation_attack():
    """Rule 3 reads the calendar's time: the time field, else the publication time."""
    for time in (SHA1_DEPRECATED - 1, SHA1_DEPRECATED):
        for calendar, time_field in [(False, False), (True, True), (True, False)]:
            forged = forge(
                [Chain(plain(2), time=time)],
                document=imprint(0, 3),
                calendar=calendar,
                time_field=time_field,
                publication_time=time if time_field is False else None,
                record="none",
            )
            answered = agree(forged)
            assert answered[Policy.INTERNAL] is (time < SHA1_DEPRECATED)


def test_document_hashes_of_other_algorithms_attack():
    for alg in (0, 2, 4, 5, 7, 8, 9, 10, 11):
        forged = forge([Chain(plain(2))], document=imprint(alg, 5))
        file = file_for(forged)
        assert engine_ok(forged, Policy.KEY, file) is (alg != 0)  # SHA-1: deprecated at T
        assert agree(forged, file)[Policy.KEY] is (alg != 0)
        other = Imprint(imprint(1 if alg != 1 else 5, 5))
        assert lane(forged.data, Policy.INTERNAL, other, None) is None


def test_calendar_input_of_another_algorithm_attack():
    """A last chain of SHA-512 makes the calendar input SHA-512: its root is the engine's."""
    for record in ("auth", "pub", "none"):
        forged = forge([Chain(plain(2), algorithm=5)], record=record)
        file = file_for(forged)
        answered = agree(forged, file)
        if record == "none":
            assert answered[Policy.INTERNAL]  # no root to compute
        else:
            assert engine_ok(forged, Policy.INTERNAL, None)


def test_calendar_siblings_of_other_algorithms_attack():
    """Left siblings of SHA-1 or SHA-512 change the root's algorithm: left to the engine."""
    for alg in (0, 5, 8):
        forged = forge([Chain(plain(2))], calendar_sibling=lambda i, a=alg: imprint(a, 100 + i))
        file = file_for(forged)
        assert engine_ok(forged, Policy.INTERNAL, None)
        assert agree(forged, file) == dict.fromkeys(LANE_POLICIES, False)


# -- the calendar chain's time ------------------------------------------------------


def test_calendar_time_field_against_its_shape_attack():
    right = forge([Chain(plain(2))], time_field=True)
    assert agree(right, file_for(right))[Policy.KEY]
    for field_value in (T + 1, T - 1, T + 4000):
        forged = forge([Chain(plain(2))], time_field=field_value)
        assert not engine_ok(forged, Policy.INTERNAL, None)
        assert agree(forged, file_for(forged)) == dict.fromkeys(LANE_POLICIES, False)


def test_calendar_chain_of_another_second_attack():
    """A calendar chain whose shape proves another second than the chains' time."""
    forged = forge([Chain(plain(2))])
    later = forge([Chain(plain(2), time=T + 1)])
    # Graft the later signature's calendar part onto the first's aggregation chain.
    cut = forged.data.index(b"\x88\x02")
    grafted = enc(0x800, forged.data[4:cut] + later.data[later.data.index(b"\x88\x02") :])
    assert agree(grafted, file_for(later)) == dict.fromkeys(LANE_POLICIES, False)


def test_calendar_chain_without_a_time_field_attack():
    """Without a time field the publication time stands for the aggregation time (11b)."""
    for publication_time in (T, T + 1):
        forged = forge(
            [Chain(plain(2))], publication_time=publication_time, time_field=False, record="none"
        )
        assert engine_ok(forged, Policy.INTERNAL, None) is (publication_time == T)
        assert agree(forged)[Policy.INTERNAL] is (publication_time == T)


# -- trust inputs: the file's publication, the certificate's validity ----------------


def test_file_publication_of_the_same_second_with_another_hash_attack():
    forged = forge([Chain(plain(2))], record="pub")
    assert forged.publication_time is not None
    other = pubfile([(forged.publication_time, imprint(1, 99))])
    assert not engine_ok(forged, Policy.PUBLICATIONS_FILE, other)
    assert agree(forged, other) == {
        Policy.INTERNAL: True,
        Policy.KEY: False,
        Policy.PUBLICATIONS_FILE: False,
    }
    # Two records of that second with different hashes: no such file can be made
    # (which one a verification found would depend on the order).
    for order in ((imprint(1, 99), forged.root), (forged.root, imprint(1, 99))):
        with pytest.raises(FormatError) as refused:
            pubfile([(forged.publication_time, h) for h in order])
        assert refused.value.code is ErrorCode.FMT_BAD_PUBLICATIONS_FILE


@pytest.mark.parametrize(
    ("signing", "publication", "ok"),
    [
        (NOT_BEFORE - 1, NOT_BEFORE + 10, False),  # not yet valid at signing
        (NOT_BEFORE, NOT_BEFORE + 10, True),
        (NOT_AFTER - 10, NOT_AFTER, True),
        (NOT_AFTER - 10, NOT_AFTER + 1, False),  # expired when it signed
        (NOT_AFTER + 1, NOT_AFTER + 10, False),
    ],
)
def test_certificate_valid_at_one_time_only_attack(signing: int, publication: int, ok: bool):
    forged = forge([Chain(plain(2), time=signing)], publication_time=publication)
    file = file_for(forged)
    assert engine_ok(forged, Policy.KEY, file) is ok
    assert agree(forged, file)[Policy.KEY] is ok


def test_auth_record_of_another_key_attack():
    forged = forge([Chain(plain(2))], key=pki.generate_ec_key())
    file = file_for(forged)
    assert not engine_ok(forged, Policy.KEY, file)
    assert agree(forged, file) == {
        Policy.INTERNAL: True,
        Policy.KEY: False,
        Policy.PUBLICATIONS_FILE: False,
    }


def test_certificate_validity_cache_is_never_stale_attack():
    """Bounds are remembered by object identity: a new certificate at a reused id gets its own."""
    forged = forge([Chain(plain(2))])
    assert agree(forged, file_for(forged))[Policy.KEY]
    for round_ in range(300):  # more certificates than the cache holds, each dropped
        start = T + 10 if round_ % 2 else T - 10
        cert = pki.self_signed_certificate(
            KEY, {"CN": f"c{round_}"}, not_before=start, not_after=start + 5000
        )
        file = pubfile([], cert)
        expected = start <= T
        assert engine_ok(forged, Policy.KEY, file) is expected
        assert agree(forged, file)[Policy.KEY] is expected
        assert pki.certificate_valid_at(cert, T) is expected
        del cert, file
        gc.collect()


def test_certificate_validity_cache_under_threads_attack():
    certs = [
        pki.self_signed_certificate(KEY, {"CN": f"t{i}"}, not_before=T - 1, not_after=T + i)
        for i in range(40)
    ]
    errors: list[str] = []

    def work() -> None:
        for _ in range(scaled(50)):
            for i, cert in enumerate(certs):
                if pki.certificate_valid_at(cert, T + i) is not True:
                    errors.append(f"{i} valid")
                if pki.certificate_valid_at(cert, T + i + 1) is not False:
                    errors.append(f"{i} expired")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_tlv16_links_and_siblings_attack():
    links = [
        Link(left=True, tlv16=True),
        Link(left=False, kind=0x04, sibling=padded_metadata(), tlv16=True),
        *plain(2),
    ]
    forged = forge([Chain(links)])
    assert engine_ok(forged, Policy.KEY, file_for(forged))
    assert agree(forged, file_for(forged))[Policy.KEY]
    child16 = Link(left=True)
    child16.sibling = imprint(1, 3)
    # A TLV16 sibling child: the same value under a four-byte header.
    raw = forge([Chain([child16, *plain(2)])]).data
    head = bytes((0x07, 35, 0x02, 33)) + child16.sibling
    assert head in raw
    moved = raw.replace(head, bytes((0x07, 37, 0x80, 0x02, 0, 33)) + child16.sibling)
    fixed = enc(0x800, _refit(moved[4:]))
    assert agree(fixed, file_for(forge([Chain([child16, *plain(2)])])))[Policy.KEY]


def _refit(body: bytes) -> bytes:
    """``body`` of a signature with its first chain's length fixed after a two-byte growth."""
    assert body[:2] == b"\x88\x01"
    length = int.from_bytes(body[2:4], "big") + 2
    return body[:2] + length.to_bytes(2, "big") + body[4:]


@pytest.mark.parametrize(
    "legacy",
    [
        b"\x03\x00\x02ab" + bytes(23),  # 28 bytes
        b"\x03\x00\x02ab" + bytes(25),  # 30 bytes
        b"\x03\x01\x02ab" + bytes(24),  # bad prefix
        b"\x03\x00\x1aab" + bytes(24),  # name too long
        b"\x03\x00\x02ab" + bytes(23) + b"\x01",  # padding not zero
        b"\x03\x00\x02\xff\xfe" + bytes(24),  # not UTF-8
    ],
)
def test_malformed_legacy_ids_attack(legacy: bytes):
    forged = forge([Chain([Link(left=False, kind=0x03, sibling=legacy), *plain(2)])])
    with pytest.raises(FormatError):
        Signature.from_bytes(forged.data)
    assert agree(forged, file_for(forged)) == dict.fromkeys(LANE_POLICIES, False)


def test_publication_record_with_references_and_uris_attack():
    extra = enc(0x09, utf8("a newspaper")) + enc(0x0A, utf8("https://x")) * 2
    forged = forge([Chain(plain(2))], record="pub", record_extra=extra)
    file = file_for(forged)
    assert engine_ok(forged, Policy.PUBLICATIONS_FILE, file)
    assert agree(forged, file)[Policy.PUBLICATIONS_FILE]
    for bad in (enc(0x09, b"\0"), enc(0x0A, b"x"), enc(0x09, utf8("r"), tlv16=True) + b"\0"):
        refused = forge([Chain(plain(2))], record="pub", record_extra=bad)
        assert agree(refused, file) == dict.fromkeys(LANE_POLICIES, False)


def test_signature_data_with_a_repository_uri_attack():
    forged = forge([Chain(plain(2))], record_extra=enc(0x04, utf8("https://certs")))
    assert agree(forged, file_for(forged))[Policy.KEY]
    for bad in (enc(0x04, b"\0"), enc(0x04, utf8("a")) * 2, enc(0x05, b"x")):
        refused = forge([Chain(plain(2))], record_extra=bad)
        assert agree(refused, file_for(refused)) == dict.fromkeys(LANE_POLICIES, False)


@pytest.mark.parametrize("algorithm", [3, 6, 0x0C, 0x0B, 0x101])
def test_unknown_or_unavailable_chain_algorithm_attack(algorithm: int):
    """An algorithm id the table lacks (the parsers refuse) or this build lacks (INT-01)."""
    forged = forge([Chain(plain(2))])
    head = enc(0x06, uint(1))
    assert forged.data.count(head) == 1
    swapped = forged.data.replace(head, enc(0x06, uint(algorithm)))
    if algorithm > 0xFF:
        swapped = enc(0x800, _refit(swapped[4:]))
    agree(swapped, file_for(forged))
    assert not lane(swapped, Policy.INTERNAL, None, None)


def test_zero_times_attack():
    """Empty integers (zero) as times: read the same way by the lane and the parsers."""
    forged = forge([Chain(plain(2), time=0)], calendar=False, record="none")
    assert engine_ok(forged, Policy.INTERNAL, None)
    assert agree(forged)[Policy.INTERNAL]
    cal = forge([Chain(plain(2), time=0)], publication_time=1, record="none")
    assert agree(cal)[Policy.INTERNAL] is engine_ok(cal, Policy.INTERNAL, None)


def test_lane_from_several_threads_attack():
    """The lane's caches (hash constructors, certificate bounds) shared by threads."""
    forgeries = [forge([Chain(plain(2 + i % 3), algorithm=(1, 5, 8)[i % 3])]) for i in range(9)]
    files = [file_for(f) for f in forgeries]
    want = [
        [engine(f.data, p, None, files[i]) for p in LANE_POLICIES] for i, f in enumerate(forgeries)
    ]
    errors: list[str] = []

    def work(offset: int) -> None:
        for _ in range(scaled(20)):
            for k in range(len(forgeries)):
                i = (k + offset) % len(forgeries)
                for j, policy in enumerate(LANE_POLICIES):
                    got = lane(forgeries[i].data, policy, None, files[i])
                    if got is not None and got != want[i][j]:
                        errors.append(f"{i} {policy}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


# -- generated forgeries ------------------------------------------------------------


def _random_link(rng: random.Random) -> Link:
    kind = rng.choice([0x02, 0x02, 0x02, 0x04, 0x03])
    if kind == 0x02:
        sibling = imprint(rng.choice([1, 1, 1, 0, 5, 8]), rng.randrange(1 << 30))
    elif kind == 0x04:
        sibling = rng.choice(
            [
                padded_metadata(rng.choice(["a", "ab", "abc"])),
                enc(0x01, utf8(rng.choice(["ab", "abc"]))),
                enc(0x1E, b"\x01", flags=0x60) + enc(0x01, utf8("abc")),
            ]
        )
    else:
        sibling = b"\x03\x00\x01z" + bytes(25)
    return Link(
        left=rng.random() < 0.5,
        kind=kind,
        sibling=sibling,
        correction=rng.choice([None, None, None, 0, 1, 7]),
        link_flags=rng.choice([0, 0, 0, 0x40]),
        child_flags=rng.choice([0, 0, 0, 0x20]),
    )


def _random_forgery(rng: random.Random) -> tuple[Forged, VerifiedPublicationsFile]:
    time = rng.choice([T, T - 2000, T + 2000, SHA1_DEPRECATED, SHA1_DEPRECATED - 1])
    chains = [
        Chain(
            [_random_link(rng) for _ in range(rng.choice([1, 2, 3, 6]))],
            algorithm=rng.choice([1, 1, 1, 0, 5, 8]),
            time=time if rng.random() < 0.97 else time + 1,
            input_data=rng.choice([None, None, b"", b"data"]),
        )
        for _ in range(rng.choice([1, 1, 2, 3]))
    ]
    forged = forge(
        chains,
        document=imprint(rng.choice([1, 1, 0, 5]), rng.randrange(1 << 30)),
        calendar=rng.random() < 0.9,
        publication_time=time + rng.choice([1, 2, 4000, 1 << 20]),
        time_field=rng.choice([False, True, True, time + 1]),
        calendar_sibling=rng.choice(
            [lambda i: imprint(1, 100 + i), lambda i: imprint(1 if i % 3 else 5, 100 + i)]
        ),
        record=rng.choice(["auth", "pub", "none"]),
        chain_order=rng.choice([lambda c: c, lambda c: c[::-1]]),
    )
    if forged.publication_time is None:
        return forged, pubfile([])
    published = forged.root if rng.random() < 0.85 else imprint(1, 5)
    return forged, pubfile([(forged.publication_time, published)])


def test_lane_agrees_with_engine_on_generated_forgeries():
    rng = random.Random(1018)
    answered = engine_oks = 0
    for _ in range(scaled(400)):
        forged, file = _random_forgery(rng)
        answered += sum(agree(forged, file).values())
        engine_oks += sum(engine_ok(forged, p, file) for p in LANE_POLICIES)
    assert answered > 50
    assert engine_oks >= answered


# -- verify_signature given bytes is verify_signature of the parsed signature -------


class _OtherImprint(Imprint):
    """An imprint of another class: the engine's imprints never equal it."""


def test_document_hash_of_another_class_express_attack():
    """The engine compares imprints by class; the lane compared bytes and said OK alone."""
    forged = forge([Chain(plain(2))])
    sig = Signature.from_bytes(forged.data)
    other = _OtherImprint(forged.document.value)
    assert lane(forged.data, Policy.INTERNAL, other, None) is None
    parsed = verify_signature(sig, policy="internal", document_hash=other)
    assert parsed.outcome is Outcome.FAIL
    assert verify_signature(forged.data, policy="internal", document_hash=other) == parsed
    duck = SimpleNamespace(value=forged.document.value)
    with pytest.raises(AttributeError):
        verify_signature(sig, policy="internal", document_hash=duck)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        verify_signature(forged.data, policy="internal", document_hash=duck)  # type: ignore[arg-type]


_BAD_ARGUMENTS: list[dict[str, object]] = [
    {"input_level": -1},
    {"publications_file": object()},
    {"publications_file": object(), "input_level": 1},
    {"publications_file": object(), "policy": "nope"},
    {"policy": "nope"},
    {"policy": ["internal"]},
    {"policy": "nope", "input_level": -1},
]


@pytest.mark.parametrize("arguments", _BAD_ARGUMENTS)
def test_bad_arguments_with_bytes_raise_as_with_the_parsed_signature_express_attack(
    arguments: dict[str, object],
):
    """The same exception for bytes as for ``Signature.from_bytes(bytes)``, in the same order.

    Bytes that do not parse raise the parser's error first (the parsed call
    never starts); bytes that parse raise what the parsed call raises.
    """
    good = forge([Chain(plain(2))]).data
    for data in (good, good[:-3], good + b"\x00"):
        try:
            expected: BaseException = AssertionError("no error")
            verify_signature(Signature.from_bytes(data), **arguments)  # type: ignore[arg-type]
        except Exception as exc:
            expected = exc
        with pytest.raises(type(expected)) as raised:
            verify_signature(data, **arguments)  # type: ignore[arg-type]
        assert str(raised.value) == str(expected)
        if isinstance(expected, JuraError):
            assert isinstance(raised.value, JuraError)
            assert raised.value.code == expected.code


@pytest.mark.parametrize(
    "arguments",
    [
        {"document": b"doc", "document_hash": Imprint.hash(b"doc")},
        {"input_level": -1},
        {"policy": "nope"},
        {"document": b"doc", "policy": "nope"},
    ],
)
def test_verifier_bad_arguments_with_bytes_raise_as_with_the_parsed_signature_express_attack(
    arguments: dict[str, object],
):
    forged = forge([Chain(plain(2))])
    verifier = Verifier(TrustConfig(publications_file=file_for(forged)))
    for data in (forged.data, forged.data[:-3]):
        try:
            expected: BaseException = AssertionError("no error")
            verifier.verify(Signature.from_bytes(data), **arguments)  # type: ignore[arg-type]
        except Exception as exc:
            expected = exc
        with pytest.raises(type(expected)) as raised:
            verifier.verify(data, **arguments)  # type: ignore[arg-type]
        assert str(raised.value) == str(expected)


def test_unhashable_policy_is_a_value_error_express_attack():
    good = forge([Chain(plain(2))]).data
    for signature in (good, Signature.from_bytes(good)):
        with pytest.raises(ValueError, match="is not a valid Policy"):
            verify_signature(signature, policy=["internal"])  # type: ignore[arg-type]


def test_bytes_and_parsed_agree_under_every_policy_and_input_attack():
    """Every policy, input level, user publication and file: results equal, anchors too."""
    forged = forge([Chain([Link(left=True, correction=2), *plain(2)])], record="pub")
    file = file_for(forged)
    assert forged.publication_time is not None
    user = PublicationData(forged.publication_time, Imprint(forged.root))
    sig = Signature.from_bytes(forged.data)
    assert verify_signature(sig, policy="internal", input_level=2).outcome is Outcome.OK
    for policy in Policy:
        for kwargs in (
            {},
            {"publications_file": file},
            {"document_hash": forged.document, "publications_file": file},
            {"input_level": 1, "publications_file": file},
            {"input_level": 2, "publications_file": file},
            {"input_level": 3, "publications_file": file},
            {"user_publication": user},
            {"user_publication": user, "publications_file": file},
        ):
            got = verify_signature(forged.data, policy=policy, **kwargs)  # type: ignore[arg-type]
            want = verify_signature(sig, policy=policy, **kwargs)  # type: ignore[arg-type]
            assert got == want
            assert got.anchor.as_dict() == want.anchor.as_dict()
