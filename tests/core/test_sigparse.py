"""The one-pass signature parser against the reference parser (issue 10, item 1).

``Signature.from_bytes`` first tries :func:`jura_trust.core._sigparse.parse_signature`
and runs the reference parser (``Signature.from_tlv``) when it returns
``None``. Its safety rests on two properties, checked here on every vector,
on bit flips of signatures of every shape, and on random mutations:

* whatever the fast path accepts, the reference parser accepts too, and
  the two values are equal field by field, nested values and ``raw`` bytes
  included (:func:`same_value` compares every attrs field, also those
  excluded from ``==``);
* the fast path never raises: any defect is the reference parser's to name,
  so every error code is unchanged.

A last test keeps the fast path in use for the signatures people verify
(a fast path that bailed out on everything would pass the two above).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust import EmbeddedBackend, Imprint, ManualClock
from jura_trust._value import Value
from jura_trust.core import tlv
from jura_trust.core._sigparse import parse_signature
from jura_trust.core.signature import Signature
from jura_trust.errors import JuraError
from tests.budget import LONG, scaled
from tests.core.sigparse_shapes import Shapes
from tests.core.sigparse_shapes import signature as structured_signature
from tests.mutations import mutate
from tests.vectors import KSI

FILES = sorted(p for p in KSI.rglob("*") if p.is_file())
CORPUS = [p.read_bytes() for p in FILES]


def _backend_signatures() -> list[bytes]:
    clock = ManualClock(1_700_000_000)
    with EmbeddedBackend(clock=clock) as backend:
        sigs = backend.sign_many([Imprint.hash(b"a"), Imprint.hash(b"b"), Imprint.hash(b"c")])
        lone = backend.sign(Imprint.hash(b"lone"), level=3)
        clock.advance(4000)
        backend.publish()
        extended = backend.extend(sigs[1])
        return [sigs[0].encode(), lone.encode(), extended.encode()]


BACKEND = _backend_signatures()


def same_value(a: Any, b: Any, where: str = "signature") -> None:
    """``a`` and ``b`` agree in type and in every field, recursively."""
    assert type(a) is type(b), where
    if isinstance(a, Value):
        caches = getattr(a, "_caches", ())
        for name in a._all_slots:  # every slot, raw, unknown and packed links included
            if name not in caches:
                same_value(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif isinstance(a, tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same_value(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def reference(data: bytes) -> Signature | JuraError:
    try:
        element = tlv.decode(data)
        if element.type != 0x800:
            return JuraError("not a signature")
        return Signature.from_tlv(element)
    except JuraError as exc:
        return exc


def check_agrees(data: bytes) -> bool:
    """The fast path agrees with the reference parser; True if it took the input."""
    fast = parse_signature(data)
    if fast is None:
        return False
    ref = reference(data)
    assert isinstance(ref, Signature), f"fast path accepted what the reference refuses: {ref}"
    same_value(fast, ref)
    # the links the fast path leaves packed, built on first use
    for got, want in zip(fast.aggregation_chains, ref.aggregation_chains, strict=True):
        same_value(got.links, want.links, "aggregation links")
    if ref.calendar_chain is not None:
        assert fast.calendar_chain is not None
        same_value(fast.calendar_chain.links, ref.calendar_chain.links, "calendar links")
    assert fast == ref
    assert fast.encode() == data
    return True


def test_fast_parser_agrees_with_reference_on_every_vector():
    taken = sum(check_agrees(data) for data in CORPUS)
    assert taken > 50  # the valid signatures of the corpus, not the invalid ones


@pytest.mark.parametrize("index", range(len(BACKEND)), ids=["unextended", "level", "extended"])
def test_fast_parser_agrees_with_reference_on_bit_flips(index: int):
    data = BACKEND[index]
    positions = range(len(data) * 8)
    if not LONG:
        positions = random.Random(index).sample(positions, 1500)  # type: ignore[assignment]
    for bit in positions:
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        check_agrees(bytes(flipped))


def test_fast_parser_agrees_with_reference_on_bit_flips_of_guardtime_signatures():
    valid = [p.read_bytes() for p in sorted((KSI / "signatures" / "valid").iterdir())]
    rng = random.Random(10)
    for data in valid:
        for bit in rng.sample(range(len(data) * 8), 100 if not LONG else len(data) * 8):
            flipped = bytearray(data)
            flipped[bit // 8] ^= 1 << (bit % 8)
            check_agrees(bytes(flipped))


@settings(max_examples=scaled(300))
@given(st.data())
def test_fast_parser_agrees_with_reference_on_mutations(data: st.DataObject):
    check_agrees(mutate(data, data.draw(st.sampled_from(CORPUS + BACKEND))))


def test_fast_parser_agrees_with_reference_on_structured_signatures():
    """Signatures built element by element (tests/core/sigparse_shapes.py).

    Metadata links and padding, legacy ids, level corrections up to 256 and
    beyond, several chains in any order, left/right mixes, TLV16 headers and
    N/F flags on links and their children, unknown and duplicate elements.
    """
    count = scaled(3000)
    taken = sum(check_agrees(structured_signature(seed)) for seed in range(count))
    assert taken > count // 5  # the fast path read a good share of them


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_fast_parser_reads_well_formed_structured_signatures(noise: float):
    """Well-formed shapes stay on the fast path (a path that bailed out would pass the rest)."""
    count = scaled(300)
    taken = sum(
        check_agrees(Shapes(random.Random(seed), noise).signature()) for seed in range(count)
    )
    assert taken > count // 2


@given(st.binary(max_size=600))
def test_fast_parser_never_raises_on_random_bodies(body: bytes):
    check_agrees(tlv.encode(0x800, body))


def test_fast_parser_reads_the_signatures_people_verify():
    for data in BACKEND:
        assert parse_signature(data) is not None
    for name in (
        "ok-sig-2014-04-30.1.ksig",
        "ok-sig-2014-04-30.1-extended.ksig",
        "ok-sig-2015-09-13_21-34-00.ksig",
    ):
        assert parse_signature((KSI / "signatures" / "valid" / name).read_bytes()) is not None


VALID = sorted((KSI / "signatures" / "valid").glob("*.ksig")) + sorted(
    (KSI / "test_pack" / "valid-signatures").glob("*.ksig")
)


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_fast_parser_reads_every_valid_guardtime_signature(path: Any):
    """No valid vector falls back to the reference parser whole (issue 10, item 1).

    RFC 3161 records, legacy ids, level corrections, metadata with and
    without padding, several chains and unknown non-critical elements
    included: a fallback costs about ten times the fast path.
    """
    data = path.read_bytes()
    assert isinstance(reference(data), Signature)
    assert check_agrees(data), f"{path.name} fell back to the reference parser"


# -- hand-built shapes at the edges of the fast path's patterns -------------

_HASH = b"\x01" + bytes(range(32))
_LEGACY = b"\x03\x00\x02GT" + bytes(24)


def _e(typ: int, value: bytes, **flags: bool) -> bytes:
    return tlv.encode(typ, value, **flags)


def _link(direction: int, *kids: bytes, **flags: bool) -> bytes:
    return _e(direction, b"".join(kids), **flags)


def _signature_of(links: bytes, head: bytes | None = None, tail: bytes = b"") -> bytes:
    if head is None:
        head = _e(2, (1_700_000_000).to_bytes(4, "big")) + _e(3, b"\x05")
        head += _e(5, _HASH) + _e(6, b"\x01")
    return _e(0x800, _e(0x801, head + links + tail))


_PLAIN = _link(7, _e(2, _HASH))
_RIGHT = _link(8, _e(2, b"\x01" + bytes(32)))
_CORRECTED = _link(7, _e(1, b"\x05"), _e(2, _HASH))
_LEGACY_LINK = _link(8, _e(3, _LEGACY))
_CORRECTED_LEGACY = _link(7, _e(1, b"\xff"), _e(3, _LEGACY))
_METADATA = _e(4, b"\x7e\x01\x01" + _e(1, b"alice\x00") + _e(3, b"\x07"))
_USUAL = _PLAIN + _CORRECTED + _LEGACY_LINK + _RIGHT + _CORRECTED_LEGACY + _PLAIN

#: name: (signature, the reference accepts it, the fast path reads it)
EDGE_SHAPES: dict[str, tuple[bytes, bool, bool]] = {
    "plain links": (_signature_of(_PLAIN * 3 + _RIGHT), True, True),
    "a mixed run of the usual links": (_signature_of(_USUAL), True, True),
    "a run of the usual links after metadata": (
        _signature_of(_link(7, _METADATA) + _USUAL),
        True,
        True,
    ),
    "metadata after a one-byte level correction": (
        _signature_of(_link(8, _e(1, b"\x02"), _METADATA) + _PLAIN),
        True,
        True,
    ),
    "metadata after a level correction of one zero byte (not minimal)": (
        _signature_of(_link(8, _e(1, b"\x00"), _METADATA) + _PLAIN),
        False,
        False,
    ),
    "an explicit zero level correction (empty value)": (
        _signature_of(_PLAIN + _link(7, _e(1, b""), _e(2, _HASH)) + _PLAIN),
        True,
        True,
    ),
    "a level correction of one zero byte in a run (not minimal)": (
        _signature_of(_PLAIN + _link(7, _e(1, b"\x00"), _e(2, _HASH)) + _PLAIN),
        False,
        False,
    ),
    "a level correction of two bytes, 256": (
        _signature_of(_PLAIN + _link(7, _e(1, b"\x01\x00"), _e(2, _HASH))),
        False,
        False,
    ),
    "a level correction of two bytes with a leading zero": (
        _signature_of(_PLAIN + _link(7, _e(1, b"\x00\x05"), _e(2, _HASH))),
        False,
        False,
    ),
    "a legacy id with non-zero padding in a run": (
        _signature_of(_PLAIN + _link(8, _e(3, _LEGACY[:-1] + b"\x01")) + _PLAIN),
        False,
        False,
    ),
    "a legacy id naming 26 bytes in a run": (
        _signature_of(_PLAIN + _link(8, _e(3, b"\x03\x00\x1a" + b"a" * 26)) + _PLAIN),
        False,
        False,
    ),
    "a legacy id whose name is not UTF-8, corrected, in a run": (
        _signature_of(
            _PLAIN + _link(8, _e(1, b"\x03"), _e(3, b"\x03\x00\x02\xff\xfe" + bytes(24)))
        ),
        False,
        False,
    ),
    # 0x26 is the length of a corrected imprint link: here it holds a
    # corrected legacy id and a non-critical unknown element instead.
    "the length byte of one usual shape around another": (
        _signature_of(
            _PLAIN + _link(7, _e(1, b"\x05"), _e(3, _LEGACY), _e(0x1F, b"xy", non_critical=True))
        ),
        True,
        True,
    ),
    "links, then an index, then links": (
        _signature_of(_USUAL, tail=_e(3, b"\x01") + _USUAL),
        True,
        True,
    ),
    "usual links with TLV16 headers and flags": (
        _signature_of(
            _link(7, _e(2, _HASH), force_tlv16=True)
            + _link(8, _e(1, b"\x01"), _e(2, _HASH), forward=True)
            + _USUAL
        ),
        True,
        True,
    ),
    "a link with two siblings in a run": (
        _signature_of(_PLAIN + _link(7, _e(2, _HASH), _e(3, _LEGACY)) + _PLAIN),
        False,
        False,
    ),
    "a non-critical unknown element in a link": (
        _signature_of(_PLAIN + _link(7, _e(2, _HASH), _e(0x1F, b"", non_critical=True))),
        True,
        True,
    ),
    "a critical unknown element in a link": (
        _signature_of(_PLAIN + _link(7, _e(2, _HASH), _e(0x1F, b""))),
        False,
        False,
    ),
    "non-critical unknown elements in the chain and the signature": (
        _e(
            0x800,
            _e(0x499, b"", non_critical=True)
            + _signature_of(_USUAL, tail=_e(0x1F, b"z", non_critical=True, forward=True))[4:],
        ),
        True,
        True,
    ),
    "a critical unknown element in the chain": (
        _signature_of(_USUAL, tail=_e(0x1F, b"z", forward=True)),
        False,
        False,
    ),
    "the usual head with indices of one to five bytes": (
        _signature_of(
            _USUAL,
            head=_e(2, (1_700_000_000).to_bytes(4, "big"))
            + b"".join(_e(3, n.to_bytes((n.bit_length() + 7) // 8, "big")) for n in (11, 0x5FFFDF))
            + _e(3, (0x1E6D6FBF38).to_bytes(5, "big"))
            + _e(5, _HASH)
            + _e(6, b"\x01"),
        ),
        True,
        True,
    ),
    "a chain index of zero (empty value)": (
        _signature_of(_USUAL, head=_e(2, b"\x01") + _e(3, b"") + _e(5, _HASH) + _e(6, b"\x01")),
        True,
        True,
    ),
    "a chain index with a leading zero byte": (
        _signature_of(
            _USUAL, head=_e(2, b"\x01") + _e(3, b"\x00\x05") + _e(5, _HASH) + _e(6, b"\x01")
        ),
        False,
        False,
    ),
    "the usual head, then the aggregation time again": (
        _signature_of(_USUAL, tail=_e(2, b"\x01")),
        False,
        False,
    ),
    "the usual head with a reserved algorithm id": (
        _signature_of(_USUAL, head=_e(2, b"\x01") + _e(3, b"\x05") + _e(5, _HASH) + _e(6, b"\x03")),
        False,
        False,
    ),
}


@pytest.mark.parametrize("name", list(EDGE_SHAPES))
def test_fast_parser_on_the_edges_of_its_link_and_head_patterns(name: str):
    """Each shape next to a pattern of the fast path, accepted or refused as the reference does."""
    data, valid, fast = EDGE_SHAPES[name]
    assert isinstance(reference(data), Signature) is valid
    assert check_agrees(data) is fast


def _rfc3161(*, reorder: bool = False, **changes: bytes | None) -> bytes:
    kids = {
        "time": _e(2, (1_700_000_000).to_bytes(4, "big")),
        "index": _e(3, b"\x05") + _e(3, b"\x01"),
        "input": _e(5, _HASH),
        "tst_prefix": _e(0x10, b"prefix"),
        "tst_suffix": _e(0x11, b"suffix"),
        "tst_algorithm": _e(0x12, b"\x01"),
        "sig_prefix": _e(0x13, b"p"),
        "sig_suffix": _e(0x14, b""),
        "sig_algorithm": _e(0x15, b"\x01"),
    }
    kids.update(changes)
    if reorder:  # the time and the index after the other fields
        kids = {**kids, "time": kids.pop("time"), "index": kids.pop("index")}
    record = _e(0x806, b"".join(v for v in kids.values() if v is not None))
    return _e(0x800, record + _signature_of(_USUAL)[4:])


RFC3161_SHAPES: dict[str, tuple[bytes, bool]] = {
    "usual": (_rfc3161(), True),
    "fields in another order": (_rfc3161(reorder=True), True),
    "SHA-1 TSTInfo hash (an empty algorithm id)": (_rfc3161(tst_algorithm=_e(0x12, b"")), True),
    "a reserved algorithm id": (_rfc3161(sig_algorithm=_e(0x15, b"\x03")), False),
    "an algorithm id of two bytes": (_rfc3161(tst_algorithm=_e(0x12, b"\x01\x01")), False),
    "an algorithm id with a leading zero": (_rfc3161(tst_algorithm=_e(0x12, b"\x00\x01")), False),
    "no TSTInfo suffix": (_rfc3161(tst_suffix=None), False),
    "no chain index": (_rfc3161(index=None), False),
    "the signed attributes prefix twice": (
        _rfc3161(sig_prefix=_e(0x13, b"p") + _e(0x13, b"q")),
        False,
    ),
    "a bad input hash": (_rfc3161(input=_e(5, b"\x01" + bytes(31))), False),
    "a non-critical unknown element": (
        _rfc3161(sig_suffix=_e(0x14, b"") + _e(0x1F, b"?", non_critical=True)),
        True,
    ),
    "a critical unknown element": (_rfc3161(sig_suffix=_e(0x14, b"") + _e(0x1F, b"?")), False),
}


@pytest.mark.parametrize("name", list(RFC3161_SHAPES))
def test_fast_parser_reads_rfc3161_records_as_the_reference_does(name: str):
    """RFC 3161 records are on the fast path, refused exactly where the reference refuses."""
    data, valid = RFC3161_SHAPES[name]
    assert isinstance(reference(data), Signature) is valid
    assert check_agrees(data) is valid


def test_from_bytes_accepts_bytearray_and_memoryview():
    data = BACKEND[0]
    want = Signature.from_bytes(data)
    assert Signature.from_bytes(bytearray(data)) == want
    assert Signature.from_bytes(memoryview(data)).encode() == data
