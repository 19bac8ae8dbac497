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


def test_from_bytes_accepts_bytearray_and_memoryview():
    data = BACKEND[0]
    want = Signature.from_bytes(data)
    assert Signature.from_bytes(bytearray(data)) == want
    assert Signature.from_bytes(memoryview(data)).encode() == data
