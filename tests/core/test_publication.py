"""Tests for jura_trust.core.publication: published data, records, strings."""

from __future__ import annotations

import base64
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jura_trust.core import tlv
from jura_trust.core.hashing import HashAlgorithm, Imprint
from jura_trust.core.publication import (
    PublicationData,
    PublicationRecord,
    decode_publication_string,
    encode_publication_string,
)
from jura_trust.errors import ErrorCode, FormatError
from tests.budget import scaled
from tests.vectors import ksi_bytes

# -- strategies -------------------------------------------------------------------

algorithms = st.sampled_from(list(HashAlgorithm))
times = st.integers(min_value=0, max_value=(1 << 64) - 1)


@st.composite
def imprints(draw: st.DrawFn) -> Imprint:
    alg = draw(algorithms)
    return Imprint.of(alg, draw(st.binary(min_size=alg.digest_size, max_size=alg.digest_size)))


@st.composite
def publication_data(draw: st.DrawFn) -> PublicationData:
    return PublicationData.build(draw(times), draw(imprints()), forward=draw(st.booleans()))


ksi_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
)

# -- printed examples ---------------------------------------------------------------

SPEC_EXAMPLES = [
    (
        "AAAAAA-CTJR3I-AANBWU-RY76YF-7TH2M5-KGEZVA-WLLRGD-3GKYBG-AM5WWV-4MCLSP-XPRDDI-UFMHBA",
        1397520000,
        "01a1b5238ffb05fccfa67546266a0b2d7130f6656026033b6b578c12e4fbbe231a",
    ),
    (
        "AAAAAA-DF6OHY-AAMWLC-WDLI7J-V6IP4V-JYT32Y-PFSQ54-KPUL3V-JCHMEN-VGPL3R-AQYKHA-54JPLO",
        1710460800,
        None,  # only the ends of the hash are in the spec: 019658ac...0a38
    ),
]

MANIFEST_STRINGS = [
    (
        "AAAAAA-CTOQBY-AAMJYH-XZPM6T-UO6U6V-2WJMHQ-EJMVXR-JEAGID-2OY7P5-XFFKYI-QIF2LG-YOV7SO",
        1400112000,
    ),
    (
        "AAAAAA-DF6NWU-2ANERL-ZQKP5E-WEEQEF-JT76EI-HLTKXG-FQKRZC-ZJJV4E-LAJNHZ-2WY22Z-C3V2JA",
        1710452045,
    ),
]


@pytest.mark.parametrize(("text", "when", "hash_hex"), SPEC_EXAMPLES)
def test_spec_examples_decode_and_reencode(text: str, when: int, hash_hex: str | None) -> None:
    data = decode_publication_string(text)
    assert data.publication_time == when
    assert data.published_hash.algorithm is HashAlgorithm.SHA2_256
    if hash_hex is not None:
        assert data.published_hash.hex() == hash_hex
    else:
        assert data.published_hash.hex().startswith("019658ac")
        assert data.published_hash.hex().endswith("0a38")
    assert encode_publication_string(data) == text
    assert data.publication_string() == text
    assert len(text) == 83  # 72 base32 characters + 11 dashes


@pytest.mark.parametrize(("text", "when"), MANIFEST_STRINGS)
def test_manifest_strings(text: str, when: int) -> None:
    data = decode_publication_string(text)
    assert data.publication_time == when
    assert encode_publication_string(data) == text


def test_manifest_string_matches_known_calendar_root() -> None:
    data = decode_publication_string(MANIFEST_STRINGS[0][0])
    assert data.published_hash.hex().startswith("0189c1ef")
    assert data.published_hash.hex().endswith("ba59")


def test_lenient_spelling_is_accepted() -> None:
    text = SPEC_EXAMPLES[0][0]
    expected = decode_publication_string(text)
    assert decode_publication_string(text.lower()) == expected
    assert decode_publication_string(text.replace("-", "")) == expected
    assert decode_publication_string(f"  {text}\n") == expected
    assert decode_publication_string(text.replace("-", "--")) == expected


def test_padding_is_emitted_and_interleaved_with_dashes() -> None:
    data = PublicationData.build(1397520000, Imprint.of(HashAlgorithm.SHA1, bytes(20)))
    text = encode_publication_string(data)
    assert text.endswith("=-==")
    assert decode_publication_string(text) == data
    # Padding may also be dropped.
    assert decode_publication_string(text.rstrip("=-")) == data


