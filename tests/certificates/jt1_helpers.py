"""Shared set-up for the JT1 tests: an embedded KSI backend, keys, a trust list."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2

from jura_trust.backends.base import ManualClock
from jura_trust.backends.memory import EmbeddedBackend
from jura_trust.certificates._cbor import dumps_canonical
from jura_trust.certificates.envelope import decode_envelope, encode_envelope
from jura_trust.certificates.jt1 import ZDICT_V2, Document
from jura_trust.certificates.trustlist import Issuer, IssuerKey, TrustList, key_id
from tests.certificates import keys

T0 = 1_700_000_000
NOW = datetime.fromtimestamp(T0, UTC)
LATER = NOW + timedelta(days=1)
ISSUER = "CH-JU-OP"
DOC_TYPE = "debt-register-extract"

FIELDS: dict[str, Any] = {
    "nom": "Muster",
    "prenom": "Hans",
    "naissance": "1980-04-12",
    "npa": "2800",
    "localite": "Delémont",
    "extrait": "2024-000123",
    "statut": "aucune poursuite",
    "poursuites": 0,
    "actes": 0,
    "office": "OP Delémont",
}


@functools.cache
def backend() -> EmbeddedBackend:
    return EmbeddedBackend(clock=ManualClock(T0))


def document(**changes: Any) -> Document:
    fields = dict(FIELDS)
    fields.update(changes.pop("fields", {}))
    return Document(
        document_type=changes.pop("document_type", DOC_TYPE),
        fields=fields,
        valid_until=changes.pop("valid_until", NOW + timedelta(days=90)),
        **changes,
    )


def issuer_key(key: Any, *, days_before: int = 10, days_after: int = 700) -> IssuerKey:
    return IssuerKey(
        kid=key_id(key.public_key()),
        public_key=key.public_key(),
        not_before=NOW - timedelta(days=days_before),
        not_after=NOW + timedelta(days=days_after),
    )


def trust_list(*issuer_keys: IssuerKey, types: tuple[str, ...] = (DOC_TYPE,)) -> TrustList:
    ks = issuer_keys or (issuer_key(keys.p256()), issuer_key(keys.ed()), issuer_key(keys.rsa2048()))
    return TrustList(
        issued_at=NOW - timedelta(days=30),
        next_update=NOW + timedelta(days=365),
        issuers=[
            Issuer(ISSUER, "Office des poursuites du Jura", ks, types),
            Issuer("OTHER", "Another office", [issuer_key(keys.p256_other())], types),
        ],
    )


def envelope_item(text: str) -> dict[int, Any]:
    return dict(cbor2.loads(decode_envelope(text, zdict=ZDICT_V2)))


def rebuild(item: dict[int, Any], *, zdict: bytes | None = ZDICT_V2) -> str:
    return encode_envelope(dumps_canonical(item), zdict=zdict)
