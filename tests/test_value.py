"""The immutable values of the verification path (jura_trust._value) behave as values."""

import copy
import pickle
from pathlib import Path

import attrs
import pytest

import jura_trust
from jura_trust._value import FrozenError, Value, _init, evolve
from jura_trust.core.chains import CalendarLink, Direction
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.core.tlv import TLV

SIGNATURE = (
    Path(__file__).parent / "vectors" / "ksi" / "signatures" / "valid" / "ok-sig-2014-04-30.1.ksig"
)


class Pair(Value):
    __slots__ = ("cache", "left", "right")
    _fields = ("left", "right")
    left: int
    right: str
    cache: int

    def __init__(self, left: int, right: str = "r") -> None:
        if left < 0:
            raise ValueError("negative")
        _init(self, "left", left)
        _init(self, "right", right)
        _init(self, "cache", left * 2)


class Named(Value, eq=False):
    __slots__ = ("name",)
    _fields = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        _init(self, "name", name)


@attrs.frozen
class AttrsPoint:
    x: int
    y: int = 0


def test_values_compare_and_hash_by_their_fields() -> None:
    assert Pair(1, "a") == Pair(1, "a")
    assert Pair(1, "a") != Pair(2, "a")
    assert Pair(1, "a") != Pair(1, "b")
    assert hash(Pair(1, "a")) == hash(Pair(1, "a"))
    assert len({Pair(1, "a"), Pair(1, "a"), Pair(2, "a")}) == 2
    # another class with the same fields is another value
    assert Pair(1, "a") != Named("a")
    assert Pair(1, "a").__eq__(object()) is NotImplemented


def test_eq_false_keeps_identity() -> None:
    a, b = Named("x"), Named("x")
    assert a == a
    assert a != b
    assert len({a, b}) == 2


def test_values_are_immutable() -> None:
    pair = Pair(1)
    with pytest.raises(FrozenError):
        pair.left = 2  # type: ignore[misc]
    with pytest.raises(FrozenError):
        del pair.right
    with pytest.raises(AttributeError):  # FrozenError is an AttributeError
        pair.extra = 1  # type: ignore[attr-defined]
    assert pair.left == 1


def test_repr_names_the_fields() -> None:
    assert repr(Pair(3, "z")) == "Pair(left=3, right='z')"


def test_evolve_rebuilds_through_init_and_drops_other_slots() -> None:
    pair = Pair(1, "a")
    changed = evolve(pair, left=5)
    assert changed == Pair(5, "a")
    assert changed.cache == 10  # __init__ ran again
    with pytest.raises(ValueError, match="negative"):  # and its checks
        evolve(pair, left=-1)
    with pytest.raises(TypeError, match="no field"):
        evolve(pair, cache=3)


def test_evolve_on_attrs_classes_is_attrs_evolve() -> None:
    assert evolve(AttrsPoint(1, 2), y=3) == AttrsPoint(1, 3)
    assert jura_trust.evolve is evolve


def test_evolve_takes_a_field_named_value() -> None:
    old = Imprint.hash(b"old")
    assert evolve(old, value=Imprint.hash(b"new").value) == Imprint.hash(b"new")


def test_replace_protocol() -> None:
    assert Pair(1).__replace__(right="q") == Pair(1, "q")


def test_copy_and_pickle_keep_every_slot() -> None:
    sig = Signature.from_bytes(SIGNATURE.read_bytes())
    for clone in (copy.copy(sig), copy.deepcopy(sig), pickle.loads(pickle.dumps(sig))):
        assert clone == sig
        assert clone.raw == sig.raw
        assert clone.encode() == sig.encode()
    pair = pickle.loads(pickle.dumps(Pair(4)))
    assert (pair.left, pair.cache) == (4, 8)


def test_core_values_are_not_attrs_classes() -> None:
    """What keeps the verification path free of attrs (CLI start-up, issue 10)."""
    for cls in (Imprint, TLV, CalendarLink, Signature):
        assert issubclass(cls, Value)
        assert not attrs.has(cls)
    link = CalendarLink(Direction.LEFT, Imprint.hash(b"x"))
    assert link == CalendarLink(Direction.LEFT, Imprint.hash(b"x"))
    with pytest.raises(FrozenError):
        link.sibling = Imprint.hash(b"y")  # type: ignore[misc]
