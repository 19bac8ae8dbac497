"""jura_trust: keyless (KSI-compatible) timestamp signatures and signed QR certificates.

The everyday API lives here; the consensus-critical low tier is
:mod:`jura_trust.core`.

>>> from jura_trust import EmbeddedBackend, ManualClock, Imprint
>>> backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
>>> sig = backend.sign(Imprint.hash(b"receipt"))
>>> verify(sig, document=b"receipt", backend=backend, policy="key").ok
True
"""

from jura_trust.api import (
    hash_file,
    load_signature,
    save_signature,
    sign_bytes,
    sign_files,
    sign_imprint,
    verify,
)
from jura_trust.backends.base import Clock, ManualClock, SigningService, SystemClock
from jura_trust.backends.ksi_http import KsiHttpBackend
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.core.hashing import DataHasher, HashAlgorithm, Imprint
from jura_trust.core.publication import (
    PublicationData,
    PublicationRecord,
    decode_publication_string,
    encode_publication_string,
)
from jura_trust.core.signature import Signature
from jura_trust.errors import (
    BackendError,
    CertificateError,
    ErrorCode,
    FormatError,
    JuraError,
    Outcome,
    PKIError,
    VerificationError,
)
from jura_trust.trust import TrustConfig, Verifier
from jura_trust.verify import Anchor, Policy, VerificationResult, verify_signature

__version__ = "0.1.0.dev0"

__all__ = [
    "Anchor",
    "BackendError",
    "CertificateError",
    "Clock",
    "DataHasher",
    "EmbeddedBackend",
    "ErrorCode",
    "FormatError",
    "HashAlgorithm",
    "Imprint",
    "JuraError",
    "KsiHttpBackend",
    "ManualClock",
    "Outcome",
    "PKIError",
    "Policy",
    "PublicationData",
    "PublicationRecord",
    "Signature",
    "SigningService",
    "SystemClock",
    "TrustConfig",
    "VerificationError",
    "VerificationResult",
    "Verifier",
    "__version__",
    "decode_publication_string",
    "encode_publication_string",
    "hash_file",
    "load_signature",
    "save_signature",
    "sign_bytes",
    "sign_files",
    "sign_imprint",
    "verify",
    "verify_signature",
]
