"""jura_trust: keyless (KSI-compatible) timestamp signatures and signed QR certificates.

The everyday API lives here; the consensus-critical low tier is
:mod:`jura_trust.core`.

>>> from jura_trust import EmbeddedBackend, ManualClock, Imprint
>>> backend = EmbeddedBackend(clock=ManualClock(1_700_000_000))
>>> sig = backend.sign(Imprint.hash(b"receipt"))
>>> verify(sig, document=b"receipt", backend=backend, policy="key").ok
True
"""

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jura_trust._value import FrozenError, evolve
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

#: Where each public name lives: imported on first use (PEP 562), so that
#: ``import jura_trust.<module>`` (the command line, a verifier) loads only
#: what it uses (tests/test_cli_startup.py).
_WHERE = {
    **dict.fromkeys(
        (
            "hash_file",
            "load_signature",
            "save_signature",
            "sign_bytes",
            "sign_files",
            "sign_imprint",
            "verify",
        ),
        "api",
    ),
    **dict.fromkeys(("Clock", "ManualClock", "SigningService", "SystemClock"), "backends.base"),
    "KsiHttpBackend": "backends.ksi_http",
    "EmbeddedBackend": "backends.memory",
    **dict.fromkeys(("DataHasher", "HashAlgorithm", "Imprint"), "core.hashing"),
    **dict.fromkeys(
        (
            "PublicationData",
            "PublicationRecord",
            "decode_publication_string",
            "encode_publication_string",
        ),
        "core.publication",
    ),
    "Signature": "core.signature",
    **dict.fromkeys(
        (
            "BackendError",
            "CertificateError",
            "ErrorCode",
            "FormatError",
            "JuraError",
            "Outcome",
            "PKIError",
            "VerificationError",
        ),
        "errors",
    ),
    **dict.fromkeys(("TrustConfig", "Verifier"), "trust"),
    **dict.fromkeys(("FrozenError", "evolve"), "_value"),
    **dict.fromkeys(("Anchor", "Policy", "VerificationResult", "verify_signature"), "verify"),
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package module: ``jura_trust.verify`` stays the function :func:`api.verify`.

    Importing the subpackage :mod:`jura_trust.verify` would bind its module
    to the package's ``verify`` attribute; the public name is the function
    (as when it was imported eagerly), and the subpackage stays reachable
    through ``import jura_trust.verify`` / ``from jura_trust.verify import``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "verify" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
    "FrozenError",
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
    "evolve",
    "hash_file",
    "load_signature",
    "save_signature",
    "sign_bytes",
    "sign_files",
    "sign_imprint",
    "verify",
    "verify_signature",
]
