"""Immutable value classes without attrs: the base of the verification path's values.

The values a verification builds (imprints, TLV elements, chains, links,
signatures, rules, results) are :class:`Value` subclasses: slotted,
immutable once ``__init__`` returns, compared and hashed by their fields,
with a ``repr`` that names them. They are not attrs classes because
importing attrs and building its classes costs more than twice a bare
interpreter's start-up, and ``jura-trust verify`` must start at once
(docs/architecture.md, "Values on the verification path"). attrs stays the
tool everywhere else.

A subclass declares its slots and the fields that make it up::

    class Point(Value):
        __slots__ = ("x", "y")
        _fields = ("x", "y")

        def __init__(self, x: int, y: int) -> None:
            _init(self, "x", x)
            _init(self, "y", y)

``_fields`` are the constructor's arguments, in order: :func:`evolve`
passes them back, ``==`` and ``hash`` compare them (or the subset a class
names in ``_compare``; ``eq=False`` in the class statement keeps identity
instead), ``repr`` shows them. A slot that
is not a field (a cache, a parser's ``raw`` bytes) takes no part in any of
that and is lost by :func:`evolve`, which builds a new value from the
fields through ``__init__`` and its checks.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, ClassVar, TypeVar

__all__ = ["FrozenError", "Value", "evolve"]

T = TypeVar("T")

#: Sets a slot of a value under construction (``__init__`` and parsers only).
_init = object.__setattr__


class FrozenError(AttributeError):
    """A value's attribute was assigned or deleted after construction."""


def _rebuild(cls: type[Value], state: tuple[tuple[str, Any], ...]) -> Value:
    """A value from its slots' contents (``copy`` and ``pickle``)."""
    value = object.__new__(cls)
    for name, item in state:
        _init(value, name, item)
    return value


class Value:
    """Base of immutable slotted values compared by their fields (see the module docstring)."""

    __slots__ = ()
    #: The constructor's arguments, in order (what :func:`evolve` passes on).
    _fields: ClassVar[tuple[str, ...]] = ()
    #: The fields compared, hashed and shown (by default ``_fields``).
    _compare: ClassVar[tuple[str, ...]]
    #: Every slot of the class and its bases (for copy and pickle).
    _all_slots: ClassVar[tuple[str, ...]] = ()
    #: The fields of a value as one tuple (set per class).
    _key: ClassVar[Any]

    def __init_subclass__(cls, *, eq: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        slots: list[str] = []
        for klass in reversed(cls.__mro__):
            own = klass.__dict__.get("__slots__", ())
            slots.extend((own,) if isinstance(own, str) else own)
        cls._all_slots = tuple(s for s in slots if s not in ("__weakref__", "__dict__"))
        fields = cls.__dict__.get("_compare", cls._fields)
        cls._compare = fields
        if len(fields) == 1:
            (only,) = fields
            one = attrgetter(only)
            cls._key = staticmethod(lambda v: (one(v),))
        elif fields:
            cls._key = staticmethod(attrgetter(*fields))
        else:
            cls._key = staticmethod(lambda _v: ())
        if not eq:
            cls.__eq__ = object.__eq__  # type: ignore[method-assign]
            cls.__ne__ = object.__ne__  # type: ignore[method-assign]
            cls.__hash__ = object.__hash__  # type: ignore[method-assign]

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenError(f"{type(self).__name__} is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        key = self._key
        return bool(key(self) == key(other))

    def __ne__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        key = self._key
        return bool(key(self) != key(other))

    def __hash__(self) -> int:
        return hash((self.__class__.__qualname__, self._key(self)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._compare)
        return f"{type(self).__qualname__}({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        state = tuple(
            (name, getattr(self, name)) for name in self._all_slots if hasattr(self, name)
        )
        return (_rebuild, (type(self), state))

    def __replace__(self: T, **changes: Any) -> T:
        """``copy.replace`` (Python 3.13): the same as :func:`evolve`."""
        return evolve(self, **changes)


def evolve(value: T, /, **changes: Any) -> T:
    """A copy of ``value`` with ``changes`` to its fields, built through its constructor.

    Works on :class:`Value` instances and on attrs classes alike (for the
    latter it is :func:`attrs.evolve`). The new value goes through
    ``__init__`` and its checks, and keeps nothing a parser attached (its
    encoding is made again from the fields).

    >>> from jura_trust.core.hashing import Imprint
    >>> old = Imprint.hash(b"old")
    >>> evolve(old, value=Imprint.hash(b"new").value) == Imprint.hash(b"new")
    True
    """
    if isinstance(value, Value):
        args = {name: getattr(value, name) for name in value._fields}
        unknown = set(changes) - set(args)
        if unknown:
            raise TypeError(f"{type(value).__name__} has no field(s) {sorted(unknown)}")
        args.update(changes)
        return type(value)(**args)
    import attrs  # noqa: PLC0415 - only for attrs values, never on the verification path

    return attrs.evolve(value, **changes)  # type: ignore[misc]
