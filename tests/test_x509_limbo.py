"""The x509-limbo path-validation suite against :func:`jura_trust.pki.validate_path`.

tests/vectors/x509-limbo/limbo.json is an unmodified copy of the shared
vectors (see its MANIFEST.md and tests/vectors/PROVENANCE.md). Each case runs
through ``validate_path`` with a key purpose built from the case: its
``extended_key_usage`` (none listed: extended key usage not checked) and its
``key_usage`` bits, at its ``validation_time`` (none: now), with its
``max_chain_depth``. An unloadable certificate counts as a refusal (jura_trust's
loader refuses it with FMT-18).

Every applicable case must give limbo's expected result. The cases treated as
not applicable are listed below with the reason, and with the result
jura_trust gives for them, which is asserted too: a change in either
direction is noticed. The counts are asserted at the end.
"""

from __future__ import annotations

import datetime
import json
import warnings
from functools import cache
from typing import Any

import pytest
from cryptography import x509

from jura_trust import pki
from jura_trust.errors import PKIError
from tests.vectors import KSI

LIMBO = KSI.parent / "x509-limbo" / "limbo.json"

_EKU = {
    "serverAuth": "1.3.6.1.5.5.7.3.1",
    "clientAuth": "1.3.6.1.5.5.7.3.2",
    "codeSigning": "1.3.6.1.5.5.7.3.3",
    "emailProtection": "1.3.6.1.5.5.7.3.4",
    "anyExtendedKeyUsage": "2.5.29.37.0",
}
_KU = {
    "digitalSignature": "digital_signature",
    "contentCommitment": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
}

CRL = "revocation is not checked: KSI publications files carry no CRLs and jura_trust fetches none"
SERVER_NAME = (
    "the verdict rests on matching the expected server name (DNS/IP subjectAltName or CN); "
    "a document signer has no server name, its subject is checked by the certificate constraint"
)
WEBPKI_EKU = (
    "web-PKI EKU profile: RFC 5280 lets anyExtendedKeyUsage allow any purpose, lets EKU be "
    "critical, and an EKU on a root is how a configured CA restricts purposes (we evaluate it)"
)
WEBPKI_ROOT_AKI = (
    "web-PKI rule on a root's authorityKeyIdentifier; a configured anchor's AKI plays no part"
)
WEBPKI_CA_AS_LEAF = (
    "web-PKI forbids a CA certificate as end entity; RFC 5280 allows it "
    "(rfc5280::ca-as-leaf, which we pass) and jura_trust follows RFC 5280"
)
WEBPKI_RSA_BITS = "web-PKI rule (RSA modulus a multiple of 8) on a configured root's key"
CA_CONFORMANCE = (
    "a MUST for the issuing CA that cryptography's validator (like OpenSSL's) does not enforce; "
    "it has no bearing on whom the path trusts"
)
NONCRITICAL_NC = (
    "RFC 5280 wants nameConstraints critical; cryptography enforces a non-critical one "
    "instead of refusing it (limbo marks the case rfc5280-incompatible-with-webpki)"
)
NONCRITICAL_PC = (
    "policy processing is not implemented; a non-critical policyConstraints is ignored as any "
    "non-critical extension may be (a critical one fails the path, PKI-10)"
)
SELF_ISSUED = (
    "stricter: cryptography's path builder does not chain through a self-issued intermediate "
    "(key rollover); the path fails closed"
)
DIRECTORY_NC = (
    "stricter: cryptography does not evaluate directoryName constraints and refuses any path "
    "under one; the path fails closed (PKI-09)"
)

