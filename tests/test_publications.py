"""Tests for jura_trust.publications: the KSIPUBLF publications file."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jura_trust import pki
from jura_trust.core import tlv
from jura_trust.core.hashing import Imprint
from jura_trust.core.publication import (
    PublicationData,
    PublicationRecord,
    decode_publication_string,
)
from jura_trust.errors import ErrorCode, FormatError, JuraError, PKIError
from jura_trust.publications import DEFAULT_CONSTRAINTS, MAGIC, PublicationsFile
from tests.budget import scaled
from tests.vectors import ksi_bytes

MOCK_FILE = "pubfiles/publications.tlv"
REAL_FILE = "pubfiles/publications-file.bin"
RESIGNED_FILE = "pubfiles/publications-file-resigned.bin"
ALL_FILES = [MOCK_FILE, REAL_FILE, RESIGNED_FILE]

CREATED_2024 = 1710870545  # header of the 2024 files (2024-03-19)
AFTER_EXPIRY = 1793500000  # 2026-11, after the resigned file's anchor expired
EMAIL = {"1.2.840.113549.1.9.1": "publications@guardtime.com"}


@pytest.fixture(scope="module")
def mock_anchor() -> pki.Certificate:
    return pki.load_certificate(ksi_bytes("certs/mock.crt"))


@pytest.fixture(scope="module")
def resign_anchor() -> pki.Certificate:
    return pki.load_certificate(
        ksi_bytes("certs/cert-file-for-deprecated-algorithm-in-calendar-chain.pem")
    )


@pytest.fixture(scope="module")
def mock_file() -> PublicationsFile:
    return PublicationsFile.parse(ksi_bytes(MOCK_FILE))


@pytest.fixture(scope="module")
def real_file() -> PublicationsFile:
    return PublicationsFile.parse(ksi_bytes(REAL_FILE))


# -- parsing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "certs", "pubs"), [(MOCK_FILE, 21, 77), (REAL_FILE, 4, 116), (RESIGNED_FILE, 4, 116)]
)
def test_vectors_parse_and_round_trip(name: str, certs: int, pubs: int) -> None:
    data = ksi_bytes(name)
    pf = PublicationsFile.parse(data)
    assert len(pf.certificates) == certs
    assert len(pf) == pubs
    assert len(list(pf)) == pubs
    assert pf.encode() == data
    assert pf.signed_bytes.startswith(MAGIC)
    assert data == pf.signed_bytes + tlv.encode(0x704, pf.signature_der or b"")
    assert pf.header.version == 1
    assert pf.repository_uri is None


def test_millisecond_creation_time(mock_file: PublicationsFile) -> None:
    assert mock_file.header.creation_time == 0x0149C8103848
    assert mock_file.creation_time == 0x0149C8103848 // 1000  # 2014-11-19


def test_second_creation_time(real_file: PublicationsFile) -> None:
    assert real_file.header.creation_time == CREATED_2024
    assert real_file.creation_time == CREATED_2024


# -- lookups -----------------------------------------------------------------------


def test_find_publication_in_mock_file(mock_file: PublicationsFile) -> None:
    for when in (1400112000, 1397520000):
        record = mock_file.find_publication(when)
        assert record is not None
        assert record.publication_time == when
    spec = decode_publication_string(
        "AAAAAA-CTJR3I-AANBWU-RY76YF-7TH2M5-KGEZVA-WLLRGD-3GKYBG-AM5WWV-4MCLSP-XPRDDI-UFMHBA"
    )
    record = mock_file.find_publication(1397520000, spec.published_hash)
    assert record is not None
    assert record.published_data == spec
    manifest = decode_publication_string(
        "AAAAAA-CTOQBY-AAMJYH-XZPM6T-UO6U6V-2WJMHQ-EJMVXR-JEAGID-2OY7P5-XFFKYI-QIF2LG-YOV7SO"
    )
    assert mock_file.find_publication(1400112000) == PublicationRecord.build(
        manifest,
        mock_file.find_publication(1400112000).references,  # type: ignore[union-attr]
    )
    assert mock_file.find_publication(1397520000, manifest.published_hash) is None
    assert mock_file.find_publication(1397520001) is None


def test_find_2024_publication(real_file: PublicationsFile) -> None:
    spec = decode_publication_string(
        "AAAAAA-DF6OHY-AAMWLC-WDLI7J-V6IP4V-JYT32Y-PFSQ54-KPUL3V-JCHMEN-VGPL3R-AQYKHA-54JPLO"
    )
    record = real_file.find_publication(1710460800)
    assert record is not None
    assert record.published_data == spec
    assert real_file.latest_publication() == record


def test_nearest_publication(mock_file: PublicationsFile) -> None:
    first = mock_file.nearest_publication(0)
    assert first is not None
    assert first.publication_time == 1208217600
    near = mock_file.nearest_publication(1398866256)  # ok-sig-2014-04-30.1 aggregation time
    assert near is not None
    assert near.publication_time == 1400112000
    exact = mock_file.nearest_publication(1400112000)
    assert exact is not None
    assert exact.publication_time == 1400112000
    latest = mock_file.latest_publication()
    assert latest is not None
    assert latest.publication_time == 1405382400
    assert mock_file.nearest_publication(1405382401) is None


@pytest.mark.parametrize(
    ("name", "cert_id", "cn"),
    [(MOCK_FILE, "c246b139", "H3"), (MOCK_FILE, "a42c61ad", "H1"), (REAL_FILE, "8aefeb78", "H2")],
)
def test_find_certificate(name: str, cert_id: str, cn: str) -> None:
    pf = PublicationsFile.parse(ksi_bytes(name))
    cert = pf.find_certificate(bytes.fromhex(cert_id))
    assert cert is not None
    assert cert.subject.rfc4514_string() == f"O=Guardtime,CN={cn}"
    record = pf.find_certificate_record(bytes.fromhex(cert_id))
    assert record is not None
    assert record.certificate_der == pki.certificate_der(cert)
    assert pf.find_certificate(b"\x00\x00\x00\x00") is None


# -- trust -------------------------------------------------------------------------


def test_mock_file_verifies_offline_now(
    mock_file: PublicationsFile, mock_anchor: pki.Certificate
) -> None:
    result = mock_file.verify([mock_anchor], EMAIL)  # at the current time
    assert result.signer == mock_anchor
    assert mock_file.verify([mock_anchor], {"E": "publications@guardtime.com"}, int(time.time()))
    assert mock_file.verify([mock_anchor], DEFAULT_CONSTRAINTS, 1790000000)
    assert mock_file.is_trusted([mock_anchor], EMAIL)


def test_wrong_constraint_fails_pki_04(
    mock_file: PublicationsFile, mock_anchor: pki.Certificate
) -> None:
    with pytest.raises(PKIError) as info:
        mock_file.verify([mock_anchor], {"E": "someone@guardtime.com"}, 1790000000)
    assert info.value.code is ErrorCode.PKI_CONSTRAINT
    assert not mock_file.is_trusted([mock_anchor], {"E": "someone@guardtime.com"})


def test_no_constraints_fails_pki_01(
    mock_file: PublicationsFile, mock_anchor: pki.Certificate
) -> None:
    with pytest.raises(PKIError) as info:
        mock_file.verify([mock_anchor], {}, 1790000000)
    assert info.value.code is ErrorCode.PKI_NOT_CONFIGURED
    with pytest.raises(PKIError) as info:
        mock_file.verify([], EMAIL, 1790000000)
    assert info.value.code is ErrorCode.PKI_NOT_CONFIGURED


def test_resigned_file_verifies_at_creation_not_now(resign_anchor: pki.Certificate) -> None:
    # The file's CMS signature uses SHA-1: accepted only with the opt-in.
    pf = PublicationsFile.parse(ksi_bytes(RESIGNED_FILE))
    pf.verify([resign_anchor], EMAIL, pf.creation_time, allow_sha1=True)
    with pytest.raises(PKIError) as info:
        pf.verify([resign_anchor], EMAIL, AFTER_EXPIRY, allow_sha1=True)
    assert info.value.code is ErrorCode.PKI_EXPIRED
    with pytest.raises(PKIError) as info:
        pf.verify([resign_anchor], EMAIL, allow_sha1=True)  # now: the anchor expired 2026-07-10
    assert info.value.code is ErrorCode.PKI_EXPIRED


def test_sha1_resigned_file_needs_the_opt_in(resign_anchor: pki.Certificate) -> None:
    pf = PublicationsFile.parse(ksi_bytes(RESIGNED_FILE))
    with pytest.raises(PKIError) as info:
        pf.verify([resign_anchor], EMAIL, pf.creation_time)
    assert info.value.code is ErrorCode.PKI_WEAK_ALGORITHM
    assert not pf.is_trusted([resign_anchor], EMAIL, pf.creation_time)
    assert pf.is_trusted([resign_anchor], EMAIL, pf.creation_time, allow_sha1=True)


def test_real_file_is_untrusted_without_globalsign_root(
    real_file: PublicationsFile, mock_anchor: pki.Certificate, resign_anchor: pki.Certificate
) -> None:
    with pytest.raises(PKIError) as info:
        real_file.verify([mock_anchor, resign_anchor], EMAIL, CREATED_2024)
    assert info.value.code is ErrorCode.PKI_UNTRUSTED


def test_resigned_file_signature_is_not_the_real_one(resign_anchor: pki.Certificate) -> None:
    # Same content, different signature: splicing the real file's CMS onto the
    # re-signed content is still bound to the same signed bytes.
    real = PublicationsFile.parse(ksi_bytes(REAL_FILE))
    resigned = PublicationsFile.parse(ksi_bytes(RESIGNED_FILE))
    assert real.signed_bytes == resigned.signed_bytes
    assert real.signature_der != resigned.signature_der


def test_altered_content_fails_pki_02(mock_anchor: pki.Certificate) -> None:
    data = bytearray(ksi_bytes(MOCK_FILE))
    pf = PublicationsFile.parse(bytes(data))
    record = pf.find_publication(1400112000)
    assert record is not None
    published = record.published_data.raw
    pos = bytes(data).index(published) + len(published) - 1  # last hash byte
    data[pos] ^= 0x01
    tampered = PublicationsFile.parse(bytes(data))
    with pytest.raises(PKIError) as info:
        tampered.verify([mock_anchor], EMAIL, 1790000000)
    assert info.value.code is ErrorCode.PKI_BAD_SIGNATURE


# -- structural defects ---------------------------------------------------------------


def _elements(name: str) -> list[tlv.TLV]:
    return tlv.decode_sequence(ksi_bytes(name)[8:])


def _assemble(elements: list[tlv.TLV], extra: bytes = b"") -> bytes:
    return MAGIC + b"".join(e.raw for e in elements) + extra


def _fmt14(data: bytes) -> FormatError:
    with pytest.raises(FormatError) as info:
        PublicationsFile.parse(data)
    assert info.value.code is ErrorCode.FMT_BAD_PUBLICATIONS_FILE
    return info.value


def test_publication_appended_after_signature_fails() -> None:
    elements = _elements(MOCK_FILE)
    extra = next(e for e in elements if e.type == 0x703).raw
    err = _fmt14(_assemble(elements, extra))
    assert "after the signature" in err.message


@pytest.mark.parametrize("extra", [b"\x00", b"\x00\x00", tlv.encode(0x1F, b"", non_critical=True)])
def test_anything_after_signature_fails(extra: bytes) -> None:
    _fmt14(ksi_bytes(MOCK_FILE) + extra)


def test_bad_magic_and_empty() -> None:
    _fmt14(b"")
    _fmt14(b"KSIPUBL")
    _fmt14(b"KSIPUBLX" + ksi_bytes(MOCK_FILE)[8:])
    _fmt14(MAGIC)


def test_order_is_enforced() -> None:
    els = _elements(MOCK_FILE)
    header, certs = els[0], [e for e in els if e.type == 0x702]
    pubs, sig = [e for e in els if e.type == 0x703], els[-1]
    _fmt14(_assemble([certs[0], header, *certs[1:], *pubs, sig]))  # header not first
    _fmt14(_assemble([header, *pubs[:1], *certs, *pubs[1:], sig]))  # cert after publication
    _fmt14(_assemble([header, header, *certs, *pubs, sig]))  # two headers
    _fmt14(_assemble([header, *certs, *pubs]))  # no signature
    _fmt14(_assemble([*certs, *pubs, sig]))  # no header
    _fmt14(_assemble([header, *certs, *pubs, sig, sig]))  # two signatures
    _fmt14(_assemble([header, *certs, *pubs, tlv.TLV.build(0x704, b"")]))  # empty signature
    # Header and signature alone are fine.
    assert len(PublicationsFile.parse(_assemble([header, sig]))) == 0


def test_two_hashes_for_one_second_attack() -> None:
    """A file with two publications of one second and different hashes is refused (FMT-14).

    Before, the first record of a second was the one found, so a signature
    was OK or FAIL depending on the order of the records.
    """
    els = _elements(MOCK_FILE)
    header, certs = els[0], [e for e in els if e.type == 0x702]
    pubs, sig = [e for e in els if e.type == 0x703], els[-1]
    record = PublicationRecord.from_tlv(pubs[0])
    value = record.published_hash.value
    other = Imprint(value[:-1] + bytes([value[-1] ^ 1]))
    rival_record = PublicationRecord.build(
        PublicationData(record.publication_time, other), tlv_type=0x703
    )
    rival = tlv.decode(rival_record.encode())
    for order in ([*pubs, rival], [rival, *pubs]):
        err = _fmt14(_assemble([header, *certs, *order, sig]))
        assert "two publications of one second" in err.message
    # The same record twice is harmless: one publication, one answer.
    twice = PublicationsFile.parse(_assemble([header, *certs, *pubs, pubs[0], sig]))
    assert twice.find_publication(record.publication_time) == record


def test_unknown_elements() -> None:
    els = _elements(MOCK_FILE)
    lenient = tlv.TLV.build(0x705, b"future", non_critical=True)
    data = _assemble([*els[:-1], lenient, els[-1]])
    pf = PublicationsFile.parse(data)
    assert pf.unknown == (lenient,)
    assert pf.encode() == data
    assert lenient.raw in pf.signed_bytes
    critical = tlv.TLV.build(0x705, b"future")
    err = _fmt14(_assemble([*els[:-1], critical, els[-1]]))
    assert "unknown critical" in err.message


def test_inner_defects_are_fmt_14_with_cause() -> None:
    els = _elements(MOCK_FILE)
    bad_header = tlv.TLV.build(0x701, tlv.encode(0x01, b"\x02") + tlv.encode(0x02, b"\x01"))
    assert "version" in _fmt14(_assemble([bad_header, *els[1:]])).message
    no_time = tlv.TLV.build(0x701, tlv.encode(0x01, b"\x01"))
    assert _fmt14(_assemble([no_time, *els[1:]])).details["cause"] == "FMT-05"
    bad_cert = tlv.TLV.build(0x702, tlv.encode(0x01, b"abcd") + tlv.encode(0x02, b"\x30\x00"))
    assert _fmt14(_assemble([els[0], bad_cert, *els[1:]])).details["cause"] == "FMT-18"
    no_id = tlv.TLV.build(0x702, tlv.encode(0x01, b"") + els[1].value[6:])
    _fmt14(_assemble([els[0], no_id, *els[2:]]))


def _cut_points(data: bytes) -> list[int]:
    points = set(range(0, len(data), 61))
    offset = 8
    for element in tlv.decode_sequence(data[8:]):
        points.update({offset - 1, offset, offset + 1, offset + 3, offset + 4})
        offset += len(element.raw)
    return sorted(p for p in points if 0 <= p < len(data))


@pytest.mark.parametrize("name", ALL_FILES)
def test_truncations_raise_only_format_error(name: str) -> None:
    data = ksi_bytes(name)
    for cut in _cut_points(data):
        with pytest.raises(FormatError):
            PublicationsFile.parse(data[:cut])


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_FILES)
def test_every_truncation_raises_only_format_error(name: str, long_run: bool) -> None:
    """Every cut point with JURA_TRUST_LONG=1; in CI every 7th byte (a bounded run)."""
    data = ksi_bytes(name)
    step = 1 if long_run else 7
    for cut in range(0, len(data), step):
        with pytest.raises(FormatError) as info:
            PublicationsFile.parse(data[:cut])
        assert info.value.code is ErrorCode.FMT_BAD_PUBLICATIONS_FILE


# -- building and signing -------------------------------------------------------------------

T = 1790000000


@pytest.fixture(scope="module")
def publisher() -> tuple[pki.PrivateKey, pki.Certificate]:
    key = pki.generate_rsa_key()
    cert = pki.self_signed_certificate(
        key,
        {"E": "publications@canton.example", "O": "Canton"},
        not_before=T - 86400,
        not_after=T + 365 * 86400,
    )
    return key, cert


def test_build_sign_parse_verify(
    publisher: tuple[pki.PrivateKey, pki.Certificate], mock_file: PublicationsFile
) -> None:
    key, cert = publisher
    calendar = pki.CalendarSigner.generate(common_name="H1", not_before=T, not_after=T + 86400)
    sig_record = PublicationRecord.build(
        PublicationData.build(T - 100, Imprint.hash(b"root")), ["Official Bulletin 1/2026"]
    )
    records = [*list(mock_file)[:5], sig_record]
    unsigned = PublicationsFile.build(
        T,
        {calendar.certificate_id: calendar.certificate, b"\x01\x02\x03\x04": cert},
        records,
        repository_uri="https://publications.canton.example/",
    )
    with pytest.raises(ValueError, match="not signed"):
        unsigned.encode()
    with pytest.raises(PKIError) as info:
        unsigned.verify([cert], {"E": "publications@canton.example"}, T)
    assert info.value.code is ErrorCode.PKI_BAD_SIGNATURE

    data = unsigned.sign(key, cert)
    assert data.startswith(unsigned.signed_bytes)
    pf = PublicationsFile.parse(data)
    assert pf.encode() == data
    assert pf.signed_bytes == unsigned.signed_bytes
    assert pf.header == unsigned.header
    assert pf.repository_uri == "https://publications.canton.example/"
    assert pf.creation_time == T
    assert pf.publications == tuple(records)
    assert all(r.tlv_type == 0x703 for r in pf.publications)
    assert [r.raw for r in pf.publications[:5]] == [r.raw for r in records[:5]]
    assert pf.find_certificate(calendar.certificate_id) == calendar.certificate
    assert pf.find_certificate(b"\x01\x02\x03\x04") == cert
    found = pf.find_publication(T - 100)
    assert found == sig_record
    assert found is not None
    assert found.references == ("Official Bulletin 1/2026",)

    result = pf.verify([cert], {"E": "publications@canton.example", "O": "Canton"}, T)
    assert result.signer == cert
    with pytest.raises(PKIError) as info:
        pf.verify([cert], DEFAULT_CONSTRAINTS, T)
    assert info.value.code is ErrorCode.PKI_CONSTRAINT
    with pytest.raises(PKIError) as info:
        pf.verify([cert], {"E": "publications@canton.example"}, T + 2 * 365 * 86400)
    assert info.value.code is ErrorCode.PKI_EXPIRED


def test_build_empty_and_misuse(publisher: tuple[pki.PrivateKey, pki.Certificate]) -> None:
    key, cert = publisher
    data = PublicationsFile.build(T, {}, []).sign(key, cert)
    pf = PublicationsFile.parse(data)
    assert len(pf) == 0
    assert pf.latest_publication() is None
    assert pf.nearest_publication(0) is None
    pf.verify([cert], {"O": "Canton"}, T)
    with pytest.raises(ValueError, match="non-empty"):
        PublicationsFile.build(T, {}, [], repository_uri="")
    with pytest.raises(ValueError, match="non-empty"):
        PublicationsFile.build(T, {b"": cert}, [])


# -- fuzzing ---------------------------------------------------------------------------------


@pytest.mark.fuzz
@pytest.mark.parametrize("name", ALL_FILES)
@settings(
    max_examples=scaled(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutations_raise_only_jura_errors(
    name: str, mock_anchor: pki.Certificate, data: st.DataObject
) -> None:
    buf = bytearray(ksi_bytes(name))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        pos = data.draw(st.integers(0, len(buf) - 1), label="pos")
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete"]), label="op")
        if op == "flip":
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set":
            buf[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
        else:
            del buf[pos : pos + data.draw(st.integers(1, 4))]
    try:
        pf = PublicationsFile.parse(bytes(buf))
    except FormatError:
        return
    assert pf.encode() == bytes(buf)
    try:
        pf.verify([mock_anchor], EMAIL, 1790000000)
    except JuraError:
        pass
