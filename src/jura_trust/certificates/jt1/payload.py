"""JT1 payloads: what an issuer certifies (:class:`Document`) and its CBOR (:class:`Payload`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from jura_trust.certificates._cbor import dumps_canonical, loads_strict
from jura_trust.certificates.jt1._common import (
    _P_FIELDS,
    _P_FROM,
    _P_ISSUED,
    _P_ISSUER,
    _P_LANG,
    _P_SALT,
    _P_TYPE,
    _P_UNTIL,
    _P_VERSION,
    _PAYLOAD_KEYS,
    _PAYLOAD_REQUIRED,
    JT1_VERSION,
    SALT_LENGTH,
    FieldValue,
    _check_language,
    _check_name,
    _from_numeric,
    _frozen_fields,
    _malformed,
    _optional_aware,
    _required_aware,
    _to_numeric,
    _validate_language,
    _validate_name,
)
from jura_trust.errors import CertificateError

# -- payload -----------------------------------------------------------------------


@attrs.frozen(slots=True)
class Document:
    """What an issuer wants to certify: one entry of a batch.

    Attributes:
        document_type: the document type (must be allowed for the issuer
            in the trust list), e.g. ``"debt-register-extract"``.
        fields: the subject fields, name -> text, integer, bool or null.
            Names and values are printed in clear in the QR code.
        language: the language of the field values (``"fr"``, ``"de-CH"``).
        valid_until: when the certificate expires (``None``: never).
        valid_from: when it starts being valid (``None``: at issuance).
    """

    document_type: str = attrs.field(validator=_validate_name)
    fields: Mapping[str, FieldValue] = attrs.field(converter=_frozen_fields, eq=False)
    language: str = attrs.field(default="fr", validator=_validate_language)
    valid_until: datetime | None = attrs.field(default=None, converter=_optional_aware)
    valid_from: datetime | None = attrs.field(default=None, converter=_optional_aware)


@attrs.frozen(slots=True)
class Payload:
    """A certificate's payload: the facts in clear, issuer, times and salt.

    Attributes:
        document_type: the document type.
        issuer_id: the issuer id (as in the trust list).
        issued_at: the claimed time of issuance.
        language: the language of the field values.
        fields: the subject fields (sorted by name).
        salt: 16 random bytes.
        valid_until: expiry, or ``None``.
        valid_from: start of validity, or ``None`` (= ``issued_at``).
    """

    document_type: str
    issuer_id: str
    issued_at: datetime = attrs.field(converter=_required_aware)
    language: str
    fields: Mapping[str, FieldValue] = attrs.field(converter=_frozen_fields)
    salt: bytes
    valid_until: datetime | None = attrs.field(default=None, converter=_optional_aware)
    valid_from: datetime | None = attrs.field(default=None, converter=_optional_aware)

    def __attrs_post_init__(self) -> None:
        _check_name(self.document_type, "document_type")
        _check_name(self.issuer_id, "issuer_id")
        _check_language(self.language)
        if not isinstance(self.salt, bytes) or len(self.salt) != SALT_LENGTH:
            raise ValueError(f"salt must be {SALT_LENGTH} bytes")

    @property
    def starts_at(self) -> datetime:
        """The start of validity: ``valid_from`` or else ``issued_at``."""
        return self.valid_from if self.valid_from is not None else self.issued_at

    def to_cbor(self) -> bytes:
        """The canonical CBOR encoding (what the leaf hash covers)."""
        item: dict[int, Any] = {
            _P_VERSION: JT1_VERSION,
            _P_TYPE: self.document_type,
            _P_ISSUER: self.issuer_id,
            _P_ISSUED: _to_numeric(self.issued_at),
            _P_LANG: self.language,
            _P_FIELDS: dict(self.fields),
            _P_SALT: self.salt,
        }
        if self.valid_until is not None:
            item[_P_UNTIL] = _to_numeric(self.valid_until)
        if self.valid_from is not None:
            item[_P_FROM] = _to_numeric(self.valid_from)
        return dumps_canonical(item)

    @classmethod
    def from_cbor(cls, data: bytes) -> Payload:
        """Decode strictly: known keys only, right types, canonical bytes.

        Raises:
            CertificateError: ``CRT-04`` for anything else.
        """
        item = loads_strict(data, "JT1 payload")
        if not isinstance(item, Mapping):
            raise _malformed("JT1 payload is not a map")
        keys = set(item)
        if not keys >= _PAYLOAD_REQUIRED or not keys <= _PAYLOAD_KEYS:
            raise _malformed("JT1 payload has missing or unknown keys")
        if item[_P_VERSION] != JT1_VERSION or isinstance(item[_P_VERSION], bool):
            raise _malformed(f"unsupported JT1 payload version {item[_P_VERSION]!r}")
        fields = item[_P_FIELDS]
        if not isinstance(fields, Mapping):
            raise _malformed("JT1 fields are not a map")
        try:
            payload = cls(
                document_type=item[_P_TYPE],
                issuer_id=item[_P_ISSUER],
                issued_at=_from_numeric(item[_P_ISSUED], "issued_at"),
                language=item[_P_LANG],
                fields=dict(fields),
                salt=item[_P_SALT],
                valid_until=(
                    _from_numeric(item[_P_UNTIL], "valid_until") if _P_UNTIL in item else None
                ),
                valid_from=(
                    _from_numeric(item[_P_FROM], "valid_from") if _P_FROM in item else None
                ),
            )
        except CertificateError:
            raise
        except (TypeError, ValueError) as exc:
            raise _malformed(f"bad JT1 payload: {exc}") from exc
        if payload.to_cbor() != bytes(data):
            raise _malformed("JT1 payload is not in canonical CBOR form")
        return payload
