"""Signatures and publications files that jura_trust writes have the structure KSI tools rely on.

The reference verifier accepts what it parses; these tests check the
invariants it relies on, on our own output, side by side with a signature
Guardtime's service issued in 2024 (`signature-one-aggregation-chain-chc-and-auth.ksig`).
"""

from collections.abc import Iterator

import pytest

from jura_trust.core import tlv
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.signature import Signature
from jura_trust.publications import MAGIC, PublicationsFile
from jura_trust.verify import verify_signature
from tests.vectors import ksi_bytes

# composite element types, by parent type (the signature's TLV schema)
COMPOSITE = {
    None: {0x800},
    0x800: {0x801, 0x802, 0x803, 0x804, 0x805, 0x806},
    0x801: {0x07, 0x08},
    0x07: {0x04},
    0x08: {0x04},
    0x803: {0x10},
    0x805: {0x10, 0x0B},
    0x703: {0x10},
    0x702: set(),
    0x701: set(),
}


def walk(
    data: bytes, parent: int | None = None, path: tuple[int, ...] = ()
) -> Iterator[tuple[tuple[int, ...], tlv.TLV]]:
    for elem in tlv.decode_sequence(data):
        here = (*path, elem.type)
        yield here, elem
        # calendar links (0x07/0x08 inside 0x802) are imprints, not composites
        if elem.type in COMPOSITE.get(parent, set()) and parent != 0x802:
            yield from walk(elem.value, elem.type, here)


def minimal_header(elem: tlv.TLV) -> bool:
    needs16 = elem.type > 0x1F or len(elem.value) > 0xFF
    return elem.tlv16 == needs16


@pytest.fixture
def our_signatures(ksi_backend, ksi_clock):
    sigs = ksi_backend.sign_many(
        [Imprint.hash(bytes([i]), HashAlgorithm.SHA2_256) for i in range(7)]
    )
    sigs.append(ksi_backend.sign(Imprint.hash(b"level", HashAlgorithm.SHA3_256), level=3))
    ksi_clock.advance(86_400)
    ksi_backend.sign(Imprint.hash(b"later"))
    ksi_backend.publish()
    extended = [ksi_backend.extend(s) for s in sigs]
    return sigs, extended


def test_same_top_level_layout_as_guardtime(our_signatures):
    theirs = tlv.decode(
        ksi_bytes("signatures/valid/signature-one-aggregation-chain-chc-and-auth.ksig")
    )
    sigs, _ = our_signatures
    ours = tlv.decode(sigs[0].encode())
    assert (
        [c.type for c in ours.children()]
        == [c.type for c in theirs.children()]
        == [0x801, 0x802, 0x805]
    )


def test_every_header_is_minimal_and_flags_are_where_ksi_puts_them(our_signatures):
    sigs, extended = our_signatures
    for sig in [*sigs, *extended]:
        data = sig.encode()
        seen_auth_data = seen_pub_data = False
        for path, elem in walk(data):
            assert minimal_header(elem), (path, elem.raw[:4].hex())
            if path[-2:] == (0x805, 0x10):
                # the auth record's published data carries the F flag: header 30 29
                assert elem.raw[:2] == b"\x30\x29"
                seen_auth_data = True
            elif path[-2:] == (0x803, 0x10):
                assert elem.raw[:2] == b"\x10\x29"
                seen_pub_data = True
            elif elem.type == 0x1E:
                # metadata padding: first child, TLV8, N and F set, 01 or 0101
                assert elem.raw[0] == 0x7E
                assert elem.value in (b"\x01", b"\x01\x01")
            elif not elem.non_critical and not elem.forward:
                continue
            else:
                assert elem.type == 0x1E, f"unexpected flags on {path}"
        assert seen_auth_data != seen_pub_data  # exactly one anchor


def test_metadata_and_chain_index(our_signatures):
    sigs, _ = our_signatures
    for sig in sigs:
        chain = sig.aggregation_chains[0]
        assert len(sig.aggregation_chains) == 1
        assert chain.chain_index == (chain.shape_index,)
        meta = chain.links[0].metadata
        assert meta is not None
        assert meta.client_id == "jura-trust"
        assert meta.child_types[0] == 0x1E
        assert len(meta.value) % 2 == 0
        assert chain.links[0].is_left  # document on the left, as Guardtime's aggregators
        assert sig.calendar_chain is not None
        assert sig.calendar_chain.time_from_shape() == sig.aggregation_time


def test_level_is_a_first_link_correction(our_signatures):
    sigs, _ = our_signatures
    first = sigs[-1].aggregation_chains[0].links[0]
    assert first.level_correction == 3
    assert verify_signature(sigs[-1], policy="internal", input_level=3).ok
    assert verify_signature(sigs[-1], policy="internal", input_level=4).code.value == "GEN-03"


def test_reparse_is_identity_and_internal_policy_passes(our_signatures):
    sigs, extended = our_signatures
    for sig in [*sigs, *extended]:
        data = sig.encode()
        again = Signature.from_bytes(data)
        assert again.encode() == data
        assert again == sig
        assert verify_signature(again, policy="internal").ok


def test_our_publications_file_layout(ksi_backend, ksi_clock):
    ksi_backend.sign(Imprint.hash(b"x"))
    ksi_backend.publish()
    data = ksi_backend.publications_file_bytes
    assert data.startswith(MAGIC)
    elems = tlv.decode_sequence(data[len(MAGIC) :])
    types = [e.type for e in elems]
    assert types[0] == 0x701
    assert types[-1] == 0x704
    assert types == sorted(types)  # header, certificates, publications, signature
    assert all(minimal_header(e) for e in elems)
    parsed = PublicationsFile.parse(data)
    assert parsed.encode() == data
    assert parsed.signed_bytes == data[: len(data) - len(elems[-1].raw)]
    # the same file, trusted through the same path as Guardtime's files
    parsed.verify(
        trust_anchors=[ksi_backend.publisher_certificate],
        constraints={"1.2.840.113549.1.9.1": ksi_backend.publisher_email},
    )
