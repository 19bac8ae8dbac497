"""Error codes, outcomes and the :class:`JuraError` family (layer 0).

Every error jura_trust raises on bad *input* is a :class:`JuraError` with a
stable :class:`ErrorCode`. Misuse of the API (a wrong type, an impossible
argument) raises :class:`TypeError` or :class:`ValueError` instead.

Codes are never reused or renumbered: scripts may match on them. The full
table lives in ``docs/errors.md``.

Families:

* ``FMT-xx``: input that cannot be read (TLV, imprints, files, strings).
* ``GEN``/``INT``/``PUB``/``KEY``/``CAL``: KSI verification codes, with the
  meaning given by the KSI specification (spec/ksi-format.md section 10.1).
* ``CRT-xx``: QR certificates.
* ``SVC-xx``: services and backends.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = [
    "BackendError",
    "CertificateError",
    "ErrorCode",
    "FormatError",
    "JuraError",
    "Outcome",
    "PKIError",
    "VerificationError",
]


class Outcome(enum.Enum):
    """The result of one verification rule or policy.

    ``OK`` means proven good, ``FAIL`` proven bad, ``NA`` that it cannot be
    told from what was available (KSI's "inconclusive").
    """

    OK = "OK"
    FAIL = "FAIL"
    NA = "NA"


class ErrorCode(enum.Enum):
    """Stable error codes. The value is the code string shown to users."""

    # -- format (input cannot be read) -------------------------------------
    FMT_TRUNCATED = "FMT-01"
    FMT_TRAILING_DATA = "FMT-02"
    FMT_UNKNOWN_CRITICAL = "FMT-03"
    FMT_DUPLICATE = "FMT-04"
    FMT_MISSING = "FMT-05"
    FMT_BAD_INTEGER = "FMT-06"
    FMT_BAD_STRING = "FMT-07"
    FMT_BAD_IMPRINT = "FMT-08"
    FMT_LIMIT = "FMT-09"
    FMT_STRUCTURE = "FMT-10"
    FMT_BAD_PUBLICATION_STRING = "FMT-11"
    FMT_BAD_LEGACY_ID = "FMT-12"
    FMT_WRONG_KIND = "FMT-13"
    FMT_BAD_PUBLICATIONS_FILE = "FMT-14"
    FMT_BAD_PDU = "FMT-15"
    FMT_UNSUPPORTED_ALGORITHM = "FMT-16"
    FMT_BAD_TIME = "FMT-17"
    FMT_BAD_CERTIFICATE = "FMT-18"
    FMT_IO = "FMT-19"
    FMT_NOT_REGULAR = "FMT-20"

    # -- KSI verification (spec/ksi-format.md section 10.1) ----------------
    GEN_01 = "GEN-01"
    GEN_02 = "GEN-02"
    GEN_03 = "GEN-03"
    GEN_04 = "GEN-04"
    INT_01 = "INT-01"
    INT_02 = "INT-02"
    INT_03 = "INT-03"
    INT_04 = "INT-04"
    INT_05 = "INT-05"
    INT_06 = "INT-06"
    INT_07 = "INT-07"
    INT_08 = "INT-08"
    INT_09 = "INT-09"
    INT_10 = "INT-10"
    INT_11 = "INT-11"
    INT_12 = "INT-12"
    INT_13 = "INT-13"
    INT_14 = "INT-14"
    INT_15 = "INT-15"
    INT_16 = "INT-16"
    INT_17 = "INT-17"
    PUB_01 = "PUB-01"
    PUB_02 = "PUB-02"
    PUB_03 = "PUB-03"
    PUB_04 = "PUB-04"
    PUB_05 = "PUB-05"
    KEY_01 = "KEY-01"
    KEY_02 = "KEY-02"
    KEY_03 = "KEY-03"
    CAL_01 = "CAL-01"
    CAL_02 = "CAL-02"
    CAL_03 = "CAL-03"
    CAL_04 = "CAL-04"

    # -- PKI and publications-file trust -----------------------------------
    PKI_NOT_CONFIGURED = "PKI-01"
    PKI_BAD_SIGNATURE = "PKI-02"
    PKI_UNTRUSTED = "PKI-03"
    PKI_CONSTRAINT = "PKI-04"
    PKI_EXPIRED = "PKI-05"
    PKI_UNSUPPORTED_ALGORITHM = "PKI-06"
    PKI_WEAK_ALGORITHM = "PKI-07"
    PKI_KEY_PURPOSE = "PKI-08"
    PKI_NAME_CONSTRAINT = "PKI-09"
    PKI_CRITICAL_EXTENSION = "PKI-10"

    # -- QR certificates ----------------------------------------------------
    CRT_BAD_PREFIX = "CRT-01"
    CRT_BAD_ENCODING = "CRT-02"
    CRT_BAD_COMPRESSION = "CRT-03"
    CRT_BAD_STRUCTURE = "CRT-04"
    CRT_UNKNOWN_ISSUER = "CRT-05"
    CRT_KEY_NOT_VALID = "CRT-06"
    CRT_BAD_SIGNATURE = "CRT-07"
    CRT_PATH_MISMATCH = "CRT-08"
    CRT_KSI_INVALID = "CRT-09"
    CRT_EXPIRED = "CRT-10"
    CRT_NOT_YET_VALID = "CRT-11"
    CRT_REVOKED = "CRT-12"
    CRT_TYPE_NOT_ALLOWED = "CRT-13"
    CRT_SEAL_NOT_FOUND = "CRT-14"
    CRT_TOO_LARGE = "CRT-15"
    CRT_UNSUPPORTED_ALGORITHM = "CRT-16"
    CRT_TRUST_LIST_INVALID = "CRT-17"
    CRT_KEY_USAGE = "CRT-18"
    CRT_ALGORITHM_MISMATCH = "CRT-19"
    CRT_ISSUER_MISMATCH = "CRT-20"
    CRT_TRUST_NOT_CONFIGURED = "CRT-21"
    CRT_PRINT_SIZE = "CRT-22"

    # -- services and backends ---------------------------------------------
    SVC_UNAVAILABLE = "SVC-01"
    SVC_TIMEOUT = "SVC-02"
    SVC_AUTH = "SVC-03"
    SVC_BAD_RESPONSE = "SVC-04"
    SVC_REFUSED = "SVC-05"
    SVC_EXTEND = "SVC-06"
    SVC_STORE = "SVC-07"
    SVC_CONFIG = "SVC-08"
    SVC_NO_PUBLICATION = "SVC-09"
    SVC_REQUEST_ID_MISMATCH = "SVC-10"
    SVC_HOME_LOCKED = "SVC-11"
    SVC_UNSAFE_FILE = "SVC-12"
    SVC_API_BAD_REQUEST = "SVC-13"
    SVC_API_TOO_LARGE = "SVC-14"
    SVC_API_BUSY = "SVC-15"
    SVC_API_INTERNAL = "SVC-16"

    @property
    def family(self) -> str:
        """The family prefix, e.g. ``"FMT"`` or ``"INT"``."""
        return self.value.split("-", 1)[0]

    @classmethod
    def from_string(cls, code: str) -> ErrorCode:
        """Look a code up by its string form (``"INT-01"``).

        Raises :class:`ValueError` for an unknown code.
        """
        for member in cls:
            if member.value == code:
                return member
        raise ValueError(f"unknown error code {code!r}")


class JuraError(Exception):
    """Base of every error jura_trust raises on bad input.

    Attributes:
        code: the stable :class:`ErrorCode`.
        message: a one-line human explanation.
        details: extra structured facts (offsets, element types, ...), kept
            JSON-friendly so the CLI can print them.
    """

    default_code: ErrorCode = ErrorCode.FMT_STRUCTURE

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.code: ErrorCode = code if code is not None else self.default_code
        self.message: str = message
        self.details: dict[str, Any] = details

    def __str__(self) -> str:
        return f"[{self.code.value}] {self.message}"

    def diagnostics(self) -> dict[str, Any]:
        """A JSON-friendly description: code, family, message and details."""
        return {
            "code": self.code.value,
            "family": self.code.family,
            "message": self.message,
            "details": {k: _plain(v) for k, v in self.details.items()},
        }


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


class FormatError(JuraError, ValueError):
    """Input that cannot be read: malformed TLV, imprint, string or file."""

    default_code = ErrorCode.FMT_STRUCTURE


class VerificationError(JuraError):
    """A signature was proven bad or could not be checked.

    Raised by the convenience APIs that verify-or-raise; the policy engine
    itself returns a :class:`~jura_trust.verify.VerificationResult`.
    """

    default_code = ErrorCode.GEN_02


class PKIError(JuraError):
    """Keys, certificates, CMS: a signature or trust chain did not check."""

    default_code = ErrorCode.PKI_BAD_SIGNATURE


class CertificateError(JuraError, ValueError):
    """A QR certificate (JT1 or DCC) was unreadable or did not verify."""

    default_code = ErrorCode.CRT_BAD_STRUCTURE


class BackendError(JuraError):
    """A signing service or store failed or answered with an error."""

    default_code = ErrorCode.SVC_UNAVAILABLE
