"""Attacks on KSI signature verification (the kernel, the policies, the trust).

Each test builds a forged or hostile input with the library's own APIs and
asserts that no policy says OK (and that nothing leaks an untyped
exception). Tests named ``test_attack_*`` that failed before a fix are
listed in the report of the attack run; the others protect refusals.
"""

from __future__ import annotations

import pytest

from jura_trust import pki
from jura_trust._value import evolve
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.backends.parts import sign_calendar_head
from jura_trust.core.chains import CalendarChain, CalendarLink, Direction
from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import PublicationData
from jura_trust.core.signature import CalendarAuthRecord, Signature
from jura_trust.errors import ErrorCode, Outcome
from jura_trust.verify import verify_signature

T0 = 1_700_000_000
POLICIES = ("internal", "key", "publications-file", "user-publication", "calendar", "general")


def _signer(not_before: int, not_after: int) -> pki.CalendarSigner:
    return pki.CalendarSigner.generate(
        common_name="attack", not_before=not_before, not_after=not_after
    )


@pytest.fixture(scope="module")
def backend() -> EmbeddedBackend:
    return EmbeddedBackend(clock=ManualClock(T0))


def _far_future_forgery(backend: EmbeddedBackend, when: int) -> Signature:
    """A self-consistent signature claiming ``when``, with a copied calendar cert id."""
    honest = backend.sign(Imprint.hash(b"far future"))
    chains = [evolve(c, aggregation_time=when) for c in honest.aggregation_chains]
    root = Signature.build(chains).aggregation_root()
    # One right link from a publication at `when` = 2**k proves `when` by its shape.
    cal = CalendarChain(
        publication_time=when,
        input_hash=root,
        links=(CalendarLink(Direction.RIGHT, Imprint.hash(b"sibling")),),
        aggregation_time_field=when,
    )
    assert cal.time_from_shape() == when
    auth = honest.calendar_auth_record
    assert auth is not None
    forged_auth = CalendarAuthRecord(
        published_data=PublicationData.build(when, cal.root(), forward=True),
        signature_data=auth.signature_data,
    )
    return Signature.build(chains, cal, calendar_auth_record=forged_auth)


@pytest.mark.parametrize("when", [2**40, 2**62, 2**63])
@pytest.mark.parametrize("policy", POLICIES)
def test_attack_far_future_time_crashes_key_policy(
    backend: EmbeddedBackend, when: int, policy: str
) -> None:
    """A time past year 9999 must give a typed result, not an OverflowError."""
    forged = Signature.from_bytes(_far_future_forgery(backend, when).encode())
    pubfile = backend.trusted_publications_file()
    result = verify_signature(
        forged,
        policy=policy,
        publications_file=pubfile,
        user_publication=backend.latest_publication().published_data
        if backend.latest_publication()
        else None,
        extending_allowed=True,
        extender=backend.extend_calendar,
    )
    if policy == "internal":  # consistency only, and it says so
        assert result.anchor.kind == "none"
        return
    assert result.outcome is not Outcome.OK, result
    if policy in ("key", "general"):
        assert (result.outcome, result.code) == (Outcome.FAIL, ErrorCode.KEY_03), result


def _expiring_backend(valid_for: int) -> tuple[EmbeddedBackend, ManualClock]:
    clock = ManualClock(T0)
    signer = _signer(T0 - 3600, T0 + valid_for)
    return EmbeddedBackend(clock=clock, calendar_signer=signer), clock


def test_attack_key_policy_certificate_expired_when_it_signed() -> None:
    """The calendar key signed the auth record at its publication time P, after
    its certificate expired; the certificate was valid only at the claimed
    aggregation time T < P. The key's act is at P: KEY-03 (libksi checks the
    certificate at the auth record's publication time).
    """
    signer = _signer(T0 - 3600, T0 + 60)
    clock = ManualClock(T0)
    backend = EmbeddedBackend(clock=clock, calendar_signer=signer)
    sig = backend.sign(Imprint.hash(b"document"))
    t = sig.aggregation_time
    clock.advance(3600)  # the certificate has expired
    backend.sign(Imprint.hash(b"a later round"))
    head = backend.calendar_head
    assert head is not None and head > t + 60
    chain = backend.extend_calendar(t, head)
    late = sign_calendar_head(signer, chain)  # what a key used after its expiry signs
    forged = Signature.build(sig.aggregation_chains, chain, calendar_auth_record=late)
    forged = Signature.from_bytes(forged.encode())
    pubfile = backend.trusted_publications_file(at=t)
    for policy in ("key", "general"):
        result = verify_signature(forged, policy=policy, publications_file=pubfile)
        assert (result.outcome, result.code) == (Outcome.FAIL, ErrorCode.KEY_03), result
    # the signature as issued (auth record at T, inside the validity) verifies
    ok = verify_signature(sig, policy="key", publications_file=pubfile)
    assert ok.outcome is Outcome.OK, ok
    assert ok.anchor.kind == "calendar-key"
    assert ok.aggregation_time == t


def test_key_policy_certificate_not_yet_valid_at_signing_time() -> None:
    """A calendar certificate that starts after the claimed signing time: KEY-03."""
    clock = ManualClock(T0)
    backend = EmbeddedBackend(clock=clock, calendar_signer=_signer(T0 + 10, T0 + 10_000))
    sig = backend.sign(Imprint.hash(b"document"))
    result = verify_signature(
        sig, policy="key", publications_file=backend.trusted_publications_file(at=T0 + 20)
    )
    assert (result.outcome, result.code) == (Outcome.FAIL, ErrorCode.KEY_03), result
