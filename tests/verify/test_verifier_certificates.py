"""``Verifier.verify_certificate``: JT1 certificates under one trust configuration."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jura_trust.certificates.jt1 import issue_batch
from jura_trust.certificates.registry import MemorySealRegistry
from jura_trust.errors import CertificateError, ErrorCode
from jura_trust.trust import TrustConfig, Verifier
from tests.certificates import jt1_helpers as h
from tests.certificates import keys


def test_without_a_trust_list_nothing_is_verified() -> None:
    with pytest.raises(CertificateError) as info:
        Verifier(TrustConfig()).verify_certificate("JT1:anything")
    assert info.value.code is ErrorCode.CRT_TRUST_NOT_CONFIGURED


def test_certificate_verified_under_the_configured_trust_with_the_verifiers_cache() -> None:
    backend = h.backend()
    batch = issue_batch(
        [h.document()], issuer_id=h.ISSUER, private_key=keys.p256(), ksi=backend, issued_at=h.NOW
    )
    registry = MemorySealRegistry(dict(batch.registry_records()))
    text = batch.certificates[0].text()
    trust = TrustConfig.from_backend(backend, at=h.T0 + 60).evolve(
        trust_list=h.trust_list(), extending_allowed=False
    )
    verifier = Verifier(trust)
    at = h.NOW + timedelta(minutes=1)
    result = verifier.verify_certificate(text, at=at, seals=registry)
    assert result.ok, result.message
    assert result.facts["issuer"]["name"] == "Office des poursuites du Jura"
    again = verifier.verify_certificate(text, at=at, seals=registry)
    assert again.ok
    cache = verifier.cache("jt1-seals", dict)
    assert cache.hits == 1, "the second check used the verifier's seal cache"
    # Another trust list: the issuer is unknown, whatever the cache holds.
    other = Verifier(trust.evolve(trust_list=h.trust_list(h.issuer_key(keys.ed()), types=("x",))))
    refused = other.verify_certificate(text, at=at, seals=registry)
    assert not refused.ok
