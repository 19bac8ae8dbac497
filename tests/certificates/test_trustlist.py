from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cbor2
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from jura_trust.certificates.cose import HEADER_CONTENT_TYPE, decode_sign1, sign1
from jura_trust.certificates.trustlist import (
    TRUST_LIST_CONTENT_TYPE,
    Issuer,
    IssuerKey,
    RevocationList,
    TrustList,
    key_id,
    verify_revocation_list,
    verify_trust_list,
)
from jura_trust.core.hashing import Imprint
from jura_trust.errors import CertificateError, ErrorCode

from .keys import ed, p256, p256_other, p384

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _root():  # type: ignore[no-untyped-def]
    return ed()


def _list(**overrides: object) -> TrustList:
    old = IssuerKey(
        kid=b"jura-2025",
        public_key=p256().public_key(),
        not_before=T0 - 365 * DAY,
        not_after=T0 + 30 * DAY,
    )
    new = IssuerKey(
        kid=b"jura-2026",
        public_key=p256_other().public_key(),
        not_before=T0,
        not_after=T0 + 400 * DAY,
    )
    jura = Issuer(
        id="CH-JU",
        name="République et Canton du Jura",
        keys=[old, new],
        document_types=["poursuites"],
    )
    other = Issuer(
        id="CH-NE",
        name="Neuchâtel",
        keys=[
            IssuerKey(
                kid=b"ne", public_key=p384().public_key(), not_before=T0, not_after=T0 + 90 * DAY
            )
        ],
        document_types=["poursuites", "casier"],
    )
    fields: dict[str, object] = {
        "issued_at": T0,
        "next_update": T0 + 7 * DAY,
        "issuers": [jura, other],
        "sequence": 3,
    }
    fields.update(overrides)
    return TrustList(**fields)  # type: ignore[arg-type]


def _code(info: pytest.ExceptionInfo[CertificateError]) -> ErrorCode:
    return info.value.code


def test_build_sign_verify_round_trip() -> None:
    trust_list = _list()
    signed = trust_list.sign(_root())
    verified = verify_trust_list(signed, [p384().public_key(), _root().public_key()], at=T0 + DAY)
    assert verified == trust_list
    assert verified.sequence == 3
    assert verified.issuer_by_id("CH-JU").name == "République et Canton du Jura"
    assert verified.issuer_by_id("CH-NE").allows("casier")
    assert not verified.issuer_by_id("CH-JU").allows("casier")
    message = decode_sign1(signed)
    assert message.kid == key_id(_root().public_key())
    assert message.protected_header[HEADER_CONTENT_TYPE] == TRUST_LIST_CONTENT_TYPE


def test_payload_is_canonical_and_deterministic() -> None:
    payload = _list().to_cbor()
    assert payload == _list().to_cbor()
    assert cbor2.dumps(cbor2.loads(payload), canonical=True) == payload


def test_rotation_overlap() -> None:
    trust_list = verify_trust_list(_list().sign(_root()), [_root().public_key()], at=T0)
    # during the overlap both keys are valid
    for kid in (b"jura-2025", b"jura-2026"):
        issuer, key = trust_list.key_by_kid(kid, at=T0 + 10 * DAY)
        assert issuer.id == "CH-JU"
        assert key.kid == kid
    # after the old key's end only the new one is
    with pytest.raises(CertificateError) as info:
        trust_list.key_by_kid(b"jura-2025", at=T0 + 31 * DAY)
    assert _code(info) is ErrorCode.CRT_KEY_NOT_VALID
    assert trust_list.key_by_kid(b"jura-2026", at=T0 + 31 * DAY)[1].public_key is not None
    # before the new key's start it is not valid
    with pytest.raises(CertificateError) as info:
        trust_list.issuer_by_id("CH-JU").key_by_kid(b"jura-2026", at=T0 - DAY)
    assert _code(info) is ErrorCode.CRT_KEY_NOT_VALID


def test_unknown_lookups() -> None:
    trust_list = _list()
    with pytest.raises(CertificateError) as info:
        trust_list.issuer_by_id("CH-VD")
    assert _code(info) is ErrorCode.CRT_UNKNOWN_ISSUER
    with pytest.raises(CertificateError) as info:
        trust_list.key_by_kid(b"nope", at=T0)
    assert _code(info) is ErrorCode.CRT_UNKNOWN_ISSUER
    with pytest.raises(CertificateError) as info:
        trust_list.issuer_by_id("CH-NE").key_by_kid(b"jura-2026", at=T0)
    assert _code(info) is ErrorCode.CRT_UNKNOWN_ISSUER


def test_expired_and_not_yet_valid_list() -> None:
    signed = _list().sign(_root())
    for at in (T0 + 8 * DAY, T0 - DAY):
        with pytest.raises(CertificateError) as info:
            verify_trust_list(signed, [_root().public_key()], at=at)
        assert _code(info) is ErrorCode.CRT_TRUST_LIST_INVALID
    verify_trust_list(signed, [_root().public_key()], at=T0 + 7 * DAY)  # inclusive end


