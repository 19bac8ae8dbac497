"""Constants, CBOR keys and small checks shared by the JT1 modules (private)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import attrs

from jura_trust.core.hashing import HashAlgorithm
from jura_trust.errors import CertificateError, ErrorCode

#: The version of payloads, seal bodies and seal records (unchanged since 1).
JT1_VERSION = 1
#: The envelope format version this release writes. Version 2 added the
#: page level (keys 5 and 6), the version key 0 and the preset dictionary
#: :data:`ZDICT_V2`; version 1 envelopes are still read.
ENVELOPE_VERSION = 2
#: The version of page records.
PAGE_RECORD_VERSION = 1
#: The default page size: batches of at most this many documents are one
#: tree; larger ones are cut into pages of this many. 32 keeps a document's
#: own path at 5 links, so a 10-field compact certificate from any batch
#: size is QR version 19 at ECC Q.
PAGE_SIZE = 32
#: Bytes of random salt in every payload.
SALT_LENGTH = 16
#: The hash algorithm of leaves, tree nodes and seals (JT1 version 1).
SEAL_ALGORITHM = HashAlgorithm.SHA2_256
#: The most documents one batch may hold.
MAX_BATCH_SIZE = 1 << 20
#: The most subject fields one payload may hold.
MAX_FIELDS = 64
#: The longest field name, document type, issuer id or language tag (characters).
MAX_NAME_LENGTH = 64
#: The longest text field value (characters).
MAX_TEXT_LENGTH = 1024
#: The most links a hash path may have (a batch of MAX_BATCH_SIZE needs 20).
MAX_PATH_LINKS = 40
#: Tolerance for clocks: a document is "not yet valid" only this long
#: before its start, and the issuer's claimed time may lead the KSI time by it.
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
#: Content type (COSE protected header 3) of a seal signature.
SEAL_CONTENT_TYPE = "application/jura-trust.seal+cbor"

_RIGHT_FLAG = 0x80
_CORRECTION_MASK = 0x7F
_MAX_INT = (1 << 63) - 1

# payload keys
_P_VERSION, _P_TYPE, _P_ISSUER, _P_ISSUED, _P_UNTIL, _P_LANG, _P_FIELDS, _P_SALT, _P_FROM = range(
    1, 10
)
_PAYLOAD_REQUIRED = frozenset(
    {_P_VERSION, _P_TYPE, _P_ISSUER, _P_ISSUED, _P_LANG, _P_FIELDS, _P_SALT}
)
_PAYLOAD_KEYS = _PAYLOAD_REQUIRED | {_P_UNTIL, _P_FROM}
# envelope keys
_E_VERSION, _E_PAYLOAD, _E_PATH, _E_SEAL_ID, _E_SEAL, _E_PAGE, _E_PAGE_RECORD = range(7)
_ENVELOPE_V1_KEYS = (
    frozenset({_E_PAYLOAD, _E_PATH, _E_SEAL_ID}),
    frozenset({_E_PAYLOAD, _E_PATH, _E_SEAL}),
)
_ENVELOPE_V2_KEYS = (
    frozenset({_E_VERSION, _E_PAYLOAD, _E_PATH, _E_SEAL_ID}),
    frozenset({_E_VERSION, _E_PAYLOAD, _E_PATH, _E_SEAL}),
    frozenset({_E_VERSION, _E_PAYLOAD, _E_PATH, _E_SEAL_ID, _E_PAGE}),
    frozenset({_E_VERSION, _E_PAYLOAD, _E_PATH, _E_SEAL, _E_PAGE, _E_PAGE_RECORD}),
)
# page record keys
_G_VERSION, _G_SEAL_ID, _G_PAGE, _G_PATH = 1, 2, 3, 4
#: Domain separation of page record ids (see :func:`page_record_id`).
_PAGE_ID_DOMAIN = b"jura-trust JT1 page record\x00"
# seal body keys
_S_VERSION, _S_SEAL, _S_ISSUER, _S_KID, _S_SIZE, _S_ISSUED = range(1, 7)
# seal record keys
_R_VERSION, _R_COSE, _R_KSI = 1, 2, 3

#: A subject field value.
FieldValue: TypeAlias = str | int | bool | None

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def _malformed(message: str, **details: Any) -> CertificateError:
    return CertificateError(message, code=ErrorCode.CRT_BAD_STRUCTURE, **details)


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _optional_aware(value: datetime | None) -> datetime | None:
    return None if value is None else _aware(value, "a time")


def _to_numeric(value: datetime) -> int:
    return int(value.timestamp())


def _from_numeric(value: object, what: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 253402300799:
        raise _malformed(f"{what} is not a NumericDate (integer seconds, years 1970..9999)")
    return datetime.fromtimestamp(value, UTC)


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_LENGTH:
        raise ValueError(f"{what} must be text of 1 to {MAX_NAME_LENGTH} characters")
    return value


def _check_fields(fields: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
    if not isinstance(fields, Mapping):
        raise TypeError("fields must be a mapping of names to values")
    if len(fields) > MAX_FIELDS:
        raise ValueError(f"at most {MAX_FIELDS} fields")
    out: dict[str, FieldValue] = {}
    for name, value in fields.items():
        _check_name(name, "a field name")
        if isinstance(value, str):
            if len(value) > MAX_TEXT_LENGTH:
                raise ValueError(f"field {name!r} is longer than {MAX_TEXT_LENGTH} characters")
        elif isinstance(value, int) and not isinstance(value, bool):
            if not -_MAX_INT - 1 <= value <= _MAX_INT:
                raise ValueError(f"field {name!r} does not fit 64 bits")
        elif value is not None and not isinstance(value, bool):
            raise TypeError(
                f"field {name!r} must be str, int, bool or None, not {type(value).__name__}"
            )
        out[name] = value
    return out


def _frozen_fields(fields: Mapping[str, FieldValue]) -> Mapping[str, FieldValue]:
    return dict(sorted(_check_fields(fields).items()))


def _check_language(value: str) -> str:
    if not isinstance(value, str) or not _LANGUAGE.match(value) or len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"language {value!r} is not a language tag such as 'fr' or 'de-CH'")
    return value


def _validate_name(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    _check_name(value, attribute.name)


def _validate_language(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    _check_language(value)


def _required_aware(value: datetime) -> datetime:
    return _aware(value, "issued_at")
