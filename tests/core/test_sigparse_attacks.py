"""Attacks on the one-pass parser's newest readers (issue 10, item 1).

The one-pass parser (``core/_sigparse.py``) gained regular-expression
readers for the usual chain head (``_CHAIN_HEAD``), for runs of the usual
links (``_USUAL_LINK`` behind ``_links_to_end``, trusted through a
length-sum check), for the usual calendar authentication record
(``_AUTH_RECORD``), an RFC 3161 record reader and unknown non-critical
elements at every level. Each must accept only what the reference parser
accepts and build equal values (``check_agrees`` of tests/core/
test_sigparse.py is the oracle). Here every byte around those patterns is
replaced, deleted and doubled, and every element of signatures of each
shape is re-encoded (flags, TLV16 headers, unknown children critical and
not, deletions, duplicates, swaps).
"""

from __future__ import annotations

import random

import pytest

from jura_trust.core import _sigparse as sp
from jura_trust.core.signature import Signature
from tests.budget import LONG
from tests.core.test_sigparse import (
    _CORRECTED,
    _HASH,
    _LEGACY_LINK,
    _METADATA,
    _USUAL,
    _e,
    _link,
    _rfc3161,
    _signature_of,
    check_agrees,
    reference,
)
from tests.verify.test_express_attacks2 import encode, reencodings, tree

_RSA = b"1.2.840.113549.1.1.11"
_TIME = (1_700_000_000).to_bytes(4, "big")


def _auth(
    *,
    flags: int = 0,
    tlv16: bool = False,
    time: bytes = _TIME,
    size: int = 256,
    oid: bytes = _RSA,
    certificate_id: bytes = b"\x01\x02\x03\x04",
    extra: bytes = b"",
) -> bytes:
    """A calendar authentication record, the usual one unless told otherwise."""
    published = _e(0x02, time) + _e(0x04, b"\x01" + bytes(32))
    if tlv16:
        head = bytes((0x80 | flags, 0x10)) + len(published).to_bytes(2, "big")
    else:
        head = bytes((flags | 0x10, len(published)))
    signed = _e(0x01, oid + b"\0") + _e(0x02, random.Random(size).randbytes(size))
    signed += _e(0x03, certificate_id) + extra
    return _e(0x805, head + published + _e(0x0B, signed))


_CALENDAR = _e(
    0x802,
    _e(0x01, (1_700_004_000).to_bytes(4, "big"))
    + _e(0x05, _HASH)
    + _e(0x07, b"\x01" + bytes(32))
    + _e(0x08, b"\x01" + bytes(32)),
)
_PUBLICATION = _e(
    0x803,
    _e(0x10, _e(0x02, _TIME) + _e(0x04, b"\x01" + bytes(32))) + _e(0x09, b"ref\0"),
)
_LINKS = _link(7, _METADATA) + _USUAL + _link(8, _e(1, b"\x02"), _METADATA) + _CORRECTED
_UPPER = _e(
    0x801,
    _e(2, _TIME) + _e(3, b"\x05") + _e(3, b"\x03") + _e(5, _HASH) + _e(6, b"\x01") + _USUAL,
)


def _signature(*parts: bytes, links: bytes = _LINKS) -> bytes:
    return _e(0x800, _signature_of(links)[4:] + b"".join(parts))


#: One signature of each shape the new readers read.
SHAPES = {
    "usual auth record, two chains": _signature(_UPPER, _CALENDAR, _auth()),
    "publication record": _signature(_CALENDAR, _PUBLICATION, links=_USUAL),
    "rfc 3161 record": _rfc3161(),
}