def _string_from_body(body: bytes) -> str:
    raw = body + zlib.crc32(body).to_bytes(4, "big")
    return base64.b32encode(raw).decode()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("AAAAAA", "too short"),
        ("AAAAAA-CTJR3I-AANBWU-RY76YF", "truncated"),
        (SPEC_EXAMPLES[0][0][:-1] + "B", "CRC"),
        (SPEC_EXAMPLES[0][0][:-1], "one character missing"),
        (SPEC_EXAMPLES[0][0] + "A", "one character too many"),
        (SPEC_EXAMPLES[0][0].replace("C", "1", 1), "digit 1 is not base32"),
        (SPEC_EXAMPLES[0][0].replace("C", "0", 1), "digit 0 is not base32"),
        (SPEC_EXAMPLES[0][0][:20] + "!" + SPEC_EXAMPLES[0][0][21:], "punctuation"),
        (SPEC_EXAMPLES[0][0] + "=A", "data after padding"),
        (SPEC_EXAMPLES[0][0][:40] + "=" + SPEC_EXAMPLES[0][0][40:], "padding in the middle"),
        (_string_from_body(bytes(8) + b"\x03" + bytes(32)), "reserved algorithm id 0x03"),
        (_string_from_body(bytes(8) + b"\x0c" + bytes(32)), "unknown algorithm id"),
        (_string_from_body(bytes(8) + b"\x01" + bytes(20)), "SHA-256 id with 20 bytes"),
        (_string_from_body(bytes(8) + b"\x00" + bytes(32)), "SHA-1 id with 32 bytes"),
        (_string_from_body(bytes(8)), "no imprint at all"),
    ],
)
def test_defective_strings_raise_fmt_11(text: str, why: str) -> None:
    with pytest.raises(FormatError) as info:
        decode_publication_string(text)
    assert info.value.code is ErrorCode.FMT_BAD_PUBLICATION_STRING, why


def test_nonzero_leftover_bits_are_rejected() -> None:
    data = PublicationData.build(1, Imprint.of(HashAlgorithm.SHA1, bytes(20)))
    text = encode_publication_string(data).rstrip("=-")
    # The last significant character carries 3 data bits and 2 padding bits.
    last = text[-1]
    bumped = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"["ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".index(last) ^ 1]
    with pytest.raises(FormatError) as info:
        decode_publication_string(text[:-1] + bumped)
    assert info.value.code is ErrorCode.FMT_BAD_PUBLICATION_STRING


def test_wrong_types_are_misuse() -> None:
    with pytest.raises(TypeError):
        decode_publication_string(b"AAAA")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_publication_string("AAAA")  # type: ignore[arg-type]


@settings(max_examples=scaled(200))
@given(publication_data())
def test_string_round_trip_all_algorithms(data: PublicationData) -> None:
    text = encode_publication_string(data)
    assert decode_publication_string(text) == data
    # Oracle: the stdlib's base32 with dashes every six characters.
    body = data.publication_time.to_bytes(8, "big") + data.published_hash.value
    oracle = base64.b32encode(body + zlib.crc32(body).to_bytes(4, "big")).decode()
    assert text.replace("-", "") == oracle
    assert all(len(g) == 6 for g in text.split("-")[:-1])