def test_tampered_list_fails() -> None:
    signed = bytearray(_list().sign(_root()))
    position = signed.index(b"Neuch")
    signed[position] ^= 0x20  # "neuch"
    with pytest.raises(CertificateError) as info:
        verify_trust_list(bytes(signed), [_root().public_key()], at=T0)
    assert _code(info) is ErrorCode.CRT_BAD_SIGNATURE


def test_wrong_root_is_unknown() -> None:
    with pytest.raises(CertificateError) as info:
        verify_trust_list(_list().sign(_root()), [p256().public_key()], at=T0)
    assert _code(info) is ErrorCode.CRT_UNKNOWN_ISSUER


def test_root_kid_collision_with_wrong_key_fails_signature() -> None:
    signed = _list().sign(_root(), kid=key_id(p384().public_key()))
    with pytest.raises(CertificateError) as info:
        verify_trust_list(signed, [p384().public_key()], at=T0)
    assert _code(info) is ErrorCode.CRT_ALGORITHM_MISMATCH


def test_revocation_list_cannot_pass_as_trust_list() -> None:
    revocations = RevocationList(issued_at=T0, next_update=T0 + DAY, revoked=[b"\x01" * 33])
    with pytest.raises(CertificateError) as info:
        verify_trust_list(revocations.sign(_root()), [_root().public_key()], at=T0)
    assert _code(info) is ErrorCode.CRT_BAD_STRUCTURE


def test_duplicate_ids_rejected() -> None:
    jura = _list().issuers[0]
    with pytest.raises(ValueError):
        TrustList(issued_at=T0, next_update=T0 + DAY, issuers=[jura, jura])


def _signed_payload(payload: object) -> bytes:
    return sign1(
        cbor2.dumps(payload),
        _root(),
        kid=key_id(_root().public_key()),
        protected={HEADER_CONTENT_TYPE: TRUST_LIST_CONTENT_TYPE},
    ).encode()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.update(version=2),
        lambda p: p.pop("issuers"),
        lambda p: p.update(issued_at="yesterday"),
        lambda p: p["issuers"][0].update(id=7),
        lambda p: p["issuers"][0]["keys"][0].update(key=b"not a key"),
        lambda p: p["issuers"][0]["keys"][0].update(kid=b""),
        lambda p: p["issuers"][0]["keys"][0].update(key={1: 2, -1: 1, -2: b"\x00", -3: b"\x00"}),
        lambda p: p["issuers"].append(p["issuers"][0]),
        lambda p: p.update(sequence=-1),
    ],
)
def test_malformed_payload_is_crt04(mutate) -> None:  # type: ignore[no-untyped-def]
    payload = cbor2.loads(_list().to_cbor())
    payload = dict(payload.items())
    payload["issuers"] = [dict(i, keys=[dict(k) for k in i["keys"]]) for i in payload["issuers"]]
    mutate(payload)
    with pytest.raises(CertificateError) as info:
        verify_trust_list(_signed_payload(payload), [_root().public_key()], at=T0)
    assert _code(info) is ErrorCode.CRT_BAD_STRUCTURE


def test_cose_key_form_accepted() -> None:
    public = p256().public_key()
    numbers = public.public_numbers()
    payload = cbor2.loads(_list().to_cbor())
    payload["issuers"] = [dict(i, keys=[dict(k) for k in i["keys"]]) for i in payload["issuers"]]
    payload["issuers"][0]["keys"][0]["key"] = {
        1: 2,
        -1: 1,
        -2: numbers.x.to_bytes(32, "big"),
        -3: numbers.y.to_bytes(32, "big"),
    }
    verified = verify_trust_list(_signed_payload(payload), [_root().public_key()], at=T0)
    key = verified.issuer_by_id("CH-JU").keys[0]
    assert key.spki == public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def test_revocation_list() -> None:
    revoked_imprint = Imprint.hash(b"leaf 1")
    revocations = RevocationList(
        issued_at=T0,
        next_update=T0 + DAY,
        revoked=[revoked_imprint, b"\x01" + b"\x22" * 32],
        sequence=9,
    )
    signed = revocations.sign(p256(), kid=None)
    verified = verify_revocation_list(signed, [p256().public_key()], at=T0 + DAY / 2)
    assert verified == revocations
    assert verified.is_revoked(revoked_imprint)
    assert verified.is_revoked(revoked_imprint.value)
    assert not verified.is_revoked(Imprint.hash(b"leaf 2"))
    with pytest.raises(CertificateError) as info:
        verify_revocation_list(signed, [p256().public_key()], at=T0 + 2 * DAY)
    assert _code(info) is ErrorCode.CRT_TRUST_LIST_INVALID
    tampered = bytearray(signed)
    tampered[tampered.index(b"\x22" * 32)] ^= 1
    with pytest.raises(CertificateError) as info:
        verify_revocation_list(bytes(tampered), [p256().public_key()], at=T0)
    assert _code(info) is ErrorCode.CRT_BAD_SIGNATURE


def test_naive_time_is_misuse() -> None:
    with pytest.raises(ValueError):
        verify_trust_list(b"", [], at=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        TrustList(issued_at=datetime(2026, 1, 1), next_update=T0, issuers=[])
