"""Values that lie: a value's fields and its bytes must never say different things."""

from __future__ import annotations

import pytest

from jura_trust import pki
from jura_trust._value import evolve
from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core import tlv
from jura_trust.core.hashing import Imprint
from jura_trust.core.signature import Signature
from jura_trust.publications import CertificateRecord, PublicationsFile

T0 = 1_700_000_000


def test_attack_certificate_record_with_another_certificate_object() -> None:
    """The certificate the policies use must be the one the file's bytes hold."""
    backend = EmbeddedBackend(clock=ManualClock(T0))
    backend.sign(Imprint.hash(b"x"))
    record = PublicationsFile.parse(backend.publications_file_bytes).certificates[0]
    other = pki.CalendarSigner.generate(
        common_name="other", not_before=T0 - 10, not_after=T0 + 10
    ).certificate
    with pytest.raises(ValueError, match="different certificates"):
        evolve(record, certificate=other)
    with pytest.raises(ValueError, match="different certificates"):
        evolve(record, certificate_der=pki.certificate_der(other))
    rebuilt = CertificateRecord.build(record.certificate_id, other)
    assert CertificateRecord.from_tlv(tlv.decode(rebuilt.encode())) == rebuilt


def test_extended_signature_drops_the_auth_record_from_its_bytes() -> None:
    backend = EmbeddedBackend(clock=ManualClock(T0))
    sig = backend.sign(Imprint.hash(b"doc"))
    backend.clock.advance(10)  # type: ignore[attr-defined]
    backend.sign(Imprint.hash(b"later"))
    backend.publish()
    extended = backend.extend(sig)
    again = Signature.from_bytes(extended.encode())
    assert again == extended
    assert again.calendar_auth_record is None
    assert again.publication_record is not None
    assert again.publication_record.tlv_type == 0x803
