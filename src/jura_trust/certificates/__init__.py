"""QR certificates (layer 8): codecs, COSE signatures, trust lists, the DCC profile.

* :mod:`~jura_trust.certificates.base45`: RFC 9285 Base45, strict.
* :mod:`~jura_trust.certificates.envelope`: ``JT1:`` + Base45(zlib(bytes)).
* :mod:`~jura_trust.certificates.cose`: COSE_Sign1 sign and verify.
* :mod:`~jura_trust.certificates.trustlist`: signed trust and revocation lists.
* :mod:`~jura_trust.certificates.dcc`: the EU DCC ``HC1:`` profile.
* :mod:`~jura_trust.certificates.jt1`: JT1 certificates (a package: payload,
  paths, seal, issue, decode, verify).
* :mod:`~jura_trust.certificates.report`: the JSON form of a JT1 or DCC result.

JT1 and DCC verification are rule lists run by the verification kernel
(:mod:`jura_trust.verify.engine`) and return its
:class:`~jura_trust.verify.result.VerificationResult`.

Every error on bad input is a :class:`~jura_trust.errors.CertificateError`
with a ``CRT-xx`` code.
"""

from jura_trust.certificates.base45 import b45decode, b45encode
from jura_trust.certificates.cose import CoseAlgorithm, CoseSign1, decode_sign1, sign1
from jura_trust.certificates.dcc import DccCertificate, decode_dcc, verify_dcc
from jura_trust.certificates.envelope import JT1_PREFIX, decode_envelope, encode_envelope
from jura_trust.certificates.trustlist import (
    Issuer,
    IssuerKey,
    RevocationList,
    TrustList,
    verify_revocation_list,
    verify_trust_list,
)

__all__ = [
    "JT1_PREFIX",
    "CoseAlgorithm",
    "CoseSign1",
    "DccCertificate",
    "Issuer",
    "IssuerKey",
    "RevocationList",
    "TrustList",
    "b45decode",
    "b45encode",
    "decode_dcc",
    "decode_envelope",
    "decode_sign1",
    "encode_envelope",
    "sign1",
    "verify_dcc",
    "verify_revocation_list",
    "verify_trust_list",
]