@pytest.mark.parametrize(
    ("name", "record"),
    [
        ("usual", _auth()),
        ("published data with N", _auth(flags=0x40)),
        ("published data with F", _auth(flags=0x20)),
        ("published data with N and F", _auth(flags=0x60)),
        ("published data TLV16", _auth(tlv16=True)),
        ("a three-byte time", _auth(time=_TIME[1:])),
        ("a five-byte time", _auth(time=b"\x01" + _TIME)),
        ("a time with a leading zero", _auth(time=b"\x00" + _TIME[1:])),
        ("a 2040-bit signature", _auth(size=255)),
        ("a 2056-bit signature", _auth(size=257)),
        ("a 4096-bit signature", _auth(size=512)),
        ("a certificate id of three bytes", _auth(certificate_id=b"\x01\x02\x03")),
        ("a certificate id of five bytes", _auth(certificate_id=b"\x01\x02\x03\x04\x05")),
        ("a repository URI", _auth(extra=_e(0x04, b"uri\0"))),
        ("an empty repository URI", _auth(extra=_e(0x04, b"\0"))),
        ("SHA-384 with RSA", _auth(oid=b"1.2.840.113549.1.1.12")),
        ("an OID without its NUL", _auth(oid=_RSA[:-1])),
        ("a non-critical unknown element", _auth(extra=_e(0x1F, b"", non_critical=True))),
    ],
)
def test_usual_auth_record_near_misses_attack(name: str, record: bytes):
    """The usual record's pattern and every near miss: read as the reference reads them."""
    data = _signature(_CALENDAR, record)
    accepted = isinstance(reference(data), Signature)
    taken = check_agrees(data)
    if accepted and "unknown" not in name:
        assert taken, name  # the fast path reads every record the reference reads, but these
    if name == "usual" or name.startswith("published data with"):
        start = data.index(record) + 4
        assert sp._AUTH_RECORD.fullmatch(data, start, start + len(record) - 4) is not None


@pytest.mark.parametrize("name", list(SHAPES))
def test_single_byte_changes_around_the_new_patterns_attack(name: str):
    """Every byte replaced by each value a pattern tells apart, deleted and doubled."""
    data = SHAPES[name]
    values = [0x00, 0x01, 0x02, 0x03, 0x04, 0x07, 0x08, 0x1D, 0x1E, 0x1F, 0x20, 0x21, 0x22]
    values += [0x23, 0x26, 0x40, 0x5E, 0x80, 0xFF]
    positions = range(len(data))
    if not LONG:
        positions = sorted(random.Random(name).sample(positions, min(len(data), 250)))  # type: ignore[assignment]
    taken = 0
    for i in positions:
        for value in {*values, (data[i] + 1) & 0xFF, (data[i] - 1) & 0xFF} - {data[i]}:
            changed = bytearray(data)
            changed[i] = value
            taken += check_agrees(bytes(changed))
        taken += check_agrees(data[:i] + data[i + 1 :])
        taken += check_agrees(data[:i] + data[i : i + 1] + data[i:])
    assert taken > 100


@pytest.mark.parametrize("name", list(SHAPES))
def test_reencodings_at_every_level_attack(name: str):
    """Flags, TLV16 headers, unknown children, deletions, duplicates and swaps of every element."""
    (root,) = tree(SHAPES[name])
    assert encode(root) == SHAPES[name]
    taken = total = 0
    for data in reencodings(root):
        total += 1
        taken += check_agrees(data)
    assert taken > total // 3  # most re-encodings stay on the fast path


def test_links_inside_other_elements_are_not_read_as_the_chains_attack():
    """Whole usual links inside unknown children of links, around a TLV16 link.

    The run reader's matches must be the chain's own elements: its
    length-sum check refuses any run a match inside another element would
    complete.
    """
    run = _USUAL[:150]
    cases = [
        _link(7, _e(2, _HASH), _e(0x1F, _USUAL, non_critical=True)) + _USUAL,
        _link(8, _e(1, b"\x02"), _e(2, _HASH), _e(0x1E, _USUAL[:111], non_critical=True)) + _USUAL,
        _link(7, _e(1, b"\x03"), _e(2, _HASH), force_tlv16=True) + _USUAL,
        _USUAL + _link(7, _e(2, _HASH), _e(0x1F, run, non_critical=True)),
        _USUAL + _link(8, _e(2, _HASH), _e(0x1F, _LEGACY_LINK, non_critical=True)) + _USUAL,
    ]
    for links in cases:
        data = _signature_of(links)
        assert check_agrees(data)
        fast = sp.parse_signature(data)
        assert fast is not None
        want = reference(data)
        assert isinstance(want, Signature)
        assert len(fast.aggregation_chains[0].links) == len(want.aggregation_chains[0].links)
