"""The curated invalid signatures fail with the code MANIFEST.md gives."""

import pytest

from jura_trust.core.signature import Signature
from jura_trust.errors import ErrorCode, FormatError, Outcome
from jura_trust.verify import verify_signature
from tests.vectors import KSI, ksi_bytes

INTERNAL = {
    "bad-aggregation-chain.ksig": ErrorCode.INT_01,
    "signature-inconsistent-aggregation-chain-time.ksig": ErrorCode.INT_02,
    "signature-with-invalid-calendar-hash-chain.ksig": ErrorCode.INT_03,
    "signature-with-invalid-calendar-chain-aggregation-time.ksig": ErrorCode.INT_04,
    "invalid-signature-calendar-chain-pub-time-int-value-wrong.tlv": ErrorCode.INT_05,
    "signature-with-invalid-calendar-authentication-record-hash.ksig": ErrorCode.INT_08,
    "signature-with-invalid-publication-record-publication-data-hash.ksig": ErrorCode.INT_09,
    "invalid-signature-aggr-chain-chain-index-int-value-wrong.tlv": ErrorCode.INT_10,
    "nok-sig-metadata-padding-missing.ksig": ErrorCode.INT_11,
    "nok-sig-2014-08-01.1.wrong-chain-index.ksig": ErrorCode.INT_12,
    "sha1-as-aggregation-algo-2017.ksig": ErrorCode.INT_15,
    "signature-with-invalid-rfc3161-output-hash.ksig": ErrorCode.INT_01,
}
# internally consistent; they fail under the key-based policy (test_manifest_policies.py)
KEY_ONLY = {
    "signature-cal-auth-wrong-signing-value.ksig",
    "policy-verification-signature-aggregation-time-after-cert-time-KEY-03.ksig",
}
PARSE = {"invalid-signature-aggr-chain-input-hash-missing-tag.tlv": ErrorCode.FMT_MISSING}


def test_every_invalid_vector_is_listed():
    names = {p.name for p in (KSI / "signatures" / "invalid").iterdir()}
    assert names == set(INTERNAL) | KEY_ONLY | set(PARSE)


@pytest.mark.parametrize(("name", "code"), sorted(INTERNAL.items()))
def test_internal_failure(name: str, code: ErrorCode) -> None:
    sig = Signature.from_bytes(ksi_bytes(f"signatures/invalid/{name}"))
    for policy in ("internal", "general", "key", "publications-file"):
        result = verify_signature(sig, policy=policy)
        assert result.outcome is Outcome.FAIL
        assert result.code is code


@pytest.mark.parametrize("name", sorted(KEY_ONLY))
def test_internally_consistent(name: str) -> None:
    sig = Signature.from_bytes(ksi_bytes(f"signatures/invalid/{name}"))
    assert verify_signature(sig, policy="internal").ok


@pytest.mark.parametrize(("name", "code"), sorted(PARSE.items()))
def test_parse_failure(name: str, code: ErrorCode) -> None:
    with pytest.raises(FormatError) as err:
        Signature.from_bytes(ksi_bytes(f"signatures/invalid/{name}"))
    assert err.value.code is code