#: id -> (reason, the result jura_trust gives)
NOT_APPLICABLE: dict[str, tuple[str, str]] = {
    **{
        i: (CRL, r)
        for i, r in [
            ("crl::revoked-certificate-with-crl", "SUCCESS"),
            ("crl::crlnumber-missing", "SUCCESS"),
            ("crl::certificate-not-on-crl", "SUCCESS"),
            ("crl::crlnumber-critical", "SUCCESS"),
            ("crl::issuer-missing-crlsign", "SUCCESS"),
            ("crl::issuer-no-keyusage-extension", "FAILURE"),
            ("crl::issuer-valid-crlsign-and-keycertsign", "SUCCESS"),
        ]
    },
    **{
        i: (SERVER_NAME, r)
        for i, r in [
            ("rfc5280::ca-as-leaf-wrong-san", "SUCCESS"),
            ("rfc5280::san::ip-in-dns", "SUCCESS"),
            ("webpki::cn::ipv4-leading-zeros-mismatch", "SUCCESS"),
            ("webpki::cn::ipv6-uncompressed-mismatch", "SUCCESS"),
            ("webpki::cn::ipv6-non-rfc5952-mismatch", "SUCCESS"),
            ("webpki::cn::punycode-not-in-san", "SUCCESS"),
            ("webpki::san::exact-localhost-ip-san", "SUCCESS"),
            ("webpki::san::mismatch-domain-san", "SUCCESS"),
            ("webpki::san::mismatch-subdomain-san", "SUCCESS"),
            ("webpki::san::mismatch-apex-subdomain-san", "SUCCESS"),
            ("webpki::san::public-suffix-private-namespace-wildcard-san", "SUCCESS"),
            ("webpki::san::leftmost-wildcard-san", "SUCCESS"),
            ("webpki::san::wildcard-embedded-leftmost-san", "SUCCESS"),
            ("webpki::san::wildcard-not-in-leftmost-san", "SUCCESS"),
            ("webpki::san::unicode-emoji-san", "SUCCESS"),
            ("webpki::san::san-critical-with-nonempty-subject", "SUCCESS"),
            ("webpki::san::san-wildcard-only", "SUCCESS"),
            ("webpki::san::san-wildcard-only-tld", "SUCCESS"),
        ]
    },
    "webpki::eku::ee-anyeku": (WEBPKI_EKU, "SUCCESS"),
    "webpki::eku::ee-critical-eku": (WEBPKI_EKU, "SUCCESS"),
    "webpki::eku::root-has-eku": (WEBPKI_EKU, "SUCCESS"),
    "webpki::aki::root-with-aki-missing-keyidentifier": (WEBPKI_ROOT_AKI, "FAILURE"),
    "webpki::aki::root-with-aki-authoritycertissuer": (WEBPKI_ROOT_AKI, "FAILURE"),
    "webpki::aki::root-with-aki-all-fields": (WEBPKI_ROOT_AKI, "SUCCESS"),
    "webpki::aki::root-with-aki-ski-mismatch": (WEBPKI_ROOT_AKI, "SUCCESS"),
    "webpki::ca-as-leaf": (WEBPKI_CA_AS_LEAF, "SUCCESS"),
    "webpki::ee-basicconstraints-ca": (WEBPKI_CA_AS_LEAF, "SUCCESS"),
    "webpki::forbidden-rsa-not-divisible-by-8-in-root": (WEBPKI_RSA_BITS, "SUCCESS"),
    "rfc5280::aki::intermediate-missing-aki": (CA_CONFORMANCE, "SUCCESS"),
    "rfc5280::aki::cross-signed-root-missing-aki": (CA_CONFORMANCE, "SUCCESS"),
    "rfc5280::ski::intermediate-missing-ski": (CA_CONFORMANCE, "SUCCESS"),
    "rfc5280::ski::root-missing-ski": (CA_CONFORMANCE, "SUCCESS"),
    "rfc5280::nc::permitted-dns-match-noncritical": (NONCRITICAL_NC, "SUCCESS"),
    "rfc5280::pc::ica-noncritical-pc": (NONCRITICAL_PC, "SUCCESS"),
    "pathlen::self-issued-certs-pathlen": (SELF_ISSUED, "FAILURE"),
    "pathlen::max-chain-depth-1-self-issued": (SELF_ISSUED, "FAILURE"),
    "rfc5280::nc::permitted-dn-match": (DIRECTORY_NC, "FAILURE"),
}

TOTAL = 140
APPLICABLE = TOTAL - len(NOT_APPLICABLE)


@cache
def _cases() -> dict[str, dict[str, Any]]:
    data = json.loads(LIMBO.read_text(encoding="utf-8"))
    assert data["version"] == 1
    return {case["id"]: case for case in data["testcases"]}


def _load(pem: str) -> x509.Certificate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about zero serials
        cert = x509.load_pem_x509_certificate(pem.encode())
        _ = cert.serial_number
    return cert


def _run(case: dict[str, Any]) -> str:
    """``SUCCESS`` or ``FAILURE`` as jura_trust decides the case."""
    try:
        leaf = _load(case["peer_certificate"])
        intermediates = [_load(p) for p in case["untrusted_intermediates"]]
        anchors = [_load(p) for p in case["trusted_certs"]]
    except ValueError:
        return "FAILURE"  # jura_trust's loader refuses it (FMT-18)
    when = case["validation_time"]
    at = datetime.datetime.fromisoformat(when) if when else datetime.datetime.now(tz=datetime.UTC)
    purpose = pki.KeyPurpose(
        "limbo",
        frozenset(_EKU[e] for e in case["extended_key_usage"]) or None,
        frozenset(_KU[k] for k in case["key_usage"]),
    )
    depth = case["max_chain_depth"]
    kwargs = {} if depth is None else {"max_chain_depth": depth}
    try:
        chain = pki.validate_path(leaf, intermediates, anchors, at=at, purpose=purpose, **kwargs)
    except PKIError:
        return "FAILURE"
    assert chain[0] == leaf
    assert any(chain[-1] == a for a in anchors)
    return "SUCCESS"


def _ids(applicable: bool) -> list[str]:
    return [i for i in _cases() if (i in NOT_APPLICABLE) != applicable]


@pytest.mark.parametrize("case_id", _ids(applicable=True))
def test_applicable_case(case_id: str) -> None:
    case = _cases()[case_id]
    assert _run(case) == case["expected_result"], case["description"]


@pytest.mark.parametrize("case_id", _ids(applicable=False))
def test_not_applicable_case_is_stable(case_id: str) -> None:
    reason, ours = NOT_APPLICABLE[case_id]
    assert reason
    assert _run(_cases()[case_id]) == ours


def test_counts() -> None:
    cases = _cases()
    assert len(cases) == TOTAL
    assert set(NOT_APPLICABLE) <= set(cases)
    assert len(_ids(applicable=True)) == APPLICABLE == 96
    assert len(NOT_APPLICABLE) == 44