@settings(max_examples=scaled(150))
@given(publication_data(), st.data())
def test_any_single_character_substitution_is_detected(
    data: PublicationData, choice: st.DataObject
) -> None:
    text = encode_publication_string(data)
    positions = [i for i, c in enumerate(text) if c not in "-="]
    pos = choice.draw(st.sampled_from(positions))
    new = choice.draw(
        st.sampled_from([c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" if c != text[pos]])
    )
    with pytest.raises(FormatError) as info:
        decode_publication_string(text[:pos] + new + text[pos + 1 :])
    assert info.value.code is ErrorCode.FMT_BAD_PUBLICATION_STRING


@settings(max_examples=scaled(300))
@given(st.text(max_size=120))
def test_decoder_fuzz_raises_only_fmt_11(text: str) -> None:
    try:
        data = decode_publication_string(text)
    except FormatError as exc:
        code = exc.code
    else:
        cleaned = text.strip().upper().replace("-", "").rstrip("=")
        assert encode_publication_string(data).replace("-", "").rstrip("=") == cleaned
        return
    assert code is ErrorCode.FMT_BAD_PUBLICATION_STRING


# -- published data -------------------------------------------------------------------

SHA256_ROOT = Imprint.parse("01a1b5238ffb05fccfa67546266a0b2d7130f6656026033b6b578c12e4fbbe231a")


def test_build_headers_plain_and_forward() -> None:
    plain = PublicationData.build(1397520000, SHA256_ROOT)
    forward = PublicationData.build(1397520000, SHA256_ROOT, forward=True)
    assert plain.raw[:2] == bytes.fromhex("1029")
    assert forward.raw[:2] == bytes.fromhex("3029")
    assert plain.raw[2:] == forward.raw[2:]
    assert plain == forward  # raw is not compared
    assert not plain.forward
    assert forward.forward
    assert plain.encode() == plain.raw
    time_bytes = (1397520000).to_bytes(4, "big")
    assert plain.raw == bytes.fromhex("10290204") + time_bytes + b"\x04\x21" + SHA256_ROOT.value


def test_constructor_computes_canonical_raw() -> None:
    data = PublicationData(1397520000, SHA256_ROOT)
    assert data.raw == PublicationData.build(1397520000, SHA256_ROOT).raw


def test_from_tlv_keeps_raw_bytes() -> None:
    built = PublicationData.build(1397520000, SHA256_ROOT, forward=True)
    parsed = PublicationData.from_bytes(built.raw)
    assert parsed == built
    assert parsed.raw == built.raw
    assert parsed.forward


@pytest.mark.parametrize(
    ("value_hex", "code"),
    [
        ("0204534d7c80", ErrorCode.FMT_MISSING),  # no hash
        ("0421" + SHA256_ROOT.hex(), ErrorCode.FMT_MISSING),  # no time
        ("0204534d7c800204534d7c800421" + SHA256_ROOT.hex(), ErrorCode.FMT_DUPLICATE),
        ("0204534d7c80042000" + "00" * 31, ErrorCode.FMT_BAD_IMPRINT),
        ("020500534d7c800421" + SHA256_ROOT.hex(), ErrorCode.FMT_BAD_INTEGER),
        ("0204534d7c800421" + SHA256_ROOT.hex() + "0500", ErrorCode.FMT_UNKNOWN_CRITICAL),
        ("0204534d7c800421" + SHA256_ROOT.hex() + "02", ErrorCode.FMT_TRUNCATED),
    ],
)
def test_published_data_defects(value_hex: str, code: ErrorCode) -> None:
    element = tlv.TLV.build(0x10, bytes.fromhex(value_hex))
    with pytest.raises(FormatError) as info:
        PublicationData.from_tlv(element)
    assert info.value.code is code


def test_published_data_wrong_type() -> None:
    element = tlv.TLV.build(0x11, PublicationData.build(1, SHA256_ROOT).raw[2:])
    with pytest.raises(FormatError):
        PublicationData.from_tlv(element)


def test_published_data_misuse() -> None:
    with pytest.raises(TypeError):
        PublicationData.build(1, SHA256_ROOT.value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out of range"):
        PublicationData.build(-1, SHA256_ROOT)
    with pytest.raises(TypeError):
        PublicationData("1", SHA256_ROOT)  # type: ignore[arg-type]


# -- publication records ---------------------------------------------------------------


def _file_elements(name: str, tlv_type: int) -> list[tlv.TLV]:
    data = ksi_bytes(name)
    return [e for e in tlv.decode_sequence(data[8:]) if e.type == tlv_type]


@pytest.mark.parametrize(
    "name",
    [
        "pubfiles/publications.tlv",
        "pubfiles/publications-file.bin",
    ],
)
def test_file_records_round_trip_byte_exact(name: str) -> None:
    elements = _file_elements(name, 0x703)
    assert elements
    for element in elements:
        record = PublicationRecord.from_tlv(element)
        assert record.tlv_type == 0x703
        assert record.encode() == element.raw
        rebuilt = PublicationRecord.build(
            record.published_data, record.references, record.repository_uris, tlv_type=0x703
        )
        assert rebuilt == record
        assert rebuilt.raw == element.raw  # KSI writers' canonical form


def test_real_record_references() -> None:
    record = PublicationRecord.from_tlv(_file_elements("pubfiles/publications-file.bin", 0x703)[0])
    assert record.publication_time == 1408060800
    assert len(record.references) == 3
    assert record.references[0] == "Äripäev, ISSN: 1406-2585, 19.08.2014"
    assert any("twitter.com" in r for r in record.references)
    assert record.repository_uris == ()


def test_signature_record_round_trip() -> None:
    sig = tlv.decode(ksi_bytes("signatures/valid/ok-sig-2014-04-30.1-extended.ksig"))
    (element,) = [c for c in sig.children() if c.type == 0x803]
    record = PublicationRecord.from_tlv(element)
    assert record.tlv_type == 0x803
    assert record.publication_time == 1400112000
    assert record.encode() == element.raw
    assert record.published_data == decode_publication_string(MANIFEST_STRINGS[0][0])


def test_with_type_changes_only_the_header() -> None:
    record = PublicationRecord.build(PublicationData.build(5, SHA256_ROOT), ["ref"], ["https://x"])
    assert record.raw[:2] == bytes.fromhex("8803")
    moved = record.with_type(0x703)
    assert moved.raw[:2] == bytes.fromhex("8703")
    assert moved.raw[4:] == record.raw[4:]
    assert moved == record
    assert moved.with_type(0x703) is moved
    with pytest.raises(ValueError, match="0x803 or 0x703"):
        record.with_type(0x802)


def test_build_drops_forward_flag_of_data() -> None:
    data = PublicationData.build(5, SHA256_ROOT, forward=True)
    record = PublicationRecord.build(data)
    assert record.published_data.raw[0] == 0x10
    assert PublicationRecord.from_bytes(record.raw) == record


def test_unknown_non_critical_child_is_kept() -> None:
    data = PublicationData.build(5, SHA256_ROOT)
    extra = tlv.encode(0x1D, b"xyz", non_critical=True)
    raw = tlv.encode(0x803, data.raw + extra)
    record = PublicationRecord.from_bytes(raw)
    assert [u.raw for u in record.unknown] == [extra]
    assert record.encode() == raw


@pytest.mark.parametrize(
    ("children", "code"),
    [
        (lambda d: tlv.encode(0x09, b"ref\x00"), ErrorCode.FMT_MISSING),
        (lambda d: d + tlv.encode(0x09, b"\x00"), ErrorCode.FMT_BAD_STRING),
        (lambda d: d + tlv.encode(0x0A, b"\x00"), ErrorCode.FMT_BAD_STRING),
        (lambda d: d + tlv.encode(0x09, b"ref"), ErrorCode.FMT_BAD_STRING),
        (lambda d: d + d, ErrorCode.FMT_DUPLICATE),
        (lambda d: d + tlv.encode(0x1D, b"x"), ErrorCode.FMT_UNKNOWN_CRITICAL),
    ],
)
def test_record_defects(children: object, code: ErrorCode) -> None:
    data = PublicationData.build(5, SHA256_ROOT).raw
    raw = tlv.encode(0x703, children(data))  # type: ignore[operator]
    with pytest.raises(FormatError) as info:
        PublicationRecord.from_bytes(raw)
    assert info.value.code is code


def test_record_wrong_type_and_misuse() -> None:
    data = PublicationData.build(5, SHA256_ROOT)
    with pytest.raises(FormatError):
        PublicationRecord.from_tlv(tlv.TLV.build(0x805, data.raw))
    with pytest.raises(ValueError, match="non-empty"):
        PublicationRecord.build(data, [""])
    with pytest.raises(TypeError):
        PublicationRecord.build(data, "ref")
    with pytest.raises(ValueError, match="0x803 or 0x703"):
        PublicationRecord.build(data, tlv_type=0x10)


@settings(max_examples=scaled(100))
@given(
    publication_data(),
    st.lists(ksi_text, max_size=3),
    st.lists(ksi_text, max_size=3),
    st.sampled_from([0x803, 0x703]),
)
def test_record_build_parse_round_trip(
    data: PublicationData, refs: list[str], uris: list[str], tlv_type: int
) -> None:
    record = PublicationRecord.build(data, refs, uris, tlv_type=tlv_type)
    parsed = PublicationRecord.from_bytes(record.encode())
    assert parsed == record
    assert parsed.raw == record.raw
    assert parsed.tlv_type == tlv_type
    assert parsed.references == tuple(refs)
    assert parsed.repository_uris == tuple(uris)
