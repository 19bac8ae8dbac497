"""Attacks on JT1 texts: another text for the same certificate must not verify.

Issue 8 made one certificate have exactly one text (canonical Base45, zlib
and CBOR). A self-contained text embeds the seal record: every byte of it
that no signature covers (the COSE unprotected header, the ECDSA ``s``
sign, non-critical elements of the KSI signature) would give a second text
that verifies.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from jura_trust._value import evolve
from jura_trust.certificates.jt1 import Batch, issue_batch, verify_certificate
from jura_trust.errors import CertificateError, ErrorCode
from jura_trust.verify.result import VerificationResult
from tests.certificates import keys
from tests.certificates.jt1_helpers import (
    ISSUER,
    LATER,
    NOW,
    backend,
    document,
    envelope_item,
    rebuild,
    trust_list,
)

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P384_ORDER = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
    "581A0DB248B0A77AECEC196ACCC52973",
    16,
)


def _issue(key: Any) -> Batch:
    docs = [document(fields={"extrait": f"2024-{i:06d}"}) for i in range(3)]
    return issue_batch(docs, issuer_id=ISSUER, private_key=key, ksi=backend(), issued_at=NOW)


def _verify(text: str) -> VerificationResult:
    return verify_certificate(
        text,
        trust_list=trust_list(),
        at=LATER,
        publications_file=backend().trusted_publications_file(),
    )


def _with_record(batch: Batch, record: Any) -> str:
    item = envelope_item(batch.certificates[0].text(self_contained=True))
    return rebuild({**item, 4: record.encode()})


@pytest.fixture(scope="module")
def p256_batch() -> Batch:
    return _issue(keys.p256())


def test_self_contained_control(p256_batch: Batch) -> None:
    assert _verify(p256_batch.certificates[0].text(self_contained=True)).ok


def test_attack_jt1_unprotected_cose_header_malleability(p256_batch: Batch) -> None:
    """Junk in the seal's COSE unprotected header (no signature covers it)."""
    cose = p256_batch.seal.cose
    for junk in ({99: "smuggled"}, {4: p256_batch.seal.kid}, {1: -7}):
        record = evolve(p256_batch.seal, cose=evolve(cose, unprotected=junk))
        text = _with_record(p256_batch, record)
        assert text != p256_batch.certificates[0].text(self_contained=True)
        with pytest.raises(CertificateError, match="unprotected header") as caught:
            _verify(text)
        assert caught.value.code is ErrorCode.CRT_BAD_STRUCTURE


def test_attack_jt1_ecdsa_high_s_malleability(p256_batch: Batch) -> None:
    """(r, s) and (r, n - s) both verify: the issuer writes only the low s.

    The verifier still accepts a high s (seals issued before this rule have
    one half of the time): a known limitation, see docs/qr.md.
    """
    for key in (keys.p256(), ec.generate_private_key(ec.SECP384R1())):
        batch = p256_batch if key is keys.p256() else _issue(key)
        cose = batch.seal.cose
        half = len(cose.signature) // 2
        s = int.from_bytes(cose.signature[half:], "big")
        order = _P256_ORDER if half == 32 else _P384_ORDER
        assert s <= order - s
    for _ in range(8):  # each signing picks a fresh nonce: all low
        cose = _issue(keys.p256()).seal.cose
        assert int.from_bytes(cose.signature[32:], "big") <= _P256_ORDER // 2


def test_curve_is_p256() -> None:
    assert isinstance(keys.p256().curve, ec.SECP256R1)
