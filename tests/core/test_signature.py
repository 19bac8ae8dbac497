import glob
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jura_trust._value import evolve
from jura_trust.core import tlv
from jura_trust.core.chains import (
    AggregationChain,
    AggregationLink,
    Direction,
    Metadata,
    calendar_time_from_shape,
)
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import ErrorCode, FormatError
from tests.budget import scaled
from tests.vectors import KSI, ksi_bytes

VALID = sorted(glob.glob(str(KSI / "signatures" / "valid" / "*")))


@pytest.mark.parametrize("path", VALID, ids=os.path.basename)
def test_valid_vectors_round_trip_byte_for_byte(path):
    data = Path(path).read_bytes()
    sig = Signature.from_bytes(data)
    assert sig.encode() == data
    # the chains are sorted leaf-most first
    lengths = [len(c.chain_index) for c in sig.aggregation_chains]
    assert lengths == sorted(lengths, reverse=True)


@pytest.mark.parametrize("path", VALID, ids=os.path.basename)
def test_canonical_reencoding_reparses_to_the_same_signature(path):
    sig = Signature.from_bytes(Path(path).read_bytes())
    rebuilt = evolve(sig)
    again = Signature.from_bytes(rebuilt.encode())
    assert again == sig


def test_known_roots_from_manifest():
    sig = Signature.from_bytes(ksi_bytes("signatures/valid/ok-sig-2014-04-30.1.ksig"))
    level = 0
    out = None
    for chain in sig.aggregation_chains:
        out, level = chain.evaluate(level)
    assert out.hex().startswith("01032e83") and out.hex().endswith("35b1")
    assert sig.calendar_chain is not None
    root = sig.calendar_chain.root()
    assert root.hex().startswith("01c45a4d") and root.hex().endswith("8e8b")
    assert sig.aggregation_time == 1398866256
    assert [c.chain_index for c in sig.aggregation_chains] == [
        (11, 6291423, 3),
        (11, 6291423),
        (11,),
    ]


def test_calendar_algorithm_switch():
    sig = Signature.from_bytes(ksi_bytes("signatures/valid/cal_algo_switch.ksig"))
    assert sig.calendar_chain is not None
    root = sig.calendar_chain.root()
    assert root.value[0] == 0x00  # SHA-1, from the left-link sibling
    assert root.hex().startswith("0029b122")


def test_legacy_id_and_metadata_issuer():
    sig = Signature.from_bytes(ksi_bytes("signatures/valid/ok-sig-2015-09-13_21-34-00.ksig"))
    assert any(link.legacy_id for c in sig.aggregation_chains for link in c.links)
    assert sig.issuer  # metadata client ids


def test_two_anchors_rejected():
    a = Signature.from_bytes(ksi_bytes("signatures/valid/ok-sig-2014-04-30.1-extended.ksig"))
    b = Signature.from_bytes(ksi_bytes("signatures/valid/ok-sig-2014-04-30.1.ksig"))
    assert a.publication_record is not None and b.calendar_auth_record is not None
    body = tlv.decode(a.encode()).value + b.calendar_auth_record.encode()
    with pytest.raises(FormatError) as err:
        Signature.from_bytes(tlv.encode(0x800, body))
    assert err.value.code is ErrorCode.FMT_STRUCTURE


def test_anchor_without_calendar_chain_rejected():
    b = Signature.from_bytes(ksi_bytes("signatures/valid/ok-sig-2014-04-30.1.ksig"))
    body = b"".join(c.encode() for c in b.aggregation_chains) + b.calendar_auth_record.encode()
    with pytest.raises(FormatError):
        Signature.from_bytes(tlv.encode(0x800, body))


def test_missing_input_hash_vector_is_a_format_error():
    data = ksi_bytes("signatures/invalid/invalid-signature-aggr-chain-input-hash-missing-tag.tlv")
    with pytest.raises(FormatError) as err:
        Signature.from_bytes(data)
    assert err.value.code is ErrorCode.FMT_MISSING


def test_data_after_signature_rejected():
    data = ksi_bytes("signatures/valid/ok-sig-2014-04-30.1.ksig")
    with pytest.raises(FormatError) as err:
        Signature.from_bytes(data + b"\x00")
    assert err.value.code is ErrorCode.FMT_TRAILING_DATA


@pytest.mark.parametrize("cut", [1, 2, 3, 10, 100, 1000])
def test_truncation(cut):
    data = ksi_bytes("signatures/valid/ok-sig-2014-04-30.1.ksig")
    with pytest.raises(FormatError):
        Signature.from_bytes(data[:-cut])


def test_metadata_build_is_padded_even_and_not_an_imprint():
    for client in ("a", "ab", "anon", "x" * 40):
        for seq in (None, 1, 300):
            m = Metadata.build(client, sequence_number=seq, request_time=1_700_000_000_000_000)
            assert len(m.value) % 2 == 0
            assert m.value[0] == 0x7E and m.padding[0].value in (b"\x01", b"\x01\x01")
            assert m.child_types[0] == 0x1E
            assert Metadata.from_tlv(tlv.decode(m.encode())) == m


def test_legacy_id_rules():
    good = b"\x03\x00\x04name" + bytes(29 - 7)
    link = AggregationLink(Direction.LEFT, legacy_id=good)
    parsed = AggregationLink.from_tlv(tlv.decode(link.encode()))
    assert parsed.legacy_id == good
    for bad in (
        b"\x03\x01\x04name" + bytes(22),  # bad prefix
        b"\x03\x00\x1aname" + bytes(22),  # name too long
        b"\x03\x00\x04name" + bytes(21) + b"\x01",  # bad padding
        b"\x03\x00\x04name" + bytes(23),  # bad total length
    ):
        with pytest.raises(FormatError) as err:
            AggregationLink.from_tlv(
                tlv.decode(AggregationLink(Direction.LEFT, legacy_id=bad).encode())
            )
        assert err.value.code is ErrorCode.FMT_BAD_LEGACY_ID


@pytest.mark.parametrize(
    ("p", "links", "expected"),
    [
        (5, "LR", 4),
        (5, "RR", 5),
        (5, "LRL", 2),
        (5, "LLL", 0),
        (7, "RRR", 7),
        (4, "R", 4),
        (6, "LR", None),
        (6, "", None),
    ],
)
def test_calendar_shape_examples_from_spec(p, links, expected):
    dirs = [Direction.LEFT if c == "L" else Direction.RIGHT for c in links]
    assert calendar_time_from_shape(p, dirs) == expected


def test_chain_without_links_rejected():
    chain = AggregationChain(
        aggregation_time=1,
        chain_index=(1,),
        input_hash=Imprint.hash(b"x"),
        algorithm=Imprint.hash(b"x").algorithm,
        links=(AggregationLink(Direction.LEFT, sibling=Imprint.hash(b"y")),),
    )
    body = tlv.decode(chain.encode()).value
    no_links = body[: body.index(b"\x07")]
    with pytest.raises(FormatError) as err:
        AggregationChain.from_tlv(tlv.decode(tlv.encode(0x801, no_links)))
    assert err.value.code is ErrorCode.FMT_MISSING


@settings(max_examples=scaled(40), suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bit_flips_never_crash(data):
    path = data.draw(st.sampled_from(VALID))
    raw = bytearray(Path(path).read_bytes())
    pos = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[pos // 8] ^= 1 << (pos % 8)
    try:
        Signature.from_bytes(bytes(raw))
    except FormatError:
        pass
