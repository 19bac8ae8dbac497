"""The calendar-store fault matrix (issue 9, item 12), run against every store kind.

As trusted logs test theirs ("fail and not persist", "fail but persist"): an
error is injected before and after each write of a round (the leaf, the
subtree roots, the commit, the head signature, the publication), then the
store is reopened and the suite asserts:

* no acknowledged signature is lost: each still verifies key-based and
  extends to the new head with its own round root at its second;
* no second ever has two roots: acknowledged seconds are distinct, and the
  root stored at each is the one its signature carries;
* the failing call raised a clear typed error (SVC-07) and returned no
  signature; afterwards the backend continues (a transient fault) or keeps
  refusing with the same error (a lasting fault), never forking silently.

Store kinds and fault hooks live in ``store_contract.py``; a new store
implementation joins by adding its kind to ``STORE_KINDS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from jura_trust import pki
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.calendar import FILLER_LEAF, calendar_root, right_links_consistent
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.errors import BackendError, ErrorCode, Outcome
from jura_trust.verify import verify_signature
from tests.backends.store_contract import (
    AFTER,
    PHASES,
    ROUND_POINTS,
    STORE_KINDS,
    Faults,
    FaultySigner,
    StoreKind,
    faulty_writer,
)
from tests.core.calendar_oracle import naive_leaves, naive_root

T0 = 1_700_000_000
EMAIL = "publications@jura-trust.invalid"


@pytest.fixture(params=sorted(STORE_KINDS))
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> StoreKind:
    return STORE_KINDS[request.param](tmp_path)


@pytest.fixture(scope="module")
def signers() -> tuple[pki.CalendarSigner, pki.CalendarSigner]:
    window = {"not_before": T0 - 86_400, "not_after": T0 + 10 * 365 * 86_400}
    calendar = pki.CalendarSigner.generate(common_name="calendar", **window)
    key = pki.generate_rsa_key()
    cert = pki.self_signed_certificate(
        key, {"O": "jura_trust", "CN": "publisher", "E": EMAIL}, ca=False, **window
    )
    return calendar, pki.CalendarSigner(key, cert)


def _store_cases() -> list[object]:
    """(kind, point, phase) for every store kind and every write point it has."""
    return [
        pytest.param(name, point, phase, id=f"{name}-{phase}-{point}")
        for name, factory in sorted(STORE_KINDS.items())
        for point in getattr(factory, "points", ())
        for phase in PHASES
    ]


def imp(i: int) -> Imprint:
    return Imprint.hash(b"round %d" % i)


# -- the store alone -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "point", "phase"), _store_cases())
def test_store_fault_loses_no_acknowledged_second_and_never_forks(
    name: str, point: str, phase: str, tmp_path: Path
) -> None:
    kind = STORE_KINDS[name](tmp_path)
    faults = Faults()
    store = kind.open(faults)
    acked: dict[int, bytes] = {}
    for second in (1, 2, 3, 5):
        store.append(second, imp(second))
        acked[second] = imp(second).value
    faults.arm(point, phase)
    with pytest.raises(BackendError) as info:
        store.append(8, imp(8))
    assert info.value.code is ErrorCode.SVC_STORE
    assert faults.fired == [(point, phase)]
    persisted = phase == AFTER and point in kind.durable_after
    assert store.head() == (8 if persisted else 5)
    # A second whose append failed is never given another root...
    if persisted:
        with pytest.raises(BackendError) as info:
            store.append(8, imp(80))
        assert info.value.code is ErrorCode.SVC_STORE
        acked[8] = imp(8).value  # stored, although its caller saw an error
    # ...and the store continues after a transient fault.
    store.append(9, imp(9))
    acked[9] = imp(9).value
    store.close()

    reopened = kind.open(Faults())
    assert reopened.head() == 9
    assert reopened.first() == 1
    for second in range(1, 10):
        assert reopened.leaf(second) == acked.get(second, FILLER_LEAF)
    leaves = naive_leaves(acked, 9)
    assert calendar_root(reopened, 9).value == naive_root(leaves)
    reopened.close()


@pytest.mark.parametrize(("name", "point", "phase"), _store_cases())
def test_lasting_store_fault_refuses_every_append_with_svc_07(
    name: str, point: str, phase: str, tmp_path: Path
) -> None:
    kind = STORE_KINDS[name](tmp_path)
    faults = Faults()
    store = kind.open(faults)
    store.append(1, imp(1))
    faults.arm(point, phase, times=None)
    stored_anyway = []
    for second in (2, 3, 4):
        with pytest.raises(BackendError) as info:
            store.append(second, imp(second))
        assert info.value.code is ErrorCode.SVC_STORE
        if store.head() == second:
            stored_anyway.append(second)
    faults.disarm()
    store.append(5, imp(5))
    store.close()
    reopened = kind.open(Faults())
    assert reopened.head() == 5
    for second in (2, 3, 4):
        expected = imp(second).value if second in stored_anyway else FILLER_LEAF
        assert reopened.leaf(second) == expected
    assert bool(stored_anyway) == (phase == AFTER and point in kind.durable_after)
    reopened.close()


# -- a whole round: the embedded backend over each store -----------------------------------


@attrs.define
class Round:
    """The backend under test and what it acknowledged."""

    kind: StoreKind
    home: Path
    signers: tuple[pki.CalendarSigner, pki.CalendarSigner]
    clock: ManualClock = attrs.Factory(lambda: ManualClock(T0))
    faults: Faults = attrs.Factory(Faults)
    acked: list[tuple[Imprint, Signature]] = attrs.Factory(list)
    published: list[int] = attrs.Factory(list)
    backend: EmbeddedBackend | None = None

    def open(self) -> EmbeddedBackend:
        calendar, publisher = self.signers
        self.backend = EmbeddedBackend(
            self.home,
            clock=self.clock,
            calendar_signer=FaultySigner.wrap(calendar, self.faults),
            publisher=publisher,
            publisher_email=EMAIL,
            store=self.kind.open(self.faults),
            write_file=faulty_writer(self.faults),
        )
        return self.backend

    def sign(self, n: int) -> None:
        assert self.backend is not None
        imprints = [Imprint.hash(b"doc %d/%d" % (len(self.acked), i)) for i in range(n)]
        signatures = self.backend.sign_many(imprints)
        self.acked.extend(zip(imprints, signatures, strict=True))
        self.clock.advance(1)

    def publish(self) -> None:
        assert self.backend is not None
        self.published.append(self.backend.publish().publication_time)

    def reopen(self) -> EmbeddedBackend:
        assert self.backend is not None
        self.backend.close()
        self.faults.disarm()
        return self.open()


@pytest.fixture
def round_(kind: StoreKind, tmp_path: Path, signers) -> Iterator[Round]:
    r = Round(kind, tmp_path / "home", signers)
    r.open()
    yield r
    if r.backend is not None:
        r.backend.close()


def _check_after_reopen(r: Round) -> None:
    backend = r.reopen()
    head = backend.calendar_head
    assert head is not None
    pubfile = backend.trusted_publications_file()
    seconds = [sig.aggregation_time for _, sig in r.acked]
    # one round per second: acknowledged rounds never share a second
    by_second: dict[int, Imprint] = {}
    for imprint, sig in r.acked:
        root = sig.aggregation_root()
        assert by_second.setdefault(sig.aggregation_time, root) == root
        result = verify_signature(
            sig, policy="key", document_hash=imprint, publications_file=pubfile
        )
        assert result.outcome is Outcome.OK, result
        # the calendar still holds this second's root: the chain to the new
        # head starts from it and keeps the old chain's right links
        chain = backend.extend_calendar(sig.aggregation_time, head)
        assert chain.input_hash == root
        assert sig.calendar_chain is not None
        assert right_links_consistent(sig.calendar_chain, chain)
        extended = backend.extend(sig, head)
        assert verify_signature(extended, policy="internal").outcome is Outcome.OK
    assert head >= max(seconds)
    # every publication that was acknowledged survived, over the calendar's root
    for t in r.published:
        record = backend.find_publication(t)
        assert record is not None
        assert record.published_hash == backend.extend_calendar(t, t).root()


@pytest.mark.parametrize("point", ["store", *ROUND_POINTS])
@pytest.mark.parametrize("phase", PHASES)
def test_round_fault_matrix_never_loses_or_forks(round_: Round, point: str, phase: str) -> None:
    r = round_
    r.sign(3)
    r.sign(1)
    r.publish()
    r.sign(2)
    backend = r.backend
    assert backend is not None
    points = r.kind.points if point == "store" else (point,)
    for p in points:
        r.faults.arm(p, phase)
        head_before = backend.calendar_head
        failing = (
            backend.publish
            if p == "publication"
            else lambda: backend.sign_many([Imprint.hash(b"never answered")])
        )
        with pytest.raises(BackendError) as info:
            failing()
        assert info.value.code is ErrorCode.SVC_STORE, info.value
        assert r.faults.fired[-1] == (p, phase)
        if p == "publication":
            # the failed publication is not served from memory unless it is on disk
            disk = (r.home / "publications.bin").read_bytes()
            assert backend.publications_file_bytes == disk or phase == AFTER
        else:
            r.clock.advance(1)
            assert backend.calendar_head in (head_before, head_before + 1)
        # the backend continues after a transient fault
        r.sign(2)
        r.publish()
    _check_after_reopen(r)


@pytest.mark.parametrize("phase", PHASES)
def test_lasting_round_fault_stops_with_a_typed_error(round_: Round, phase: str) -> None:
    r = round_
    r.sign(2)
    backend = r.backend
    assert backend is not None
    r.faults.arm("head-signature", phase, times=None)
    for _ in range(3):
        with pytest.raises(BackendError) as info:
            backend.sign(Imprint.hash(b"refused"))
        assert info.value.code is ErrorCode.SVC_STORE
        assert "calendar head" in info.value.message
        r.clock.advance(1)
    r.faults.disarm()
    r.sign(1)
    _check_after_reopen(r)
